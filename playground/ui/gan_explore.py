"""The GAN tab's Explore view: samples of a trained generator by seed, a path of frames along the great
circle between two of them, and for a conditional GAN a digit chooser.

The generator comes from a GAN run of the library (or the run just trained) through
``playground.core.gan_sample``. A batch of the presets' size is generated on the GUI thread while one
takes a frame or less (a redraw at once, no flicker); once a batch took longer, generation moves to a
worker thread and only the latest request's result is shown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from playground.ui.gan_widgets import SampleGrid

GRID_COLUMNS, GRID_ROWS = 8, 8
FRAMES = 10  # frames of the path, both ends included
FRAME_SECONDS = 1 / 60  # what a generation may take on the GUI thread
MAX_SEED = 2**31 - 1
_DIGIT_KEYS = {getattr(Qt.Key, f"Key_{d}"): d for d in range(10)}


def run_kind(run) -> str:
    """A run's kind ("classifier" for a record from before GAN runs existed)."""
    return getattr(run, "kind", "classifier")


def _sampling():
    """The core's sampling module (``load_generator``, ``slerp``)."""
    from playground.core import gan_sample

    return gan_sample


class GanExploreView(QWidget):
    """Samples of a generator by seed, a great-circle path between two of them, a digit chooser."""

    model_loaded = Signal(object)  # the GeneratorModel now shown

    def __init__(self, library, parent=None):
        super().__init__(parent)
        self.library = library
        self.model = None
        self.digit = 0
        self.start_index: int | None = None
        self.end_index: int | None = None
        self._end_latent = None  # a random end, when it is not a sample of the grid
        self._latents = None  # the grid's latent vectors
        self._extra: dict[Path, str] = {}  # runs added by hand: folder -> label
        self._slow = False  # a batch took over a frame: generate off the GUI thread
        self._tickets: dict[str, int] = {}  # the latest request of each kind (load, grid, strip)
        self._answers: dict[str, tuple[Callable, Callable]] = {}
        self._source: Path | None = None  # the generator shown, or on its way
        self._workers: list[Any] = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click on the view lets it take the digit keys
        self._make_widgets()
        self._make_digit_row()
        self._lay_out()
        if library is not None:
            library.run_added.connect(self.refresh_runs)
            library.run_updated.connect(self.refresh_runs)
        self.refresh_runs()

    # -- building the widgets ------------------------------------------------------------------------

    def _make_widgets(self) -> None:
        self.run_box = QComboBox()
        self.run_box.setToolTip("A finished GAN run whose generator to explore")
        self.run_box.setMinimumContentsLength(30)
        self.run_box.setPlaceholderText("Choose a finished GAN run")
        self.run_box.activated.connect(self._run_chosen)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setToolTip("The seed of the grid's noise: the same seed gives the same samples")
        self.seed_box.valueChanged.connect(self.regenerate)
        self.new_button = QPushButton("New samples")
        self.new_button.setToolTip("The next seed's samples (N)")
        self.new_button.setShortcut("N")
        self.new_button.clicked.connect(lambda: self.seed_box.setValue((self.seed_box.value() + 1) % MAX_SEED))
        self.grid = SampleGrid(GRID_COLUMNS, GRID_ROWS, clickable=True,
                               placeholder="Choose a finished GAN run above to see its samples.")
        self.grid.setToolTip("Click a sample to start a path from it (A), then another to end it (B)")
        self.grid.sample_clicked.connect(self.sample_clicked)
        self.strip = SampleGrid(FRAMES, 1, placeholder="Click two samples: the path between them shows here.")
        self.strip.setMinimumHeight(60)
        self.random_end_button = QPushButton("Random end")
        self.random_end_button.setToolTip("End the path at a random point of the noise instead of a sample (R)")
        self.random_end_button.setShortcut("R")
        self.random_end_button.clicked.connect(self.random_end)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)

    def _make_digit_row(self) -> None:
        self.digit_row = QWidget()
        row = QHBoxLayout(self.digit_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Digit:"))
        self.digit_group = QButtonGroup(self)
        self.digit_buttons: list[QToolButton] = []
        for d in range(10):
            button = QToolButton()
            button.setText(str(d))
            button.setCheckable(True)
            button.setToolTip(f"Make the grid draw {d}s (key {d})")
            button.setMinimumWidth(28)
            self.digit_group.addButton(button, d)
            self.digit_buttons.append(button)
            row.addWidget(button)
        row.addStretch(1)
        self._style_digit_row()
        self.digit_buttons[0].setChecked(True)
        self.digit_group.idClicked.connect(self.choose_digit)
        self.digit_row.hide()

    def _style_digit_row(self) -> None:
        """The chosen digit in the palette's highlight colours: a checked tool button looks like the
        others in some styles. Colours from this view's palette, set again when it changes."""
        p, role = self.palette(), QPalette.ColorRole
        sheet = (f"QToolButton {{ padding: 2px 7px; border: 1px solid {p.color(role.Mid).name()}; border-radius: 3px;"
                 f" background: {p.color(role.Button).name()}; color: {p.color(role.ButtonText).name()}; }}"
                 f" QToolButton:checked {{ background: {p.color(role.Highlight).name()};"
                 f" color: {p.color(role.HighlightedText).name()}; border-color: {p.color(role.Highlight).name()}; }}")
        if sheet != self.digit_row.styleSheet():
            self.digit_row.setStyleSheet(sheet)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "digit_row"):
            self._style_digit_row()

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.run_box, 1)
        top.addWidget(QLabel("Seed:"))
        top.addWidget(self.seed_box)
        top.addWidget(self.new_button)
        samples = QGroupBox("Samples")
        samples_layout = QVBoxLayout(samples)
        samples_layout.addWidget(self.digit_row)
        samples_layout.addWidget(self.grid, 1)
        path = QGroupBox(f"Path from A to B along the great circle ({FRAMES} frames)")
        path_layout = QVBoxLayout(path)
        path_row = QHBoxLayout()
        path_row.addWidget(self.hint, 1)
        path_row.addWidget(self.random_end_button)
        path_layout.addLayout(path_row)
        path_layout.addWidget(self.strip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(samples, 1)
        layout.addWidget(path)
        self._show_hint()

    # -- which generator -----------------------------------------------------------------------------

    def _gan_runs(self) -> list[tuple[Path, str]]:
        """Finished GAN runs with weights, newest first, then those added by hand."""
        runs = [] if self.library is None else [
            (r.path, r.label) for r in reversed(self.library.runs)
            if run_kind(r) == "gan" and r.finished and r.path is not None and r.has_last_weights]
        known = {path for path, _ in runs}
        return runs + [(path, label) for path, label in self._extra.items() if path not in known]

    def refresh_runs(self, *args) -> None:
        current = self.run_box.currentData()
        blocked = self.run_box.blockSignals(True)
        self.run_box.clear()
        for path, label in self._gan_runs():
            self.run_box.addItem(label, str(path))
        self.run_box.setCurrentIndex(self.run_box.findData(current))  # -1 (the placeholder) if it went
        self.run_box.blockSignals(blocked)
        if not self.run_box.count():
            self.status.setText("No finished GAN run yet: train one in the Train view.")

    def show_run(self, path: str | Path, label: str = "") -> None:
        """Explore the generator of the GAN run in ``path`` (the run just trained, say)."""
        path = Path(path)
        self._extra.setdefault(path, label or path.name)
        self.refresh_runs()
        self.run_box.setCurrentIndex(max(0, self.run_box.findData(str(path))))
        self.load(path)

    def _run_chosen(self, index: int) -> None:
        data = self.run_box.itemData(index)
        if data:
            self.load(Path(data))

    def load(self, source: Path) -> None:
        """Load the generator of a run folder or model file in a worker thread."""
        if source == self._source:  # loaded, or on its way
            return
        self._source = source
        self.status.setText(f"Loading the generator of {source.name}…")
        self._in_worker("load", lambda: _sampling().load_generator(source), self.set_model, self._load_failed)

    def _load_failed(self, exc: Exception) -> None:
        self._source = None  # choosing it again tries again
        self.status.setText(f"Cannot load this generator: {exc}")

    def _generation_failed(self, exc: Exception) -> None:
        self.status.setText(f"Cannot generate: {exc}")

    def set_model(self, model) -> None:
        """Show samples of ``model`` (a ``GeneratorModel``)."""
        self.model = model
        self._slow = False
        self.start_index = self.end_index = self._end_latent = None
        self.grid.set_marks({})
        self.strip.set_images(np.zeros((0, 28, 28), np.uint8))
        self.digit_row.setVisible(bool(model.conditional))
        kind = "a conditional generator: choose the digit below (keys 0-9)" if model.conditional else "a generator"
        self.status.setText(f"{model.spec.name}: {kind}, latent vectors of {model.latent_size} values.")
        self._show_hint()
        self.regenerate()
        self.model_loaded.emit(model)

    # -- generating ----------------------------------------------------------------------------------

    def _keep(self, worker) -> None:
        self._workers.append(worker)
        worker.finished.connect(lambda: self._workers.remove(worker) if worker in self._workers else None)
        worker.start()

    def _in_worker(self, what: str, job: Callable[[], Any], done: Callable[[Any], None],
                   failed: Callable[[Exception], None]) -> None:
        """Run ``job`` in a worker thread; only the latest request of ``what`` is answered (``done``
        with its result, ``failed`` with what it raised), through a method of this view, so that
        nothing is answered once the view is gone."""
        from superqt.utils import create_worker

        self._tickets[what] = ticket = self._tickets.get(what, 0) + 1
        self._answers[what] = (done, failed)

        def run() -> tuple[str, int, Any, Exception | None]:
            try:
                return what, ticket, job(), None
            except (RuntimeError, OSError, ValueError) as exc:  # a refused file or request says why
                return what, ticket, None, exc

        self._keep(create_worker(run, _start_thread=False, _connect={"returned": self._answered}))

    def _answered(self, answer: tuple[str, int, Any, Exception | None]) -> None:
        what, ticket, result, exc = answer
        if self._tickets.get(what) != ticket:
            return  # a later request of the same kind is on its way
        done, failed = self._answers.pop(what)
        failed(exc) if exc is not None else done(result)

    def _generate(self, what: str, job: Callable[[], np.ndarray], done: Callable[[np.ndarray], None]) -> None:
        """Run ``job`` on the GUI thread while that takes a frame or less, else in a worker; ``done``
        gets the result of the latest request of ``what`` only."""
        self._tickets[what] = self._tickets.get(what, 0) + 1  # answers still on their way are stale
        if self._slow:
            self._in_worker(what, job, done, self._generation_failed)
            return
        began = time.perf_counter()
        try:
            result = job()
        except (RuntimeError, ValueError) as exc:  # the generator refused (its message says why)
            self._generation_failed(exc)
            return
        self._slow = time.perf_counter() - began > FRAME_SECONDS
        done(result)

    def _digits(self, count: int) -> list[int] | None:
        return [self.digit] * count if self.model is not None and self.model.conditional else None

    def regenerate(self, *args) -> None:
        """The grid's samples for the seed (and digit), and the path between its marked samples."""
        model = self.model
        if model is None:
            return
        count = GRID_COLUMNS * GRID_ROWS
        self._latents = latents = model.latents(self.seed_box.value(), count)
        digits = self._digits(count)
        labels = [str(self.digit)] * GRID_ROWS if digits else None
        self._generate("grid", lambda: model.images(latents, digits),
                       lambda images: self.grid.set_images(images, labels))
        self._update_strip()

    def sample_clicked(self, index: int) -> None:
        """The first click picks the path's start (A), the next its end (B); a third starts again."""
        if self.start_index is None or self.end_index is not None or self._end_latent is not None:
            self.start_index, self.end_index, self._end_latent = index, None, None
        elif index != self.start_index:
            self.end_index = index
        self._update_marks()
        self._update_strip()

    def random_end(self) -> None:
        """End the path at a random latent vector."""
        if self.model is None or self.start_index is None:
            self.hint.setText("First click a sample to start the path from.")
            return
        self.end_index = None
        self._end_latent = self.model.latents(random.randrange(MAX_SEED), 1)[0]
        self._update_marks()
        self._update_strip()

    def _update_marks(self) -> None:
        marks = {self.start_index: "start"} if self.start_index is not None else {}
        if self.end_index is not None:
            marks[self.end_index] = "end"
        self.grid.set_marks(marks)
        self._show_hint()

    def _show_hint(self) -> None:
        if self.start_index is None:
            text = "Click a sample to start a path from it (A)."
        elif self.end_index is None and self._end_latent is None:
            text = "Now click another sample to end the path (B), or press Random end."
        else:
            end = "a random point" if self._end_latent is not None else "B"
            text = f"The path from A to {end}; click a sample to start a new one."
        self.hint.setText(text)

    def _update_strip(self) -> None:
        model, latents = self.model, self._latents
        if model is None or latents is None or self.start_index is None:
            return
        if self.end_index is None and self._end_latent is None:
            return
        end = latents[self.end_index] if self.end_index is not None else self._end_latent
        path = _sampling().slerp(latents[self.start_index], end, FRAMES)
        digits = self._digits(FRAMES)
        self._generate("strip", lambda: model.images(path, digits), self.strip.set_images)

    def choose_digit(self, digit: int) -> None:
        """Make the grid (and the path) draw ``digit`` (a conditional generator only)."""
        if self.model is None or not self.model.conditional or not 0 <= digit <= 9:
            return
        self.digit = digit
        self.digit_buttons[digit].setChecked(True)
        self.regenerate()

    def keyPressEvent(self, event) -> None:
        digit = _DIGIT_KEYS.get(event.key())
        if digit is not None and self.model is not None and self.model.conditional:
            self.choose_digit(digit)
        else:
            super().keyPressEvent(event)
