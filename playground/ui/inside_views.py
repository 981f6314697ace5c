"""Views of what happens inside the network for the drawing on the pad (issue 16).

They mirror the core's ``explain`` results and never compute anything of their own beyond turning
arrays into pixels:

- :class:`InsidePanel`: every layer's output (feature maps as a grid, units as a strip, a recurrent
  layer's hidden state over the 28 row steps as a heatmap), a colour legend, and a clicked feature
  map enlarged beside the filter that made it;
- :func:`saliency_image` / :func:`pad_transform`: the saliency overlay, on the pad and on the
  "what the network sees" preview;
- :class:`FeatureMapView`: the 2-D map of 2,000 test images (PCA of the penultimate layer), fitted in
  a worker thread, with the drawing as a marker;
- :class:`TimeTravel`: a slider over a run's epochs.

Everything per mouse move is cheap: each layer becomes one 8-bit indexed image (a mosaic of its
maps, built with numpy) drawn scaled, without smoothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen, QTransform
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSlider, QToolButton,
                               QVBoxLayout, QWidget)

from playground.ui.labels import OneLineLabel
from playground.ui import theme

# -- colours ---------------------------------------------------------------------------------------------

NUMBERED_UNITS = 16  # a layer of at most this many units has each numbered (the last layer: the digits)
ZERO_INDEX = 127  # values map to indices 0..254 (127 is zero); 255 is the transparent gap
GAP_INDEX = 255
# Negative: black to blue; positive: black to orange to pale yellow. Zero is near-black, so an
# inactive map looks empty, as MNIST's background does.
_NEGATIVE = [(0.0, (17, 24, 39)), (1.0, (96, 165, 250))]
_POSITIVE = [(0.0, (17, 24, 39)), (0.6, (249, 115, 22)), (1.0, (254, 240, 138))]
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")  # tab10: one per digit


def _ramp(stops, t: float) -> tuple[int, int, int]:
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            k = (t - t0) / (t1 - t0)
            return tuple(round(a + k * (b - a)) for a, b in zip(c0, c1))  # type: ignore[return-value]
    return stops[-1][1]


def value_colour(v: float) -> QColor:
    """The colour of a value in [-1, 1] (a layer's values divided by their largest magnitude)."""
    v = max(-1.0, min(1.0, v))
    return QColor(*(_ramp(_NEGATIVE, -v) if v < 0 else _ramp(_POSITIVE, v)))


COLOUR_TABLE = [value_colour((i - ZERO_INDEX) / ZERO_INDEX).rgb() for i in range(255)] + [0]


def value_indices(values: np.ndarray, scale: float) -> np.ndarray:
    """uint8 colour indices of ``values`` divided by ``scale`` (0..254, 127 for zero)."""
    k = ZERO_INDEX / scale if math.isfinite(scale) and scale > 1e-12 else ZERO_INDEX / 1e-12
    with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN: the ends of the scale and zero
        scaled = np.nan_to_num(np.asarray(values, np.float64) * k, nan=0.0, posinf=ZERO_INDEX, neginf=-ZERO_INDEX)
    return np.clip(np.rint(scaled + ZERO_INDEX), 0, 254).astype(np.uint8)


def indexed_image(indices: np.ndarray) -> QImage:
    """A QImage (8-bit, the activation colour table) that owns a copy of ``indices`` (2-D uint8)."""
    indices = np.ascontiguousarray(indices, np.uint8)
    h, w = indices.shape
    image = QImage(indices.data, w, h, w, QImage.Format.Format_Indexed8)
    image.setColorTable(COLOUR_TABLE)
    # Converted once here (which also copies it off the numpy buffer): painting an indexed image
    # converts it again at every paint.
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def mosaic(maps: np.ndarray, columns: int) -> np.ndarray:
    """(C, H, W) index maps laid out ``columns`` across with a one-pixel transparent gap."""
    c, h, w = maps.shape
    rows = math.ceil(c / columns)
    grid = np.full((rows * columns, h + 1, w + 1), GAP_INDEX, np.uint8)
    grid[:c, :h, :w] = maps
    grid = grid.reshape(rows, columns, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(rows * (h + 1), columns * (w + 1))
    return grid[:-1, :-1]


def saliency_image(saliency: np.ndarray) -> QImage:
    """The saliency (28, 28) as an overlay: red where a pixel counts for the class, blue where it
    counts against it, more opaque the stronger; scaled to the largest magnitude."""
    s = np.asarray(saliency, np.float32)
    peak = float(np.abs(s).max())
    a = np.clip(np.abs(s) / peak, 0, 1) if peak > 0 else np.zeros_like(s)
    rgba = np.zeros(s.shape + (4,), np.uint8)
    positive = s >= 0
    rgba[..., 0] = np.where(positive, 239, 59)
    rgba[..., 1] = np.where(positive, 68, 130)
    rgba[..., 2] = np.where(positive, 68, 246)
    rgba[..., 3] = np.rint(np.sqrt(a) * 220).astype(np.uint8)  # sqrt: the weak evidence still shows
    h, w = s.shape
    image = QImage(np.ascontiguousarray(rgba).data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)  # a copy, quick to paint


def pad_transform(strokes, pen_width: float) -> QTransform | None:
    """The map from the 28x28 image's pixel coordinates to the pad's units, as the core's
    preprocessing placed the drawing (scaled into the 20-pixel box, then moved so that its centre of
    mass is at the frame's centre), so that an overlay made on the image lands on the strokes that
    made it. The centre of mass is taken as the strokes' length-weighted centre rather than rendered
    again (a render costs milliseconds per update); the two differ by a fraction of a pixel of the
    28x28 image. None for no ink."""
    from playground.core.preprocess import BOX, SIZE

    arrays = [np.asarray(s, np.float32).reshape(-1, 2) for s in strokes if len(s)]
    if not arrays:
        return None
    points = np.concatenate(arrays)
    lo, hi = points.min(0), points.max(0)
    extent = float((hi - lo).max())
    scale = (BOX - pen_width) / extent if extent > 0 else 1.0
    segments = np.concatenate([np.hstack([a[:-1], a[1:]]) if len(a) > 1 else np.hstack([a, a]) for a in arrays])
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]) + 1e-3
    centre = ((segments[:, :2] + segments[:, 2:]) / 2 * lengths[:, None]).sum(0) / lengths.sum()
    # image = (pad - lo) * scale + offset + shift, with the centre landing on the frame's centre
    t = SIZE / 2 - (centre - lo) * scale
    return QTransform(1 / scale, 0, 0, 1 / scale, float(lo[0] - t[0] / scale), float(lo[1] - t[1] / scale))


