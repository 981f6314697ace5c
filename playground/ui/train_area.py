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

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QHeaderView, QLabel, QMenu,
                               QProgressBar, QPushButton, QSplitter, QStyle, QTabWidget,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from playground.core import PRESETS, NetworkSpec
from playground.core.config import SETTINGS, ConfigError, TrainConfig
from playground.core.runs import RunError, RunRecord, setting_lines
from playground.core.text import counted
from playground.core.units import format_eta
from playground.ui.labels import OneLineLabel
from playground.ui import theme
from playground.ui.plots import TrainingPlots, curves_from_events
from playground.ui.run_inside import HistogramsPage, LearnedPage
from playground.ui.run_library import RunLibrary, trained
from playground.ui.train_form import ConfigForm, settings_column

REPORT_INTERVAL = 0.08  # seconds between progress events from the trainer
REDRAW_MS = 60  # at most one redraw per 60 ms, and only when new points came
TEXT_INTERVAL = 1.0  # seconds between updates of the progress bar and text (each re-lays out the panel)
RUN_LIST_ROWS = 5  # the run list shows at least this many rows
PAGE_KEY = "train/page"  # QSettings: the page shown beside the runs (0 curves, 1 what it learned, 2 histograms)


# -- settings a preset recommends ----------------------------------------------------------------------------

# Every setting some preset recommends: the training recipe, as opposed to the data, device and seed,
# which stay the user's.
RECIPE_SETTINGS = tuple(dict.fromkeys(key for preset in PRESETS.values() for key in preset.train))


def recommended_settings(name: str) -> dict[str, Any]:
    """The settings the design named ``name`` recommends ({} for a design that is not a preset)."""
    preset = PRESETS.get(name)
    return dict(preset.train) if preset else {}


def with_preset_recipe(name: str, config: TrainConfig) -> TrainConfig:
    """``config`` with the preset's recipe: each recipe setting the preset leaves out goes back to its
    default (augmentation from an earlier preset must not stay on), then the preset's own apply."""
    defaults = TrainConfig()
    recipe = {key: getattr(defaults, key) for key in RECIPE_SETTINGS}
    return config.updated(**{**recipe, **recommended_settings(name)})


def describe_changes(before: TrainConfig, after: TrainConfig) -> list[str]:
    """``"learning rate 0.001 → 0.01"`` for each setting that differs, in the form's order."""
    return [f"{SETTINGS[key].title.lower()} {_shown(getattr(before, key))} → {_shown(getattr(after, key))}"
            for key in SETTINGS if getattr(before, key) != getattr(after, key)]


