"""The Draw area: draw a digit with the mouse and see it classified as the stroke is drawn.

The pad keeps the drawing as strokes (vector, so it is sharp on any screen) and hands them to the
core's MNIST-like preprocessing; classification runs at most ~30 times a second while drawing, on
the GUI thread (preprocessing plus a forward pass of a small model is a few milliseconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeySequence, QPainter, QPainterPath, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSlider, QVBoxLayout, QWidget)

from playground.core.preprocess import PEN_WIDTH

DEFAULT_BRUSH = 18  # pixels on the 280-pixel pad
CLASSIFY_INTERVAL_MS = 33  # about 30 classifications a second while drawing


class DrawPad(QWidget):
    """A square surface that records strokes: press, move, release. Esc or Del clears it, Ctrl+Z
    removes the last stroke."""

    drawing_changed = Signal()  # a point was added, a stroke removed, or the pad cleared

    def __init__(self, parent=None):
        super().__init__(parent)
        self.strokes: list[list[QPointF]] = []
        self.brush = DEFAULT_BRUSH
        self._drawing = False
        self.setMinimumSize(280, 280)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse. Esc or Del clears, Ctrl+Z removes the last stroke.")
        undo = QShortcut(QKeySequence.StandardKey.Undo, self, self.undo_stroke)
        undo.setContext(Qt.ShortcutContext.WidgetShortcut)

    def sizeHint(self) -> QSize:
        return QSize(280, 280)

    @property
    def empty(self) -> bool:
        return not self.strokes

    def point_lists(self) -> list[list[tuple[float, float]]]:
        return [[(p.x(), p.y()) for p in stroke] for stroke in self.strokes]

    def clear(self) -> None:
        if self.strokes:
            self.strokes = []
            self.update()
            self.drawing_changed.emit()

    def undo_stroke(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self.update()
            self.drawing_changed.emit()

    def set_brush(self, width: int) -> None:
        self.brush = width
        self.update()
        self.drawing_changed.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drawing = True
            self.strokes.append([event.position()])
            self.update()
            self.drawing_changed.emit()

    def mouseMoveEvent(self, event) -> None:
        if self._drawing:
            self.strokes[-1].append(event.position())
            self.update()
            self.drawing_changed.emit()

    def mouseReleaseEvent(self, event) -> None:
        if self._drawing and event.button() == Qt.MouseButton.LeftButton:
            self._drawing = False
            self.drawing_changed.emit()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.clear()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#111827"))
        painter.setPen(QPen(QColor("#374151"), 1, Qt.PenStyle.DashLine))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        if not self.strokes:
            painter.setPen(QColor("#9ca3af"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
            return
        pen = QPen(QColor("white"), self.brush, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        for stroke in self.strokes:
            if len(stroke) == 1:
                painter.drawPoint(stroke[0])
                continue
            path = QPainterPath(stroke[0])
            for p in stroke[1:]:
                path.lineTo(p)
            painter.drawPath(path)


class ProbabilityBars(QWidget):
    """Ten bars, one per digit, with the top guess highlighted."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        self.bars: list[QProgressBar] = []
        self.labels: list[QLabel] = []
        for d in range(10):
            label = QLabel(str(d))
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setFormat("")
            bar.setFixedHeight(18)
            grid.addWidget(label, d, 0)
            grid.addWidget(bar, d, 1)
            self.bars.append(bar)
            self.labels.append(label)

    def show_probabilities(self, probs: np.ndarray | None) -> None:
        top = int(np.argmax(probs)) if probs is not None else -1
        for d, bar in enumerate(self.bars):
            value = float(probs[d]) if probs is not None else 0.0
            bar.setValue(int(round(value * 1000)))
            bar.setFormat(f"{value:.1%}" if probs is not None else "")
            colour = "#2563eb" if d == top else "#93c5fd"
            bar.setStyleSheet(f"QProgressBar {{ border: 1px solid #d1d5db; border-radius: 3px; background: white;"
                              f" text-align: right; padding-right: 4px; }} QProgressBar::chunk {{ background: "
                              f"{colour}; }}")
            font = self.labels[d].font()
            font.setBold(d == top)
            self.labels[d].setFont(font)


