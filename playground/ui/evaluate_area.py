"""The Evaluate area: test accuracy, per-class precision, recall and F1, a confusion-matrix heatmap;
clicking a cell shows those test images with their true and predicted labels."""

from __future__ import annotations

import html
import os
from collections.abc import Callable

from PySide6.QtCore import QEvent, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHeaderView, QLabel, QListView, QListWidget,
                               QListWidgetItem, QSplitter, QStyle, QTableWidget, QTableWidgetItem, QToolTip,
                               QVBoxLayout, QWidget)

from playground.core.explain import SALIENCY_LABELS, SALIENCY_METHODS, grad_cam_available
from playground.core.text import counted
from playground.ui import theme
from playground.ui.run_inside import GallerySaliency

MAX_IMAGES = 200

# The per-class table's columns: the header shown (short, so that the table fits a narrow window)
# and what it stands for (the header's tooltip).
COLUMNS = (("Class", "The class"), ("Prec.", "Precision: of the images predicted as this class, the share "
                                                "that are"),
           ("Recall", "Recall: of the images of this class, the share found"),
           ("F1", "F1: the harmonic mean of precision and recall"),
           ("Images", "Images: how many test images are of this class"))


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in ((a.redF(), b.redF()), (a.greenF(), b.greenF()),
                                                          (a.blueF(), b.blueF()))))


def _readable_on(fill: QColor, palette: QPalette) -> QColor:
    """The palette's text or base colour, whichever stands out more on ``fill``."""
    text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
    return max((text, base), key=lambda c: abs(c.lightnessF() - fill.lightnessF()))


