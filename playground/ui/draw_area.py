"""The Draw area: draw a digit with the mouse and see it classified as the stroke is drawn.

The pad keeps the drawing as strokes (vector, so it is sharp on any screen) in its own units, the
same at any pad size, and hands them to the core's MNIST-like preprocessing. Classification runs on
the GUI thread, on one torch thread, as often as the mouse moves while that leaves the thread free
half as long as the last classification took (preprocessing, a forward and a backward pass of a
small model and the views' images are a few milliseconds; ``bench/canvas_latency.py`` measures it).
Only what is on screen is computed: each layer's output while "Inside" is shown, the saliency while
"What it looks at" is on, the map's marker (at most ten times a second) while the map is shown.
The pad and the preview grow with the window (the pad up to about 45% of its width); the views
beside them (the bars, "Inside", the map) take the rest.

Teach it your handwriting (issue 17, widgets in ``ui/my_digits.py``): after a guess, "That's right"
(Enter or Y) or "No, it's a …" (a digit's key, or the menu) keeps what the network saw in My digits
and clears the pad (Undo takes it back). A digit's key on the probability bars still picks the digit
whose saliency is shown; anywhere else in the area (the pad, a button) it labels the drawing.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap,
                           QTransform)
from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
                               QSlider, QTabWidget, QVBoxLayout, QWidget)

from playground.core.explain import SALIENCY_LABELS, SALIENCY_METHODS
from playground.core.preprocess import PEN_WIDTH
from playground.ui import theme
from playground.ui.inside_views import FeatureMapView, InsidePanel, TimeTravel, pad_transform, saliency_image
from playground.ui.my_digits import FineTuneBar, LabelControls, added_text

PAD_UNITS = 280  # the pad's side in its own units: strokes and the brush are kept in these
MIN_PAD = 280  # pixels
MIN_PREVIEW = 112  # pixels: 4 per pixel of the 28x28 image
DEFAULT_BRUSH = 18  # pad units
# While drawing, a classification that took less than FREE_CLASSIFY_MS (half a 60 Hz frame) runs
# again at the next mouse move; a longer one makes the next wait half as long as it took (the GUI
# thread classifies at most about two thirds of the time, so strokes stay smooth with big models),
# and never longer than MAX_CLASSIFY_GAP_MS.
FREE_CLASSIFY_MS = 8
CLASSIFY_GAP = 0.5
MAX_CLASSIFY_GAP_MS = 250
MAP_INTERVAL_MS = 100  # the map's marker: at most ten moves a second
TRAVEL_NOTE = " — time travel: "  # after the model's description while an epoch's weights are in use
EPOCH_MODELS_KEPT = 8  # time travel: epochs' models kept loaded, for scrubbing back and forth
UNSURE_BELOW = 0.5  # a top probability under this is shown as a doubt, not a guess
# A drawing smaller than this (pad units) is scaled up to a blob by the preprocessing: a dot or a
# slip of the mouse, whatever the network answers.
TOO_SMALL = 24


@contextmanager
def one_torch_thread():
    """Run torch on one thread for one image: a forward and backward pass of one 28x28 image is a
    few small operations, which several threads only slow down (their barriers), by 10x and more
    when other processes share the cores (21 ms instead of 1.7 ms for fast-cnn on a busy 2-core
    machine). torch's setting is per process, so it is put back after."""
    import torch

    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def _stroke_key(event) -> str | None:
    """"undo" for Ctrl+Z, "redo" for Ctrl+Shift+Z or Ctrl+Y, else None."""
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    if event.key() == Qt.Key.Key_Z and mods == ctrl:
        return "undo"
    if (event.key() == Qt.Key.Key_Z and mods == ctrl | shift) or (event.key() == Qt.Key.Key_Y and mods == ctrl):
        return "redo"
    return None