class DrawArea(QWidget):
    """The pad, the guess, the probabilities, the 28x28 image the network sees, and a model chooser
    that lists the run library's runs with best weights (and follows the run being trained)."""

    classified = Signal(object)  # the probabilities (numpy array), or None for an empty pad

    def __init__(self, library=None, parent=None):
        super().__init__(parent)
        self.library = library  # a RunLibrary, or None: the default and opened models only
        self.classifier = None
        self.follow_path: Path | None = None  # the run whose newest epoch is followed
        self._opened: list[tuple[str, object]] = []  # models opened with File > Open Model
        self.probabilities: np.ndarray | None = None
        self.pad = DrawPad()
        self.pad.drawing_changed.connect(self._schedule)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(CLASSIFY_INTERVAL_MS)
        self.timer.timeout.connect(self.classify)
        self._make_model_chooser()
        self._make_guess()
        self._lay_out()
        self._show(None, None)
        if library is not None:
            library.run_added.connect(self.refresh_models)
            library.run_updated.connect(self.refresh_models)
            library.epoch_finished.connect(self._epoch_finished)

    # -- building the widgets ----------------------------------------------------------------------------

    def _tools(self) -> QHBoxLayout:
        clear = QPushButton("Clear")
        clear.setToolTip("Clear the pad (Esc or Del)")
        clear.clicked.connect(self.pad.clear)
        undo = QPushButton("Undo stroke")
        undo.setToolTip("Remove the last stroke (Ctrl+Z on the pad)")
        undo.clicked.connect(self.pad.undo_stroke)
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(8, 32)
        self.brush.setValue(DEFAULT_BRUSH)
        self.brush.setToolTip("Brush width: thicker strokes, for the pad and for the network (MNIST's "
                              "own stroke width at the middle setting)")
        self.brush.valueChanged.connect(self.pad.set_brush)
        tools = QHBoxLayout()
        tools.addWidget(clear)
        tools.addWidget(undo)
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush)
        return tools

    def _make_model_chooser(self) -> None:
        self.model_box = QComboBox()
        self.model_box.setToolTip("The model that classifies the drawing")
        self.model_box.currentIndexChanged.connect(self._model_chosen)
        self.model_status = QLabel()
        self.model_status.setTextFormat(Qt.TextFormat.PlainText)  # model and file names
        self.model_status.setWordWrap(True)
        self.model_status.setStyleSheet("color: #6b7280;")

    def _make_guess(self) -> None:
        self.guess = QLabel()
        font = QFont(self.font())
        font.setPixelSize(72)
        font.setBold(True)
        self.guess.setFont(font)
        self.guess.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.guess.setMinimumWidth(120)
        self.guess_caption = QLabel()
        self.guess_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars = ProbabilityBars()
        self.preview = QLabel()
        self.preview.setFixedSize(112, 112)
        self.preview.setFrameShape(QFrame.Shape.Box)
        self.preview.setToolTip("The 28x28 image the network sees (MNIST-like: centred by its centre of mass)")

    def _lay_out(self) -> None:
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Draw</b> — the guess updates as you draw"))
        left.addWidget(self.pad, 0, Qt.AlignmentFlag.AlignLeft)
        left.addLayout(self._tools())
        left.addWidget(QLabel("Model"))
        left.addWidget(self.model_box)
        left.addWidget(self.model_status)
        left.addStretch(1)
        middle = QVBoxLayout()
        middle.addWidget(self.guess)
        middle.addWidget(self.guess_caption)
        middle.addWidget(QLabel("What the network sees:"))
        middle.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        middle.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Probabilities</b>"))
        right.addWidget(self.bars)
        right.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(24)
        layout.addLayout(left)
        layout.addLayout(middle)
        layout.addLayout(right, 1)

    # -- models ---------------------------------------------------------------------------------------

    def set_torch_ready(self) -> None:
        self.refresh_models()

    def refresh_models(self, *args) -> None:
        """Rebuild the chooser from the library; the chosen model stays chosen (a followed run that
        has ended is then chosen by its best weights)."""
        from playground.core.predict import default_model_dir

        current = self.model_box.currentData()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("Default model (ships with the app)", ("default", str(default_model_dir())))
        for i, (label, _) in reversed(list(enumerate(self._opened))):
            self.model_box.addItem(label, ("opened", str(i)))
        if self.library is not None:
            training = self.library.training
            if training is not None and training.path is not None:
                self.model_box.addItem(f"Training now: {training.label} (follows each epoch)",
                                       ("follow", str(training.path)))
            for run in self.library.runs_with_best_weights():
                acc = run.test_accuracy
                text = f"{run.label} {run.started}" + (f" — {acc:.2%}" if acc is not None else "")
                self.model_box.addItem(text, ("run", str(run.path)))
        index = self.index_of(*current) if current is not None else 0
        if index < 0 and current is not None and current[0] == "follow":
            index = self.index_of("run", current[1])
        self.model_box.setCurrentIndex(max(index, 0))
        self.model_box.blockSignals(False)
        if self.classifier is None or self.model_box.currentData() != current:
            self._model_chosen()

    def index_of(self, kind: str, path: str) -> int:
        """The chooser's row of a model, or -1. (``findData`` compares Python objects by identity.)"""
        return next((i for i in range(self.model_box.count()) if self.model_box.itemData(i) == (kind, path)), -1)

    def _run_at(self, path: Path):
        runs = [r for r in self.library.runs if r.path == path] if self.library is not None else []
        return runs[-1] if runs else None

    def _model_chosen(self, *args) -> None:
        data = self.model_box.currentData()
        if data is None:
            return
        kind, path = data
        self.follow_path = Path(path) if kind == "follow" else None
        if kind == "opened":
            self.classifier = self._opened[int(path)][1]
            self.model_status.setText(f"{self.classifier.spec.name}: {Path(self.classifier.source).name}")
            self.classify()
            return
        run = self._run_at(Path(path)) if kind == "follow" else None
        if kind == "follow" and not (run is not None and run.has_last_weights):
            self.classifier = None
            self.model_status.setText("Waiting for the first epoch to finish…")
            self._show(None, None)
            return
        self.load_model(Path(path), which="last" if kind == "follow" else None)

    def load_model(self, path: Path, which: str | None = None) -> bool:
        """Classify with a run's or model folder's best weights, or with the last weights of a run
        of the library (``which="last"``)."""
        from playground.core.predict import Classifier
        from playground.core.runs import LAST_WEIGHTS, RunError

        try:
            if which == "last":
                run = self._run_at(Path(path))
                if run is None:
                    raise RunError(f"{path}: not a run of this window")
                # A copy on disk of the newest epoch's weights, never the ones being trained; its
                # header is checked against the design before any weight is read.
                self.classifier = Classifier.from_weights_file(run.spec, run.file(LAST_WEIGHTS), str(path))
            else:
                self.classifier = Classifier.from_path(path)
        except (RunError, OSError, ValueError) as exc:
            self.classifier = None
            self.model_status.setText(f"Cannot load this model: {exc}")
            return False
        self.model_status.setText(f"{self.classifier.spec.name}: {Path(self.classifier.source).name}")
        self.classify()
        return True

    def use_classifier(self, classifier, label: str) -> None:
        """Classify with an opened model (listed in the chooser from now on)."""
        self._opened.append((label, classifier))
        self.model_box.blockSignals(True)
        self.model_box.insertItem(1, label, ("opened", str(len(self._opened) - 1)))
        self.model_box.setCurrentIndex(1)
        self.model_box.blockSignals(False)
        self.follow_path = None
        self.classifier = classifier
        self.model_status.setText(f"{classifier.spec.name}: {Path(classifier.source).name}")
        self.classify()

    def _epoch_finished(self, run) -> None:
        if self.follow_path is not None and run.path == self.follow_path:
            self.load_model(self.follow_path, which="last")

    # -- classifying -----------------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self.timer.isActive():
            self.timer.start()

    def classify(self) -> None:
        from playground.core.preprocess import preprocess_strokes

        image = preprocess_strokes(self.pad.point_lists(), PEN_WIDTH * self.pad.brush / DEFAULT_BRUSH)
        if image is None or self.classifier is None:
            self._show(image, None)
            return
        self._show(image, self.classifier.probabilities(image))

    def _show(self, image: np.ndarray | None, probs: np.ndarray | None) -> None:
        self.probabilities = probs
        if probs is None:
            self.guess.setText("?" if image is not None else "")
            self.guess_caption.setText("Loading the model…" if image is not None else "Draw a digit on the pad")
        else:
            top = int(probs.argmax())
            self.guess.setText(str(top))
            self.guess_caption.setText(f"{probs[top]:.1%} sure")
        self.bars.show_probabilities(probs)
        if image is None:
            self.preview.clear()
        else:
            data = (np.clip(image, 0, 1) * 255).astype(np.uint8).tobytes()
            qimage = QImage(data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
            self.preview.setPixmap(QPixmap.fromImage(qimage).scaled(112, 112, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                                    Qt.TransformationMode.FastTransformation))
        self.classified.emit(probs)
