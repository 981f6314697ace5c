"""The Train area: settings, Start / Pause / Resume / Stop, progress, live curves and the runs.

Training runs the core's trainer in a worker process (``playground.core.worker`` says why a process),
whose events a superqt worker thread relays. The trainer yields plain numbers about 12 times a second;
the GUI thread hands them to the run library (which keeps the run and its curve buffers), redraws the
curves at most every REDRAW_MS (only the new segments are painted), and updates the progress text once a
second. The design is a snapshot taken at Start: editing it during a run changes nothing in the run. The
runs list mirrors the library.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QMenu,
                               QProgressBar, QPushButton, QScrollArea, QSplitter, QStyle, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from playground.core import PRESETS, NetworkSpec
from playground.core.config import ConfigError, TrainConfig
from playground.core.runs import RunError, RunRecord, setting_lines
from playground.core.units import format_eta
from playground.ui.plots import TrainingPlots
from playground.ui.run_library import RunLibrary
from playground.ui.train_form import ConfigForm

REPORT_INTERVAL = 0.08  # seconds between progress events from the trainer
REDRAW_MS = 60  # at most one redraw per 60 ms, and only when new points came
TEXT_INTERVAL = 1.0  # seconds between updates of the progress bar and text (each re-lays out the panel)


# -- running a training --------------------------------------------------------------------------------


class TrainingRunner(QObject):
    """Relays the events of a training in a worker process to the GUI thread (a superqt worker
    thread reads the process's output)."""

    event_received = Signal(object)  # a plain event dict
    finished = Signal()

    def __init__(self, process, job: dict, parent=None):
        super().__init__(parent)
        from superqt.utils import GeneratorWorker

        from playground.core.train import guarded

        self.process = process
        self.worker = GeneratorWorker(guarded, process.run(job))
        self.worker.yielded.connect(self.event_received)
        self.worker.finished.connect(self._done)
        self.running = False

    @property
    def paused(self) -> bool:
        return self.process.paused

    def start(self) -> None:
        self.running = True
        self.worker.start()

    def _done(self) -> None:
        self.running = False
        self.finished.emit()


class TrainArea(QWidget):
    """Settings, controls, progress and curves of the run it trains, and the library's runs."""

    def __init__(self, document, library: RunLibrary, parent=None):
        super().__init__(parent)
        self.document = document
        self.library = library
        self.runner: TrainingRunner | None = None
        self._run: RunRecord | None = None  # the run this area trains (or trained last)
        self._spare = None  # a worker process started ahead, waiting for a job
        self._dirty = False
        self._items: dict[RunRecord, QTreeWidgetItem] = {}
        self.torch_ready = False

        self.form = ConfigForm()
        self.form.changed.connect(self._clear_banner)
        # The designer's memory estimate is for the batch size set here.
        batch_size = self.form.editors["batch_size"]
        batch_size.valueChanged.connect(document.set_batch_size)
        document.set_batch_size(batch_size.value())
        self._make_buttons()
        self._make_progress()
        self.plots = TrainingPlots()
        self._make_run_list()
        self._lay_out()

        # Redraws follow new points, at most every REDRAW_MS: no timer ticks while nothing arrives.
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setSingleShot(True)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self._last_redraw = 0.0
        self._set_controls("idle")
        document.spec_changed.connect(self._design_changed)
        self._design_changed()
        for run in library.runs:
            self._add_run_item(run)
        library.run_added.connect(self._add_run_item)
        library.run_updated.connect(self._update_run_item)

    # -- building the widgets ----------------------------------------------------------------------------

    def _make_buttons(self) -> None:
        self.recommended_button = QPushButton("Use the design's recommended settings")
        self.recommended_button.setToolTip("Presets come with settings they are known to train well with")
        self.recommended_button.clicked.connect(self.use_recommended)
        icon = self.style().standardIcon
        self._play_icon = icon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = icon(QStyle.StandardPixmap.SP_MediaPause)
        self.start_button = QPushButton(self._play_icon, "Start")
        self.start_button.setToolTip("Train a snapshot of the current design with these settings (Ctrl+Return)")
        self.pause_button = QPushButton(self._pause_icon, "Pause")
        self.pause_button.setToolTip("Pause between steps; Resume goes on from there")
        self.stop_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop now and keep the weights trained so far")
        self.continue_button = QPushButton("Continue selected run")
        self.continue_button.setToolTip("Train the selected run for the epochs set above, from its last weights "
                                         "and optimizer state")
        self.start_button.clicked.connect(self._start_clicked)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.continue_button.clicked.connect(self.continue_selected)

    def _make_progress(self) -> None:
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("Ready to train.")
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_label.setWordWrap(True)
        self.snapshot_label = QLabel()
        self.snapshot_label.setWordWrap(True)
        self.banner = QLabel()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # errors quote file names and contents
        self.banner.setWordWrap(True)
        self.banner.setObjectName("banner")
        self.banner.hide()

    def _make_run_list(self) -> None:
        self.run_list = QTreeWidget()
        self.run_list.setHeaderLabels(["Run", "Settings", "Test accuracy", "Status", "Started"])
        self.run_list.setRootIsDecorated(False)
        # The label tells runs apart: shown whole, however long (the other columns can be resized).
        self.run_list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.run_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.run_list.setToolTip("Runs of this session and those saved on disk; select several to compare "
                                 "their curves; F2 or the right-click menu renames one, a double-click evaluates it")
        # Only the name is edited, and only when asked: F2 or "Rename…" (a double-click evaluates).
        self.run_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._filling_run_list = False
        self.run_list.itemSelectionChanged.connect(self._selection_changed)
        self.run_list.itemChanged.connect(self._run_item_edited)
        rename = QShortcut(QKeySequence(Qt.Key.Key_F2), self.run_list, context=Qt.ShortcutContext.WidgetShortcut)
        rename.activated.connect(self.rename_current_run)
        self.run_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.run_list.customContextMenuRequested.connect(self._run_list_menu)

    def _settings_panel(self) -> QWidget:
        settings_box = QGroupBox("Settings")
        settings_layout = QVBoxLayout(settings_box)
        settings_layout.addWidget(self.form)
        settings_layout.addWidget(self.recommended_button)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(settings_box)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        for widget in (self.progress, self.progress_label, self.snapshot_label, self.banner):
            left_layout.addWidget(widget)
        return left

    def _runs_panel(self) -> QWidget:
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(QLabel("<b>Runs</b> — select several to compare"))
        runs_layout.addWidget(self.run_list)
        runs_layout.addWidget(self.continue_button)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(runs_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        return right

    def _lay_out(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self._settings_panel())
        self.splitter.addWidget(self._runs_panel())
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

    # -- state -------------------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        return self.runner is not None and self.runner.running

    def _set_controls(self, state: str) -> None:
        idle = state == "idle"
        self.start_button.setEnabled(idle and self.torch_ready)
        self.pause_button.setEnabled(not idle)
        self.stop_button.setEnabled(not idle)
        paused = state == "paused"
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(self._play_icon if paused else self._pause_icon)
        self.continue_button.setEnabled(idle and self.torch_ready and self._selected_continuable() != [])
        self.form.setEnabled(idle)
        self.recommended_button.setEnabled(idle)

    def _take_process(self):
        from playground.core.worker import TrainingProcess

        process, self._spare = self._spare, None
        if process is None or not process.alive:
            process = TrainingProcess()
        return process

    def _start_spare(self) -> None:
        from playground.core.worker import TrainingProcess

        if self._spare is None or not self._spare.alive:
            self._spare = TrainingProcess()

    def set_torch_ready(self, devices: list[str]) -> None:
        self.torch_ready = True
        if self.isVisible():
            self._start_spare()
        self.form.set_devices(devices)
        if not self.training:
            self._set_controls("idle")

    def show_unreadable_runs(self, problems: list[str]) -> None:
        """Say that saved run folders could not be listed, and why the first one could not."""
        if problems:
            self._show_banner(f"{len(problems)} saved run folder(s) could not be read and are not listed: "
                              f"{problems[0]}")

    def _design_changed(self) -> None:
        spec = self.document.spec
        if not self.training:
            opened = self._initial_weights_for(spec)
            weights = f", from the weights of {html.escape(opened.name)}." if opened else "."
            self.snapshot_label.setText(f"Will train <b>{html.escape(spec.name)}</b> as it is in the Design area "
                                        f"when you press Start{weights}")
        self.recommended_button.setEnabled(not self.training)

    def set_initial_weights(self, spec: NetworkSpec, weights: Path) -> None:
        """The next Start of this design trains on from these weights (an opened model)."""
        self._initial = (spec, Path(weights))
        self._design_changed()

    def _initial_weights_for(self, spec: NetworkSpec) -> Path | None:
        initial = getattr(self, "_initial", None)
        return initial[1] if initial and initial[0] == spec else None

    def use_recommended(self) -> None:
        name = self.document.spec.name
        preset = PRESETS.get(name)
        config = TrainConfig.from_dict(preset.train) if preset else TrainConfig()
        self.form.set_config(config.updated(device=self.form.editors["device"].currentData() or "auto"))

    def _show_banner(self, text: str, error: bool = True) -> None:
        colour = "#b91c1c" if error else "#065f46"
        background = "#fef2f2" if error else "#ecfdf5"
        self.banner.setStyleSheet(f"QLabel#banner {{ color: {colour}; background: {background}; padding: 6px;"
                                  f" border-radius: 4px; }}")
        self.banner.setText(text)
        self.banner.show()

    def _clear_banner(self) -> None:
        if not self.training:
            self.banner.hide()

    def showEvent(self, event) -> None:
        # Start a worker process (it imports torch, a few seconds) once the Train area is shown,
        # so that Start is instant, without loading the machine for people who only design.
        super().showEvent(event)
        if self.torch_ready and not self.training:
            self._start_spare()

    # -- start, pause, stop ----------------------------------------------------------------------------------

    def _job(self, initial: RunRecord | None) -> tuple[NetworkSpec, TrainConfig, dict[str, Any]]:
        """The design, settings and worker job of a new run (``initial``: the run it continues);
        ``ConfigError``, ``DesignError`` or ``RuntimeError`` if it cannot start."""
        from playground.core.config import resolve_device
        from playground.core.paths import runs_dir
        from playground.core.runs import LAST_WEIGHTS, OPTIMIZER_FILE, new_run_dir
        from playground.core.objective import check_compatible

        config = self.form.config()
        spec = initial.spec if initial else self.document.spec
        job: dict[str, Any] = {}
        if initial is not None:
            config = initial.config.updated(epochs=config.epochs)
            job["initial_weights"] = str(initial.file(LAST_WEIGHTS))
            job["optimizer_state"] = str(initial.file(OPTIMIZER_FILE))
        opened = self._initial_weights_for(spec) if initial is None else None
        if opened is not None:
            job["initial_weights"] = str(opened)
        check_compatible(spec, config)
        resolve_device(config.device)
        run_dir = new_run_dir(runs_dir(), spec.name + ("-continued" if initial else ""))
        job.update(task="classifier", design=spec.to_dict(), config=config.to_dict(), run_dir=str(run_dir),
                   report_interval=REPORT_INTERVAL)
        return spec, config, job

    def start(self, initial: RunRecord | None = None) -> bool:
        """Start a run of a snapshot of the current design; False (and a message) if it cannot."""
        if self.training or not self.torch_ready:
            return False
        from playground.core.spec import DesignError

        try:
            spec, config, job = self._job(initial)
        except (ConfigError, DesignError, OSError, RuntimeError) as exc:
            self._show_banner(f"Cannot start: {exc}")
            return False
        self.banner.hide()
        run = self.library.begin_run(spec, config, Path(job["run_dir"]), suffix=" (continued)" if initial else "")
        self._run = run
        self.plots.show_curves(self.library.curves(run), epochs=config.epochs)
        self.snapshot_label.setText(f"Training <b>{html.escape(spec.name)}</b> (a snapshot: editing the design "
                                    f"now does not change this run).")
        self.progress.setValue(0)
        self.progress_label.setText("Loading data…")
        self._last_text = 0.0
        self.runner = TrainingRunner(self._take_process(), job, self)
        self.runner.event_received.connect(self._on_event)
        self.runner.finished.connect(self._on_worker_finished)
        self._set_controls("running")
        self.runner.start()
        return True

    def _start_clicked(self) -> None:
        self.start()

    def toggle_pause(self) -> None:
        if not self.training:
            return
        if self.runner.paused:
            self.runner.process.resume()
            self._set_controls("running")
        else:
            self.runner.process.pause()
            self._set_controls("paused")
            self.progress_label.setText(self.progress_label.text() + "  (pausing…)")

    def stop(self) -> None:
        if self.training:
            self.runner.process.stop()
            self.progress_label.setText("Stopping…")

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop any run without its final evaluation and wait for it (for closing the window)."""
        self.redraw_timer.stop()
        if self._spare is not None:
            self._spare.kill()
            self._spare = None
        if self.runner is None:
            return True
        process = self.runner.process
        process.stop(evaluate=False)
        done = QThreadPool.globalInstance().waitForDone(int(timeout * 1000))
        if process.alive:
            process.kill()
            done = QThreadPool.globalInstance().waitForDone(500) and done
        return done

    def continue_selected(self) -> None:
        runs = self._selected_continuable()
        if runs:
            self.start(initial=runs[0])

    # -- events from the worker --------------------------------------------------------------------------

    def _on_event(self, event: dict) -> None:
        run = self._run
        if run is None:
            return
        if self.library.add_event(run, event):
            self._dirty = True
        self._show_event(run, event)
        if self._dirty and not self.redraw_timer.isActive():
            wait = REDRAW_MS / 1000 - (time.monotonic() - self._last_redraw)
            if wait <= 0:
                self._redraw()
            else:
                self.redraw_timer.start(int(wait * 1000) + 1)

    def _show_event(self, run: RunRecord, event: dict) -> None:
        """The progress bar and text for an event."""
        kind = event["type"]
        if kind == "start":
            self.progress.setRange(0, event["total_steps"])
            self.progress_label.setText(f"Training on {event['device']}: {event['train_size']:,} images, "
                                        f"{event['parameters']:,} parameters")
        elif kind == "progress":
            now = time.monotonic()
            if now - self._last_text >= TEXT_INTERVAL:  # text relayouts cost; numbers change fast anyway
                self._last_text = now
                self._show_step(run, event)
                self.progress_label.setText(f"{event['samples_per_second']:,.0f} images/s · ETA "
                                            f"{format_eta(event['eta_seconds'])} · loss "
                                            f"{event['train_loss']:.4f} · accuracy {event['train_accuracy']:.1%}")
        elif kind in ("epoch", "paused", "stopped"):
            self._show_step(run, event)  # the bar reaches each epoch's end at once; it may lag a pause
            if kind == "paused":
                self.progress_label.setText(f"Paused at epoch {event['epoch']}, step {event['step']:,}.")
            elif kind == "stopped":
                self.progress_label.setText(f"Stopped at epoch {event['epoch']}, step {event['step']:,}; "
                                            f"evaluating the weights kept…")
        elif kind in ("finished", "error"):
            self._show_end(run, event)

    def _show_end(self, run: RunRecord, event: dict) -> None:
        if event["type"] == "error":
            self._show_banner(f"Training failed: {event['message']}")
            self.progress_label.setText("Failed.")
            return
        acc = event["test_accuracy"]
        summary = f"test accuracy {acc:.2%}" if acc is not None else "no test evaluation"
        if event["status"] == "failed":
            self._show_banner(event["message"])
            self.progress_label.setText(f"Failed: {summary}.")
        else:
            self._show_banner(f"{event['status'].capitalize()}: {summary} after "
                              f"{event['train_seconds']:.1f} s of training.", error=False)
            self.progress_label.setText(event["message"])

    def _on_worker_finished(self) -> None:
        self.redraw_timer.stop()
        self._redraw(force=True)
        if self._run is not None:  # first: the controls below read whether the run has ended
            self.library.finish_run(self._run)
        self._set_controls("idle")
        self._design_changed()
        if self.torch_ready and self.isVisible():
            self._start_spare()

    def _show_step(self, run: RunRecord, event: dict) -> None:
        self.progress.setValue(event["step"])
        self.progress.setFormat(f"epoch {event['epoch']}/{run.config.epochs} · step "
                                f"{event['step']:,}/{self.progress.maximum():,}")

    def _redraw(self, force: bool = False) -> None:
        if self._dirty or force:
            self._dirty = False
            self._last_redraw = time.monotonic()
            self.plots.redraw()

    # -- the runs list ---------------------------------------------------------------------------------------

    @staticmethod
    def _run_texts(run: RunRecord) -> list[str]:
        c = run.config
        settings = f"{c.optimizer} lr {c.lr:g}, batch {c.batch_size}, {c.epochs} ep."
        acc = run.test_accuracy if run.finished else None
        return [run.label, settings, f"{acc:.2%}" if acc is not None else "–", run.status, run.started]

    @staticmethod
    def _run_tooltip(run: RunRecord) -> str:
        """Every setting of the run, one a line, and its folder (rich text made on purpose, so that a
        name or folder written like HTML shows as text)."""
        lines = [f"<b>{html.escape(run.label)}</b>", *map(html.escape, setting_lines(run.config)),
                 html.escape(f"Folder: {run.path}" if run.path else "Not saved in a folder")]
        return "<p style='white-space:pre'>" + "<br>".join(lines) + "</p>"

    def _add_run_item(self, run: RunRecord) -> None:
        item = QTreeWidgetItem()
        item.setData(0, Qt.ItemDataRole.UserRole, self.library.runs.index(run))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self._items[run] = item
        self._fill_run_item(item, run)
        self.run_list.insertTopLevelItem(0, item)

    def _update_run_item(self, run: RunRecord) -> None:
        item = self._items.get(run)
        if item is not None:
            self._fill_run_item(item, run)
            if item.isSelected():  # the legend names it
                self._selection_changed()

    def _fill_run_item(self, item: QTreeWidgetItem, run: RunRecord) -> None:
        self._filling_run_list = True  # not an edit of the name
        try:
            tooltip = self._run_tooltip(run)
            for col, text in enumerate(self._run_texts(run)):
                item.setText(col, text)
                item.setToolTip(col, tooltip)
        finally:
            self._filling_run_list = False

    def _run_of(self, item: QTreeWidgetItem | None) -> RunRecord | None:
        index = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        return self.library.runs[index] if isinstance(index, int) and 0 <= index < len(self.library.runs) else None

    def rename_current_run(self) -> None:
        """Edit the name of the current run in the list (F2, "Rename…")."""
        item = self.run_list.currentItem()
        if item is not None:
            self.run_list.editItem(item, 0)

    def _run_item_edited(self, item: QTreeWidgetItem, column: int) -> None:
        run = self._run_of(item)
        if self._filling_run_list or column != 0 or run is None or item.text(0) == run.label:
            return
        try:
            self.library.rename(run, item.text(0))
        except RunError as exc:
            self._show_banner(f"Cannot rename the run: {exc}")
            self._fill_run_item(item, run)

    def _run_list_menu(self, position) -> None:
        item = self.run_list.itemAt(position)
        if item is None:
            return
        self.run_list.setCurrentItem(item)
        menu = QMenu(self.run_list)
        menu.addAction("Rename…", self.rename_current_run)
        menu.exec(self.run_list.viewport().mapToGlobal(position))

    def selected_runs(self) -> list[RunRecord]:
        rows = [item.data(0, Qt.ItemDataRole.UserRole) for item in self.run_list.selectedItems()]
        return [self.library.runs[i] for i in rows if 0 <= i < len(self.library.runs)]

    def _selected_continuable(self) -> list[RunRecord]:
        return [r for r in self.selected_runs() if r.can_continue]

    def _selection_changed(self) -> None:
        selected = self.selected_runs()
        current = self.library.current
        others = [r for r in selected if r is not current]
        if current is None and selected:
            self.plots.show_curves(self.library.curves(selected[0]))
            others = selected[1:]
        self.plots.set_overlays([(r.label, self.library.curves(r)) for r in others])
        if not self.training:
            self._set_controls("idle")
