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
from PySide6.QtCore import QEvent, QPointF, QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QCheckBox, QSizePolicy, QVBoxLayout, QWidget

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
# The loss plot turns to a log scale by itself once a run's loss passes this many times its first value.
EXPLOSION = 100.0
AXIS_WIDTH = 56  # pixels, of both y axes: tick labels are kept short enough to fit beside the axis' label
LOG_FLOOR = 1e-8  # a loss of 0 (or below, which cannot happen) is drawn at this value on a log scale
LOG_SCALE_KEY = "plots/loss_log_scale"  # "on" or "off" once the user chose; absent: automatic


def compact(value: float) -> str:
    """A short tick label for a value: 300000 as 3e5, 0.00002 as 2e-5, 250 as 250."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


class LossAxis(pg.AxisItem):
    """A y axis whose tick labels stay short (3e5, not 300000), so that they fit beside the axis'
    label; in log mode the data are log10 of the values and the ticks show the values."""

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            return [compact(10.0 ** v) for v in values]
        strings = super().tickStrings(values, scale, spacing)
        return [compact(v * scale) if v and not 1e-3 <= abs(v * scale) < 1e4 else text
                for v, text in zip(values, strings)]


class OutsideLegend(pg.LegendItem):
    """A legend laid out in its own row of the graphics layout, above its plot, so that it never
    covers a curve: it takes the size its entries need and cannot be dragged onto the plot."""

    def __init__(self):
        super().__init__(colCount=3, horSpacing=12)
        self.layout.setContentsMargins(AXIS_WIDTH, 4, 0, 0)  # starts where the plot's data do
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def updateSize(self) -> None:
        self.updateGeometry()  # the layout places it; pyqtgraph's own moves it to the corner

    def mouseDragEvent(self, ev) -> None:
        ev.ignore()


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
    """A run's curves from its events, as they come or read back from its metrics log; ``offset``:
    the epochs before its first (those of the run it continues)."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset
        self.curves = {k: CurveBuffer() for k in ("train_raw", "train", "val", "train_acc", "val_acc")}
        self._loss, self._acc = Smoother(), Smoother()

    def add(self, e: dict) -> bool:
        """Add an event's points; whether it had any."""
        kind, curves = e.get("type"), self.curves
        if kind == "progress":
            own = e["step"] / e["steps_per_epoch"]  # the run's own epochs, for the smoothing
            x = self.offset + own
            tau = SMOOTHING * max(e["total_steps"] / e["steps_per_epoch"], 1e-6)  # the run's epochs
            loss = e["train_loss"]
            # A diverged run's last loss may be inf or NaN: left out, so the curve up to it stays.
            if math.isfinite(loss):
                curves["train_raw"].append(x, loss)
                curves["train"].append(x, self._loss.add(own, loss, tau))
            curves["train_acc"].append(x, self._acc.add(own, e["train_accuracy"], tau))
            return True
        if kind == "epoch" and e.get("val_loss") is not None and math.isfinite(e["val_loss"]):
            curves["val"].append(self.offset + e["epoch"], e["val_loss"])
            curves["val_acc"].append(self.offset + e["epoch"], e["val_accuracy"])
            return True
        return False


def curves_from_events(events: list[dict], offset: float = 0.0) -> dict[str, CurveBuffer]:
    """The curves of a run read back from its events (``offset``: see :class:`CurveBuilder`)."""
    builder = CurveBuilder(offset)
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


