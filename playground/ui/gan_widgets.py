"""Widgets of the GAN tab: a grid of generated digits, the quality meter's class histogram, and the
curves of a GAN run (the two losses, D's outputs on real and generated images, quality per epoch).

Digit images are data: white ink on black as in MNIST, whatever the palette; everything around
them (captions, frames, axes) follows the palette and ``theme``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from playground.ui import theme
from playground.ui.plots import AXIS_WIDTH, CurveBuffer, OutsideLegend

IMAGE_SIDE = 28
GAP = 2  # pixels between cells


def digit_columns(digits: list[int] | None, default: int = 8) -> int:
    """Columns of a grid of samples asked for these digits so that each row holds one digit: the
    length of the runs of equal digits when all runs have it (10 of each: 10 columns), else
    ``default``."""
    if not digits:
        return default
    run = next((i for i, d in enumerate(digits) if d != digits[0]), len(digits))
    rows = [digits[i:i + run] for i in range(0, len(digits), run)]
    if 2 <= run <= 16 and all(len(r) == run and len(set(r)) == 1 for r in rows):
        return run
    return default


def row_labels(digits: list[int] | None, columns: int) -> list[str] | None:
    """A label for each row of a grid whose images were asked to be one digit: that digit, or "" for
    a row of mixed digits; None without digits (an unconditional GAN) or when no row has one."""
    if not digits:
        return None
    rows = [digits[i:i + columns] for i in range(0, len(digits), columns)]
    labels = [str(row[0]) if len(set(row)) == 1 else "" for row in rows]
    return labels if any(labels) else None


class SampleGrid(QWidget):
    """Digits in a grid of ``columns``; optional labels left of the rows (a conditional GAN's digits);
    marked cells framed (``"start"``, ``"end"``); a click on a cell emits ``sample_clicked``."""

    sample_clicked = Signal(int)

    def __init__(self, columns: int = 8, rows: int = 8, clickable: bool = False, placeholder: str = "",
                 parent=None):
        super().__init__(parent)
        self.columns, self._min_rows = columns, rows
        self.clickable = clickable
        self.placeholder = placeholder
        self._images = np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
        self._qimages: list[QImage] = []
        self.labels: list[str] | None = None
        self.marks: dict[int, str] = {}
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if clickable:
            self.setCursor(Qt.CursorShape.PointingHandCursor)

    @property
    def images(self) -> np.ndarray:
        """The images shown, uint8 (N, 28, 28)."""
        return self._images

    def set_images(self, images: np.ndarray, labels: list[str] | None = None, columns: int | None = None) -> None:
        if columns is not None and columns != self.columns:
            self.columns = columns
            self.updateGeometry()
        self._images = np.ascontiguousarray(images, dtype=np.uint8)
        self._qimages = [QImage(image.tobytes(), IMAGE_SIDE, IMAGE_SIDE, IMAGE_SIDE, QImage.Format.Format_Grayscale8)
                         for image in self._images]
        self.labels = labels
        self.marks = {i: m for i, m in self.marks.items() if i < len(self._images)}
        self.update()

    def set_marks(self, marks: dict[int, str]) -> None:
        self.marks = dict(marks)
        self.update()

    @property
    def rows(self) -> int:
        return max(self._min_rows, -(-len(self._images) // self.columns))

    def _label_width(self) -> int:
        return self.fontMetrics().horizontalAdvance("9") + 8 if self.labels else 0

    def _cell(self) -> int:
        width = self.width() - self._label_width()
        return max(4, min(width // self.columns, self.height() // self.rows))

    def _left(self) -> int:
        """Where the grid (its labels included) starts: centred in the widget's width."""
        return max(0, (self.width() - self._label_width() - self.columns * self._cell()) // 2)

    def cell_rect(self, index: int) -> QRect:
        """Where image ``index`` is drawn."""
        cell = self._cell()
        row, col = divmod(index, self.columns)
        left = self._left() + self._label_width()
        return QRect(left + col * cell + GAP // 2, row * cell + GAP // 2, cell - GAP, cell - GAP)

    def index_at(self, pos: QPointF) -> int | None:
        for i in range(len(self._images)):
            if self.cell_rect(i).contains(pos.toPoint()):
                return i
        return None

    def sizeHint(self) -> QSize:
        return QSize(self._label_width() + self.columns * 46, self.rows * 46)

    def minimumSizeHint(self) -> QSize:
        return QSize(self._label_width() + self.columns * 20, self.rows * 20)

    def mousePressEvent(self, event) -> None:
        index = self.index_at(event.position()) if self.clickable else None
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.sample_clicked.emit(index)
        else:
            super().mousePressEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        if not self._qimages:
            painter.setPen(theme.muted(self))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        for i, image in enumerate(self._qimages):
            painter.drawImage(self.cell_rect(i), image)
        self._paint_labels(painter)
        self._paint_marks(painter)

    def _paint_labels(self, painter: QPainter) -> None:
        if not self.labels:
            return
        painter.setPen(theme.text(self))
        cell = self._cell()
        for row, label in enumerate(self.labels):
            painter.drawText(QRect(self._left(), row * cell, self._label_width() - 4, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)

    MARK_ROLES = {"start": ("accent", "A"), "end": ("success", "B")}

    def _paint_marks(self, painter: QPainter) -> None:
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        for index, mark in self.marks.items():
            role, letter = self.MARK_ROLES[mark]
            colour = theme.color(role, self)
            rect = self.cell_rect(index).adjusted(-1, -1, 1, 1)
            painter.setPen(QPen(colour, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            badge = QRect(rect.left(), rect.top(), self.fontMetrics().horizontalAdvance("W") + 4,
                          self.fontMetrics().height())
            painter.fillRect(badge, colour)
            painter.setPen(self.palette().color(QPalette.ColorRole.Base))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, letter)


class ClassHistogram(QWidget):
    """Ten bars: how many generated samples the digit classifier labels as each digit. A missing
    digit (under 3% of the samples) is drawn as an empty dashed box in the error colour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts: list[int] = [0] * 10
        self.missing: set[int] = set()
        self.setMinimumSize(220, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_counts(self, counts: list[int], missing: list[int] | None = None) -> None:
        self.counts = [max(0, int(c)) for c in list(counts)[:10]] + [0] * max(0, 10 - len(counts))
        self.missing = set(missing or ())
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, 130)

    def _areas(self) -> tuple[QRectF, float]:
        """The rectangle bars may fill (below the counts' row, above the digits') and one slot's width."""
        line = self.fontMetrics().height()
        area = QRectF(4, line + 2, self.width() - 8, self.height() - 2 * line - 6)
        return area, area.width() / 10

    def bar_rects(self) -> list[QRectF]:
        """Each digit's bar, its height in proportion to its count (the tallest fills the area)."""
        area, slot = self._areas()
        top = max(self.counts) or 1
        rects = []
        for digit, count in enumerate(self.counts):
            height = area.height() * count / top
            rects.append(QRectF(area.left() + digit * slot + slot * 0.15, area.bottom() - height, slot * 0.7, height))
        return rects

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        area, slot = self._areas()
        fill, text, error = theme.color("accent", self), theme.text(self), theme.color("error", self)
        line = self.fontMetrics().height()
        small = QFont(self.font())  # counts of up to 1,000 fit over a narrow bar in a smaller font
        wide = QFontMetrics(small).horizontalAdvance("1000")
        if wide > slot and small.pointSizeF() > 0:
            small.setPointSizeF(max(6.0, small.pointSizeF() * slot / wide))
        for digit, rect in enumerate(self.bar_rects()):
            if digit in self.missing:
                painter.setPen(QPen(error, 1.5, Qt.PenStyle.DashLine))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(rect.left(), area.top(), rect.width(), area.height()))
                painter.fillRect(rect, error)
            else:
                painter.fillRect(rect, fill)
            painter.setPen(error if digit in self.missing else text)
            painter.setFont(small)
            count_box = QRectF(area.left() + digit * slot, rect.top() - line - 1, slot, line)
            painter.drawText(count_box, Qt.AlignmentFlag.AlignCenter | Qt.AlignmentFlag.AlignBottom,
                             str(self.counts[digit]))
            painter.setFont(self.font())
            painter.setPen(text)
            painter.drawText(QRectF(area.left() + digit * slot, area.bottom() + 2, slot, line),
                             Qt.AlignmentFlag.AlignCenter, str(digit))
        painter.setPen(QPen(theme.muted(self), 1))
        painter.drawLine(QPointF(area.left(), area.bottom()), QPointF(area.right(), area.bottom()))


# Curve colours on a light background, and on a dark one.
GAN_COLOURS = {"d_loss": "#dc2626", "g_loss": "#2563eb", "d_real": "#059669", "d_fake": "#d97706",
               "confident": "#7c3aed", "frechet": "#0891b2"}
GAN_DARK_COLOURS = {"d_loss": "#f87171", "g_loss": "#60a5fa", "d_real": "#34d399", "d_fake": "#fbbf24",
                    "confident": "#c4b5fd", "frechet": "#67e8f9"}
CURVES = {  # key: (plot, legend name, symbol)
    "d_loss": ("loss", "D loss", None),
    "g_loss": ("loss", "G loss", None),
    "d_real": ("scores", "D(x): real images", None),
    "d_fake": ("scores", "D(G(z)): generated", None),
    "confident": ("confident", "confident share", "o"),
    "frechet": ("frechet", "Fréchet distance", "o"),
}
PLOTS = {"loss": ("loss", "epoch"), "scores": ("D's output", "epoch"), "confident": ("share ≥ 0.9", "epoch"),
         "frechet": ("distance", "epoch")}


class GanCurves(QWidget):
    """pyqtgraph plots of a GAN run, each curve one item fed from a growing buffer; ``redraw`` copies
    new points into the items (the view calls it from a timer)."""

    def __init__(self, plots: tuple[str, ...], parent=None):
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.plots: dict[str, pg.PlotItem] = {}
        grid = self.view.ci.layout
        for col, name in enumerate(plots):  # side by side: each plot keeps the whole height
            # The legend in its own row above its plot (as the Train area's), never over a curve.
            legend = OutsideLegend()
            self.view.addItem(legend, row=0, col=col)
            plot = self.view.addPlot(row=1, col=col)
            plot.legend = legend
            grid.setAlignment(legend, Qt.AlignmentFlag.AlignLeft)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.setLabel("left", PLOTS[name][0])
            plot.setLabel("bottom", PLOTS[name][1])
            plot.setMenuEnabled(False)
            plot.hideButtons()
            self.plots[name] = plot
        self.buffers = {key: CurveBuffer(256) for key, (plot, _, _) in CURVES.items() if plot in self.plots}
        self.items: dict[str, pg.PlotDataItem] = {}
        for key in self.buffers:
            plot_name, name, symbol = CURVES[key]
            item = self.plots[plot_name].plot([], [], symbol=symbol, symbolSize=6)
            self.plots[plot_name].legend.addItem(item, name)
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            self.items[key] = item
        grid.setRowStretchFactor(0, 0)
        grid.setRowStretchFactor(1, 1)
        self.half_line = None
        if "scores" in self.plots:  # D cannot tell real from generated at 0.5
            self.half_line = pg.InfiniteLine(0.5, angle=0, movable=False, label="0.5",
                                             labelOpts={"position": 0.03})
            self.plots["scores"].addItem(self.half_line)
            self.plots["scores"].setYRange(0, 1, padding=0.02)
        if "confident" in self.plots:
            self.plots["confident"].setYRange(0, 1, padding=0.02)
        self._apply_palette()

    def clear(self) -> None:
        for buffer in self.buffers.values():
            buffer.clear()
        self.redraw()

    def add(self, key: str, x: float, y: float | None) -> bool:
        if y is None or not np.isfinite(y):
            return False
        self.buffers[key].append(x, y)
        return True

    def redraw(self) -> None:
        for key, item in self.items.items():
            item.setData(*self.buffers[key].data())

    def data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        return self.buffers[key].data()

    def _apply_palette(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        colours = GAN_DARK_COLOURS if theme.is_dark(self) else GAN_COLOURS
        for plot in self.plots.values():
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
                axis.setLabel(axis.labelText, color=text.name())
            plot.legend.setLabelTextColor(text)
            for _, label in plot.legend.items:
                label.setText(label.text, color=text)
        for key, item in self.items.items():
            colour = QColor(colours[key])
            item.setPen(pg.mkPen(colour, width=2))
            if CURVES[key][2]:
                item.setSymbolBrush(colour)
                item.setSymbolPen(colour)
        if self.half_line is not None:
            self.half_line.setPen(pg.mkPen(theme.muted(self), width=1, style=Qt.PenStyle.DashLine))
            self.half_line.label.setColor(theme.muted(self))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()


class Banner(QFrame):
    """A message in the colours of its kind (error, warning or success), hidden while empty."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = "error"
        self.owner: QWidget | None = None  # whose palette chooses the colours (default: the parent's)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote names a stranger chose
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.row = QVBoxLayout(self)  # a button added below the text (the left column is narrow)
        self.row.setContentsMargins(6, 6, 6, 6)
        self.row.addWidget(self.label)
        self.hide()

    @property
    def text(self) -> str:
        """The message shown ("" while hidden)."""
        return "" if self.isHidden() else self.label.text()

    def show_message(self, text: str, kind: str = "error") -> None:
        self.kind = kind
        self._style()
        self.label.setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        self.label.setText("")
        self.hide()

    def restyle(self, owner: QWidget) -> None:
        """Colours for ``owner``'s palette (the view holding the banner calls this when its palette
        changes; the frame's own change event may come while its parents still have the old one)."""
        self.owner = owner
        self._style()

    def _style(self) -> None:
        owner = self.owner or self.parentWidget() or self
        sheet = (f"QFrame#banner {{ background: {theme.css(self.kind + '_background', owner)}; border-radius: 4px; }}"
                 f" QFrame#banner QLabel {{ color: {theme.css(self.kind, owner)}; }}")
        if sheet != self.styleSheet():  # a style sheet changes the palette: set it only when it differs
            self.setStyleSheet(sheet)