# -- activations ---------------------------------------------------------------------------------------------


@dataclass
class LayerCell:
    """Where one layer's output is drawn, and how: ``kind`` "maps" (a grid of ``count`` feature
    maps), "units" (a strip of ``count`` values) or "steps" (a recurrent layer's hidden state, one
    row per step)."""

    index: int
    title: str
    kind: str
    count: int
    shape: tuple[int, ...]
    title_rect: QRect
    image_rect: QRect
    columns: int = 1
    scale: int = 1  # screen pixels per map pixel ("maps")
    image: QImage | None = None


def layer_title(output, spec) -> str:
    what = spec.layers[output.index].describe() if spec is not None else output.type
    shape = "×".join(str(n) for n in output.shape)
    return f"{output.index + 1}. {what}  ·  {shape}"  # counted from 1, as the designer counts


def output_kind(output) -> str:
    if output.steps is not None:
        return "steps"
    return "maps" if len(output.shape) == 3 else "units"


class ActivationsView(QWidget):
    """Every layer's output for the drawing, top to bottom, each under its name and shape; each
    layer scaled to its own largest magnitude (written after its title). Click a feature map to
    enlarge it (``map_clicked``)."""

    map_clicked = Signal(int, int)  # layer index, channel

    MARGIN = 6
    GAP = 3

    def __init__(self, parent=None):
        super().__init__(parent)
        self.outputs: list = []
        self.spec = None
        self.cells: list[LayerCell] = []
        self.selected: tuple[int, int] | None = None
        self.updates = 0  # how many times new outputs were shown (for tests and the benchmark)
        self._laid_out_for: tuple | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(320, max(self.minimumHeight(), 200))

    def show_outputs(self, outputs, spec) -> None:
        """New outputs (a list of core ``LayerOutput``), or [] to show none."""
        self.outputs, self.spec = list(outputs), spec
        key = (self.width(), tuple((o.index, o.shape, output_kind(o)) for o in self.outputs))
        if key != self._laid_out_for:
            self._lay_out()
        for cell, output in zip(self.cells, self.outputs):
            cell.image = self._image(cell, output)
        self.updates += 1
        self.update()

    def _lay_out(self) -> None:
        self._laid_out_for = (self.width(), tuple((o.index, o.shape, output_kind(o)) for o in self.outputs))
        width = max(self.width() - 2 * self.MARGIN, 60)
        line = self.fontMetrics().height()
        y, self.cells = self.MARGIN, []
        for output in self.outputs:
            kind = output_kind(output)
            title = QRect(self.MARGIN, y, width, line)
            y += line + 2
            cell = LayerCell(output.index, layer_title(output, self.spec), kind, 0, tuple(output.shape), title,
                             QRect())
            if kind == "maps":
                c, h, w = output.shape
                # k screen pixels per map pixel; the mosaic's one-pixel gaps become k-pixel gaps.
                target = max(16, min(56, 3 * max(h, w), width // 6))  # smaller maps in a narrow panel
                k = max(1, round(target / max(h, w)))
                cell.count, cell.scale = c, k
                cell.columns = max(1, min(c, (width + k) // ((w + 1) * k)))
                rows = math.ceil(c / cell.columns)
                cell.image_rect = QRect(self.MARGIN, y, (cell.columns * (w + 1) - 1) * k, (rows * (h + 1) - 1) * k)
            elif kind == "steps":
                steps, hidden = output.steps.shape
                cell.count = hidden
                cell.image_rect = QRect(self.MARGIN, y, min(width, max(hidden * 4, 120)), steps * 3)
            else:
                n = int(np.prod(output.shape))
                size = max(4, min(24, width // max(n, 1)))
                cell.count, cell.columns = n, max(1, width // size)
                cell.image_rect = QRect(self.MARGIN, y, min(n, cell.columns) * size, math.ceil(n / cell.columns) * size)
                if n <= NUMBERED_UNITS and size >= 16:  # a few units (the classes): numbered underneath
                    y += line
            y = cell.image_rect.bottom() + 1 + 10
            self.cells.append(cell)
        self.setMinimumHeight(y)

    def _image(self, cell: LayerCell, output) -> QImage:
        if cell.kind == "steps":
            values = output.steps
        else:
            values = output.values
        finite = np.abs(values[np.isfinite(values)])
        scale = float(finite.max()) if finite.size else 1.0
        cell.title = f"{layer_title(output, self.spec)}  ·  max {scale:.3g}"
        indices = value_indices(values, scale)
        if cell.kind == "maps":
            return indexed_image(mosaic(indices, cell.columns))
        if cell.kind == "steps":
            return indexed_image(indices)
        flat = indices.reshape(-1)
        rows = math.ceil(flat.size / cell.columns)
        strip = np.full(rows * cell.columns, GAP_INDEX, np.uint8)
        strip[:flat.size] = flat
        return indexed_image(strip.reshape(rows, cell.columns) if rows > 1 else flat.reshape(1, -1))

    def map_rect(self, position: int, channel: int) -> QRect:
        """Where feature map ``channel`` of the ``position``-th layer shown is drawn."""
        cell = self.cells[position]
        h, w = cell.shape[1], cell.shape[2]
        row, col = divmod(channel, cell.columns)
        k = cell.scale
        return QRect(cell.image_rect.left() + col * (w + 1) * k, cell.image_rect.top() + row * (h + 1) * k,
                     w * k, h * k)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.outputs and self.width() != (self._laid_out_for or (None,))[0]:
            self.show_outputs(self.outputs, self.spec)
            self.updates -= 1  # a new layout, not new outputs

    def mousePressEvent(self, event) -> None:
        pos = event.position().toPoint()
        for position, cell in enumerate(self.cells):
            if cell.kind == "maps" and cell.image_rect.contains(pos):
                for channel in range(cell.count):
                    if self.map_rect(position, channel).contains(pos):
                        self.selected = (cell.index, channel)
                        self.update()
                        self.map_clicked.emit(cell.index, channel)
                        return
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        for position, cell in enumerate(self.cells):
            title = self.fontMetrics().elidedText(cell.title, Qt.TextElideMode.ElideRight, cell.title_rect.width())
            painter.drawText(cell.title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
            if cell.image is None:
                continue
            painter.drawImage(QRectF(cell.image_rect), cell.image)  # no smoothing: the values' own cells
            if cell.kind == "units" and cell.count <= NUMBERED_UNITS and cell.image_rect.height() >= 16:
                size = cell.image_rect.width() / cell.count
                for unit in range(cell.count):
                    painter.drawText(QRectF(cell.image_rect.left() + unit * size, cell.image_rect.bottom() + 1, size,
                                            self.fontMetrics().height()), Qt.AlignmentFlag.AlignCenter, str(unit))
            if self.selected is not None and self.selected[0] == cell.index and cell.kind == "maps":
                painter.setPen(QPen(theme.color("accent", self), 2))
                painter.drawRect(self.map_rect(position, self.selected[1]).adjusted(-1, -1, 1, 1))
                painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.end()


class ColourLegend(QWidget):
    """value -> colour: the bar from minus the layer's largest magnitude to plus it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(self.fontMetrics().height() * 2 + 14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Each layer is coloured on its own scale: its largest magnitude (written after "
                        "its title) is the end of the bar; zero is black.")

        self._ramp: QImage | None = None  # the colour bar, made once per width (not at each paint)
        self.ramp_builds = 0

    def sizeHint(self) -> QSize:
        return QSize(320, self.minimumHeight())

    def _ramp_image(self, width: int) -> QImage:
        if self._ramp is None or self._ramp.width() != width:
            indices = np.rint(np.linspace(0, 254, width)).astype(np.uint8)
            self._ramp = indexed_image(indices.reshape(1, -1))
            self.ramp_builds += 1
        return self._ramp

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        line = self.fontMetrics().height()
        bar = QRect(6, 2, max(self.width() - 12, 40), 12)
        painter.drawImage(bar, self._ramp_image(bar.width()))  # one row, stretched down
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        labels = QRect(bar.left(), bar.bottom() + 2, bar.width(), line)
        painter.drawText(labels, Qt.AlignmentFlag.AlignLeft, "− largest")
        painter.drawText(labels, Qt.AlignmentFlag.AlignHCenter, "0")
        painter.drawText(labels, Qt.AlignmentFlag.AlignRight, "+ largest")
        painter.setPen(theme.muted(self))
        note = self.fontMetrics().elidedText("Each layer on its own scale: its largest |value| follows its title",
                                             Qt.TextElideMode.ElideRight, bar.width())
        painter.drawText(QRect(bar.left(), labels.bottom() + 1, bar.width(), line), Qt.AlignmentFlag.AlignLeft, note)
        painter.end()


def filter_of(model, spec, index: int, channel: int):
    """The convolution filter that made feature map ``channel`` of layer ``index``: the nearest
    Conv2d at or before it whose output channels the layers in between keep (pooling, activations,
    normalisation). ``(conv index, weights (in, kh, kw))`` or None."""
    from playground.core.shapes import infer_shapes

    rows = infer_shapes(spec).rows
    channels = rows[index].out_shape[0] if len(rows[index].out_shape) == 3 else None
    for i in range(index, -1, -1):
        shape = rows[i].out_shape
        if len(shape) != 3 or shape[0] != channels:
            return None
        if spec.layers[i].type == "Conv2d":
            weight = model[i].weight.detach().numpy()
            return i, np.asarray(weight[channel], np.float32)
    return None


class MapDetail(QWidget):
    """A clicked feature map, enlarged, beside the filter (the convolution's weights) that made it."""

    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.map_image: QImage | None = None
        self.filter_image: QImage | None = None
        self.filter_shape: tuple[int, ...] | None = None
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        close = QToolButton()  # a tool button: small, and not one of the area's push buttons
        close.setText("Close")
        close.setToolTip("Hide the enlarged feature map")
        close.clicked.connect(self.closed)
        self.canvas = QWidget()
        self.canvas.setMinimumHeight(64)
        self.canvas.paintEvent = self._paint_canvas
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.canvas)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # Larger in a wide panel; small in a narrow one, where the layer list below needs the room.
        self.canvas.setFixedHeight(max(64, min(240, self.width() // 3)))

    def show_map(self, values: np.ndarray, caption: str, filters: np.ndarray | None) -> None:
        finite = np.abs(values[np.isfinite(values)])
        scale = float(finite.max()) if finite.size else 1.0
        self.map_image = indexed_image(value_indices(values, scale))
        if filters is not None:
            f_scale = float(np.abs(filters).max())
            columns = max(1, math.ceil(math.sqrt(filters.shape[0])))
            self.filter_image = indexed_image(mosaic(value_indices(filters, f_scale), columns))
            self.filter_shape = tuple(filters.shape)
        else:
            self.filter_image, self.filter_shape = None, None
        self.caption.setText(caption)
        self.canvas.update()

    def _paint_canvas(self, event) -> None:
        painter = QPainter(self.canvas)
        side = min(self.canvas.height() - 4, max(self.canvas.width() // 2 - 16, 40))
        if self.map_image is not None:
            painter.drawImage(QRect(0, 0, side, side), self.map_image)
        if self.filter_image is not None:
            w, h = self.filter_image.width(), self.filter_image.height()
            k = side / max(w, h)
            painter.drawImage(QRectF(side + 24, 0, w * k, h * k), self.filter_image)
        painter.end()


class InsidePanel(QWidget):
    """"Inside the network": the colour legend, a clicked map enlarged with its filter, and every
    layer's output in a scroll area."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None
        self.spec = None
        self.view = ActivationsView()
        self.view.map_clicked.connect(self.show_map)
        self.legend = ColourLegend()
        self.detail = MapDetail()
        self.detail.hide()
        self.detail.closed.connect(self._close_detail)
        self.hint = QLabel("Draw a digit: each layer's output appears here as you draw. Click a feature map "
                           "to enlarge it beside the filter that made it.")
        self.hint.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.view)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setMinimumHeight(100)  # the layer list keeps room beside an enlarged map
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.legend)
        layout.addWidget(self.hint)
        layout.addWidget(self.detail)
        layout.addWidget(self.scroll, 1)

    def set_model(self, model, spec) -> None:
        """A new model (another epoch's weights, another design): an enlarged map stays open, to
        watch it change, and follows at the next outputs if its layer and channel still exist."""
        self.model, self.spec = model, spec

    def show_outputs(self, outputs) -> None:
        self.hint.setVisible(not outputs)
        self.view.show_outputs(outputs, self.spec)
        if self.view.selected is not None and self.detail.isVisible():
            if not self.show_map(*self.view.selected):  # cleared, or that map is gone
                self._close_detail()

    def _close_detail(self) -> None:
        self.view.selected = None
        self.detail.hide()
        self.view.update()

    def show_map(self, index: int, channel: int) -> bool:
        """Enlarge feature map ``channel`` of layer ``index`` beside the filter that made it (False
        if the outputs shown have no such map)."""
        output = next((o for o in self.view.outputs if o.index == index), None)
        if output is None or len(output.shape) != 3 or channel >= output.shape[0]:
            return False
        self.view.selected = (index, channel)
        made = filter_of(self.model, self.spec, index, channel) if self.model is not None else None
        what = self.spec.layers[index].describe() if self.spec is not None else output.type
        caption = f"Layer {index + 1} ({what}), map {channel + 1} of {output.shape[0]}"
        if made is not None:
            conv, weights = made
            shape = "×".join(str(n) for n in weights.shape)
            caption += (f" — right: filter {channel + 1} of layer {conv + 1} (Conv2d), {shape} weights"
                        + (", one square per input channel" if weights.shape[0] > 1 else ""))
        else:
            caption += " — no single filter made it"
        self.detail.show_map(output.values[channel], caption, None if made is None else made[1])
        self.detail.show()
        self.view.update()
        return True


# -- where it puts things ---------------------------------------------------------------------------------

MAP_IMAGES = 2000


def fit_feature_map(model, spec):
    """FeatureMap.fit on the first 2,000 MNIST test images, with a copy of the model (the GUI thread
    keeps using the original). For a worker thread."""
    import copy

    from playground.core.data import load_raw
    from playground.core.explain import FeatureMap

    test = load_raw("mnist")[1]
    images, labels = test.images[:MAP_IMAGES].numpy(), test.labels[:MAP_IMAGES].numpy()
    return FeatureMap.fit(copy.deepcopy(model), spec, images, labels)


class FeatureMapView(QWidget):
    """"Where it puts things": 2,000 test images placed by the network's penultimate layer (its two
    main directions), coloured by digit, and the drawing as a star that moves as you draw. The map
    is fitted in a worker thread when the view is first shown for a model."""

    fitted = Signal()

    def __init__(self, parent=None):
        import pyqtgraph as pg

        super().__init__(parent)
        self.feature_map = None
        self._wanted = None  # (model, spec) the map should be fitted for
        self._fitting_for = None
        self._worker = None
        self.status = QLabel("The map is fitted when you first look at it.")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(False)
        self.plot.getPlotItem().hideAxis("left")
        self.plot.getPlotItem().hideAxis("bottom")
        self.points = pg.ScatterPlotItem(size=5, pen=None)
        self.marker = pg.ScatterPlotItem(size=22, symbol="star", pen=pg.mkPen("k", width=1.5),
                                         brush=pg.mkBrush("#facc15"))
        self.marker.setZValue(10)
        self.plot.addItem(self.points)
        self.plot.addItem(self.marker)
        # The legend as text under the plot: it wraps in a narrow window instead of covering points.
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        self._apply_palette()

    def _apply_palette(self) -> None:
        self.plot.setBackground(self.palette().color(QPalette.ColorRole.Base))
        entries = [f'<span style="color:{colour}">&#9679;</span>&nbsp;{digit}'
                   for digit, colour in enumerate(CLASS_COLOURS)]
        entries.append('<span style="color:#facc15">&#9733;</span>&nbsp;your&nbsp;drawing')
        self.legend.setText("&nbsp;&nbsp; ".join(entries))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "legend"):
            self._apply_palette()

    def set_model(self, model, spec) -> None:
        """The model changed: the map is stale; refitted when shown."""
        self._wanted = None if model is None else (model, spec)
        self.feature_map = None
        self.points.setData([])
        self.marker.setData([])
        self.status.setText("No model." if model is None else "The map is fitted when you look at it.")
        if self.isVisible():
            self.ensure_fitted()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.ensure_fitted()

    def ensure_fitted(self) -> None:
        if self._wanted is None or self.feature_map is not None or self._fitting_for is self._wanted:
            return
        from superqt.utils import create_worker

        wanted = self._fitting_for = self._wanted
        self.status.setText(f"Placing {MAP_IMAGES:,} test images by what the network makes of them…")

        def done(result):
            if self._wanted is wanted:
                self._fitting_for = None
                self._show_map(result)

        def failed(exc):
            if self._wanted is wanted:
                self._fitting_for = None
                self.status.setText(f"Cannot make the map: {exc}")

        self._worker = create_worker(fit_feature_map, *wanted, _start_thread=True,
                                     _connect={"returned": done, "errored": failed})

    def _show_map(self, feature_map) -> None:
        import pyqtgraph as pg

        self.feature_map = feature_map
        brushes = [pg.mkBrush(QColor(CLASS_COLOURS[int(k) % 10])) for k in range(10)]
        self.points.setData(pos=feature_map.points, brush=[brushes[int(k) % 10] for k in feature_map.labels])
        self.status.setText(f"{len(feature_map.points):,} test images, placed by the two main directions of the "
                            f"layer before the last (PCA); the star is your drawing.")
        self.fitted.emit()

    def show_point(self, xy: tuple[float, float] | None) -> None:
        self.marker.setData([] if xy is None else [{"pos": xy}])

    def marker_position(self) -> tuple[float, float] | None:
        x, y = self.marker.getData()
        return (float(x[0]), float(y[0])) if len(x) else None


# -- time travel ----------------------------------------------------------------------------------------


def epoch_list(epochs: list[int]) -> str:
    """``1 to 3, 5 and 7``: increasing epoch numbers, runs of three or more as ranges."""
    runs: list[list[int]] = []
    for e in epochs:
        if runs and e == runs[-1][-1] + 1:
            runs[-1].append(e)
        else:
            runs.append([e])
    parts = [f"{r[0]} to {r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class TimeTravel(QWidget):
    """A slider over a run's epochs: the drawing re-scored with that epoch's weights. Hidden steps
    (no run, or a run with no weights per epoch) show why instead."""

    epoch_chosen = Signal(object)  # an epoch number, or None for the model's own weights

    def __init__(self, parent=None):
        super().__init__(parent)
        self.epochs: list[int] = []
        self.epoch: int | None = None  # the epoch shown, None: the model's own weights
        self._before: int | None = None  # the epoch shown before the last choice (if it fails to load)
        self.note: str | None = None
        self.home: int | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(120)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Time travel: re-score the drawing with the weights of any epoch of this run "
                               "(arrow keys step one epoch)")
        self.slider.valueChanged.connect(self._moved)
        self.label = OneLineLabel()  # one line, cut with "…" to fit (the whole text in its tooltip)
        self.back = QPushButton("Own weights")
        self.back.setToolTip("Back to the weights the model chooser names")
        self.back.clicked.connect(lambda: self.choose(None))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Time travel"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label, 2)
        layout.addWidget(self.back)
        self.set_epochs([], "Choose a run to step through its epochs.")

    def set_epochs(self, epochs: list[int], note: str | None = None, home: int | None = None) -> None:
        """The run's epochs with weights on disk, ``note``: why there are none, or only some, and
        ``home``: the epoch the model's own weights are from, where the slider rests (else the last)."""
        self.epochs, self.epoch, self.note, self.home = list(epochs), None, note, home
        rest = self.epochs.index(home) if home in self.epochs else len(self.epochs) - 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(self.epochs) - 1, 0))
        self.slider.setValue(max(rest, 0))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(self.epochs) > 1)
        self.back.setEnabled(False)
        if len(self.epochs) > 1:
            own = f" (the model's own weights are epoch {home}'s)" if home in self.epochs else ""
            self.label.setText(f"Epochs {epoch_list(self.epochs)} kept{own}: move the slider to see the drawing "
                               f"through an epoch's weights" + (f"; {note}" if note else "."))
        elif note:
            self.label.setText(f"No time travel: {note}.")
        else:
            self.label.setText("No time travel: this run kept no weights per epoch.")

    def _moved(self, value: int) -> None:
        if self.epochs:
            self.choose(self.epochs[value])

    def choose(self, epoch: int | None) -> None:
        self._before = self.epoch
        self._show_chosen(epoch)
        self.epoch_chosen.emit(epoch)

    def _show_chosen(self, epoch: int | None) -> None:
        self.epoch = epoch
        self.back.setEnabled(epoch is not None)
        if epoch is None:
            self.set_epochs(self.epochs, self.note, self.home)
            return
        contiguous = self.epochs == list(range(1, self.epochs[-1] + 1))
        kept = f"of {self.epochs[-1]}" if contiguous else f"(kept: {epoch_list(self.epochs)})"
        self.label.setText(f"Epoch {epoch} {kept}: the weights as they were after it")
        if self.slider.value() != self.epochs.index(epoch):
            self.slider.blockSignals(True)
            self.slider.setValue(self.epochs.index(epoch))
            self.slider.blockSignals(False)

    def failed(self, message: str) -> None:
        """The epoch just chosen could not be loaded: back to the one shown before, saying why."""
        self._show_chosen(self._before if self._before in self.epochs else None)
        self.label.setText(message)