def continuing_text(run: RunRecord, form: TrainConfig) -> str:
    """What "Continue selected run" does with ``run``: its own settings (those that differ from the
    form's named), and only the epochs from the form."""
    c = run.config
    own = [f"{c.optimizer} {c.lr:g}", f"batch {c.batch_size}"]
    shown_already = ("optimizer", "lr", "batch_size", "epochs", "device")
    own += [f"{SETTINGS[key].title.lower()} {_shown(getattr(c, key))}" for key in SETTINGS
            if key not in shown_already and getattr(c, key) != getattr(form, key)]
    return (f"Continuing {run.label} with its own settings ({', '.join(own)}); only Epochs "
            f"({form.epochs}) comes from the form.")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _why_not_learning(run: RunRecord) -> str:
    """Likely reasons a run stayed at chance, with its own settings."""
    c = run.config
    epochs, images = trained(run)  # what was trained, if it stopped early too
    done = counted(int(epochs), "epoch") if epochs == int(epochs) else f"{epochs:.2f} epochs"
    data = f"{done} on {counted(images, 'image')}" if images else counted(c.epochs, "epoch")
    reasons = [f"the learning rate ({c.lr:g}) may be too high or too low for {c.optimizer}",
               f"{data} may be too little training"]
    if c.loss != "cross-entropy":
        reasons.append(f"the loss ({c.loss}) may not fit the network's output (cross-entropy fits class scores)")
    else:
        reasons.append("the loss may not fit the output (a ReLU or Softmax as last layer cuts or squashes "
                       "the scores)")
    return "Possible reasons: " + "; ".join(reasons) + "."


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

    evaluation_requested = Signal(object)  # a RunRecord: the user asked to see its evaluation

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
        # The design is checked against the chosen data set's classes (a folder's may be any number).
        self.form.class_count_changed.connect(document.set_class_count)
        document.set_class_count(self.form.class_count)
        self._make_buttons()
        self._make_tune_buttons()
        self._make_progress()
        self.plots = TrainingPlots()
        self._make_pages()
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
        self._show_class_problem()
        for run in library.runs:
            self._add_run_item(run)
        library.run_added.connect(self._add_run_item)
        library.run_updated.connect(self._update_run_item)
        library.epoch_finished.connect(self.learned_page.weights_changed)

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
        self.continue_button.setToolTip("Train the selected run further, from its last weights and optimizer state, "
                                         "with its own settings (optimizer, learning rate, batch size, …): only "
                                         "Epochs comes from the form")
        self.start_button.clicked.connect(self._start_clicked)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.continue_button.clicked.connect(self.continue_selected)

    def _make_progress(self) -> None:
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress_label = OneLineLabel("Ready to train.")
        self.snapshot_label = QLabel()
        self.snapshot_label.setWordWrap(True)
        self._make_banner()
        self._make_class_problem()

    def _make_class_problem(self) -> None:
        """A design whose output does not fit the data set's classes: why, and the one-click fix."""
        self.class_box = QFrame()
        self.class_box.setObjectName("class_problem")
        self.class_text = QLabel()
        self.class_text.setTextFormat(Qt.TextFormat.PlainText)
        self.class_text.setWordWrap(True)
        self.class_fix_button = QPushButton()
        self.class_fix_button.setToolTip("Apply this fix to the design (undo with Ctrl+Z)")
        self.class_fix_button.clicked.connect(self._apply_class_fix)
        layout = QVBoxLayout(self.class_box)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.class_text)
        layout.addWidget(self.class_fix_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.class_box.hide()
        self._class_fix = None
        self.document.spec_changed.connect(self._show_class_problem)

    def class_problem(self):
        """The design's problem with the data set's class count (None when its output fits)."""
        report, count = self.document.report, self.document.class_count
        if report.output_shape is None or report.output_shape == (count,) or not report.problems:
            return None
        return report.problems[0]  # with a known output shape, the first problem is the output's

    def _show_class_problem(self) -> None:
        problem = self.class_problem()
        self._class_fix = problem.fix if problem is not None else None
        self.class_box.setVisible(problem is not None)
        if problem is None:
            return
        count, shape = self.document.class_count, self.document.report.output_shape
        outputs = f"{shape[0]} class scores" if len(shape) == 1 else f"an output of {'x'.join(map(str, shape))}"
        self.class_text.setText(f"The data set has {count} classes but the design ends with {outputs}: it cannot "
                                f"train on it until they match.")
        self.class_text.setToolTip(problem.message)
        self.class_fix_button.setText(problem.fix.label if problem.fix else "")
        self.class_fix_button.setVisible(problem.fix is not None)
        self._style_class_box()

    def _style_class_box(self) -> None:
        self.class_box.setStyleSheet(f"QFrame#class_problem {{ background: {theme.css('error_background', self)}; "
                                     f"border-radius: 4px; }} QFrame#class_problem QLabel {{ color: "
                                     f"{theme.css('error', self)}; }}")

    def _apply_class_fix(self) -> None:
        if self._class_fix is not None:
            self.document.apply_fix(self._class_fix)

    def _make_banner(self) -> None:
        """A message about the last start or run, with a way to its evaluation once a run has ended."""
        self.banner_box = QFrame()
        self.banner_box.setObjectName("banner")
        self.banner = QLabel()
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # errors quote file names and contents
        self.banner.setWordWrap(True)
        self.evaluation_button = QPushButton("See the evaluation")
        self.evaluation_button.setToolTip("Show this run's test results in the Evaluate area")
        self.evaluation_button.clicked.connect(self._evaluation_clicked)
        self.evaluation_button.hide()
        self._banner_run: RunRecord | None = None  # the run whose evaluation the button shows
        layout = QVBoxLayout(self.banner_box)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.banner)
        layout.addWidget(self.evaluation_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.banner_box.hide()

    def _make_pages(self) -> None:
        """The curves, and inside the run shown: what its first layer learned, its weights and
        gradients over training; the page chosen last is shown again (QSettings)."""
        self.learned_page = LearnedPage()
        self.histograms_page = HistogramsPage()
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.plots, "Curves")
        self.pages.addTab(self.learned_page, "What it learned")
        self.pages.addTab(self.histograms_page, "Weights && gradients")
        self.pages.setTabToolTip(1, "The first layer's filters (or its weights over the image) of the run "
                                    "selected below, after its last epoch")
        self.pages.setTabToolTip(2, "Per layer, how its weights and gradients were spread over training, and "
                                    "gradients that vanish, explode or are dead named in words")
        page = QSettings().value(PAGE_KEY, 0)
        self.pages.setCurrentIndex(int(page) if str(page).isdigit() and int(page) < self.pages.count() else 0)
        self.pages.currentChanged.connect(lambda index: QSettings().setValue(PAGE_KEY, index))

    def _make_run_list(self) -> None:
        self.run_list = QTreeWidget()
        self.run_list.setHeaderLabels(["Run", "Settings", "Test accuracy", "Status", "Started"])
        self.run_list.setRootIsDecorated(False)
        # The label takes the room left (its whole text in the tooltip); the other columns fit their
        # contents, so that Started is never cut; at least five rows show.
        header = self.run_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        rows = RUN_LIST_ROWS * (self.run_list.fontMetrics().height() + 8)
        self.run_list.setMinimumHeight(header.sizeHint().height() + rows + 2 * self.run_list.frameWidth())
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
        messages = QWidget()
        layout = QVBoxLayout(messages)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner_box)
        layout.addWidget(self.class_box)
        return settings_column(self.form, self._tune_row(), self.snapshot_label, messages,
                               (self.start_button, self.pause_button, self.stop_button), self.progress,
                               self.progress_label)[0]

    def _runs_panel(self) -> QWidget:
        runs_box = QWidget()
        runs_layout = QVBoxLayout(runs_box)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(QLabel("<b>Runs</b> — select several to compare"))
        runs_layout.addWidget(self.run_list)
        runs_layout.addWidget(self.continue_button)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.pages)
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
        self.sweep_button.setEnabled(idle and self.torch_ready)
        self.lr_find_button.setEnabled(idle and self.torch_ready)

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
            self._show_banner(f"{counted(len(problems), 'saved run folder')} could not be read and are not listed: "
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

    def _current_config(self) -> TrainConfig:
        """The form's settings. A field holding refused text counts with the last value it took, and
        a value the settings refuse with the rest falls back to the default one, field by field: one
        bad field never resets the others."""
        try:
            return self.form.config()
        except ConfigError:
            pass
        config = TrainConfig()
        for name, editor in self.form.editors.items():
            try:
                config = config.updated(**{name: editor.value()})
            except ConfigError:
                pass  # this field keeps the default
        return config

    def _set_form(self, config: TrainConfig) -> None:
        self.form.set_config(config)
        self.document.set_batch_size(config.batch_size)  # set_config does not notify

    def apply_preset(self, name: str) -> list[str]:
        """Set the form to the training recipe of the preset ``name`` (a design opened from a preset);
        the data, device and seed settings stay. Returns what changed (see ``describe_changes``)."""
        before = self._current_config()
        after = with_preset_recipe(name, before)
        self._set_form(after)
        return describe_changes(before, after)

    def use_recommended(self) -> None:
        """Change only the settings the design's preset recommends, and say which changed."""
        name = self.document.spec.name
        recommended = recommended_settings(name)
        if not recommended:
            self._show_banner(f"“{name}” is not one of the presets, so it has no recommended settings; "
                              f"nothing changed.", "warning")
            return
        before = self._current_config()
        after = before.updated(**recommended)
        self._set_form(after)
        changes = describe_changes(before, after)
        if changes:
            text = f"Changed {', '.join(changes)}; the rest kept."
        else:
            text = f"The settings already are those recommended for {name}; nothing changed."
        self._show_banner(text, "success")

    def _show_banner(self, text: str, kind: str = "error", run: RunRecord | None = None) -> None:
        """Show a message (``kind``: error, warning or success); ``run``: offer its evaluation."""
        self._banner_kind = kind
        self._style_banner()
        self.banner.setText(text)
        self._banner_run = run
        self.evaluation_button.setVisible(run is not None)
        self.banner_box.show()

    def _style_banner(self) -> None:
        kind = getattr(self, "_banner_kind", "error")
        self.banner_box.setStyleSheet(f"QFrame#banner {{ background: {theme.css(kind + '_background', self)};"
                                      f" border-radius: 4px; }} QFrame#banner QLabel {{ color: "
                                      f"{theme.css(kind, self)}; }}")

    def changeEvent(self, event) -> None:
        # The banner has a style sheet of its own: its colours are chosen again for a new palette.
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "banner_box"):
            self._style_banner()
            self._style_class_box()

    def _clear_banner(self) -> None:
        if not self.training:
            self.banner_box.hide()

    def _evaluation_clicked(self) -> None:
        if self._banner_run is not None:
            self.evaluation_requested.emit(self._banner_run)

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
        if initial is None:  # made for the data set's classes (its output width is checked below)
            spec = self.document.spec_for_data(spec)
        check_compatible(spec, config)
        resolve_device(config.device)
        run_dir = new_run_dir(runs_dir(), spec.name + ("-continued" if initial else ""))
        job.update(task="classifier", design=spec.to_dict(), config=config.to_dict(), run_dir=str(run_dir),
                   report_interval=REPORT_INTERVAL, min_reports_per_epoch=25)
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
        self.banner_box.hide()
        if initial is not None:
            self._show_banner(continuing_text(initial, self.form.config()), "warning")
        run = self.library.begin_run(spec, config, Path(job["run_dir"]), continues=initial)
        self._run = run
        self.plots.show_curves(self.library.curves(run), epochs=self._epochs_of(run), label=run.label)
        self._show_inside()
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
        if event["type"] == "histograms":
            self.histograms_page.events_added(run)
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
        evaluated = run if acc is not None else None
        if event["status"] == "failed":
            self._show_banner(event["message"], run=evaluated)
            self.progress_label.setText(f"Failed: {summary}.")
            return
        self.progress_label.setText(event["message"])
        classes = run.spec.num_classes
        if acc is not None and acc <= 1.5 / classes:
            self._show_banner(f"{event['status'].capitalize()}, but the network did not learn: {summary}, about "
                              f"what guessing gives ({1 / classes:.0%} with {classes} classes). "
                              f"{_why_not_learning(run)}", "warning", evaluated)
        else:
            self._show_banner(f"{event['status'].capitalize()}: {summary} after "
                              f"{event['train_seconds']:.1f} s of training.", "success", evaluated)

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
        if run.kind != "classifier":  # a GAN's runs are in the GAN tab
            return
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
            if item.isSelected() or run is self.library.current:  # the legend names it
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
        """Plot exactly the selected runs (the first as the main curves, each named in the legend by
        its label); while training, or with none selected, the current run with the selected ones."""
        selected = self.selected_runs()
        current = self.library.current
        if self.training:
            others = [r for r in selected if r is not current]
            self.plots.set_main_label(current.label)
        else:
            main = selected[0] if selected else current
            others = selected[1:]
            if main is not None:
                self.plots.show_curves(self.library.curves(main), epochs=self._epochs_of(main), label=main.label)
            else:
                self.plots.show_curves(curves_from_events([]), label="")
        self.plots.set_overlays([(r.label, self.library.curves(r)) for r in others])
        self._show_inside()
        if not self.training:
            self._set_controls("idle")

    def inside_run(self) -> RunRecord | None:
        """The run whose first layer and histograms are shown: the first selected, else the current."""
        selected = self.selected_runs()
        return selected[0] if selected else self.library.current

    def _show_inside(self) -> None:
        run = self.inside_run()
        self.learned_page.show_run(run)
        self.histograms_page.show_run(run)

    def _epochs_of(self, run: RunRecord) -> float:
        """The epochs axis for ``run``: to its planned end (after those of the run it continues)."""
        return self.library.offsets.get(run, 0.0) + run.config.epochs


    # -- tuning: the Sweep dialog (ui/sweep_dialog.py) and the learning-rate finder (ui/lr_finder.py) ----

    def _make_tune_buttons(self) -> None:
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setToolTip("Train one run per combination of values of up to four settings and compare "
                                     "them (Ctrl+Shift+P)")
        self.sweep_button.clicked.connect(self.open_sweep)
        self.lr_find_button = QPushButton("Find learning rate…")
        self.lr_find_button.setToolTip("Raise the learning rate step by step on a copy of the model and suggest one "
                                       "(Ctrl+Shift+L)")
        self.lr_find_button.clicked.connect(self.open_lr_finder)

    def _tune_row(self) -> QWidget:
        """The recommended-settings button with the tuning buttons under it."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.recommended_button)
        row = QHBoxLayout()
        row.addWidget(self.sweep_button)
        row.addWidget(self.lr_find_button)
        layout.addLayout(row)
        return box

    def apply_settings(self, values: dict[str, Any]) -> None:
        """Put ``values`` (a sweep's row, a found rate) into the form, and say what changed."""
        before = self._current_config()
        try:
            after = before.updated(**values)
        except ConfigError as exc:
            self._show_banner(f"Cannot apply these settings: {exc}")
            return
        self._set_form(after)
        changes = describe_changes(before, after)
        self._show_banner(f"Changed {', '.join(changes)}." if changes else "The form already has these settings.",
                          "success")

    def open_sweep(self):
        """The Sweep dialog for the current design and the form's settings (modal); None if busy."""
        from playground.core.paths import runs_dir
        from playground.ui.sweep_dialog import SweepDialog

        if self.training or not self.torch_ready:
            return None
        # The first run takes the worker process started ahead (torch already imported).
        dialog = SweepDialog(self.document.spec, self._current_config(), self.library, runs_dir(),
                             start_process=self._take_process, parent=self)
        dialog.settings_applied.connect(self.apply_settings)
        dialog.finished.connect(lambda _: self.torch_ready and self.isVisible() and self._start_spare())
        dialog.open()
        return dialog

    def open_lr_finder(self):
        """The learning-rate finder for the current design and the form's settings, started at once."""
        from playground.ui.lr_finder import LrFinderDialog

        if self.training or not self.torch_ready:
            return None
        spec, initial = self.document.spec, None
        opened = self._initial_weights_for(spec)
        if opened is not None:  # an opened model: the finder starts from a copy of its weights
            from playground.core.runs import load_weights
            from playground.core.weights import expected_weights

            try:
                initial = load_weights(opened, expected_weights(spec))
            except RunError as exc:
                self._show_banner(f"Cannot read the opened model's weights: {exc}")
                return None
        dialog = LrFinderDialog(spec, self._current_config(), initial_state=initial, parent=self)
        dialog.rate_chosen.connect(lambda lr: self.apply_settings({"lr": lr}))
        dialog.open()
        dialog.start()
        return dialog
