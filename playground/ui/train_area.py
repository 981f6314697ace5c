"""The Train area: settings, Start / Pause / Resume / Stop, progress, live curves and the runs.

Training runs the core's trainer in a worker process (``playground.core.worker``: torch is about 25%
slower off a process's main thread), whose events a superqt worker thread relays. The trainer
yields plain numbers about 12 times a second; the GUI thread appends them to the curve buffers and
redraws the curves at most every REDRAW_MS (only the new segments are painted), and updates the
progress text once a second. The design is a snapshot
taken at Start: editing it during a run changes nothing in the run.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QSplitter, QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from playground.core import PRESETS, NetworkSpec
from playground.core.config import ConfigError, TrainConfig
from playground.core.units import format_eta
from playground.ui.train_form import ConfigForm
from playground.ui.plots import CurveBuffer, CurveBuilder, TrainingPlots, curves_from_events

REPORT_INTERVAL = 0.08  # seconds between progress events from the trainer
REDRAW_MS = 60  # at most one redraw per 60 ms, and only when new points came
TEXT_INTERVAL = 1.0  # seconds between updates of the progress bar and text (each re-lays out the panel)


@dataclass
class RunEntry:
    """A run shown in the list: one trained in this session, or one read from disk."""

    label: str
    spec: NetworkSpec
    config: TrainConfig
    path: Path | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    evaluation: Any = None  # playground.core.metrics.Evaluation
    data: Any = None  # the DataSplits it was trained on, when known
    started: str = ""
    curves: dict[str, CurveBuffer] | None = None

    @property
    def status(self) -> str:
        return self.final["status"] if self.final else "running"

    def get_curves(self) -> dict[str, CurveBuffer]:
        if self.curves is None:
            if not self.events and self.path is not None and self.final is not None:
                from playground.core.runs import read_events

                self.events = read_events(self.path)  # runs from disk are listed without their logs
            self.curves = curves_from_events(self.events)
        return self.curves


def _read_evaluation(path: Path | None):
    """The test evaluation a run wrote, or None (also when its file is unusable)."""
    from playground.core.runs import read_evaluation

    return read_evaluation(path) if path is not None else None


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
    run_finished = Signal(object)  # a RunEntry
    runs_changed = Signal()
    epoch_finished = Signal(str)  # the run folder, whose weights_last.safetensors was just written

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.runs: list[RunEntry] = []
        self.current: RunEntry | None = None
        self.runner: TrainingRunner | None = None
        self._spare = None  # a worker process started ahead, waiting for a job
        self._dirty = False
        self._curve_builder = CurveBuilder()  # the current run's
        self._disk_loaded = False
        self.torch_ready = False

        self.form = ConfigForm()
        self.form.changed.connect(self._clear_banner)
        # The designer's memory estimate is for the batch size set here.
        batch_size = self.form.editors["batch_size"]
        batch_size.valueChanged.connect(document.set_batch_size)
        document.set_batch_size(batch_size.value())
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
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.progress_label)
        left_layout.addWidget(self.snapshot_label)
        left_layout.addWidget(self.banner)

        self.plots = TrainingPlots()
        self.run_list = QTreeWidget()
        self.run_list.setHeaderLabels(["Run", "Settings", "Test accuracy", "Status", "Started"])
        self.run_list.setRootIsDecorated(False)
        self.run_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.run_list.setToolTip("Runs of this session and those saved on disk; select several to compare "
                                 "their curves")
        self.run_list.itemSelectionChanged.connect(self._selection_changed)
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
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        # Redraws follow new points, at most every REDRAW_MS: no timer ticks while nothing arrives.
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setSingleShot(True)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self._last_redraw = 0.0
        self._set_controls("idle")
        document.spec_changed.connect(self._design_changed)
        self._design_changed()

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
        self.continue_button.setEnabled(idle and self.torch_ready and self._selected_runs_with_weights() != [])
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
        if not self._disk_loaded:
            self.load_runs_from_disk()

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

    def start(self, initial: RunEntry | None = None) -> bool:
        """Start a run of a snapshot of the current design; False (and a message) if it cannot."""
        if self.training or not self.torch_ready:
            return False
        from playground.core.config import resolve_device
        from playground.core.paths import runs_dir
        from playground.core.runs import new_run_dir
        from playground.core.spec import DesignError
        from playground.core.train import check_compatible

        try:
            config = self.form.config()
            spec = initial.spec if initial else self.document.spec
            job: dict[str, Any] = {}
            if initial is not None:
                config = initial.config.updated(epochs=config.epochs)
                job["initial_weights"] = str(initial.path / "weights_last.safetensors")
                job["optimizer_state"] = str(initial.path / "optimizer.safetensors")
            opened = self._initial_weights_for(spec) if initial is None else None
            if opened is not None:
                job["initial_weights"] = str(opened)
            check_compatible(spec, config)
            resolve_device(config.device)
            run_dir = new_run_dir(runs_dir(), spec.name + ("-continued" if initial else ""))
        except (ConfigError, DesignError, OSError, RuntimeError) as exc:
            self._show_banner(f"Cannot start: {exc}")
            return False
        job.update(design=spec.to_dict(), config=config.to_dict(), run_dir=str(run_dir),
                   report_interval=REPORT_INTERVAL)
        self.banner.hide()
        entry = RunEntry(label=spec.name + (" (continued)" if initial else ""), spec=spec, config=config,
                         path=run_dir, started=time.strftime("%H:%M:%S"))
        self._curve_builder = CurveBuilder()
        entry.curves = self._curve_builder.curves
        self.current = entry
        self.runs.append(entry)
        self._add_run_item(entry)
        self.plots.show_curves(entry.curves, epochs=config.epochs)
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
        self.runs_changed.emit()  # lists that offer "the run in progress" can now show it
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
        runs = self._selected_runs_with_weights()
        if runs:
            self.start(initial=runs[0])

    # -- events from the worker --------------------------------------------------------------------------

    def _on_event(self, event: dict) -> None:
        entry = self.current
        if entry is None:
            return
        entry.events.append(event)
        kind = event["type"]
        if self._curve_builder.add(event):
            self._dirty = True
        if kind == "start":
            self.progress.setRange(0, event["total_steps"])
            self.progress_label.setText(f"Training on {event['device']}: {event['train_size']:,} images, "
                                        f"{event['parameters']:,} parameters")
        elif kind == "progress":
            now = time.monotonic()
            if now - self._last_text >= TEXT_INTERVAL:  # text relayouts cost; numbers change fast anyway
                self._last_text = now
                self._show_step(entry, event)
                self.progress_label.setText(f"{event['samples_per_second']:,.0f} images/s · ETA "
                                            f"{format_eta(event['eta_seconds'])} · loss "
                                            f"{event['train_loss']:.4f} · accuracy {event['train_accuracy']:.1%}")
        elif kind == "epoch":
            self._show_step(entry, event)  # the bar reaches each epoch's end (and the run's) at once
            if entry.path is not None:
                self.epoch_finished.emit(str(entry.path))
        elif kind == "paused":
            self._show_step(entry, event)  # the bar may lag by up to TEXT_INTERVAL
            self.progress_label.setText(f"Paused at epoch {event['epoch']}, step {event['step']:,}.")
        elif kind == "stopped":
            self._show_step(entry, event)
            self.progress_label.setText(f"Stopped at epoch {event['epoch']}, step {event['step']:,}; "
                                        f"evaluating the weights kept…")
        elif kind == "finished":
            entry.final = event
            entry.evaluation = _read_evaluation(entry.path)
            acc = event["test_accuracy"]
            summary = f"test accuracy {acc:.2%}" if acc is not None else "no test evaluation"
            if event["status"] == "failed":
                self._show_banner(event["message"])
                self.progress_label.setText(f"Failed: {summary}.")
            else:
                self._show_banner(f"{event['status'].capitalize()}: {summary} after "
                                  f"{event['train_seconds']:.1f} s of training.", error=False)
                self.progress_label.setText(event["message"])
        elif kind == "error":
            entry.final = {"type": "finished", "status": "failed", "message": event["message"],
                           "test_accuracy": None}
            self._show_banner(f"Training failed: {event['message']}")
            self.progress_label.setText("Failed.")
        if kind in ("finished", "error"):
            self._update_run_item(entry)
        if self._dirty and not self.redraw_timer.isActive():
            wait = REDRAW_MS / 1000 - (time.monotonic() - self._last_redraw)
            if wait <= 0:
                self._redraw()
            else:
                self.redraw_timer.start(int(wait * 1000) + 1)

    def _on_worker_finished(self) -> None:
        self.redraw_timer.stop()
        self._redraw(force=True)
        entry = self.current
        if entry is not None and entry.final is None:  # ended without a final event
            entry.final = {"type": "finished", "status": "failed", "message": "The training ended unexpectedly.",
                           "test_accuracy": None}
            self._update_run_item(entry)
        self._set_controls("idle")
        self._design_changed()
        if self.torch_ready and self.isVisible():
            self._start_spare()
        if entry is not None:
            self.run_finished.emit(entry)

    def _show_step(self, entry: RunEntry, event: dict) -> None:
        self.progress.setValue(event["step"])
        self.progress.setFormat(f"epoch {event['epoch']}/{entry.config.epochs} · step "
                                f"{event['step']:,}/{self.progress.maximum():,}")

    def _redraw(self, force: bool = False) -> None:
        if self._dirty or force:
            self._dirty = False
            self._last_redraw = time.monotonic()
            self.plots.redraw()

    # -- the runs list ---------------------------------------------------------------------------------------

    def _run_texts(self, entry: RunEntry) -> list[str]:
        c = entry.config
        settings = f"{c.optimizer} lr {c.lr:g}, batch {c.batch_size}, {c.epochs} ep."
        acc = entry.final.get("test_accuracy") if entry.final else None
        return [entry.label, settings, f"{acc:.2%}" if acc is not None else "–", entry.status, entry.started]

    def _add_run_item(self, entry: RunEntry) -> None:
        item = QTreeWidgetItem(self._run_texts(entry))
        item.setData(0, Qt.ItemDataRole.UserRole, len(self.runs) - 1 if entry in self.runs else -1)
        # Rich text made on purpose, so that a folder named like HTML shows as text.
        item.setToolTip(0, f"<p>{html.escape(str(entry.path) if entry.path else entry.label)}</p>")
        self.run_list.insertTopLevelItem(0, item)
        self.runs_changed.emit()

    def _update_run_item(self, entry: RunEntry) -> None:
        index = self.runs.index(entry)
        for i in range(self.run_list.topLevelItemCount()):
            item = self.run_list.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == index:
                for col, text in enumerate(self._run_texts(entry)):
                    item.setText(col, text)
        self.runs_changed.emit()

    def load_runs_from_disk(self) -> None:
        """Add the runs saved under the user data folder (once)."""
        from playground.core.paths import runs_dir
        from playground.core.runs import list_runs

        self._disk_loaded = True
        known = {r.path for r in self.runs if r.path}
        problems: list[str] = []
        # Without the metrics logs: a curve is read only when its run is selected.
        for run in list_runs(runs_dir(), with_events=False, problems=problems):
            if run.path in known:
                continue
            final = dict(run.summary) if run.summary.get("status") not in (None, "running") else None
            entry = RunEntry(label=run.spec.name, spec=run.spec, config=run.config, path=run.path,
                             final=final, evaluation=run.evaluation,
                             started=str(run.summary.get("started", "")).replace("T", " "))
            self.runs.append(entry)
            self._add_run_item(entry)
        if problems:
            self._show_banner(f"{len(problems)} saved run folder(s) could not be read and are not listed: "
                              f"{problems[0]}")

    def selected_runs(self) -> list[RunEntry]:
        rows = [item.data(0, Qt.ItemDataRole.UserRole) for item in self.run_list.selectedItems()]
        return [self.runs[i] for i in rows if 0 <= i < len(self.runs)]

    def _selected_runs_with_weights(self) -> list[RunEntry]:
        return [r for r in self.selected_runs()
                if r.path and (r.path / "weights_last.safetensors").exists()
                and (r.path / "optimizer.safetensors").exists() and r.final is not None]

    def _selection_changed(self) -> None:
        selected = self.selected_runs()
        others = [r for r in selected if r is not self.current]
        if self.current is None and selected:
            self.plots.show_curves(selected[0].get_curves())
            others = selected[1:]
        self.plots.set_overlays([(f"{r.label} {r.started}", r.get_curves()) for r in others])
        if not self.training:
            self._set_controls("idle")
