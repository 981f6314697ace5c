"""Teach it your handwriting: the Draw area's "That's right" / "No, it's a …" controls, the "My digits"
browser, and the "Fine-tune on my digits" bar.

The drawings live in the core's :class:`~playground.core.my_digits.MyDigits` store (a folder data set
in the user data folder); these widgets only show it and send it what the user did. The fine-tune
runs ``core.my_digits.fine_tune_events`` on a superqt worker thread (the Train area's worker process
takes a design and settings, and its data comes from the settings; a fine-tune's data is MNIST plus
the drawings), so the window stays responsive; it can be stopped between steps.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QMenu, QProgressBar, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from playground.core.my_digits import MyDigits, MyDigitsError, read_drawing
from playground.ui.labels import OneLineLabel

THUMB = 56  # pixels: a drawing shown twice its size
MAX_SHOWN = 2000  # thumbnails made at most (the newest of each digit come last, so the oldest are shown)


def drawing_pixmap(image: np.ndarray, side: int = THUMB) -> QPixmap:
    """A 28x28 uint8 image, pixel for pixel, ``side`` pixels across."""
    data = np.ascontiguousarray(image, np.uint8).tobytes()
    qimage = QImage(data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)


def added_text(digit: int, total: int) -> str:
    return f"Added a {digit} to My digits ({total} in all)."


class LabelControls(QWidget):
    """After a guess: "That's right" (Enter or Y), "No, it's a …" (a menu of the digits, or the digit's
    key) and Undo, in one row; what was done is said in ``message`` (placed by the Draw area)."""

    right_clicked = Signal()
    digit_clicked = Signal(int)
    undo_clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.right_button = QPushButton("✓ That's right")
        self.right_button.setToolTip("Add the drawing to My digits as the digit guessed (Enter or Y)")
        self.right_button.clicked.connect(self.right_clicked)
        self.digit_menu = QMenu(self)
        for d in range(10):
            action = self.digit_menu.addAction(f"It's a &{d}")
            action.triggered.connect(lambda checked=False, d=d: self.digit_clicked.emit(d))
        self.no_button = QToolButton()
        self.no_button.setText("No, it's a…")
        self.no_button.setToolTip("Add the drawing to My digits as another digit (or press the digit's key)")
        self.no_button.setMenu(self.digit_menu)
        self.no_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.no_button.setMinimumWidth(self.no_button.fontMetrics().horizontalAdvance("No, it's a…") + 36)
        self.no_button.setMinimumHeight(self.right_button.sizeHint().height())
        # One line, cut with "…" to fit (the whole text in its tooltip), so the Draw area fits 800x600.
        self.message = OneLineLabel("After a guess: Enter if it is right, the digit's key if not; the drawing "
                                    "goes to My digits.")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Take the drawing just added out of My digits and put it back on the pad")
        self.undo_button.clicked.connect(self.undo_clicked)
        self.undo_button.setEnabled(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.right_button)
        layout.addWidget(self.no_button)
        layout.addWidget(self.undo_button)
        self.set_state(False, False)

    def set_state(self, drawing: bool, guess: bool) -> None:
        """Enable what applies: a label needs a drawing, "That's right" a guess too."""
        self.right_button.setEnabled(guess)
        self.no_button.setEnabled(drawing)

    def say(self, text: str, undo: bool = False) -> None:
        self.message.setText(text)
        self.undo_button.setEnabled(undo)


class MyDigitsDialog(QDialog):
    """The drawings of My digits as a grid of thumbnails, by digit, with their counts. Select some and
    press Delete (or the button) to remove them; Undo puts them back."""

    changed = Signal()  # drawings were deleted or put back

    def __init__(self, store: MyDigits | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("My digits")
        self.store = store or MyDigits()
        self._removed: list = []  # the last deletion, for Undo
        self.digit_box = QComboBox()
        self.digit_box.setToolTip("Show the drawings of one digit, or all")
        self.digit_box.currentIndexChanged.connect(self.refresh)
        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 16, THUMB + 24))
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setMovement(QListWidget.Movement.Static)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.itemSelectionChanged.connect(self._selection_changed)
        self.grid.setMinimumSize(5 * (THUMB + 16) + 24, 3 * (THUMB + 24))
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected drawings (Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Put the drawings just deleted back")
        self.undo_button.clicked.connect(self.undo)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self._lay_out()
        self.refresh()

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.digit_box)
        top.addWidget(self.counts_label, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.message, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Your drawings, as the network saw them, in {self.store.root}"))
        layout.addLayout(top)
        layout.addWidget(self.grid, 1)
        layout.addLayout(buttons)
        self.resize(620, 480)

    def refresh(self, *args) -> None:
        """Read the store again: the counts, the digit chooser and the thumbnails of the digit shown."""
        drawings = self.store.drawings()
        counts = [0] * 10
        for drawing in drawings:
            counts[drawing.digit] += 1
        shown = self.digit_box.currentData()
        self.digit_box.blockSignals(True)
        self.digit_box.clear()
        self.digit_box.addItem(f"All digits ({len(drawings)})", None)
        for d in range(10):
            self.digit_box.addItem(f"{d} ({counts[d]})", d)
        self.digit_box.setCurrentIndex(0 if shown is None else shown + 1)
        self.digit_box.blockSignals(False)
        self.counts_label.setText(" · ".join(f"{d}: {counts[d]}" for d in range(10)) + f" — {len(drawings)} in all")
        problems = list(self.store.problems)
        self.grid.clear()
        wanted = [d for d in drawings if shown is None or d.digit == shown]
        notes = []
        if len(wanted) > MAX_SHOWN:
            notes.append(f"Showing {MAX_SHOWN:,} of {len(wanted):,}: choose a digit to see the others.")
            wanted = wanted[:MAX_SHOWN]
        for drawing in wanted:
            try:
                image = read_drawing(drawing.path)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            item = QListWidgetItem(QIcon(drawing_pixmap(image)), str(drawing.digit))
            item.setData(Qt.ItemDataRole.UserRole, str(drawing.path))
            item.setToolTip(f"A {drawing.digit}: {drawing.path.name}")
            self.grid.addItem(item)
        if problems:
            notes.append(f"Skipped {len(problems)} odd file(s): " + "; ".join(problems[:3]))
        if notes:
            self.message.setText(" ".join(notes))
        self._selection_changed()
        self.undo_button.setEnabled(bool(self._removed))

    def _selection_changed(self) -> None:
        self.delete_button.setEnabled(bool(self.grid.selectedItems()))

    def delete_selected(self) -> None:
        paths = [item.data(Qt.ItemDataRole.UserRole) for item in self.grid.selectedItems()]
        if not paths:
            return
        try:
            self._removed = self.store.delete(paths)
        except MyDigitsError as exc:
            self.message.setText(str(exc))
            return
        self.refresh()
        n = len(self._removed)
        them = "them" if n != 1 else "it"
        self.message.setText(f"Deleted {n} drawing{'s' if n != 1 else ''}. Undo puts {them} back.")
        self.changed.emit()

    def undo(self) -> None:
        removed, self._removed = self._removed, []
        try:
            for path, data in removed:
                if data:
                    self.store.restore(path, data)
        except MyDigitsError as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText(f"Put back {len(removed)} drawing{'s' if len(removed) != 1 else ''}.")
        self.refresh()
        self.changed.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.grid.selectedItems():
            self.delete_selected()
        elif event.matches(QKeySequence.StandardKey.Undo) and self._removed:
            self.undo()
        else:
            super().keyPressEvent(event)


class FineTuneBar(QWidget):
    """"My digits (N)…" to browse them, "Fine-tune on my digits" to train the model in use on MNIST
    plus them (on a worker thread), Stop and its progress; ``result`` (placed by the Draw area) says
    how it goes and the accuracies before and after."""

    fine_tuned = Signal(dict)  # the core's ``fine_tuned`` event: the run folder and the figures
    browse_closed = Signal()

    def __init__(self, store_factory=MyDigits, parent=None):
        super().__init__(parent)
        self.store_factory = store_factory  # a new MyDigits each time: the data folder may change
        self.source = None  # a callable giving the Classifier to fine-tune
        self.mnist_images = None  # MNIST training images to go over (None: the core's default)
        self._worker = None
        self._trainer: list = []
        self._stop_asked: list = []
        self.browse_button = QPushButton()
        self.browse_button.setToolTip("See your drawings by digit, and delete some")
        self.browse_button.clicked.connect(self.browse)
        self.tune_button = QPushButton("Fine-tune on my digits")
        self.tune_button.setToolTip("Train the model in use a little more on MNIST plus your drawings (one pass "
                                    "over 6,000 MNIST images, your drawings a tenth of them): a new run")
        self.tune_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the fine-tune (what it learned so far is kept as a run)")
        self.stop_button.clicked.connect(lambda: self.stop())
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browse_button)
        layout.addWidget(self.tune_button)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.progress)
        self.update_count()

    @property
    def running(self) -> bool:
        return self._worker is not None

    def update_count(self) -> int:
        total = sum(self.store_factory().counts())
        self.browse_button.setText(f"My digits ({total})…")
        self.tune_button.setEnabled(total > 0 and not self.running)
        return total

    def browse(self) -> MyDigitsDialog:
        dialog = MyDigitsDialog(self.store_factory(), self)
        dialog.changed.connect(self.update_count)
        dialog.finished.connect(self.browse_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def start(self) -> None:
        """Fine-tune the model the source gives, on a worker thread."""
        from superqt.utils import GeneratorWorker

        from playground.core.my_digits import fine_tune_events
        from playground.core.train import guarded

        classifier = self.source() if self.source is not None else None
        if classifier is None or getattr(classifier, "model", None) is None or self.running:
            self.result.setText("Choose a model to fine-tune first (the Model list below).")
            return
        self._trainer = []
        self._stop_asked = []  # [evaluate] once Stop was pressed, before or after the trainer exists
        store_factory, trainers, stop_asked = self.store_factory, self._trainer, self._stop_asked
        sizes = {"mnist_images": self.mnist_images} if self.mnist_images else {}

        def events():  # on the worker thread: reading the drawings too
            for event in fine_tune_events(classifier, store_factory().load(), trainer_out=trainers, **sizes):
                if event.get("type") == "start" and stop_asked:
                    trainers[0].stop(evaluate=stop_asked[0])  # Stop came while it measured the model before
                yield event

        self._worker = GeneratorWorker(guarded, events())
        self._worker.yielded.connect(self._event)
        self._worker.finished.connect(self._done)
        self.tune_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.result.setText("Measuring the model on your drawings and on MNIST's test images…")
        self._worker.start()

    def stop(self, evaluate: bool = True) -> None:
        """Stop between steps; the weights so far are kept as the run's (and measured, unless
        ``evaluate`` is False: the window is closing)."""
        if self.running:
            self._stop_asked.append(evaluate)
            self.stop_button.setEnabled(False)
            self.result.setText("Stopping…")
        if self._trainer:
            self._trainer[0].stop(evaluate=evaluate)

    def _event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "start":
            self.progress.setRange(0, int(event.get("total_steps") or 1))
            if not self._stop_asked:
                self.result.setText(f"Fine-tuning on {event.get('train_size', 0):,} images…")
        elif kind == "progress":
            self.progress.setValue(int(event.get("step", 0)))
        elif kind == "finished":
            self.result.setText("Measuring the fine-tuned model on your drawings…")
        elif kind == "error":
            self.result.setText(f"The fine-tune failed: {event.get('message', '')}")
        elif kind == "fine_tuned":
            self._show_result(event)
            self.fine_tuned.emit(event)

    def _show_result(self, event: dict) -> None:
        from playground.core.my_digits import FineTuneResult

        result = FineTuneResult(**{k: v for k, v in event.items() if k != "type"})
        stopped = "Stopped early. " if result.status == "stopped" else ""
        self.result.setText(f"{stopped}{result.summary()} The new run is now the model in use.")

    def _done(self) -> None:
        self._worker = None
        self._trainer = []
        self.stop_button.setEnabled(False)
        self.progress.hide()
        self.update_count()

    def shutdown(self) -> None:
        """Stop a fine-tune that is running (the window is closing)."""
        self.stop(evaluate=False)
