"""Live training curves with pyqtgraph.

Each run's curves live in numpy buffers that double when full (as pyqtgraph's scrolling-plot example
does). The training curves are ``LiveCurve`` items, which append new points and repaint only the
strip where they grew, since the window redraws them about 12 times a second beside a training that
needs both cores; the validation curves (one point an epoch, with symbols) are ``PlotDataItem``s.
Runs chosen for comparison are drawn as dashed overlays.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QVBoxLayout, QWidget

from playground.ui import theme

pg.setConfigOptions(antialias=True)  # background and text follow the widget's palette

# The curves' colours on a light background, and on a dark one; the raw loss is the smoothed
# loss's colour faded towards the background.
COLOURS = {"train": "#2563eb", "val": "#dc2626", "train_acc": "#2563eb", "val_acc": "#dc2626"}
DARK_COLOURS = {"train": "#60a5fa", "val": "#f87171", "train_acc": "#60a5fa", "val_acc": "#f87171"}
RAW_FADE = 0.6  # share of the background in the raw loss's colour
# Room above and below the curves' range, so that a new point's repaint stays clear of the axes.
Y_PADDING = 0.05
OVERLAY_COLOURS = ["#059669", "#7c3aed", "#d97706", "#db2777", "#0891b2", "#65a30d"]


class CurveBuffer:
    """x and y values in numpy arrays that grow by doubling."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty(len(self.x))])
            self.y = np.concatenate([self.y, np.empty(len(self.y))])
        self.x[self.n] = x
        self.y[self.n] = y
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], self.y[: self.n]


# The smoothed curves' time constant, as a share of the run's length: smoothing over a count of
# points instead would lag by more of the run the faster the machine trains (fewer points an epoch).
SMOOTHING = 0.03


class Smoother:
    """An exponential moving average of values at increasing x, with time constant ``tau`` in x,
    debiased (as TensorBoard's and Adam's are): it divides by the total weight given so far, so early
    in a run it is the recency-weighted mean of the values seen, not pulled towards the first one."""

    def __init__(self):
        self.value: float | None = None
        self.x = 0.0
        self._sum = 0.0
        self._weight = 0.0

    def add(self, x: float, value: float, tau: float) -> float:
        keep = math.exp(-max(x - self.x, 0.0) / tau)
        self._sum = keep * self._sum + (1.0 - keep) * value
        self._weight = keep * self._weight + (1.0 - keep)
        self.x = x
        if self._weight > 0.0:
            self.value = self._sum / self._weight
        elif self.value is None:  # a first point at x = 0 carries no weight yet
            self.value = value
        return self.value


class CurveBuilder:
    """A run's curves from its events, as they come or read back from its metrics log."""

    def __init__(self):
        self.curves = {k: CurveBuffer() for k in ("train_raw", "train", "val", "train_acc", "val_acc")}
        self._loss, self._acc = Smoother(), Smoother()

    def add(self, e: dict) -> bool:
        """Add an event's points; whether it had any."""
        kind, curves = e.get("type"), self.curves
        if kind == "progress":
            x = e["step"] / e["steps_per_epoch"]
            tau = SMOOTHING * max(e["total_steps"] / e["steps_per_epoch"], 1e-6)  # the run's epochs
            loss = e["train_loss"]
            # A diverged run's last loss may be inf or NaN: left out, so the curve up to it stays.
            if math.isfinite(loss):
                curves["train_raw"].append(x, loss)
                curves["train"].append(x, self._loss.add(x, loss, tau))
            curves["train_acc"].append(x, self._acc.add(x, e["train_accuracy"], tau))
            return True
        if kind == "epoch" and e.get("val_loss") is not None and math.isfinite(e["val_loss"]):
            curves["val"].append(e["epoch"], e["val_loss"])
            curves["val_acc"].append(e["epoch"], e["val_accuracy"])
            return True
        return False


