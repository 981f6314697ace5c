"""The GAN tab's Train view: settings, Start / Pause / Resume / Stop, step mode, and what the run
shows live: the fixed-noise samples, the losses, D's outputs and the quality meter of each epoch.

The run is the core's GAN training in a worker process (``playground.core.worker``), whose events a
superqt worker thread relays, exactly as the Train area runs a classifier. Curves are redrawn at most
every REDRAW_MS, the progress text once a second; the sample grid repaints when a ``samples`` event
comes (the trainer sends at most about three a second).
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QFrame, QSplitter, QStyle, QVBoxLayout, QWidget)

from playground.core.config import SETTINGS, ConfigError, TrainConfig
from playground.core.events import decode_samples
from playground.core.gan_spec import DEFAULT_GAN_PRESET, GAN_PRESETS, GanSpec, infer_gan_shapes
from playground.core.units import format_eta
from playground.ui.editors import ChoiceEdit, NumberEdit, editor_for_setting, problem_style
from playground.ui.train_form import settings_column
from playground.ui.gan_widgets import Banner, ClassHistogram, GanCurves, SampleGrid, digit_columns, row_labels
from playground.ui.labels import OneLineLabel
from playground.ui.train_area import TrainingRunner

REPORT_INTERVAL = 0.08  # seconds between progress events from the trainer
REDRAW_MS = 60
TEXT_INTERVAL = 1.0  # seconds between updates of the progress text

# The settings a GAN run uses, in the form's order; the optimizer is Adam, the schedule constant.
GAN_SETTINGS = ("epochs", "batch_size", "lr", "beta1", "beta2", "seed", "limit", "device")

def gan_recommended(name: str) -> dict[str, Any]:
    """The settings the GAN preset ``name`` recommends (the default preset's for a design of another
    name)."""
    preset = GAN_PRESETS.get(name) or GAN_PRESETS[DEFAULT_GAN_PRESET]
    return dict(preset.train)


def design_problems(spec: GanSpec) -> list[str]:
    """What keeps the design from training, each naming its stack."""
    return [f"The {which}: {problem.message}" for which, problem in infer_gan_shapes(spec).all_problems()]


def _share(value: float | None) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) else "–"


def _number(value: float | None) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "–"


class GanSettingsForm(QWidget):
    """An editor for each setting a GAN run uses, each with its help as tooltip."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}
        self.problem_labels: list[QLabel] = []
        for name in GAN_SETTINGS:
            spec = SETTINGS[name]
            editor = editor_for_setting(spec)
            editor.setObjectName(f"gan_{name}")
            editor.valueChanged.connect(self.changed)
            label = QLabel(spec.title)
            label.setToolTip(spec.help)
            form.addRow(label, editor)
            self.editors[name] = editor
            if isinstance(editor, NumberEdit):
                self._add_problem_row(form, editor)

    def _add_problem_row(self, form: QFormLayout, editor: NumberEdit) -> None:
        message = QLabel()
        message.setWordWrap(True)
        message.setStyleSheet(problem_style(self))
        self.problem_labels.append(message)
        form.addRow(message)
        form.setRowVisible(message, False)

        def show(text: str) -> None:
            message.setText(text)
            form.setRowVisible(message, bool(text))

        editor.problem_changed.connect(show)

    def set_devices(self, devices: list[str]) -> None:
        box: ChoiceEdit = self.editors["device"]
        box.set_choices({"auto": SETTINGS["device"].choices["auto"], **{d: "" for d in devices}})

    def set_values(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].setValue(value, notify=False)

    def values(self) -> dict[str, Any]:
        """Every setting's value; ``ConfigError`` for a field whose typed text cannot be used."""
        for editor in self.editors.values():
            if isinstance(editor, NumberEdit) and not editor.commit():
                raise ConfigError(editor.problem())
        return {name: editor.value() for name, editor in self.editors.items()}

    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (Adam, constant rate); ``ConfigError`` says what is wrong."""
        return TrainConfig().updated(optimizer="adam", schedule="constant", **self.values())


class GanTrainView(QWidget):
    """Settings, controls, progress, step mode and the live views of the GAN run it trains."""

    run_ended = Signal(object)  # the folder (Path) of a run that ended with weights to explore
    explore_requested = Signal(object)  # the folder (Path) the user wants to explore

    def __init__(self, document, library, parent=None, process_factory=None):
        super().__init__(parent)
        self.document = document
        self.library = library
        self.process_factory = process_factory  # makes a TrainingProcess (tests pass a fake)
        self.runner: TrainingRunner | None = None
        self.run_dir: Path | None = None
        self.torch_ready = False
        self.worker_paused = False  # the worker said it paused: step mode is open
        self._steps_per_epoch = 1
        self.samples_shown = 0  # samples events shown so far (each replaces the grid)
        self.hand_steps = 0  # steps taken by hand since the last pause
        self._scores: dict[str, float] = {}  # the latest D(x), D(G(z)) and losses
        self._dirty = False
        self._last_text = 0.0
        self.form = GanSettingsForm()
        self.form.changed.connect(self._settings_changed)
        self.form.set_values(gan_recommended(document.spec.name))
        self._named = document.spec.name  # the design whose recommended settings the form took
        self._make_buttons()
        self._make_progress()
        self._make_live_views()
        self._lay_out()
        self._make_shortcuts()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setSingleShot(True)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        document.spec_changed.connect(self._design_changed)
        self._design_changed()
        self._set_controls("idle")
        self._sync_batch_size()

    # -- building the widgets ------------------------------------------------------------------------

    def _make_buttons(self) -> None:
        icon = self.style().standardIcon
        self._play_icon = icon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = icon(QStyle.StandardPixmap.SP_MediaPause)
        self.recommended_button = QPushButton("Use the preset's recommended settings")
        self.recommended_button.setToolTip("The settings the GAN preset of this name trains well with "
                                           "(Adam 2e-4, betas 0.5 / 0.999)")
        self.recommended_button.clicked.connect(self.use_recommended)
        self.start_button = QPushButton(self._play_icon, "Start")
        self.start_button.setToolTip("Train a snapshot of the GAN design with these settings (F5)")
        self.pause_button = QPushButton(self._pause_icon, "Pause")
        self.pause_button.setToolTip("Pause between steps; while paused, step one network at a time (F6)")
        self.stop_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop now and keep the weights trained so far (Shift+F5)")
        self.step_d_button = QPushButton("Step D")
        self.step_d_button.setToolTip("While paused: one discriminator step on one batch of real and generated "
                                      "images; the scores and samples below update (D)")
        self.step_g_button = QPushButton("Step G")
        self.step_g_button.setToolTip("While paused: one generator step, to fool the discriminator more; the "
                                      "scores and samples below update (G)")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.step_d_button.clicked.connect(lambda: self.step("discriminator"))
        self.step_g_button.clicked.connect(lambda: self.step("generator"))

    def _make_shortcuts(self) -> None:
        context = Qt.ShortcutContext.WidgetWithChildrenShortcut
        for key, slot in (("F5", self.start), ("F6", self.toggle_pause), ("Shift+F5", self.stop),
                          ("D", lambda: self.step("discriminator")), ("G", lambda: self.step("generator"))):
            QShortcut(QKeySequence(key), self, context=context).activated.connect(slot)

    def _make_progress(self) -> None:
        self.snapshot_label = QLabel()
        self.snapshot_label.setWordWrap(True)
        self.banner = Banner()
        self.banner.owner = self
        self.explore_button = QPushButton("Explore the generator")
        self.explore_button.setToolTip("Open this run in the Explore view: samples by seed, paths between them")
        self.explore_button.clicked.connect(self._explore_clicked)
        self.explore_button.hide()
        self.banner.row.addWidget(self.explore_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress_label = OneLineLabel("Ready to train.")
        self.step_label = QLabel("Pause to step: one discriminator step, then one generator step.")
        self.step_label.setWordWrap(True)
        self.step_label.setTextFormat(Qt.TextFormat.PlainText)

    def _make_live_views(self) -> None:
        self.grid = SampleGrid(8, 8, placeholder="Samples from a fixed noise batch show here while it trains.")
        self.warning_banner = Banner()
        self.warning_banner.owner = self
        self.curves = GanCurves(("loss", "scores"))
        self.curves.setMinimumHeight(170)
        self.quality_curves = GanCurves(("confident", "frechet"))
        self.quality_curves.setMinimumHeight(140)
        self.histogram = ClassHistogram()
        self.histogram.setToolTip("How many of 1,000 generated samples the digit classifier labels as each "
                                  "digit; a dashed red box is a missing digit (under 3%)")
        self.quality_message = QLabel("The quality meter fills in at the end of each epoch.")
        self.quality_message.setWordWrap(True)
        self.quality_message.setTextFormat(Qt.TextFormat.PlainText)
        self.quality_figures = QLabel()
        self.quality_figures.setWordWrap(True)
        self.quality_figures.setTextFormat(Qt.TextFormat.PlainText)

    def _settings_panel(self) -> QWidget:
        left, layout = settings_column(self.form, self.recommended_button, self.snapshot_label, self.banner,
                                       (self.start_button, self.pause_button, self.stop_button), self.progress,
                                       self.progress_label)
        steps = QHBoxLayout()
        steps.addWidget(self.step_d_button)
        steps.addWidget(self.step_g_button)
        step_box = QGroupBox("Step mode")
        step_layout = QVBoxLayout(step_box)
        step_layout.addLayout(steps)
        step_layout.addWidget(self.step_label)
        layout.addWidget(step_box)
        return left

    def _quality_panel(self) -> QWidget:
        box = QGroupBox("Quality meter")
        box.setToolTip("At each epoch's end the app's digit classifier judges 1,000 generated samples")
        layout = QVBoxLayout(box)
        layout.addWidget(self.histogram)
        layout.addWidget(self.quality_figures)
        layout.addWidget(self.quality_message)
        layout.addWidget(self.quality_curves, 1)
        return box

    def _live_panel(self) -> QWidget:
        samples = QGroupBox("Samples")
        QVBoxLayout(samples).addWidget(self.grid)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(samples)
        top.addWidget(self._quality_panel())
        top.setStretchFactor(1, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(top)
        right.addWidget(self.curves)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        for splitter in (top, right):
            splitter.setChildrenCollapsible(False)
        # On a small window the live views scroll rather than squeeze the plots and bars unreadable.
        # The banner stays outside: a wrapping label inside would make the scroll area size its
        # contents by their preferred height, far out of view.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(right)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.warning_banner)
        layout.addWidget(scroll, 1)
        return panel

    def _lay_out(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self._settings_panel())
        self.splitter.addWidget(self._live_panel())
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "warning_banner"):
            self.banner.restyle(self)
            self.warning_banner.restyle(self)

    # -- state ---------------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        return self.runner is not None and self.runner.running

    def _set_controls(self, state: str) -> None:
        idle = state == "idle"
        self.start_button.setEnabled(idle and self.torch_ready and not design_problems(self.document.spec))
        self.pause_button.setEnabled(not idle)
        self.stop_button.setEnabled(not idle)
        paused = state == "paused"
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(self._play_icon if paused else self._pause_icon)
        stepping = paused and self.worker_paused
        self.step_d_button.setEnabled(stepping)
        self.step_g_button.setEnabled(stepping)
        self.form.setEnabled(idle)
        self.recommended_button.setEnabled(idle)

    def _state(self) -> str:
        if not self.training:
            return "idle"
        return "paused" if self.runner.paused else "running"

    def set_torch_ready(self, devices: list[str]) -> None:
        self.torch_ready = True
        self.form.set_devices(devices)
        self._set_controls(self._state())

    def _settings_changed(self) -> None:
        if not self.training and self.banner.kind != "success":
            self.banner.clear()
        self._sync_batch_size()

    def _sync_batch_size(self) -> None:
        """The designer's memory estimates follow the batch size this form would train with."""
        batch_size = self.form.editors["batch_size"].value()
        if isinstance(batch_size, int) and hasattr(self.document, "set_batch_size"):
            self.document.set_batch_size(batch_size)

    def _design_changed(self, *args) -> None:
        spec = self.document.spec
        if not self.training and spec.name != self._named:  # a GAN preset opened: its settings too
            self._named = spec.name
            if spec.name in GAN_PRESETS:
                self.use_recommended()
        if not self.training:
            problems = design_problems(spec)
            name = html.escape(spec.name)
            if problems:
                self.snapshot_label.setText(f"<b>{name}</b> cannot train yet: fix it in the Design view first.")
                self.banner.show_message("Cannot start: " + " ".join(problems), "error")
            else:
                self.snapshot_label.setText(f"Will train <b>{name}</b> as it is in the Design view when you "
                                            f"press Start.")
                if self.banner.text.startswith("Cannot start"):
                    self.banner.clear()
            self._set_controls("idle")

    def use_recommended(self) -> None:
        name = self.document.spec.name
        settings = gan_recommended(name)
        self.form.set_values(settings)
        self._sync_batch_size()
        which = name if name in GAN_PRESETS else DEFAULT_GAN_PRESET
        self.banner.show_message(f"Settings set to those recommended for {which}: Adam, learning rate "
                                 f"{settings['lr']:g}, betas {settings['beta1']:g} / {settings['beta2']:g}, "
                                 f"batch size {settings['batch_size']}, {settings['epochs']} epochs.", "success")

    # -- start, pause, step, stop ---------------------------------------------------------------------

    def _job(self) -> dict[str, Any]:
        """The worker job of a new run; ConfigError or RuntimeError saying why it cannot start."""
        from playground.core.config import resolve_device
        from playground.core.paths import runs_dir
        from playground.core.runs import new_run_dir

        spec = self.document.spec
        problems = design_problems(spec)
        if problems:
            raise RuntimeError(" ".join(problems))
        config = self.form.config()
        resolve_device(config.device)
        run_dir = new_run_dir(runs_dir(), spec.name)
        return {"task": "gan", "design": spec.to_dict(), "config": config.to_dict(), "run_dir": str(run_dir),
                "report_interval": REPORT_INTERVAL}

    def start(self) -> bool:
        """Start a run of a snapshot of the design; False (and a message saying why) if it cannot."""
        if self.training or not self.torch_ready:
            return False
        try:
            job = self._job()
        except (ConfigError, OSError, RuntimeError, ValueError) as exc:
            self.banner.show_message(f"Cannot start: {exc}", "error")
            return False
        self.banner.clear()
        self.warning_banner.clear()
        self.explore_button.hide()
        self.run_dir = Path(job["run_dir"])
        self._reset_views(job)
        self.runner = TrainingRunner(self._make_process(), job, self)
        self.runner.event_received.connect(self.on_event)
        self.runner.finished.connect(self._on_worker_finished)
        self.worker_paused = False
        self._set_controls("running")
        self.runner.start()
        return True

    def _make_process(self):
        if self.process_factory is not None:
            return self.process_factory()
        from playground.core.worker import TrainingProcess

        return TrainingProcess()

    def _reset_views(self, job: dict[str, Any]) -> None:
        name = html.escape(job["design"]["name"])
        self.snapshot_label.setText(f"Training <b>{name}</b> (a snapshot: editing the design now does not "
                                    f"change this run).")
        self.curves.clear()
        self.quality_curves.clear()
        self.histogram.set_counts([0] * 10)
        self.quality_message.setText("The quality meter fills in at the end of each epoch.")
        self.quality_figures.setText("")
        self._scores = {}
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress_label.setText("Loading data…")
        self._last_text = 0.0

    def toggle_pause(self) -> None:
        if not self.training:
            return
        if self.runner.paused:
            self.runner.process.resume()
            self.worker_paused = False
            self._set_controls("running")
        else:
            self.runner.process.pause()
            self._set_controls("paused")
            self.progress_label.setText(self.progress_label.text() + "  (pausing…)")

    def step(self, which: str) -> None:
        """One discriminator or generator step of the paused run."""
        if self.training and self.runner.paused and self.worker_paused:
            self.runner.process.step(which)
            self.step_label.setText(f"Taking one {which} step…")

    def stop(self) -> None:
        if self.training:
            self.runner.process.stop()
            self.worker_paused = False
            self.progress_label.setText("Stopping…")

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop any run and wait for it (for closing the window)."""
        self.redraw_timer.stop()
        if not self.training:
            return True
        process = self.runner.process
        process.stop(evaluate=False)
        done = QThreadPool.globalInstance().waitForDone(int(timeout * 1000))
        if process.alive:
            process.kill()
            done = QThreadPool.globalInstance().waitForDone(500) and done
        return done

    def _explore_clicked(self) -> None:
        if self.run_dir is not None:
            self.explore_requested.emit(self.run_dir)

    # -- events from the worker --------------------------------------------------------------------------

    def on_event(self, event: dict) -> None:
        """Show one event of the run (the runner's signal; tests call it with events made by hand)."""
        handler = getattr(self, f"_on_{event.get('type')}", None)
        if handler is not None:
            handler(event)
        if self._dirty and not self.redraw_timer.isActive():
            self.redraw_timer.start()

    def _on_start(self, e: dict) -> None:
        self._steps_per_epoch = max(1, int(e["steps_per_epoch"]))
        self.progress.setRange(0, max(1, int(e["total_steps"])))
        self.curves.plots["loss"].setXRange(0, e["epochs"], padding=0)
        self.curves.plots["scores"].setXRange(0, e["epochs"], padding=0)
        for plot in self.quality_curves.plots.values():  # one point an epoch, from the first
            plot.setXRange(1, max(2, e["epochs"]), padding=0.05)
        self.progress_label.setText(f"Training on {e['device']}: {e['train_size']:,} images, "
                                    f"{e['parameters']:,} parameters")

    def _on_progress(self, e: dict) -> None:
        self._show_step(e)
        now = time.monotonic()
        if now - self._last_text >= TEXT_INTERVAL:
            self._last_text = now
            self.progress_label.setText(f"ETA {format_eta(e['eta_seconds'])} · {e['samples_per_second']:,.0f} "
                                        f"images/s · D right {e['train_accuracy']:.0%}")

    def _show_step(self, e: dict) -> None:
        self.progress.setValue(min(int(e["step"]), self.progress.maximum()))
        eta = f" · ETA {format_eta(e['eta_seconds'])}" if e.get("eta_seconds") is not None else ""
        self.progress.setFormat(f"epoch {e['epoch']} · step {e['step']:,}/{self.progress.maximum():,}{eta}")

    def _add_scores(self, e: dict) -> None:
        x = e["step"] / self._steps_per_epoch
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            self._dirty = self.curves.add(key, x, e.get(key)) or self._dirty
        self._scores = {key: e[key] for key in ("d_loss", "g_loss", "d_real", "d_fake") if e.get(key) is not None}

    def _on_gan_progress(self, e: dict) -> None:
        self._add_scores(e)

    def _on_gan_step(self, e: dict) -> None:
        before = dict(self._scores)
        self._add_scores(e)
        self._redraw()

        def change(key: str) -> str:
            new = e.get(key)
            if new is None:
                return "–"
            old = before.get(key)
            return f"{old:.3f} → {new:.3f}" if old is not None else f"{new:.3f}"

        self.hand_steps += 1
        who = "Discriminator" if e["which"] == "discriminator" else "Generator"
        self.step_label.setText(f"{who} step by hand #{self.hand_steps}: D(x) {change('d_real')}, D(G(z)) "
                                f"{change('d_fake')}; D loss {change('d_loss')}, G loss {change('g_loss')}.")

    def _on_samples(self, e: dict) -> None:
        try:
            images = decode_samples(e)
        except ValueError as exc:
            self.warning_banner.show_message(f"Samples could not be shown: {exc}", "warning")
            return
        self.samples_shown += 1
        digits = e.get("digits")
        columns = digit_columns(digits)
        self.grid.set_images(images, row_labels(digits, columns), columns)

    def _on_quality(self, e: dict) -> None:
        epoch = e["epoch"]
        self._dirty = self.quality_curves.add("confident", epoch, e.get("confident_share")) or self._dirty
        self._dirty = self.quality_curves.add("frechet", epoch, e.get("frechet")) or self._dirty
        self.histogram.set_counts(e.get("histogram") or [0] * 10, e.get("missing") or [])
        figures = [f"Epoch {epoch}: {_share(e.get('confident_share'))} of {e.get('count', 0):,} samples "
                   f"confident (≥ 0.9)", f"Fréchet distance {_number(e.get('frechet'))} (lower is better)"]
        if e.get("digit_accuracy") is not None:
            figures.append(f"The asked digit seen in {e['digit_accuracy']:.1%}")
        self.quality_figures.setText("\n".join(figures))
        missing = e.get("missing") or []
        self.quality_message.setText(e.get("message") or (
            f"Missing: {', '.join(map(str, missing))}." if missing else "Every digit is there."))
        warnings = e.get("warnings") or []
        if warnings:
            self.warning_banner.show_message("\n".join(warnings), "warning")
        else:
            self.warning_banner.clear()

    def _on_epoch(self, e: dict) -> None:
        self._show_step(e)

    def _on_paused(self, e: dict) -> None:
        self._show_step(e)
        self.worker_paused = True
        self.hand_steps = 0
        self.progress_label.setText(f"Paused at epoch {e['epoch']}, step {e['step']:,}: step mode is open.")
        self._set_controls(self._state())

    def _on_resumed(self, e: dict) -> None:
        self.worker_paused = False
        self._set_controls(self._state())

    def _on_stopped(self, e: dict) -> None:
        self._show_step(e)
        self.progress_label.setText(f"Stopped at epoch {e['epoch']}, step {e['step']:,}.")

    def _on_finished(self, e: dict) -> None:
        quality = e.get("quality")
        words = (f"; {_share(quality.get('confident_share'))} of the samples confident, Fréchet distance "
                 f"{_number(quality.get('frechet'))}" if isinstance(quality, dict) else "")
        if e["status"] == "failed":
            self.banner.show_message(f"Training failed: {e['message']}", "error")
            self.progress_label.setText("Failed.")
        else:
            # Samples that are not digits yet, or a collapse, make a warning rather than a success.
            concern = quality.get("message", "") if isinstance(quality, dict) else ""
            self.banner.show_message(f"{e['status'].capitalize()} after {e['train_seconds']:.1f} s of "
                                     f"training{words}." + (f" {concern}" if concern else ""),
                                     "warning" if concern else "success")
            self.progress_label.setText(e["message"])
        self.explore_button.setVisible(self.run_dir is not None and e["status"] != "failed")

    def _on_error(self, e: dict) -> None:
        self.banner.show_message(f"Training failed: {e['message']}", "error")
        self.progress_label.setText("Failed.")

    def _redraw(self) -> None:
        if self._dirty:
            self._dirty = False
            self.curves.redraw()
            self.quality_curves.redraw()

    def _on_worker_finished(self) -> None:
        self.redraw_timer.stop()
        self._dirty = True
        self._redraw()
        self.worker_paused = False
        self._set_controls("idle")
        self._design_changed()
        if self.run_dir is not None and self.explore_button.isVisible():
            self.run_ended.emit(self.run_dir)
