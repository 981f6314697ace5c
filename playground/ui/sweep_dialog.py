"""The Sweep dialog: values for up to four settings, one run per combination, the results as they come.

The sweep (``core/sweep.py``) runs on a superqt worker thread, and each of its runs in a worker
process (``WorkerRuns``, the Train area's kind), so the window stays responsive; every run goes into
the ``RunLibrary`` as a normal run (the Train list shows it). The dialog is modal: while a sweep
runs, the Train area cannot start a run of its own on the same machine.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from playground.core.config import SETTINGS, ConfigError, TrainConfig
from playground.core.sweep import MAX_SWEPT, Sweep, SweepControl, SweepError, describe, sorted_results, value_text
from playground.core.units import format_eta
from playground.ui.lr_finder import PlotDialog, style_plot

NONE = "—"
# Settings a sweep can vary (text settings such as the device are not tuning).
SWEEPABLE = [name for name, spec in SETTINGS.items() if spec.kind != "text"]
FIRST_ROWS = (("lr", "0.1,0.01,0.001"), ("batch_size", "64,256"))
SHOWN_DECIMALS = 2


class SweepDialog(PlotDialog):
    """Pick settings and values, Start, watch, compare, apply the best (or selected) row."""

    settings_applied = Signal(dict)  # {setting: value} to put into the Train form

    def __init__(self, spec, base: TrainConfig, library, runs_base: Path, start_process=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Sweep settings of {spec.name}")
        self.setModal(True)
        self.spec, self.base, self.library, self.runs_base = spec, base, library, Path(runs_base)
        self.start_process = start_process
        self.worker = None
        self.control: SweepControl | None = None
        self.results: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self._run = None
        self._make_rows()
        self._make_controls()
        self._make_results()
        self._lay_out()
        self._update_count()
        self._set_running(False)

    # -- building ------------------------------------------------------------------------------------

    def _make_rows(self) -> None:
        self.setting_boxes: list[QComboBox] = []
        self.value_edits: list[QLineEdit] = []
        for i in range(MAX_SWEPT):
            box = QComboBox()
            box.addItem(NONE, None)
            for name in SWEEPABLE:
                box.addItem(SETTINGS[name].label, name)
            edit = QLineEdit()
            edit.setPlaceholderText("values: 0.1,0.01 or a range 1e-4..1e-1 x4")
            edit.setToolTip("A comma list (64,128,256; adam,sgd; on,off) or, for a number, a range FROM..TO xN "
                            "(log-spaced when both ends are above 0; add lin for even steps)")
            if i < len(FIRST_ROWS):
                name, values = FIRST_ROWS[i]
                box.setCurrentIndex(box.findData(name))
                edit.setText(values)
            box.setObjectName(f"sweep_setting_{i}")
            edit.setObjectName(f"sweep_values_{i}")
            box.currentIndexChanged.connect(self._update_count)
            edit.textChanged.connect(self._update_count)
            self.setting_boxes.append(box)
            self.value_edits.append(edit)

    def _make_controls(self) -> None:
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train one run per combination, one after another (Ctrl+Return)")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the run in progress (press again to stop it too); the finished "
                                    "runs are kept")
        self.stop_button.clicked.connect(self.stop)
        for key in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(key), self).activated.connect(self.start)
        self.progress_label = QLabel("Not started.")
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_label.setWordWrap(True)
        self.apply_button = QPushButton("Apply these settings")
        self.apply_button.setToolTip("Put the selected row's settings (the best when none is selected) into the "
                                     "Train form")
        self.apply_button.clicked.connect(self.apply_selected)

    def _make_results(self) -> None:
        import pyqtgraph as pg

        self.table = QTableWidget(0, 0)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_apply)
        self.x_box = QComboBox()
        self.x_box.setToolTip("The setting along the scatter's horizontal axis")
        self.x_box.currentIndexChanged.connect(self._draw_scatter)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "validation accuracy (%)")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        style_plot(self.plot)
        colour = self.palette().color(self.palette().ColorRole.Highlight)
        self.scatter = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(colour))
        self.best_marker = pg.ScatterPlotItem(size=20, symbol="star", brush=pg.mkBrush("#e8a317"))
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.best_marker)

    def _lay_out(self) -> None:
        grid = QGridLayout()
        grid.addWidget(QLabel("<b>Setting</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Values</b>"), 0, 1)
        for i, (box, edit) in enumerate(zip(self.setting_boxes, self.value_edits)):
            grid.addWidget(box, i + 1, 0)
            grid.addWidget(edit, i + 1, 1)
        grid.setColumnStretch(1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.count_label, 1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        plot_box = QWidget()
        plot_layout = QVBoxLayout(plot_box)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        x_row = QHBoxLayout()
        x_row.addWidget(QLabel("Accuracy against"))
        x_row.addWidget(self.x_box, 1)
        plot_layout.addLayout(x_row)
        plot_layout.addWidget(self.plot)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(plot_box)
        split.setSizes([520, 360])
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_label)
        layout.addWidget(split, 1)
        layout.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(940, 600)

    # -- the sweep asked for --------------------------------------------------------------------------

    def sweep(self) -> Sweep:
        """The sweep the rows describe; ``SweepError`` says what is wrong."""
        texts: dict[str, str] = {}
        for box, edit in zip(self.setting_boxes, self.value_edits):
            name = box.currentData()
            if name is None:
                continue
            if name in texts:
                raise SweepError(f"{SETTINGS[name].label} is chosen twice")
            if not edit.text().strip():
                raise SweepError(f"give {SETTINGS[name].label} its values, or choose {NONE}")
            texts[name] = edit.text()
        sweep = Sweep.from_texts(texts)
        sweep.grid(self.base)
        return sweep

    def _update_count(self) -> None:
        if self.running:
            return
        try:
            sweep = self.sweep()
        except ConfigError as exc:
            self.count_label.setText(f"⚠ {exc}")
            self.start_button.setEnabled(False)
            return
        self.count_label.setText(f"{sweep.count} run{'s' if sweep.count != 1 else ''} of {self.spec.name}, "
                                 f"each {self.base.epochs} epoch{'s' if self.base.epochs != 1 else ''} unless swept")
        self.start_button.setEnabled(True)

    # -- running ----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.worker is not None

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.stop_button.setText("Stop")
        for widget in (*self.setting_boxes, *self.value_edits):
            widget.setEnabled(not running)
        self._update_apply()
        if not running:
            self._update_count()

    def start(self) -> bool:
        """Start the sweep the rows describe; False (and why, in the count line) if it cannot."""
        from superqt.utils import GeneratorWorker

        from playground.core.objective import check_compatible
        from playground.core.sweep import WorkerRuns, run_sweep
        from playground.core.train import guarded

        if self.running:
            return False
        try:
            sweep = self.sweep()
            for config in sweep.grid(self.base):
                check_compatible(self.spec, config)
        except (ConfigError, ValueError) as exc:
            self.count_label.setText(f"⚠ {exc}")
            return False
        self._sweep, self.results, self.final, self._durations = sweep, [], None, []
        self._show_results()
        self.control = SweepControl()
        events = run_sweep(self.spec, self.base, sweep, self.runs_base, WorkerRuns(self.start_process), self.control)
        self.worker = GeneratorWorker(guarded, events)
        self.worker.yielded.connect(self._on_event)
        self.worker.finished.connect(self._worker_done)
        self._set_running(True)
        self.progress_label.setText(f"Starting run 1 of {sweep.count}…")
        self.worker.start()
        return True

    def stop(self) -> None:
        """Stop after the run in progress; pressed again, stop that run too."""
        if not self.running:
            return
        now = self.control.stop_requested
        self.control.stop(now=now)
        self.stop_button.setText("Stop now")
        self.progress_label.setText("Stopping the run in progress…" if now else
                                    "Stopping after the run in progress (Stop again: stop it now)…")

    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "sweep_run_started":
            self._run = self.library.begin_run(self.spec, TrainConfig.from_dict(event["config"]),
                                               Path(event["run_dir"]))
            self._run_index, self._run_values, self._run_began = event["index"], event["values"], time.monotonic()
            self._show_progress(None)
        elif kind == "sweep_run":
            if self._run is not None:
                self.library.finish_run(self._run)
            self._durations.append(time.monotonic() - self._run_began)
            self.results.append(event)
            self._show_results()
        elif kind == "sweep_finished":
            self.final = event
        elif kind == "error" and self._run is None:
            self.progress_label.setText(f"The sweep failed: {event.get('message', '')}")
        elif self._run is not None:
            self.library.add_event(self._run, event)
            if kind == "progress":
                self._show_progress(event)

    def _show_progress(self, event: dict | None) -> None:
        """"Run 2 of 6 (lr 0.01) · epoch 1 · ETA 1 min 20 s"."""
        total, index = self._sweep.count, self._run_index
        left = total - index - 1
        if self._durations:
            per_run = sum(self._durations) / len(self._durations)
            current = max(0.0, per_run - (time.monotonic() - self._run_began))
        elif event is not None:
            current = event["eta_seconds"]
            per_run = event["elapsed_seconds"] + current
        else:
            per_run = current = math.nan
        eta = "" if math.isnan(per_run) else f" · ETA {format_eta(current + left * per_run)}"
        where = f" · epoch {event['epoch']}, {event['epoch_step']}/{event['steps_per_epoch']}" if event else ""
        if self.control.stop_requested:
            return
        self.progress_label.setText(f"Run {index + 1} of {total} ({describe(self._run_values)}){where}{eta}")

    def _worker_done(self) -> None:
        self.worker = None
        final = self.final
        if final is not None:
            done = len(final["results"])
            text = f"Done: {done} run{'s' if done != 1 else ''}."
            if final["not_run"]:
                text = (f"Stopped after {done} run{'s' if done != 1 else ''}; not run: "
                        + "; ".join(describe(c) for c in final["not_run"]) + ".")
            self.progress_label.setText(text)
        self._set_running(False)
        if getattr(self, "_close_when_done", False):
            self.accept()

    # -- the results ------------------------------------------------------------------------------------

    def best(self) -> dict[str, Any] | None:
        from playground.core.sweep import best_result

        return best_result(self.results)

    def _show_results(self) -> None:
        """The table, best validation accuracy first (the best marked ★), and the scatter."""
        names = self._sweep.names
        headers = ["", *(SETTINGS[n].label for n in names), "Val accuracy", "Test accuracy", "Time", "Status"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.rows = sorted_results(self.results)
        best = self.best()
        self.table.setRowCount(len(self.rows))
        for r, result in enumerate(self.rows):
            cells = ["★ best" if result is best else "", *(value_text(result[n]) for n in names),
                     _percent(result["val_accuracy"]), _percent(result["test_accuracy"]),
                     f"{result['train_seconds']:.1f} s", result["status"]]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(result["run_dir"])
                self.table.setItem(r, c, item)
        if self.x_box.count() != len(names):
            self.x_box.blockSignals(True)
            self.x_box.clear()
            for n in names:
                self.x_box.addItem(SETTINGS[n].label, n)
            self.x_box.blockSignals(False)
        self._draw_scatter()
        self._update_apply()

    def _draw_scatter(self) -> None:
        """Validation accuracy against the chosen setting: a log axis for a rate spanning decades,
        one tick per value swept (names for a choice), the best run starred."""
        name = self.x_box.currentData()
        rows = [r for r in self.results if r["val_accuracy"] is not None]
        best = self.best()
        if name is None:
            self.scatter.setData([], [])
            self.best_marker.setData([], [])
            return
        values = dict(self._sweep.settings)[name]
        numeric = SETTINGS[name].kind in ("int", "float")
        log = numeric and all(v > 0 for v in values) and max(values) / min(values) >= 20

        def x(v) -> float:
            return (math.log10(v) if log else float(v)) if numeric else float(values.index(v))

        self.plot.getAxis("bottom").setTicks([[(x(v), value_text(v)) for v in values]])
        self.plot.setLabel("bottom", SETTINGS[name].label + (" (log scale)" if log else ""))
        self.scatter.setData([x(r[name]) for r in rows], [100 * r["val_accuracy"] for r in rows])
        self.best_marker.setData([x(best[name])] if best else [], [100 * best["val_accuracy"]] if best else [])

    def selected_result(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if rows and 0 <= rows[0].row() < len(getattr(self, "rows", [])):
            return self.rows[rows[0].row()]
        return self.best()

    def _update_apply(self) -> None:
        self.apply_button.setEnabled(not self.running and self.selected_result() is not None)

    def apply_selected(self) -> None:
        result = self.selected_result()
        if result is not None:
            self.settings_applied.emit({n: result[n] for n in self._sweep.names})

    def reject(self) -> None:
        """Closing while a sweep runs stops it at once (the finished runs are kept), then closes."""
        if self.running:
            self._close_when_done = True
            self.control.stop(now=True)
            self.progress_label.setText("Stopping, then closing…")
            return
        super().reject()


def _percent(value: float | None) -> str:
    return f"{value:.{SHOWN_DECIMALS}%}" if value is not None else "–"