class ConfusionMatrixView(QWidget):
    """A heatmap of the confusion matrix with counts; rows are true classes, columns predictions.
    A click, or the arrow keys and Enter or Space, opens a cell (``cell_clicked``)."""

    cell_clicked = Signal(int, int)

    LEFT, TOP = 52, 36  # room for the row names and "true ↓", the column names and "predicted →"
    MINIMUM = 220  # the cells shrink with the widget, to 16 px at this size

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: list[list[int]] = []
        self.names: list[str] = []
        self.selected: tuple[int, int] | None = None  # the cell whose images are shown
        self.current: tuple[int, int] | None = None  # the keyboard's cell
        self.setMinimumSize(self.MINIMUM, self.MINIMUM)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Rows: true class. Columns: predicted class. Click a cell, or move with the arrow keys "
                        "and press Enter, to see its images.")

    def set_matrix(self, matrix: list[list[int]], names: list[str]) -> None:
        self.matrix, self.names, self.selected, self.current = matrix, names, None, None
        self.update()

    def _geometry(self) -> tuple[int, int]:
        n = max(len(self.matrix), 1)
        cell = max(8, min(self.width() - self.LEFT, self.height() - self.TOP - 8) // n)
        return cell, n

    def cell_rect(self, true: int, pred: int) -> QRect:
        cell, _ = self._geometry()
        return QRect(self.LEFT + pred * cell, self.TOP + true * cell, cell, cell)

    def _fill(self, t: int, p: int, off_max: int) -> QColor:
        base = self.palette().color(QPalette.ColorRole.Base)
        if t == p:
            return _mix(base, theme.color("success", self), 0.85 * self.matrix[t][p] / (sum(self.matrix[t]) or 1))
        return _mix(base, theme.color("error", self), 0.85 * self.matrix[t][p] / off_max)

    def paintEvent(self, event) -> None:
        if not self.matrix:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        cell, n = self._geometry()
        off_max = max([v for t, row in enumerate(self.matrix) for p, v in enumerate(row) if t != p] or [1]) or 1
        font = QFont(self.font())
        font.setPixelSize(max(8, int(cell * 0.3)))
        painter.setFont(font)
        for t, row in enumerate(self.matrix):
            for p, value in enumerate(row):
                rect, fill = self.cell_rect(t, p), self._fill(t, p, off_max)
                painter.fillRect(rect, fill)
                painter.setPen(palette.color(QPalette.ColorRole.Mid))
                painter.drawRect(rect)
                if value:
                    painter.setPen(_readable_on(fill, palette))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(value))
        self._paint_marks(painter)
        painter.setFont(self.font())
        self._paint_axes(painter, cell, n)
        painter.end()

    def _paint_marks(self, painter: QPainter) -> None:
        if self.selected:
            painter.setPen(QPen(theme.color("accent", self), 2))
            painter.drawRect(self.cell_rect(*self.selected).adjusted(1, 1, -1, -1))
        if self.current and self.hasFocus():
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Highlight), 3, Qt.PenStyle.DashLine))
            painter.drawRect(self.cell_rect(*self.current).adjusted(2, 2, -2, -2))

    def axis_texts(self, metrics=None) -> tuple[list[str], list[str]]:
        """The columns' and the rows' names as drawn: whole, or cut to fit with "…" (a beginning all the
        names share is cut first, so that the names stay told apart); the whole names are tooltips."""
        metrics = metrics or self.fontMetrics()
        cell, n = self._geometry()
        names, elide = self.names[:n], Qt.TextElideMode.ElideRight
        texts = []
        for width in (cell - 2, self.LEFT - 6):
            shown = axis_labels(names, lambda text, w=width: metrics.horizontalAdvance(text) <= w)
            texts.append([metrics.elidedText(text, elide, width) for text in shown])
        return texts[0], texts[1]

    def _paint_axes(self, painter: QPainter, cell: int, n: int) -> None:
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        left, top = self.LEFT, self.TOP
        columns, rows = self.axis_texts(painter.fontMetrics())
        for i, (column, row) in enumerate(zip(columns, rows)):
            painter.drawText(QRect(left + i * cell, top - 18, cell, 16), Qt.AlignmentFlag.AlignCenter, column)
            painter.drawText(QRect(0, top + i * cell, left - 4, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, row)
        painter.drawText(QRect(left, 0, n * cell, 16), Qt.AlignmentFlag.AlignCenter, "predicted →")
        painter.drawText(self.row_title_rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, "true ↓")

    def row_title_rect(self) -> QRect:
        """Where the rows' title is written: in the corner above the row names."""
        return QRect(2, 0, self.LEFT - 4, self.TOP - 2)

    def tooltip_at(self, x: float, y: float) -> str:
        """A class name's whole text over the names; a cell's classes and count over a cell."""
        cell, n = self._geometry()
        col, row = int((x - self.LEFT) // cell), int((y - self.TOP) // cell)
        names = self.names[:n]
        if y < self.TOP and x >= self.LEFT and 0 <= col < len(names):
            return f"Predicted {names[col]}"
        if x < self.LEFT and y >= self.TOP and 0 <= row < len(names):
            return f"True {names[row]}"
        if self.cell_at(x, y) is not None and row < len(names) and col < len(names):
            return f"True {names[row]}, predicted {names[col]}: {counted(self.matrix[row][col], 'image')}"
        return self.toolTip()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            QToolTip.showText(event.globalPos(), self.tooltip_at(event.pos().x(), event.pos().y()), self)
            return True
        return super().event(event)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        cell, n = self._geometry()
        col, row = int((x - self.LEFT) // cell), int((y - self.TOP) // cell)
        if x >= self.LEFT and y >= self.TOP and 0 <= row < n and 0 <= col < n:
            return row, col
        return None

    def open_cell(self, true: int, pred: int) -> None:
        self.selected = self.current = (true, pred)
        self.update()
        self.cell_clicked.emit(true, pred)

    def mousePressEvent(self, event) -> None:
        hit = self.cell_at(event.position().x(), event.position().y())
        if hit is not None:
            self.open_cell(*hit)

    def focusInEvent(self, event) -> None:
        if self.current is None and self.matrix:
            self.current = self.selected or (0, 0)
        self.update()
        super().focusInEvent(event)

    def focusOutEvent(self, event) -> None:
        self.update()
        super().focusOutEvent(event)

    def keyPressEvent(self, event) -> None:
        K = Qt.Key
        moves = {K.Key_Up: (-1, 0), K.Key_Down: (1, 0), K.Key_Left: (0, -1), K.Key_Right: (0, 1)}
        if not self.matrix or self.current is None:
            super().keyPressEvent(event)
        elif event.key() in moves:
            n, (dt, dp) = len(self.matrix), moves[event.key()]
            self.current = (min(max(self.current[0] + dt, 0), n - 1), min(max(self.current[1] + dp, 0), n - 1))
            self.update()
        elif event.key() in (K.Key_Return, K.Key_Enter, K.Key_Space):
            self.open_cell(*self.current)
        else:
            super().keyPressEvent(event)


def axis_labels(names: list[str], fits: Callable[[str], bool]) -> list[str]:
    """``names`` as they fit (``fits``): whole when all fit; else without the beginning they all share,
    which shows as "…" ("class A", "class B" -> "…A", "…B"), so that cutting the end to fit never
    leaves the same text for every class. Each name keeps at least its last character."""
    if len(names) < 2 or all(fits(name) for name in names):
        return list(names)
    cut = min(len(os.path.commonprefix(names)), min(len(name) for name in names) - 1)
    return [f"…{name[cut:]}" for name in names] if cut > 1 else list(names)


def digit_icon(image, scale: int = 2) -> QIcon:
    """A uint8 28x28 tensor as an icon (white ink on black, as MNIST stores it)."""
    data = bytes(image.contiguous().numpy().tobytes())
    h, w = image.shape
    qimage = QImage(data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(qimage).scaled(w * scale, h * scale, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))


class EvaluateArea(QWidget):
    """A run's test evaluation (a core ``RunRecord``): accuracy, per-class table, confusion matrix
    and the images behind each cell."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run = None  # the RunRecord shown
        self.images = None  # uint8 test images the evaluation was made on
        self._shown: tuple[list[int], str] | None = None  # the gallery's indices and caption
        self.title = QLabel("Train a network (Train area) or pick a run there to evaluate it here.")
        self.title.setWordWrap(True)
        self.accuracy = QLabel()
        self.accuracy.setWordWrap(True)  # a narrow pane wraps it rather than widening the window
        font = self.accuracy.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.accuracy.setFont(font)
        self.table = QTableWidget(0, len(COLUMNS))
        for col, (text, meaning) in enumerate(COLUMNS):
            header_item = QTableWidgetItem(text)
            header_item.setToolTip(meaning)
            self.table.setHorizontalHeaderItem(col, header_item)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)  # read-only: Tab goes on to the confusion matrix
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._fit_table_to_headers()
        self.table.setToolTip("Precision: of the images predicted as this class, the share that are.\n"
                              "Recall: of the images of this class, the share found.\nF1: their harmonic mean.")
        self.matrix = ConfusionMatrixView()
        self.matrix.cell_clicked.connect(self.show_cell)
        self.images_label = QLabel()
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setGridSize(QSize(84, 92))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self._make_saliency_box()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.accuracy)
        left_layout.addWidget(self.table)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        matrix_caption = QLabel("<b>Confusion matrix</b> — click a cell (or arrow keys and Enter)")
        matrix_caption.setWordWrap(True)
        middle_layout.addWidget(matrix_caption)
        middle_layout.addWidget(self.matrix, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.images_label.setWordWrap(True)
        self.gallery.setMinimumWidth(self.gallery.gridSize().width() + 24)  # a column of images and a scroll bar
        right_layout.addWidget(self.images_label)
        right_layout.addWidget(self.saliency_box)
        right_layout.addWidget(self.saliency_method)
        right_layout.addWidget(self.saliency_note)
        right_layout.addWidget(self.gallery, 1)
        splitter = self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (left, middle, right):
            splitter.addWidget(w)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([330, 460, 440])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    def _make_saliency_box(self) -> None:
        """"Show what it looks at": each icon painted over with the pixels that made its prediction,
        by gradient x input or, for a design with convolutions, Grad-CAM."""
        self.saliency = GallerySaliency(self.gallery, digit_icon, self)
        self.saliency_box = QCheckBox("Show what it looks at")
        self.saliency_box.setToolTip("Paint each image over with the pixels that counted for its predicted class "
                                     "(red) or against it (blue), for the run's best weights")
        self.saliency_box.toggled.connect(self._saliency_toggled)
        self.saliency_method = QComboBox()
        for method in SALIENCY_METHODS:
            self.saliency_method.addItem(SALIENCY_LABELS[method], method)
        self.saliency_method.setToolTip("Gradient x input: each pixel's share of the evidence. Grad-CAM: the "
                                        "regions the last convolution's evidence comes from (convolutional designs)")
        self.saliency_method.currentIndexChanged.connect(self._saliency_method_chosen)
        self.saliency_method.hide()
        self.saliency_note = QLabel()
        self.saliency_note.setWordWrap(True)
        self.saliency_note.hide()
        self.saliency.failed.connect(self._saliency_failed)

    def _saliency_toggled(self, on: bool) -> None:
        self.saliency_method.setVisible(on)
        self.saliency_note.setVisible(on)
        self._saliency_method_chosen()
        self.saliency.set_enabled(on)

    def _saliency_method_chosen(self) -> None:
        method = self.saliency_method.currentData()
        self.saliency_note.setText("Red: where the evidence for the predicted class comes from (Grad-CAM)."
                                   if method == "grad-cam" else
                                   "Red: pixels that count for the predicted class; blue: against it.")
        if method != self.saliency.method:
            self.saliency.set_method(method)

    def _offer_grad_cam(self) -> None:
        """Grad-CAM only for a design with a Conv2d layer (else back to gradient x input)."""
        model = self.saliency_method.model()
        available = self.run is not None and grad_cam_available(self.run.spec)
        row = self.saliency_method.findData("grad-cam")
        model.item(row).setEnabled(available)
        if not available and self.saliency_method.currentData() == "grad-cam":
            self.saliency_method.setCurrentIndex(self.saliency_method.findData("gradient-x-input"))

    def _saliency_failed(self, message: str) -> None:
        self.saliency_note.setText(message)
        self.saliency_note.show()

    def _fit_table_to_headers(self) -> None:
        """The table's minimum width: every column's header readable (the columns share the width
        equally, so each gets as much as the widest header needs)."""
        header = self.table.horizontalHeader()
        needed = header.count() * max(header.sectionSizeHint(col) for col in range(header.count()))
        scroll_bar = self.table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self.table)
        self.table.setMinimumWidth(needed + scroll_bar + 2 * self.table.frameWidth() + 2)

    def show_run(self, run, images=None) -> None:
        """Show a run's evaluation; ``images`` are its test images (loaded by the caller if needed)."""
        self.run = run
        self.images = images
        evaluation = run.evaluation
        self._offer_grad_cam()
        self.gallery.clear()
        self._show_title()
        if evaluation is None:
            self.accuracy.clear()
            self.table.setRowCount(0)
            self.matrix.set_matrix([], [])
            self.images_label.clear()
            self._shown = None
            self.saliency.gallery_filled(run, None, [])
            return
        names = run.classes  # the run's own: a folder data set's names, n of them
        self.accuracy.setText(f"Test accuracy {evaluation.accuracy:.2%}")
        self.table.setRowCount(len(evaluation.per_class))
        for row, (name, m) in enumerate(zip(names, evaluation.per_class)):
            for col, value in enumerate((name, f"{m.precision:.3f}", f"{m.recall:.3f}", f"{m.f1:.3f}",
                                         str(m.support))):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.matrix.set_matrix(evaluation.confusion, names)
        self.show_mistakes()

    def run_updated(self, run) -> None:
        """A run changed (renamed): the title follows when it is the run shown."""
        if run is self.run:
            self._show_title()

    def _show_title(self) -> None:
        run, evaluation = self.run, self.run.evaluation
        if evaluation is None:
            self.title.setText(f"<b>{html.escape(run.label)}</b>: this run has no test evaluation ({run.status}).")
        else:
            self.title.setText(f"<b>{html.escape(run.label)}</b> — {run.config.optimizer}, lr {run.config.lr:g}, "
                               f"{run.status}; {counted(evaluation.count, 'test image')}")

    def show_mistakes(self) -> None:
        self._fill(self.run.evaluation.misclassified, "All misclassified test images")

    def show_cell(self, true: int, pred: int) -> None:
        names = self.matrix.names
        what = "correctly classified" if true == pred else f"predicted {names[pred]}"
        self._fill(self.run.evaluation.indices(true, pred), f"True {names[true]}, {what}")

    def set_images(self, images) -> None:
        """The run's test images, once loaded: the gallery fills in what it shows (a cell the user
        clicked meanwhile stays chosen)."""
        self.images = images
        if self._shown is not None:
            self._fill(*self._shown)

    def _fill(self, indices: list[int], caption: str) -> None:
        self._shown = (indices, caption)
        self.gallery.clear()
        shown = indices[:MAX_IMAGES]
        more = f" (first {MAX_IMAGES} shown)" if len(indices) > MAX_IMAGES else ""
        self.images_label.setText(f"<b>{caption}</b>: {counted(len(indices), 'image')}{more}")
        if self.images is None:
            self.saliency.gallery_filled(self.run, None, [])
            if indices:
                self.images_label.setText(self.images_label.text() + " — loading the images…")
            return
        ev = self.run.evaluation
        names = self.matrix.names
        for i in shown:
            true = names[ev.labels[i]]
            item = QListWidgetItem(digit_icon(self.images[i]), f"{true} → {names[ev.predictions[i]]}")
            item.setToolTip(f"Test image {i}: true {true}, predicted {names[ev.predictions[i]]}")
            self.gallery.addItem(item)
        self.saliency.gallery_filled(self.run, self.images, shown)

    @property
    def shown_count(self) -> int:
        return self.gallery.count()