class DrawPad(QWidget):
    """A square surface that records strokes: press, move, release. Esc or Del clears it, Ctrl+Z
    takes back the last stroke or Clear, Ctrl+Shift+Z or Ctrl+Y does it again. Points are kept in pad
    units (``PAD_UNITS`` across), so a drawing is the same whatever the pad's size on screen."""

    drawing_changed = Signal()  # a point was added, a stroke removed or put back, or the pad cleared

    def __init__(self, parent=None):
        super().__init__(parent)
        self.strokes: list[list[QPointF]] = []
        # What was done, as ("stroke", the stroke) or ("clear", the strokes it removed): the last
        # first to be taken back; ``undone`` holds what was taken back, the last first to come back.
        self.done: list[tuple[str, list]] = []
        self.undone: list[tuple[str, list]] = []
        self.brush = DEFAULT_BRUSH
        self._drawing = False
        # The saliency over the strokes: a 28x28 image and the map from its pixels to pad units.
        self.overlay: QImage | None = None
        self.overlay_transform: QTransform | None = None
        self._overlay_pixmap: tuple[tuple, QPixmap] | None = None  # scaled once, drawn at each move
        self.setMinimumSize(MIN_PAD, MIN_PAD)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse. Esc or Del clears, Ctrl+Z removes the last stroke, "
                        "Ctrl+Shift+Z puts it back.")

    def sizeHint(self) -> QSize:
        return QSize(MIN_PAD, MIN_PAD)

    @property
    def side(self) -> int:
        return min(self.width(), self.height())

    @property
    def empty(self) -> bool:
        return not self.strokes

    def point_lists(self) -> list[list[tuple[float, float]]]:
        return [[(p.x(), p.y()) for p in stroke] for stroke in self.strokes]

    def _units(self, position: QPointF) -> QPointF:
        k = PAD_UNITS / max(self.side, 1)
        return QPointF(min(max(position.x() * k, 0.0), PAD_UNITS), min(max(position.y() * k, 0.0), PAD_UNITS))

    def _changed(self) -> None:
        self.update()
        self.drawing_changed.emit()

    @property
    def undo_text(self) -> str:
        """What Ctrl+Z would take back ("Stroke" or "Clear"), empty when nothing."""
        return self.done[-1][0].capitalize() if self.done else ""

    @property
    def redo_text(self) -> str:
        return self.undone[-1][0].capitalize() if self.undone else ""

    def clear(self) -> None:
        """Empty the pad; Ctrl+Z brings the drawing back."""
        if self.strokes:
            self.done.append(("clear", self.strokes))
            self.strokes, self.undone = [], []
            self._changed()

    def undo_stroke(self) -> None:
        """Take back the last stroke, or the last Clear."""
        if self.done:
            kind, what = self.done.pop()
            if kind == "stroke":
                self.strokes.pop()
            else:
                self.strokes = list(what)
            self.undone.append((kind, what))
            self._changed()

    def redo_stroke(self) -> None:
        if self.undone:
            kind, what = self.undone.pop()
            if kind == "stroke":
                self.strokes.append(what)
            else:
                self.strokes = []
            self.done.append((kind, what))
            self._changed()

    def set_overlay(self, image: QImage | None, transform: QTransform | None) -> None:
        self.overlay, self.overlay_transform = image, transform
        self.update()

    def set_brush(self, width: int) -> None:
        self.brush = width
        self._changed()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drawing = True
            self.undone = []
            self.strokes.append([self._units(event.position())])
            self.done.append(("stroke", self.strokes[-1]))
            self._changed()

    def mouseMoveEvent(self, event) -> None:
        if self._drawing:
            self.strokes[-1].append(self._units(event.position()))
            self._changed()

    def mouseReleaseEvent(self, event) -> None:
        if self._drawing and event.button() == Qt.MouseButton.LeftButton:
            self._drawing = False
            self.drawing_changed.emit()

    def event(self, event) -> bool:
        # With the pad focused, Ctrl+Z and Ctrl+Shift+Z are about strokes, not the window's design.
        if event.type() == QEvent.Type.ShortcutOverride and _stroke_key(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key = _stroke_key(event)
        if key is not None:
            self.undo_stroke() if key == "undo" else self.redo_stroke()
        elif event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.clear()
        else:
            super().keyPressEvent(event)

    def paintEvent(self, event) -> None:
        # White ink on black, as MNIST stores digits and as the preview shows them, in either theme.
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#111827"))
        painter.setPen(QPen(QColor("#374151"), 1, Qt.PenStyle.DashLine))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        if not self.strokes:
            painter.setPen(QColor("#9ca3af"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
            return
        painter.scale(self.side / PAD_UNITS, self.side / PAD_UNITS)
        painter.setPen(QPen(QColor("white"), self.brush, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        for stroke in self.strokes:
            if len(stroke) == 1:
                painter.drawPoint(stroke[0])
                continue
            path = QPainterPath(stroke[0])
            for p in stroke[1:]:
                path.lineTo(p)
            painter.drawPath(path)
        if self.overlay is not None and self.overlay_transform is not None:
            painter.resetTransform()
            painter.drawPixmap(0, 0, self._scaled_overlay())

    def _scaled_overlay(self) -> QPixmap:
        """The overlay smoothly scaled onto the pad, made once per overlay and pad size: a stroke
        repaints the pad at every mouse move, and scaling a 28x28 image smoothly to the pad's size
        each time took about a millisecond."""
        key = (self.overlay.cacheKey(), self.overlay_transform, self.side)
        if self._overlay_pixmap is None or self._overlay_pixmap[0] != key:
            pixmap = QPixmap(self.side, self.side)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.scale(self.side / PAD_UNITS, self.side / PAD_UNITS)
            painter.setTransform(self.overlay_transform, True)  # image pixels -> pad units -> screen
            painter.drawImage(QRectF(0, 0, 28, 28), self.overlay)
            painter.end()
            self._overlay_pixmap = (key, pixmap)
        return self._overlay_pixmap[1]


class PadHolder(QWidget):
    """Shows the pad as the largest square that fits (at least ``MIN_PAD``), and asks for a width
    equal to its height, so that the pad's column is as wide as the pad can be tall."""

    side_changed = Signal(int)

    def __init__(self, pad: DrawPad, parent=None):
        super().__init__(parent)
        self.pad = pad
        pad.setParent(self)
        self._hint = MIN_PAD
        self.setMinimumSize(MIN_PAD, MIN_PAD)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(self._hint, self._hint)

    def resizeEvent(self, event) -> None:
        side = max(MIN_PAD, min(self.width(), self.height()))
        self.pad.setGeometry((self.width() - side) // 2, 0, side, side)
        if max(MIN_PAD, self.height()) != self._hint:
            self._hint = max(MIN_PAD, self.height())
            self.updateGeometry()
        self.side_changed.emit(side)


class ImagePreview(QLabel):
    """The 28x28 image the network sees, pixel for pixel, as the largest square that fits."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._hint = MIN_PREVIEW
        self.setMinimumSize(MIN_PREVIEW, MIN_PREVIEW)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip("The 28x28 image the network sees (MNIST-like: centred by its centre of mass)")
        self.overlay: QImage | None = None  # the saliency, pixel for pixel

    def set_overlay(self, image: QImage | None) -> None:
        self.overlay = image
        self.update()

    def set_side(self, side: int) -> None:
        if side != self._hint:
            self._hint = side
            self.updateGeometry()

    def sizeHint(self) -> QSize:
        return QSize(self._hint, self._hint)

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_PREVIEW, MIN_PREVIEW)

    def square(self) -> QRect:
        side = min(self.width(), self.height())
        return QRect((self.width() - side) // 2, 0, side, side)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pixmap = self.pixmap()
        if not pixmap.isNull():
            painter.drawPixmap(self.square(), pixmap)  # no smoothing: the network's pixels
            if self.overlay is not None:
                painter.drawImage(self.square(), self.overlay)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(self.square().adjusted(0, 0, -1, -1))


class ProbabilityBars(QWidget):
    """One bar per class (ten digits for MNIST; ``set_classes`` names a model's own classes), with
    the top guess highlighted and each percentage beside its bar, in the palette's colours. Clicking
    a bar picks that class for "what it looks at" (``digit_clicked``: its index); the picked one is
    framed. A digit's key picks the class named that digit, else the bar at that position."""

    digit_clicked = Signal(int)

    MAX_NAME_WIDTH = 120  # longer class names are cut with "…" (the whole name in the tooltip)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.probabilities: np.ndarray | None = None
        self.picked: int | None = None  # the class the saliency is for, when not the guess
        self.classes: list[str] = [str(d) for d in range(10)]
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setToolTip("Click a class's bar (or press its digit key) to see what counts for it in the drawing; "
                        "click it again to go back to the guess")
        self.setMinimumSize(200, 10 * 18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def count(self) -> int:
        return len(self.classes)

    def set_classes(self, names: list[str] | None) -> None:
        """The model's class names (None: the ten digits)."""
        names = list(names) if names else [str(d) for d in range(10)]
        if names != self.classes:
            self.classes = names
            self.probabilities = None
            self.picked = None
            self.setMinimumSize(200, min(self.count, 10) * 18)
            self.updateGeometry()
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, self.count * 26)

    def show_probabilities(self, probs: np.ndarray | None) -> None:
        probs = None if probs is None else np.asarray(probs, np.float64)
        self.probabilities = probs if probs is None or len(probs) == self.count else None
        self.update()

    def set_picked(self, digit: int | None) -> None:
        self.picked = digit
        self.update()

    def bar_rect(self, digit: int) -> QRectF:
        """A class's whole row, for clicking."""
        return QRectF(0, digit * self.row_height(), self.width(), self.row_height())

    def row_at(self, y: float) -> int | None:
        row = int(y // self.row_height())
        return row if 0 <= row < self.count else None

    def mousePressEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        if event.button() == Qt.MouseButton.LeftButton and row is not None:
            self.digit_clicked.emit(row)
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        tip = (f"{self.classes[row]}: click to see what counts for it in the drawing; click again to go back to "
               f"the guess") if row is not None else ""
        if tip and tip != self.toolTip():
            self.setToolTip(tip)
        super().mouseMoveEvent(event)

    def class_for_key(self, text: str) -> int | None:
        """The class a digit key picks: the one named that digit, else the bar at that position."""
        if text in self.classes:
            return self.classes.index(text)
        return int(text) if int(text) < self.count else None

    def keyPressEvent(self, event) -> None:
        text = event.text()
        if len(text) == 1 and text.isdigit() and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            row = self.class_for_key(text)
            if row is not None:
                self.digit_clicked.emit(row)
        else:
            super().keyPressEvent(event)

    def row_height(self) -> float:
        return max(18.0, min(self.height() / self.count, 44.0))

    def percent_rect(self, digit: int) -> QRectF:
        """Where a class's percentage is written."""
        width = self.fontMetrics().horizontalAdvance("100.0%") + 10
        return QRectF(self.width() - width, digit * self.row_height(), width, self.row_height())

    def label_width(self) -> int:
        metrics = self.fontMetrics()
        return min(max(metrics.horizontalAdvance(name) for name in self.classes), self.MAX_NAME_WIDTH) + 10

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        ink, track, edge = (palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Base),
                            palette.color(QPalette.ColorRole.Mid))
        accent = theme.color("accent", self)
        faint = QColor(accent)
        faint.setAlphaF(0.45)
        probs = self.probabilities
        top = int(np.argmax(probs)) if probs is not None else -1
        row = self.row_height()
        label_width = self.label_width()
        for d, name in enumerate(self.classes):
            font = QFont(self.font())
            font.setBold(d == top)
            painter.setFont(font)
            painter.setPen(ink)
            shown = QFontMetrics(font).elidedText(name, Qt.TextElideMode.ElideRight, label_width - 6)
            painter.drawText(QRectF(0, d * row, label_width - 6, row),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, shown)
            text_rect = self.percent_rect(d)
            bar = QRectF(label_width, d * row + row * 0.15, text_rect.left() - label_width, row * 0.7)
            painter.fillRect(bar, track)
            if probs is not None:
                filled = QRectF(bar.left(), bar.top(), bar.width() * float(np.clip(probs[d], 0, 1)), bar.height())
                painter.fillRect(filled, accent if d == top else faint)
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 f"{probs[d]:.1%}")
            painter.setPen(QPen(accent, 2) if d == self.picked else edge)
            painter.drawRect(bar)


BROKEN_MODEL = ("The model's output is not a number (NaN): the model is broken; retrain it or choose "
                "another model.")


class DrawArea(QWidget):
    """The pad, the guess, the probabilities, the 28x28 image the network sees, and a model chooser
    that lists the run library's runs with best weights (and follows the run being trained).

    Beside the bars, what happens inside (issue 16): every layer's output ("Inside the network"),
    where the network puts the drawing among 2,000 test images ("Where it puts things"), what it
    looks at (the saliency over the pad and the preview, for the guess or a digit picked by clicking
    its bar) and time travel through a run's epochs. All of it comes from one ``core.explain`` call
    per classification, made only for what is shown."""

    classified = Signal(object)  # the probabilities (numpy array), or None for an empty pad
    views_updated = Signal()  # after a classification: the guess and every view shown follow it

    def __init__(self, library=None, parent=None):
        super().__init__(parent)
        self.library = library  # a RunLibrary, or None: the default and opened models only
        self._classifier = None  # the model classifying now: the chooser's, or an epoch's (time travel)
        self.own_classifier = None  # the model the chooser names
        self._epoch_models: dict[tuple[str, int], object] = {}  # time travel: (run folder, epoch) -> model
        self.follow_path: Path | None = None  # the run whose newest epoch is followed
        self._opened: list[tuple[str, object]] = []  # models opened with File > Open Model
        self.probabilities: np.ndarray | None = None
        self.explanation = None  # the last core Explanation shown (None: probabilities only)
        self.image: np.ndarray | None = None  # what the network sees now
        self.target: int | None = None  # the digit the saliency is for; None: the guess
        self.sure: bool | None = None  # whether the guess shown is a confident one (None: no guess)
        self._styled: tuple | None = None  # (sure, pad side, longest class name) the guess was last styled for
        self.last_cost = 0.0  # seconds the last classification took on the GUI thread
        self._ready_at = 0.0  # perf_counter time before which the next one waits
        self.pad = DrawPad()
        self.pad.drawing_changed.connect(self._schedule)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.classify)
        self.map_timer = QTimer(self)
        self.map_timer.setSingleShot(True)
        self.map_timer.setInterval(MAP_INTERVAL_MS)
        self.map_timer.timeout.connect(self._place_on_map)
        self._make_model_chooser()
        self._make_guess()
        self._make_inside()
        self._make_teaching()
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
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setToolTip("Remove the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.pad.undo_stroke)
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(8, 32)
        self.brush.setValue(DEFAULT_BRUSH)
        self.brush.setMinimumWidth(80)
        self.brush.setToolTip("Brush width: thicker strokes, for the pad and for the network (MNIST's "
                              "own stroke width at the middle setting)")
        self.brush.valueChanged.connect(self.pad.set_brush)
        tools = QHBoxLayout()
        tools.addWidget(clear)
        tools.addWidget(self.undo_button)
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush, 1)
        tools.addSpacing(24)
        tools.addWidget(QLabel("Model"))
        tools.addWidget(self.model_box, 3)
        return tools

    def _make_model_chooser(self) -> None:
        self.model_box = QComboBox()
        self.model_box.setToolTip("The model that classifies the drawing")
        # Long run names must not hold the window wide: the list shows them whole.
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_box.setMinimumContentsLength(18)
        self.model_box.currentIndexChanged.connect(self._model_chosen)
        self.model_status = QLabel()
        self.model_status.setTextFormat(Qt.TextFormat.PlainText)  # model and file names
        self.model_status.setWordWrap(True)

    def _make_guess(self) -> None:
        self.guess = QLabel()
        self.guess.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.guess.setMinimumWidth(120)
        # The guess's font grows with the pad; its minimum height is the smallest font's, so that a
        # window once large can be made small again (else the big font would hold it tall).
        self.guess.setMinimumHeight(96)
        self.guess_caption = QLabel()
        self.guess_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.guess_caption.setWordWrap(True)
        self.bars = ProbabilityBars()
        self.preview = ImagePreview()
        self.holder = PadHolder(self.pad)
        self.holder.side_changed.connect(self._pad_resized)

    def _make_inside(self) -> None:
        self.inside = InsidePanel()
        self.feature_map = FeatureMapView()
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        # Short tab names: the three fit beside the pad in an 800-pixel window.
        self.views.addTab(self.bars, "Probabilities")
        self.views.addTab(self.inside, "Inside")
        self.views.addTab(self.feature_map, "Map")
        self.views.setTabToolTip(0, "The probability of each digit: click a bar to see what counts for that digit")
        self.views.setTabToolTip(1, "Inside the network: each layer's output for your drawing, as you draw")
        self.views.setTabToolTip(2, "Where it puts things: your drawing among 2,000 test images, placed by the "
                                    "network's layer before the last")
        # All three tabs in view, no scroll arrows, even in the smallest window.
        self.views.tabBar().setUsesScrollButtons(False)
        self.views.setMinimumWidth(self.views.tabBar().sizeHint().width())
        self.views.currentChanged.connect(self._view_changed)
        self.feature_map.fitted.connect(self._place_on_map)
        self.bars.digit_clicked.connect(self._bar_clicked)
        self.saliency_box = QCheckBox("What it looks at")
        self.saliency_box.setChecked(True)
        self.saliency_box.setToolTip("Colour the drawing and the network's image by how much each pixel counts: "
                                     "red for the digit, blue against it")
        self.saliency_box.toggled.connect(self._saliency_changed)
        self.method_box = QComboBox()
        for method in SALIENCY_METHODS:
            self.method_box.addItem(SALIENCY_LABELS[method], method)
        self.method_box.setToolTip("Gradient x input: each pixel's value times how much the digit's score "
                                   "changes with it (passes the deletion test). Grad-CAM: the last "
                                   "convolution's maps weighted by their gradients (convolutional models).")
        self.method_box.currentIndexChanged.connect(self._saliency_changed)
        # The user's choice (activated: not our own changes), restored when a model allows it again.
        self.chosen_method = "gradient-x-input"
        self.method_box.activated.connect(lambda _: setattr(self, "chosen_method", self.method_box.currentData()))
        self.target_label = QLabel()
        self.target_label.setMinimumWidth(80)
        self.guess_target_button = QPushButton("Back to the guess")
        self.guess_target_button.setToolTip("Show what counts for the guessed digit again")
        self.guess_target_button.clicked.connect(lambda: self.set_target(None))
        self.time_travel = TimeTravel()
        self.time_travel.epoch_chosen.connect(self._epoch_chosen)

    def _make_teaching(self) -> None:
        self._added = None  # the file of the drawing last added to My digits (for Undo)
        self.teach = LabelControls()
        self.teach.right_clicked.connect(lambda: self.add_to_my_digits(None))
        self.teach.digit_clicked.connect(self.add_to_my_digits)
        self.teach.undo_clicked.connect(self.undo_add)
        self.fine_tune_bar = FineTuneBar()
        self.fine_tune_bar.source = lambda: self.own_classifier
        self.fine_tune_bar.fine_tuned.connect(self._fine_tuned)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.fine_tune_bar.shutdown)

    def _teaching_rows(self) -> QVBoxLayout:
        """Teach it your handwriting: the buttons in a row, then what they did."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.teach)
        buttons.addSpacing(24)
        buttons.addWidget(self.fine_tune_bar)
        buttons.addStretch(1)
        said = QHBoxLayout()
        said.addWidget(self.teach.message, 1)
        said.addWidget(self.fine_tune_bar.result, 1)
        rows = QVBoxLayout()
        rows.addLayout(buttons)
        rows.addLayout(said)
        return rows

    def _saliency_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.saliency_box)
        row.addWidget(self.method_box)
        row.addWidget(self.target_label, 1)
        row.addWidget(self.guess_target_button)
        return row

    def _lay_out(self) -> None:
        middle = QVBoxLayout()
        middle.addWidget(self.guess)
        middle.addWidget(self.guess_caption)
        middle.addWidget(QLabel("What the network sees:"))
        middle.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        middle.addStretch(1)
        row = QHBoxLayout()
        row.setSpacing(24)
        row.addWidget(self.holder)
        row.addLayout(middle)
        row.addWidget(self.views, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(QLabel("<b>Draw</b> — the guess updates as you draw"))
        layout.addLayout(row, 1)
        layout.addLayout(self._saliency_row())
        layout.addLayout(self._tools())
        layout.addLayout(self._teaching_rows())
        layout.addWidget(self.time_travel)
        layout.addWidget(self.model_status)
        self._show_target()

    def resizeEvent(self, event) -> None:
        # The pad takes at most about 45% of the width, so the views beside it have room.
        self.holder.setMaximumWidth(max(MIN_PAD, int(self.width() * 0.45)))
        super().resizeEvent(event)

    def _pad_resized(self, side: int) -> None:
        self.preview.set_side(max(MIN_PREVIEW, 28 * round(side * 0.4 / 28)))
        self._style_guess()

    def _style_guess(self, force: bool = False) -> None:
        """A confident guess big and bold; a doubtful one half as big, in the muted text colour."""
        longest = max(len(name) for name in self.bars.classes)  # a model's class names may be words
        if (self.sure, self.pad.side, longest) == self._styled and not force:
            return
        self._styled = (self.sure, self.pad.side, longest)
        size = min(max(72, self.pad.side // 4), 240)
        size = max(24, int(size * min(1.0, 2 / longest)))  # a name as wide as two digits at most
        font = QFont(self.font())
        font.setPixelSize(size if self.sure is not False else size // 2)
        font.setBold(self.sure is not False)
        self.guess.setFont(font)
        palette = QPalette()  # inherit the window's colours
        if self.sure is False:
            palette = self.guess.palette()
            palette.setColor(QPalette.ColorRole.WindowText, theme.muted(self))
        self.guess.setPalette(palette)
        status = self.model_status.palette()
        status.setColor(QPalette.ColorRole.WindowText, theme.muted(self))
        self.model_status.setPalette(status)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "guess"):
            self._style_guess(force=True)

    # -- models ---------------------------------------------------------------------------------------

    def set_torch_ready(self) -> None:
        self.refresh_models()

    def refresh_models(self, *args) -> None:
        """Rebuild the chooser from the library; the chosen model stays chosen (a followed run that
        has ended is then chosen by its best weights, under its usual entry)."""
        from playground.core.predict import default_model_dir

        current = self.model_box.currentData()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("Default model (ships with the app)", ("default", str(default_model_dir())))
        for i, (label, _) in reversed(list(enumerate(self._opened))):
            self.model_box.addItem(label, ("opened", str(i)))
        if self.library is not None:
            self._add_runs()
        index = self.index_of(*current) if current is not None else 0
        if index < 0 and current is not None and current[0] == "follow":
            index = self.index_of("run", current[1])
        self.model_box.setCurrentIndex(max(index, 0))
        self.model_box.blockSignals(False)
        if self.classifier is None or self.model_box.currentData() != current:
            self._model_chosen()

    def _add_runs(self) -> None:
        training = self.library.training
        if training is not None and training.path is not None and training.kind == "classifier":
            self.model_box.addItem(f"Training now: {training.label} (follows each epoch)",
                                   ("follow", str(training.path)))
            self.model_box.setItemData(self.model_box.count() - 1, str(training.path), Qt.ItemDataRole.ToolTipRole)
        for run in self.library.runs_with_best_weights():
            acc = run.test_accuracy
            text = f"{run.label} · {run.started}" + (f" — {acc:.2%}" if acc is not None else "")
            self.model_box.addItem(text, ("run", str(run.path)))
            self.model_box.setItemData(self.model_box.count() - 1, str(run.path), Qt.ItemDataRole.ToolTipRole)

    def index_of(self, kind: str, path: str) -> int:
        """The chooser's row of a model, or -1. (``findData`` compares Python objects by identity.)"""
        return next((i for i in range(self.model_box.count()) if self.model_box.itemData(i) == (kind, path)), -1)

    def _run_at(self, path: Path):
        runs = [r for r in self.library.runs if r.path == path] if self.library is not None else []
        return runs[-1] if runs else None

    def _describe(self, path: Path, which: str | None) -> str:
        """What the chosen model is, in the words the chooser uses (a run's label, not its folder)."""
        from playground.core.predict import default_model_dir

        run = self._run_at(Path(path))
        if run is None:
            if Path(path) == default_model_dir():
                return f"{self.classifier.spec.name}, the model that ships with the app"
            return f"{self.classifier.spec.name}: {Path(path).name}"
        if which == "last":
            epochs = run.epochs
            epoch = f" of epoch {epochs[-1].get('epoch')}" if epochs else ""
            return f"Following {run.label} (started {run.started}) as it trains: the weights{epoch}"
        acc = run.test_accuracy
        return (f"{run.label}, started {run.started}: its best weights"
                + (f", {acc:.2%} on the test set" if acc is not None else ""))

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
        self.model_status.setText(self._describe(Path(path), which))
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

    # -- the model in use, and time travel ---------------------------------------------------------------

    @property
    def classifier(self):
        """The model classifying the drawing: the chooser's, or one epoch's of its run (time travel)."""
        return self._classifier

    @classifier.setter
    def classifier(self, classifier) -> None:
        """A new model from the chooser: time travel starts again at its own weights."""
        self._classifier = self.own_classifier = classifier
        self._epoch_models.clear()
        self._models_changed()
        self._offer_time_travel()

    def _models_changed(self) -> None:
        classifier = self._classifier
        model, spec = getattr(classifier, "model", None), getattr(classifier, "spec", None)
        self.bars.set_classes(getattr(classifier, "classes", None))
        self.inside.set_model(model, spec)
        self.feature_map.set_model(model, spec)
        grad_cam = False
        if spec is not None:
            from playground.core.explain import grad_cam_available

            grad_cam = grad_cam_available(spec)
        item = self.method_box.model().item(self.method_box.findData("grad-cam"))
        item.setEnabled(grad_cam)
        item.setToolTip("" if grad_cam else "Grad-CAM needs a convolutional layer")
        wanted = self.chosen_method if grad_cam else "gradient-x-input"
        if self.method_box.currentData() != wanted:
            self.method_box.setCurrentIndex(self.method_box.findData(wanted))

    def time_travel_run(self):
        """The run whose epochs the slider steps through: the chosen run (or followed one), or None."""
        data = self.model_box.currentData()
        if data is None or data[0] not in ("run", "follow") or self.own_classifier is None:
            return None
        return self._run_at(Path(data[1]))

    def _offer_time_travel(self) -> None:
        run = self.time_travel_run()
        if run is None:
            self.time_travel.set_epochs([], "this model is not a run of this app (choose one in the Model list)")
            return
        data = self.model_box.currentData()
        epochs = run.epoch_numbers()
        # A run's best weights are its best epoch's; a followed run's, its newest epoch's.
        home = run.summary.get("best_epoch") if data[0] == "run" else (epochs[-1] if epochs else None)
        self.time_travel.set_epochs(epochs, run.time_travel_note(), home)

    def _epoch_chosen(self, epoch: int | None) -> None:
        """Re-score the drawing with an epoch's weights (None: the chooser's model again)."""
        from playground.core.predict import Classifier
        from playground.core.runs import RunError

        run = self.time_travel_run()
        if epoch is None or run is None:
            self._classifier = self.own_classifier
        else:
            key = (str(run.path), epoch)
            try:
                if key not in self._epoch_models:
                    while len(self._epoch_models) >= EPOCH_MODELS_KEPT:  # the oldest loaded goes
                        self._epoch_models.pop(next(iter(self._epoch_models)))
                    self._epoch_models[key] = Classifier.from_weights_file(run.spec, run.epoch_weights_path(epoch))
            except (RunError, OSError, ValueError) as exc:
                self.time_travel.failed(f"Cannot load epoch {epoch}'s weights: {exc}")
                return
            self._classifier = self._epoch_models[key]
        base = self.model_status.text().split(TRAVEL_NOTE)[0]
        self.model_status.setText(base if epoch is None else f"{base}{TRAVEL_NOTE}epoch {epoch}'s weights in use")
        self._models_changed()
        self.classify()

    # -- classifying -----------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Classify soon: at the next turn of the event loop after a quick classification, else once
        the GUI thread has had half as long for strokes as the last classification took."""
        if not self.timer.isActive():
            self.timer.start(max(0, round((self._ready_at - time.perf_counter()) * 1000)))

    @property
    def pen_width(self) -> float:
        return PEN_WIDTH * self.pad.brush / DEFAULT_BRUSH

    def wants_explanation(self) -> tuple[bool, bool]:
        """(layer outputs, saliency): what the views on screen need beyond the probabilities."""
        return self.views.currentWidget() is self.inside, self.saliency_box.isChecked()

    def classify(self) -> None:
        from playground.core.preprocess import preprocess_strokes

        began = time.perf_counter()
        image = preprocess_strokes(self.pad.point_lists(), self.pen_width)
        classifier = self.classifier
        outputs, saliency = self.wants_explanation()
        self.explanation = None
        if image is None or classifier is None:
            self._show(image, None)
        elif getattr(classifier, "model", None) is None or not (outputs or saliency):
            with one_torch_thread():
                probabilities = classifier.probabilities(image)
            self._show(image, probabilities)
        else:
            from playground.core.explain import explain

            method = self.method_box.currentData() if saliency else "gradient-x-input"
            with one_torch_thread():
                self.explanation = explain(classifier.model, classifier.spec, image, self.target, method,
                                           with_outputs=outputs)
            self._show(image, self.explanation.probabilities)
        self._show_inside()
        self.last_cost = time.perf_counter() - began
        gap = 0.0 if self.last_cost < FREE_CLASSIFY_MS / 1000 else CLASSIFY_GAP * self.last_cost
        self._ready_at = time.perf_counter() + min(gap, MAX_CLASSIFY_GAP_MS / 1000)
        self.views_updated.emit()

    def _show_inside(self) -> None:
        """The layer outputs, the saliency overlays and the map's marker, for the last classification."""
        explanation = self.explanation
        outputs, saliency = self.wants_explanation()
        if outputs:
            self.inside.show_outputs(explanation.outputs if explanation is not None else [])
        if saliency and explanation is not None:
            overlay = saliency_image(explanation.saliency)
            self.preview.set_overlay(overlay)
            self.pad.set_overlay(overlay, pad_transform(self.pad.point_lists(), self.pen_width))
        else:
            self.preview.set_overlay(None)
            self.pad.set_overlay(None, None)
        self._show_target()
        if self.views.currentWidget() is self.feature_map and not self.map_timer.isActive():
            self.map_timer.start()

    def _place_on_map(self) -> None:
        fitted = self.feature_map.feature_map
        if fitted is None or self.image is None:
            self.feature_map.show_point(None)
            return
        with one_torch_thread():
            self.feature_map.show_point(fitted.project(self.image))

    def _view_changed(self, index: int) -> None:
        self.classify()  # what the newly shown view needs

    def _saliency_changed(self, *args) -> None:
        self.method_box.setEnabled(self.saliency_box.isChecked())
        self.classify()

    def _bar_clicked(self, digit: int) -> None:
        self.set_target(None if digit == self.target else digit)

    def set_target(self, digit: int | None) -> None:
        """What the saliency is for: a digit, or None for the guess."""
        self.target = digit
        self.bars.set_picked(digit)
        self.classify()

    def class_name(self, index: int) -> str:
        """The name of the model's class ``index`` (its digit for an MNIST model)."""
        classes = self.bars.classes
        return classes[index] if 0 <= index < len(classes) else str(index)

    def _show_target(self) -> None:
        # Grad-CAM is never negative: no blue.
        colours = "redder counts more" if self.method_box.currentData() == "grad-cam" else "red for it, blue against"
        if self.target is not None:
            self.target_label.setText(f"for {self.class_name(self.target)} (picked: click its bar again to go back)")
        elif self.probabilities is not None:
            self.target_label.setText(f"for the guess, {self.class_name(int(np.argmax(self.probabilities)))}: "
                                      f"{colours}")
        else:
            self.target_label.setText(f"for the guess: {colours}")
        self.guess_target_button.setEnabled(self.target is not None)

    def _too_small(self) -> bool:
        points = [p for stroke in self.pad.strokes for p in stroke]
        xs, ys = [p.x() for p in points], [p.y() for p in points]
        return bool(points) and max(max(xs) - min(xs), max(ys) - min(ys)) < TOO_SMALL

    def _show(self, image: np.ndarray | None, probs: np.ndarray | None) -> None:
        broken = probs is not None and not np.isfinite(probs).all()  # e.g. finite weights of 1e38
        if broken:
            probs = self.explanation = None  # no guess, no layer outputs or saliency made of NaN
        self.probabilities = probs
        self.image = image
        if probs is None:
            self.sure = None
            self.guess.setText("?" if image is not None else "")
            self.guess_caption.setText(BROKEN_MODEL if broken else "Loading the model…" if image is not None
                                       else "Draw a digit on the pad")
        else:
            best, runner_up = (int(d) for d in np.argsort(probs)[::-1][:2])
            first, second = self.class_name(best), self.class_name(runner_up)  # a model's own class names
            small = self._too_small()
            self.sure = bool(probs[best] >= UNSURE_BELOW) and not small
            self.guess.setText(first)
            if self.sure:
                self.guess_caption.setText(f"{probs[best]:.1%} sure")
            elif small:
                self.guess_caption.setText(f"Not sure: {first} or {second}? Too small to read: draw the digit larger.")
            else:
                shares = f"{probs[best]:.0%}, {probs[runner_up]:.0%}"
                self.guess_caption.setText(f"Not sure: {first} or {second}? ({shares})")
        self._style_guess()
        self.teach.set_state(image is not None, probs is not None)
        self.bars.show_probabilities(probs)
        if image is None:
            self.preview.clear()
        else:
            data = (np.clip(image, 0, 1) * 255).astype(np.uint8).tobytes()
            self.preview.setPixmap(QPixmap.fromImage(QImage(data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()))
        self.classified.emit(probs)

    # -- teaching it your handwriting ------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:
        """With the pad (or any part of the area that does not take the key) focused: a digit's key says
        "No, it's a …", Enter or Y "That's right". (The probability bars take digit keys themselves:
        there they pick the digit whose saliency is shown.)"""
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        text = event.text()
        if plain and len(text) == 1 and text in "0123456789":
            self.add_to_my_digits(int(text))
        elif plain and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Y):
            self.add_to_my_digits(None)
        else:
            super().keyPressEvent(event)

    def add_to_my_digits(self, digit: int | None) -> bool:
        """Keep what the network sees of the drawing in My digits as ``digit`` (None: the guess, "that's
        right"), and clear the pad for the next one; whether it was added."""
        from playground.core.my_digits import MyDigits, MyDigitsError

        if self.image is None:
            self.teach.say("Draw a digit first, then say what it is.")
            return False
        from playground.core.my_digits import reads_digits

        if self.classifier is not None and not reads_digits(self.classifier):
            self.teach.say("This model does not read digits: choose a digit model to add drawings to My digits.")
            return False
        if digit is None:
            if self.probabilities is None:
                self.teach.say("There is no guess yet: press the digit's key to say what it is.")
                return False
            digit = int(np.argmax(self.probabilities))
        try:
            self._added = MyDigits().add(self.image, digit)
        except (MyDigitsError, ValueError) as exc:
            self.teach.say(f"Not added: {exc}")
            return False
        total = self.fine_tune_bar.update_count()
        self.pad.clear()
        self.teach.say(added_text(digit, total), undo=True)
        return True

    def undo_add(self) -> None:
        """Take the drawing last added out of My digits and put it back on the pad."""
        from playground.core.my_digits import MyDigits, MyDigitsError

        path, self._added = self._added, None
        if path is None:
            return
        try:
            MyDigits().delete([path])
        except MyDigitsError as exc:
            self.teach.say(str(exc))
            return
        if self.pad.empty and self.pad.done and self.pad.done[-1][0] == "clear":
            self.pad.undo_stroke()
        self.fine_tune_bar.update_count()
        self.teach.say("Taken out of My digits; the drawing is back on the pad.")

    def _fine_tuned(self, event: dict) -> None:
        """A fine-tune ended: its run joins the library (and the chooser) and classifies from now on."""
        path = event.get("run_dir")
        if not path or event.get("mnist_after") is None:
            return
        if self.library is not None:
            self.library.load_from_disk()
            index = self.index_of("run", str(path))
            if index >= 0:
                self.model_box.setCurrentIndex(index)
                return
        self.load_model(Path(path))