def curves_from_events(events: list[dict]) -> dict[str, CurveBuffer]:
    """The curves of a run read back from its events."""
    builder = CurveBuilder()
    for e in events:
        builder.add(e)
    return builder.curves


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points that keep the curve's look: each block of samples becomes
    its minimum and its maximum, in order (pyqtgraph's "peak" downsampling)."""
    n = len(x)
    if n <= max_points:
        return x, y
    k = int(np.ceil(2 * n / max_points))
    m = n // k
    blocks = y[: m * k].reshape(m, k)
    lo, hi = blocks.argmin(axis=1), blocks.argmax(axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    base = np.arange(m) * k
    index = np.empty(2 * m, dtype=np.intp)
    index[0::2], index[1::2] = base + first, base + second
    index = np.concatenate([index, np.arange(m * k, n)])  # the newest points as they are
    return x[index], y[index]


class LiveCurve(pg.GraphicsObject):
    """A curve that grows point by point and repaints only where it grew.

    pyqtgraph's curve items rebuild their path and repaint their whole bounding rectangle (most of
    the plot, axes and legend included) on every ``setData``. This item appends the new points and
    marks only the rectangle around the newest segment dirty, so a redraw during training paints a
    few hundred pixels instead of the plot, never the axes; its bounding rectangle is the plot's
    visible area, so new points never change its geometry (which would repaint all of it). The
    points are kept in sub-paths of ``CHUNK`` segments, and a repaint strokes only the sub-paths
    that reach the repainted area: Qt strokes a whole path before clipping it, so one long path
    would cost milliseconds a redraw. Beyond ``max_points`` the curve is rebuilt from decimated
    data (min and max per block), so long runs stay cheap to draw.
    """

    CHUNK = 32  # segments per sub-path

    def __init__(self, pen: QPen, name: str, max_points: int = 2000):
        super().__init__()
        self.opts = {"pen": pen, "name": name, "antialias": True, "symbol": None}  # read by legend samples
        self.pen = QPen(pen)
        self.pen.setCosmetic(True)
        # Round joins and caps: sub-paths that meet at a point then cover exactly what one path would.
        self.pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.max_points = max_points
        self.points = 0  # points in the curve
        self.stroked = 0  # sub-paths stroked by the last paint
        self._chunks: list[QPainterPath] = []  # each starts at the last point of the one before
        self._buffer: CurveBuffer | None = None  # the buffer drawn
        self._drawn = 0  # its points drawn
        self._bounds: tuple[float, float, float, float] | None = None  # x min, x max, y min, y max
        self._area: QRectF | None = None  # the plot's visible area in data coordinates; None outside a plot
        self._area_stale = True
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint() gets the exposed rectangle

    def name(self) -> str:
        return self.opts["name"]

    def set_pen(self, pen: QPen) -> None:
        self.opts["pen"] = pen
        self.pen.setColor(pen.color())
        self.update()

    def boundingRect(self) -> QRectF:
        # In a plot, the plot's visible area: it changes only with the plot's range, which repaints
        # the plot anyway, so new points never change the item's geometry (a change repaints all
        # the item covered, axes included). Outside a plot, the data's bounds.
        area = self._plot_area()
        if area is not None:
            return area
        if self._bounds is None:
            return QRectF()
        x0, x1, y0, y1 = self._bounds
        return QRectF(x0, y0, x1 - x0, y1 - y0)

    def viewRangeChanged(self) -> None:
        """pyqtgraph calls this when the plot's range changes or the item joins a plot; the plot's
        transform may follow only later (``viewTransformChanged``), so the area is read when next
        needed."""
        self.prepareGeometryChange()
        self._area_stale = True

    def viewTransformChanged(self) -> None:
        super().viewTransformChanged()  # forgets pyqtgraph's cached viewRect()
        self.viewRangeChanged()

    def _plot_area(self) -> QRectF | None:
        if self._area_stale:
            self._area = self.viewRect()
            self._area_stale = False
        return self._area

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        if self._bounds is None:
            return None, None
        return self._bounds[:2] if ax == 0 else self._bounds[2:]

    def paint(self, painter: QPainter, option, widget=None) -> None:
        self.stroked = 0
        if not self._chunks:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(self.pen)
        t = painter.transform()  # item to device: the plots only scale and translate
        if t.m11() == 0 or t.m22() == 0:
            return
        pad = self.pen.widthF() / 2 + 2  # pixels: half the pen and the antialiased edge, with margin
        px, py = pad / abs(t.m11()), pad / abs(t.m22())
        exposed = option.exposedRect.adjusted(-px, -py, px, py)
        for chunk in self._chunks:
            r = chunk.controlPointRect()
            if (r.right() >= exposed.left() and r.left() <= exposed.right() and r.bottom() >= exposed.top()
                    and r.top() <= exposed.bottom()):
                painter.drawPath(chunk)
                self.stroked += 1

    def getData(self) -> tuple[np.ndarray, np.ndarray]:
        """The points drawn (after any decimation)."""
        x, y = [], []
        for i, chunk in enumerate(self._chunks):
            for j in range(1 if i else 0, chunk.elementCount()):  # a chunk repeats the point before it
                e = chunk.elementAt(j)
                x.append(e.x)
                y.append(e.y)
        return np.array(x), np.array(y)

    def show_buffer(self, buffer: CurveBuffer) -> None:
        """Draw ``buffer``: appending its new points when it is the buffer drawn last, else anew."""
        n, drawn = buffer.n, self._drawn
        if buffer is self._buffer and n == drawn:
            return
        x, y = buffer.data()
        if buffer is not self._buffer or n < drawn or self.points + n - drawn > self.max_points:
            self._rebuild(*decimate(x, y, self.max_points // 2))
        else:
            self._append(x[drawn:], y[drawn:])
        self._buffer, self._drawn = buffer, n

    def _rebuild(self, x: np.ndarray, y: np.ndarray) -> None:
        self._chunks = []
        self.points = 0
        self._bounds = None
        self._append(x, y, repaint=False)
        if self._plot_area() is None:
            self.prepareGeometryChange()
        self.update()

    def _append(self, x: np.ndarray, y: np.ndarray, repaint: bool = True) -> None:
        if len(x) == 0:
            return
        chunk = self._chunks[-1] if self._chunks else None
        last = chunk.currentPosition() if chunk is not None else None  # where the new segment starts
        xs, ys = x.tolist(), y.tolist()
        for xi, yi in zip(xs, ys):
            if chunk is None:
                chunk = QPainterPath(QPointF(xi, yi))
                self._chunks.append(chunk)
            elif chunk.elementCount() > self.CHUNK:
                chunk = QPainterPath(chunk.currentPosition())
                chunk.lineTo(xi, yi)
                self._chunks.append(chunk)
            else:
                chunk.lineTo(xi, yi)
        self.points += len(xs)
        new = (min(xs), max(xs), min(ys), max(ys))  # a few points: cheaper than numpy's reductions
        b = self._bounds
        self._bounds = new if b is None else (min(b[0], new[0]), max(b[1], new[1]), min(b[2], new[2]),
                                              max(b[3], new[3]))
        if not repaint:
            return
        area = self._plot_area()
        if area is None:  # not in a plot: the bounds may have grown
            self.prepareGeometryChange()
            self.update()
            return
        # Repaint from the previous last point to the new points, with the pen's reach around them,
        # within the plot (what lies beyond, axes included, does not change).
        x0, x1, y0, y1 = new
        if last is not None:
            x0, x1, y0, y1 = min(x0, last.x()), max(x1, last.x()), min(y0, last.y()), max(y1, last.y())
        ux, uy = self._pixel_size()  # one pixel in data units
        pad = self.pen.widthF() + 3  # pixels: half the pen, antialiasing and the round cap, with margin
        strip = QRectF(x0 - pad * ux, y0 - pad * uy, x1 - x0 + 2 * pad * ux, y1 - y0 + 2 * pad * uy)
        # Qt repaints an item whose rectangle comes within 2 pixels of a repaint: keep clear of the axes.
        strip = strip.intersected(area.adjusted(2 * ux, 2 * uy, -2 * ux, -2 * uy))
        if not strip.isEmpty():
            self.update(strip)

    def _pixel_size(self) -> tuple[float, float]:
        """One screen pixel's width and height in data units (0 when not on screen). The plots only
        scale and translate, so one device transform gives both (pyqtgraph's pixelWidth and
        pixelHeight each invert one)."""
        t = self.deviceTransform_()
        if t is None or t.m11() == 0 or t.m22() == 0:
            return 0.0, 0.0
        return 1.0 / abs(t.m11()), 1.0 / abs(t.m22())


class TrainingPlots(QWidget):
    """Loss (raw and smoothed training loss, validation loss) and accuracy against epochs.

    Both plots share one graphics view, and the live curves are ``LiveCurve``s, which repaint only
    where they grew: the window redraws them about 12 times a second while training runs beside it,
    so each redraw must cost the CPU as little as possible.
    """

    MAX_POINTS = 2000  # per curve on screen; more are decimated (a plot is about 1,000 px wide)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = pg.GraphicsLayoutWidget()
        layout.addWidget(self.view)
        self.loss_plot = self.view.addPlot(row=0, col=0)
        self.acc_plot = self.view.addPlot(row=1, col=0)
        self._set_up_plots()
        self.items: dict[str, pg.GraphicsObject] = {}
        self._make_curves()
        self.curves = curves_from_events([])
        self._drawn: dict[str, tuple[int, int]] = {}
        self._overlays: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []
        self.redraws = 0
        self._apply_palette()

    def _set_up_plots(self) -> None:
        # Each legend sits in the corner its curves leave first: losses fall, accuracies rise.
        for plot, ylabel, corner in ((self.loss_plot, "loss", (-10, 10)), (self.acc_plot, "accuracy", (-10, -10))):
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            # What a new point's repaint may touch is the curves alone: no grid (with one, each axis
            # covers the plot and is repainted, text and all, with every point),
            # ticks pointing out of the plot rather than into it, legends out of the curves' way.
            plot.showGrid(x=False, y=False)
            for side in ("left", "bottom"):
                plot.getAxis(side).setStyle(tickLength=5)
            # One width for both y axes: the plots' epochs line up, and new tick labels (the loss
            # axis grows) do not re-lay out the plots.
            plot.getAxis("left").setWidth(56)
            plot.addLegend(offset=corner)
            plot.setFlag(plot.GraphicsItemFlag.ItemHasNoContents)  # a container: nothing of its own to paint
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
        self.acc_plot.setXLink(self.loss_plot)
        # Fixed ranges, changed only when the data outgrow them: an auto-ranged axis is repainted on
        # every redraw, and painting axes was half of the GUI thread's time during training.
        for plot in (self.loss_plot, self.acc_plot):
            plot.disableAutoRange()
        self.acc_plot.setYRange(0, 1, padding=Y_PADDING)
        self.x_max = 1.0
        self.loss_max = 1.0
        self.set_x_range(1)
        self.loss_plot.setYRange(0, self.loss_max, padding=Y_PADDING)

    _STYLES = {  # key: (plot, legend name, pen width, symbol)
        "train_raw": ("loss_plot", "training loss (raw)", 1, None),
        "train": ("loss_plot", "training loss (smoothed)", 2, None),
        "val": ("loss_plot", "validation loss", 2, "o"),
        "train_acc": ("acc_plot", "training accuracy", 2, None),
        "val_acc": ("acc_plot", "validation accuracy", 2, "o"),
    }

    def _make_curves(self) -> None:
        for key, (plot_name, name, width, symbol) in self._STYLES.items():
            plot, pen = getattr(self, plot_name), pg.mkPen(self.colour(key), width=width)
            if symbol:  # one point an epoch: a PlotDataItem for its symbols
                item = plot.plot([], [], pen=pen, name=name, symbol=symbol, symbolSize=6, symbolBrush=pen.color())
            else:  # many points, redrawn often
                item = LiveCurve(pen, name, self.MAX_POINTS)
                plot.addItem(item)
                plot.legend.addItem(item, name)
            self.items[key] = item

    def colour(self, key: str) -> QColor:
        """A curve's colour for this widget's palette (light or dark)."""
        dark = theme.is_dark(self)
        if key == "train_raw":
            line, back = self.colour("train"), self.palette().color(QPalette.ColorRole.Base)
            mix = RAW_FADE
            return QColor.fromRgbF(*(mix * b + (1 - mix) * a for a, b in zip(line.getRgbF()[:3], back.getRgbF()[:3])))
        return QColor((DARK_COLOURS if dark else COLOURS)[key])

    def _apply_palette(self) -> None:
        """Background, axes, titles, legends and curves in this widget's palette's colours."""
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        for plot, title in ((self.loss_plot, "Loss"), (self.acc_plot, "Accuracy")):
            plot.setTitle(title, color=text)
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
                axis.setLabel(axis.labelText, color=text.name())
            plot.legend.setLabelTextColor(text)  # for labels to come; those there are drawn again
            for _, label in plot.legend.items:
                label.setText(label.text, color=text)
        for key, item in self.items.items():
            pen = QPen(item.opts["pen"])
            pen.setColor(self.colour(key))
            if isinstance(item, LiveCurve):
                item.set_pen(pen)
            else:
                item.setPen(pen)
                item.setSymbolBrush(pen.color())
                # The legend draws its sample with the symbols' item, which gets its colours only with
                # data: without this the sample stays grey (new points no longer repaint the legend).
                item.scatter.setBrush(pen.color())
                item.scatter.setPen(item.opts["symbolPen"])

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def set_x_range(self, epochs: float) -> None:
        self.x_max = max(float(epochs), 1e-3)
        self.loss_plot.setXRange(0, self.x_max, padding=0.01)

    def show_curves(self, curves: dict[str, CurveBuffer], epochs: float | None = None) -> None:
        self.curves = curves
        if epochs is None:
            x, _ = curves["train"].data()
            epochs = max(1.0, float(x.max())) if len(x) else 1.0
        self.set_x_range(epochs)
        self.loss_max = 1.0
        self.redraw()

    def redraw(self) -> None:
        for key, item in self.items.items():
            buffer = self.curves[key]
            if self._drawn.get(key) == (id(buffer), buffer.n):
                continue  # unchanged since the last redraw (validation curves change once an epoch)
            self._drawn[key] = (id(buffer), buffer.n)
            if isinstance(item, LiveCurve):
                item.show_buffer(buffer)
            else:
                item.setData(*buffer.data())
        # Grow the loss axis only when the loss outgrows it (by doubling, so rarely).
        tops = [float(self.curves[k].data()[1].max()) for k in ("train_raw", "val") if self.curves[k].n]
        top = max(tops, default=1.0)
        if top > self.loss_max or (top < self.loss_max / 4 and self.loss_max > 1.0):
            while top > self.loss_max:
                self.loss_max *= 2
            while top < self.loss_max / 4 and self.loss_max > 1.0:
                self.loss_max /= 2
            self.loss_plot.setYRange(0, self.loss_max, padding=Y_PADDING)
        self.redraws += 1

    def point_count(self, key: str) -> int:
        return self.curves[key].n

    def set_overlays(self, runs: list[tuple[str, dict[str, CurveBuffer]]]) -> None:
        """Draw other runs' smoothed training loss and validation accuracy, dashed, to compare."""
        for plot, item in self._overlays:
            plot.removeItem(item)
        self._overlays = []
        for i, (label, curves) in enumerate(runs):
            colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
            pen = pg.mkPen(colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
            for plot, key, what in ((self.loss_plot, "train", "loss"), (self.acc_plot, "val_acc", "val. acc.")):
                x, y = curves[key].data()
                item = plot.plot(x, y, pen=pen, name=f"{label} ({what})",
                                 symbol="o" if key == "val_acc" else None, symbolSize=5, symbolBrush=colour)
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                self._overlays.append((plot, item))