def log_values(y: np.ndarray) -> np.ndarray:
    """log10 of positive values (a loss), with 0 at ``LOG_FLOOR``."""
    return np.log10(np.maximum(y, LOG_FLOOR))


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
        self.log = False  # whether it draws log10 of its buffer's values
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

    def set_log(self, log: bool) -> None:
        """Draw log10 of the values (``log``) or the values, redrawing the curve if that changes."""
        if log == self.log:
            return
        self.log, buffer = log, self._buffer
        self._buffer = None
        if buffer is not None:
            self.show_buffer(buffer)

    def show_buffer(self, buffer: CurveBuffer) -> None:
        """Draw ``buffer``: appending its new points when it is the buffer drawn last, else anew."""
        n, drawn = buffer.n, self._drawn
        if buffer is self._buffer and n == drawn:
            return
        x, y = buffer.data()
        if buffer is not self._buffer or n < drawn or self.points + n - drawn > self.max_points:
            self._rebuild(*decimate(x, log_values(y) if self.log else y, self.max_points // 2))
        else:
            new = y[drawn:]
            self._append(x[drawn:], log_values(new) if self.log else new)
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
    so each redraw must cost the CPU as little as possible. Each plot's legend sits in a row of its
    own above it, never over a curve. The loss plot has a log scale, which it turns on by itself
    when a run's loss explodes unless the user turned it off.
    """

    MAX_POINTS = 2000  # per curve on screen; more are decimated (a plot is about 1,000 px wide)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.view = pg.GraphicsLayoutWidget()
        layout.addWidget(self.view)
        self._make_log_box()
        self.loss_plot, self.acc_plot = self._add_plot(0, LossAxis("left")), self._add_plot(2, None)
        self._set_up_plots()
        self.items: dict[str, pg.GraphicsObject] = {}
        self._make_curves()
        self.curves = curves_from_events([])
        self._drawn: dict[str, tuple[int, int]] = {}
        self._overlays: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []
        self._overlay_runs: list[tuple[str, dict[str, CurveBuffer]]] = []
        self.main_label = ""  # the run of the main curves, named in their legend entries
        self._main_epochs = 1.0
        self.redraws = 0
        self._apply_palette()

    def _make_log_box(self) -> None:
        """The "Log scale" check box, at the right end of the loss legend's row (over the view, where
        the legend, aligned with the plot's left edge, leaves room)."""
        chosen = QSettings().value(LOG_SCALE_KEY, "")
        self.user_log: bool | None = {"on": True, "off": False}.get(str(chosen))  # None: automatic
        self.log = bool(self.user_log)
        self.log_box = QCheckBox("Log scale", self)
        self.log_box.setChecked(self.log)
        self.log_box.setToolTip(
            "Show the loss on a logarithmic scale (the ticks show the loss itself): a loss that explodes "
            f"no longer flattens the rest of the curve. Turns on by itself when a run's loss passes {EXPLOSION:g}x "
            "its first value, unless you turned it off here.")
        self.log_box.clicked.connect(self._log_box_clicked)  # the user's clicks only, not setChecked
        self.log_box.adjustSize()
        self.log_box.raise_()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        box, view = self.log_box, self.view.geometry()
        box.move(view.right() - box.width() - 8, view.top() + 20 - box.height() // 2)  # the legend row's middle
        self._fit_legends()

    def _fit_legends(self) -> None:
        """As many legend columns as fit in the width (beside the check box for the loss legend)."""
        for legend, room in ((self.loss_plot.legend, self.view.width() - self.log_box.width() - 24),
                             (self.acc_plot.legend, self.view.width() - 16)):
            for columns in (3, 2, 1):
                legend.setColumnCount(columns)
                if legend.effectiveSizeHint(Qt.SizeHint.PreferredSize).width() <= room:
                    break

    def _add_plot(self, row: int, left_axis: pg.AxisItem | None) -> pg.PlotItem:
        """A plot in ``row + 1`` of the view, with its legend in ``row``, above the data."""
        legend = OutsideLegend()
        self.view.addItem(legend, row=row, col=0)
        plot = self.view.addPlot(row=row + 1, col=0, axisItems={"left": left_axis} if left_axis else None)
        plot.legend = legend  # curves added with a name join it; removed ones leave it
        layout = self.view.ci.layout
        layout.setAlignment(legend, Qt.AlignmentFlag.AlignLeft)
        layout.setRowStretchFactor(row, 0)
        layout.setRowStretchFactor(row + 1, 1)
        return plot

    def _set_up_plots(self) -> None:
        for plot, ylabel in ((self.loss_plot, "loss"), (self.acc_plot, "accuracy")):
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            # What a new point's repaint may touch is the curves alone: no grid (with one, each axis
            # covers the plot and is repainted, text and all, with every point),
            # ticks pointing out of the plot rather than into it.
            plot.showGrid(x=False, y=False)
            for side in ("left", "bottom"):
                plot.getAxis(side).setStyle(tickLength=5)
            # One width for both y axes: the plots' epochs line up, and new tick labels (the loss
            # axis grows) do not re-lay out the plots. Tick labels are short enough to fit (3e5).
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.setFlag(plot.GraphicsItemFlag.ItemHasNoContents)  # a container: nothing of its own to paint
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)  # its "Log Y" and the like would transform data LiveCurve keeps
        self.acc_plot.setXLink(self.loss_plot)
        # Fixed ranges, changed only when the data outgrow them: an auto-ranged axis is repainted on
        # every redraw, and painting axes was half of the GUI thread's time during training.
        for plot in (self.loss_plot, self.acc_plot):
            plot.disableAutoRange()
        self.acc_plot.setYRange(0, 1, padding=Y_PADDING)
        self.x_max = 1.0
        self.loss_range: tuple[float, float] | None = None  # None: set by the next points
        self.set_x_range(1)
        self.loss_plot.setYRange(0, 1, padding=Y_PADDING)

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
        # The check box sits on the plots' background (Base), where a box filled with Base would vanish.
        box = QPalette(palette)
        box.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Button))
        self.log_box.setPalette(box)
        for plot in (self.loss_plot, self.acc_plot):
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

    def _fit_x_range(self) -> None:
        """The epochs axis to the longest run shown (the main one's planned epochs, or any overlay's)."""
        ends = [float(curves["train"].data()[0].max()) for _, curves in self._overlay_runs if curves["train"].n]
        self.set_x_range(max([self._main_epochs, *ends]))

    def show_curves(self, curves: dict[str, CurveBuffer], epochs: float | None = None,
                    label: str | None = None) -> None:
        """Show ``curves`` as the main ones, up to ``epochs`` (by default their last point's); ``label``:
        the run they are of, for the legend (by default the one shown before)."""
        self.curves = curves
        if epochs is None:
            x, _ = curves["train"].data()
            epochs = max(1.0, float(x.max())) if len(x) else 1.0
        self._main_epochs = float(epochs)
        self._fit_x_range()
        if label is not None:
            self.set_main_label(label)
        self._set_log(self.user_log if self.user_log is not None else self._exploded())
        self.loss_range = None
        self.redraw()

    def set_main_label(self, label: str) -> None:
        """Name the run of the main curves once in each plot's legend, in its first entry ("label: training
        loss (raw)"), so that the legend stays short and still says which run the solid curves are."""
        self.main_label = label
        named: set[str] = set()
        for key, (plot_name, name, _, _) in self._STYLES.items():
            item = self.items[key]
            for sample, text in getattr(self, plot_name).legend.items:
                if sample.item is item:
                    first = plot_name not in named
                    named.add(plot_name)
                    text.setText(f"{label}: {name}" if label and first else name)
        self._fit_legends()

    def redraw(self) -> None:
        if self.user_log is None and not self.log and self._exploded():
            self._set_log(True)
        for key, item in self.items.items():
            buffer = self.curves[key]
            if self._drawn.get(key) == (id(buffer), buffer.n):
                continue  # unchanged since the last redraw (validation curves change once an epoch)
            self._drawn[key] = (id(buffer), buffer.n)
            if isinstance(item, LiveCurve):
                item.show_buffer(buffer)
            elif key == "val" and self.log:
                x, y = buffer.data()
                item.setData(x, log_values(y))
            else:
                item.setData(*buffer.data())
        self._fit_loss_range()
        self.redraws += 1

    def _fit_loss_range(self) -> None:
        """Grow the loss axis only when the loss outgrows it (by doubling, or by whole decades on a
        log scale, so rarely); on a linear scale, shrink it when the loss falls below a quarter."""
        ys = [self.curves[k].data()[1] for k in ("train_raw", "val") if self.curves[k].n]
        ys += [curves["train"].data()[1] for _, curves in self._overlay_runs if curves["train"].n]
        if not ys:
            if self.loss_range is None:  # nothing to show: 1 to 10 on a log scale, 0 to 1 on a linear one
                self.loss_range = (0.0, 1.0)
                self.loss_plot.setYRange(0, 1, padding=Y_PADDING)
            return
        low, high = min(float(y.min()) for y in ys), max(float(y.max()) for y in ys)
        if self.log:
            bottom, top = self.loss_range or (math.inf, -math.inf)
            low, high = math.log10(max(low, LOG_FLOOR)), math.log10(max(high, LOG_FLOOR))
            if bottom <= low and high <= top:
                return
            bottom, top = math.floor(min(low, bottom)), math.ceil(max(high, top))
            top = max(top, bottom + 1)
        else:
            bottom, top = self.loss_range or (0.0, 1.0)
            if self.loss_range is not None and high <= top and not (high < top / 4 and top > 1.0):
                return
            while high > top:
                top *= 2
            while high < top / 4 and top > 1.0:
                top /= 2
        self.loss_range = (bottom, top)
        self.loss_plot.setYRange(bottom, top, padding=Y_PADDING)

    def _exploded(self) -> bool:
        """Whether the run's loss has passed ``EXPLOSION`` times its first value."""
        buffer = self.curves["train_raw"]
        if buffer.n < 2:
            return False
        y = buffer.data()[1]
        return float(y.max()) > EXPLOSION * max(float(y[0]), LOG_FLOOR)

    def _log_box_clicked(self, checked: bool) -> None:
        self.user_log = checked
        QSettings().setValue(LOG_SCALE_KEY, "on" if checked else "off")
        self._set_log(checked)
        self.redraw()

    def _set_log(self, log: bool) -> None:
        """Show the loss plot on a log scale or a linear one (its curves redrawn if that changes)."""
        self.log_box.setChecked(log)
        if log == self.log:
            return
        self.log = log
        self.loss_plot.getAxis("left").setLogMode(False, log)
        for key in ("train_raw", "train"):
            self.items[key].set_log(log)
        self._drawn.pop("val", None)
        self.loss_range = None
        self.set_overlays(self._overlay_runs)

    def point_count(self, key: str) -> int:
        return self.curves[key].n

    def set_overlays(self, runs: list[tuple[str, dict[str, CurveBuffer]]]) -> None:
        """Draw other runs' smoothed training loss and validation accuracy, dashed, to compare."""
        for plot, item in self._overlays:
            plot.removeItem(item)
        self._overlays = []
        self._overlay_runs = list(runs)
        for i, (label, curves) in enumerate(runs):
            colour = OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)]
            pen = pg.mkPen(colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
            for plot, key, what in ((self.loss_plot, "train", "loss"), (self.acc_plot, "val_acc", "val. acc.")):
                x, y = curves[key].data()
                if plot is self.loss_plot and self.log:
                    y = log_values(y)
                item = plot.plot(x, y, pen=pen, name=f"{label} ({what})",
                                 symbol="o" if key == "val_acc" else None, symbolSize=5, symbolBrush=colour)
                item.setDownsampling(auto=True, method="peak")
                item.setClipToView(True)
                self._overlays.append((plot, item))
        self._fit_legends()
        self._fit_x_range()
        self.loss_range = None
        self._fit_loss_range()
