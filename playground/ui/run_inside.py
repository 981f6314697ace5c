"""Inside a run: what its first layer learned, how its weights and gradients changed over training,
and what the Evaluate gallery's images made it look at.

The Train area shows the first two as pages beside the curves, for the run chosen in its list:
:class:`LearnedPage` (the first layer's filters, or its weights as 28x28 templates, read from the
run's last weights file, again at each epoch's end while it trains) and :class:`HistogramsPage`
(TensorBoard-style heatmaps of the "histograms" events, with vanishing, exploding or dead gradients
named in words). :class:`GallerySaliency` paints each gallery icon over with its saliency for the
predicted class, a few images at a time so that the window never stalls. The computation is the
core's (``core/explain.py``, ``core/histograms.py``); these widgets only show it.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QLinearGradient, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from playground.core.runs import RunRecord
from playground.core.text import counted
from playground.ui import theme

MAX_FILTERS = 64  # filters or templates shown; a Linear layer of 512 units shows its first 64
# The diverging colours of weights: negative and positive, on a light and on a dark background;
# zero is the background (Base) colour, so that a filter's pattern is what stands out.
NEGATIVE = ("#1d4ed8", "#60a5fa")
POSITIVE = ("#dc2626", "#f87171")
HEATMAP_ROW_HEIGHT = 170  # pixels of one layer's heatmaps
SALIENCY_BUDGET = 0.03  # seconds of saliency work per turn of the event loop
ICON_SCALE = 2  # gallery icons are 56x56 for 28x28 images


# -- colours -------------------------------------------------------------------------------------------


def diverging_colours(widget: QWidget) -> tuple[QColor, QColor, QColor]:
    """Negative, zero and positive colours for ``widget``'s palette (zero: its Base colour)."""
    dark = theme.is_dark(widget)
    base = widget.palette().color(QPalette.ColorRole.Base)
    return QColor(NEGATIVE[dark]), base, QColor(POSITIVE[dark])


def diverging_image(values: np.ndarray, limit: float, colours: tuple[QColor, QColor, QColor]) -> QImage:
    """A 2-D array as an RGB image: -limit the negative colour, 0 the middle one, +limit the positive."""
    t = np.clip(values / (limit or 1.0), -1.0, 1.0)[..., None]
    neg, mid, pos = (np.array(c.getRgbF()[:3], dtype=np.float32) for c in colours)
    rgb = np.where(t < 0, mid + (neg - mid) * -t, mid + (pos - mid) * t)
    return rgb_image(rgb)


def rgb_image(rgb: np.ndarray) -> QImage:
    """A (h, w, 3) float array in 0..1 as a QImage (copied: it owns its pixels)."""
    data = np.ascontiguousarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))
    h, w, _ = data.shape
    return QImage(data.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ColourLegend(QWidget):
    """A horizontal colour bar from -limit to +limit with its ends and 0 written under it, and what
    the colours mean beside it."""

    def __init__(self, meaning: str, parent=None):
        super().__init__(parent)
        self.limit = 0.0
        self.meaning = meaning
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_limit(self, limit: float) -> None:
        self.limit = limit
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 2 * self.fontMetrics().height() + 14)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        metrics = self.fontMetrics()
        line = metrics.height()
        bar_width = min(220, max(self.width() // 3, 90))
        bar = QRect(4, 4, bar_width, 12)
        neg, mid, pos = diverging_colours(self)
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        gradient.setColorAt(0.0, neg)
        gradient.setColorAt(0.5, mid)
        gradient.setColorAt(1.0, pos)
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.drawRect(bar.adjusted(0, 0, -1, -1))
        painter.setPen(theme.text(self))
        labels = QRect(bar.left(), bar.bottom() + 2, bar.width(), line)
        limit = f"{self.limit:.2g}"
        painter.drawText(labels, Qt.AlignmentFlag.AlignLeft, f"−{limit}")
        painter.drawText(labels, Qt.AlignmentFlag.AlignHCenter, "0")
        painter.drawText(labels, Qt.AlignmentFlag.AlignRight, f"+{limit}")
        painter.setPen(theme.muted(self))
        text = QRect(bar.right() + 12, 0, self.width() - bar.right() - 14, self.height())
        shown = metrics.elidedText(self.meaning, Qt.TextElideMode.ElideRight, 2 * text.width() - 20)
        painter.drawText(text, Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap, shown)
        painter.end()


# -- what it learned -----------------------------------------------------------------------------------


class FilterGrid(QWidget):
    """Small images (filters or weight templates) in a grid that fills the widget, each drawn with
    the diverging colours on one shared scale, so that filters can be compared."""

    SPACING = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.images: np.ndarray | None = None  # (n, h, w)
        self.what = "Filter"  # what one image is, for its tooltip
        self.limit = 1.0
        self._cache: list[QImage] = []
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_images(self, images: np.ndarray | None) -> None:
        self.images = images
        finite = images[np.isfinite(images)] if images is not None else np.zeros(0)
        self.limit = float(np.abs(finite).max()) if finite.size else 1.0
        self._cache = []
        self.update()

    @property
    def count(self) -> int:
        return 0 if self.images is None else len(self.images)

    def grid(self) -> tuple[int, int, int]:
        """Columns, rows and the side of a cell in pixels: the largest square cells that fit."""
        n = self.count
        if not n:
            return 0, 0, 0
        best = (1, n, 0)
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            side = min((self.width() - (cols - 1) * self.SPACING) // cols,
                       (self.height() - (rows - 1) * self.SPACING) // rows)
            if side > best[2]:
                best = (cols, rows, side)
        return best

    def cell_rect(self, i: int) -> QRect:
        """Where image ``i`` is drawn: the grid is centred across the widget."""
        cols, _, side = self.grid()
        left = max((self.width() - cols * side - (cols - 1) * self.SPACING) // 2, 0)
        return QRect(left + (i % cols) * (side + self.SPACING), (i // cols) * (side + self.SPACING), side, side)

    def image_at(self, x: float, y: float) -> int | None:
        return next((i for i in range(self.count) if self.cell_rect(i).contains(int(x), int(y))), None)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:  # the image under the pointer: its number and range
            i = self.image_at(event.pos().x(), event.pos().y())
            if i is None:
                QToolTip.hideText()
            else:
                image = self.images[i]
                QToolTip.showText(event.globalPos(), f"{self.what} {i + 1}: weights from {image.min():.3g} to "
                                                     f"{image.max():.3g}", self)
            return True
        return super().event(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._cache = []  # zero is the background's colour

    def paintEvent(self, event) -> None:
        if self.images is None:
            return
        if not self._cache:
            colours = diverging_colours(self)
            self._cache = [diverging_image(np.nan_to_num(image), self.limit, colours) for image in self.images]
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # each weight a sharp square
        border = self.palette().color(QPalette.ColorRole.Mid)
        for i, image in enumerate(self._cache):
            rect = self.cell_rect(i)
            if rect.width() < 2:
                break
            painter.drawImage(rect, image)
            painter.setPen(border)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
        painter.end()


def read_learned(spec, weights_paths) -> tuple[Any, str | None]:
    """The first layer's learned filters from the first readable of the weights files given
    (``LearnedFilters`` or None) and, when there are none to show, why (``first_layer_note``); the
    first file's error if none can be read. Runs off the GUI thread."""
    from playground.core.explain import first_layer_note, first_layer_weights
    from playground.core.runs import load_weights
    from playground.core.weights import expected_weights

    first_error = None
    for path in weights_paths:
        try:
            state = load_weights(path, expected_weights(spec))
            break
        except Exception as exc:  # damaged or of another design: try the next one
            first_error = first_error or exc
    else:
        raise first_error
    learned = first_layer_weights(spec, state)
    return learned, None if learned is not None else first_layer_note(spec)


class LearnedPage(QWidget):
    """The first layer of the run shown: its filters (a convolution) or its units' weights over the
    image as 28x28 templates (a Linear layer on the flattened image), re-read when the run's weights
    change (each epoch's end); in words, why there are none for other designs (an LSTM first)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run: RunRecord | None = None
        self._stale = True  # the run's weights changed since they were read
        self._loading = 0  # the number of the load in flight (results of older ones are dropped)
        self._worker = None
        self.learned = None  # the LearnedFilters shown
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.grid = FilterGrid()
        self.legend = ColourLegend("Each square is one weight: red pixels raise the unit's output where there "
                                   "is ink, blue ones lower it; the background colour is 0.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.legend)
        self._show_nothing("Select a run in the list below to see what its first layer learned.")

    def show_run(self, run: RunRecord | None) -> None:
        if run is self.run and not self._stale:
            if run is not None and self.learned is not None:  # renamed, or its training ended
                self.title.setText(self._title(run))
            return
        self.run, self._stale = run, True
        self.refresh()

    def weights_changed(self, run: RunRecord) -> None:
        """``run`` wrote new weights (an epoch ended): read them again if it is the run shown."""
        if run is self.run:
            self._stale = True
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Read the run's weights again, off the GUI thread, if they changed and the page is seen."""
        if not self._stale or not self.isVisible():
            return
        self._stale = False
        run = self.run
        if run is None:
            self._show_nothing("Select a run in the list below to see what its first layer learned.")
            return
        paths = self._weights_files(run)
        if not paths:
            self._show_nothing(f"{html.escape(run.label)} has no weights yet: its first layer's filters show "
                               f"after its first epoch.", run)
            return
        from superqt.utils import create_worker

        self._loading += 1
        number = self._loading
        self._worker = create_worker(read_learned, run.spec, paths, _start_thread=True,
                                     _connect={"returned": lambda result: self._loaded(number, run, result),
                                               "errored": lambda exc: self._failed(number, run, exc)})

    @property
    def loading(self) -> bool:
        return self._worker is not None

    @staticmethod
    def _weights_files(run: RunRecord) -> list:
        """The run's weights files, the last first (a damaged one falls back to the best)."""
        paths = [run.weights_path(which) for which in ("last", "best")] if run.path is not None else []
        return [path for path in paths if path is not None and path.is_file()]

    def _loaded(self, number: int, run: RunRecord, result) -> None:
        if number != self._loading:
            return
        self._worker = None
        learned, note = result
        self.learned = learned
        if learned is None:
            self._show_nothing(html.escape(note or "Its first layer has no filters to show."), run)
            return
        images = learned.images[:MAX_FILTERS]
        self.grid.what = "Filter" if learned.kind == "conv" else "Unit"
        self.grid.set_images(images)
        self.legend.set_limit(self.grid.limit)
        self.legend.show()
        n = len(learned.images)
        shown = f" (the first {len(images)} shown)" if n > len(images) else ""
        self.title.setText(self._title(run))
        # The core's caption names the layer and what its images are (the part after ";" is about
        # colours, which this view draws its own way and explains in its legend).
        caption = learned.caption.split(";")[0] or f"Layer {learned.index + 1} ({learned.type})"
        self.note.setText(html.escape(f"{caption}{shown}." if shown else f"{caption}."))
        self.note.show()

    def _failed(self, number: int, run: RunRecord, exc: BaseException) -> None:
        if number == self._loading:
            self._worker = None
            self._show_nothing(f"Cannot read the weights of {html.escape(run.label)}: {html.escape(str(exc))}", run)

    @staticmethod
    def _title(run: RunRecord) -> str:
        return f"<b>What it learned</b> — {html.escape(run.label)}, {LearnedPage._when(run)}"

    @staticmethod
    def _when(run: RunRecord) -> str:
        epochs = len(run.epochs)
        if not run.finished:
            return f"after epoch {epochs} (training)"
        return f"after {counted(epochs, 'epoch')}" if epochs else "its last weights"

    def _show_nothing(self, text: str, run: RunRecord | None = None) -> None:
        self.learned = None
        self.grid.set_images(None)
        self.legend.hide()
        self.title.setText(f"<b>What it learned</b> — {html.escape(run.label)}" if run else "<b>What it learned</b>")
        self.note.setText(text)
        self.note.show()


# -- how training changes it ---------------------------------------------------------------------------


def histogram_events(run: RunRecord) -> list[dict]:
    """The run's histograms events that can be drawn (a stranger's malformed ones left out)."""
    from playground.core.histograms import histogram_snapshots

    return histogram_snapshots(run.events)


def steps_per_epoch(run: RunRecord) -> Any:
    """As the run's log says (anything: the core checks it against the events' own epochs)."""
    for e in reversed(run.events):
        if isinstance(e, dict) and e.get("steps_per_epoch"):
            return e["steps_per_epoch"]
    return 0


def column_shares(matrix: np.ndarray) -> np.ndarray:
    """Each snapshot's counts as shares of its fullest bin (0..1), so that every column uses the whole
    colour scale, as TensorBoard's distributions do; an empty column stays 0."""
    top = matrix.max(axis=1, keepdims=True) if matrix.size else matrix
    return np.divide(matrix, top, out=np.zeros_like(matrix, dtype=np.float64), where=top > 0)


class LayerHeatmaps(QWidget):
    """One layer's weight and gradient histograms over training, side by side: x the epoch of each
    snapshot, y the value bin, colour how many of the layer's values fall in that bin then."""

    def __init__(self, index: int, type_name: str, parent=None):
        super().__init__(parent)
        self.index, self.type = index, type_name
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumHeight(HEATMAP_ROW_HEIGHT)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.view.setFixedHeight(HEATMAP_ROW_HEIGHT)
        self.plots, self.images = {}, {}
        # The layer's name in a label above (it wraps in a narrow window; a plot's title would not).
        self.header = QLabel()
        self.header.setWordWrap(True)
        for col, (which, title, ylabel) in enumerate((("weight", "weights", "weight"),
                                                      ("grad", "gradients", "log₁₀ |gradient|"))):
            plot = self.view.addPlot(row=0, col=col)
            plot.setTitle(title, size="9pt")
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            plot.getAxis("left").setWidth(48)
            plot.getAxis("left").enableAutoSIPrefix(False)  # "weight (x0.001)" over 200 reads as 200
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            # An image, not a mesh of quads: a long run's hundreds of snapshots redraw in a few ms.
            image = pg.ImageItem(axisOrder="col-major")  # image[x, y]: snapshot, bin
            image.setColorMap(pg.colormap.get("viridis"))
            image.setLevels((0.0, 1.0))
            plot.addItem(image)
            self.plots[which], self.images[which] = plot, image
        self.matrices: dict[str, np.ndarray] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.view)
        self._set_header(None)
        self.apply_palette()

    def set_data(self, events: list[dict], per_epoch: Any) -> None:
        from playground.core.histograms import heatmap, snapshot_positions

        x, unit = snapshot_positions(events, self.index, per_epoch)
        for which, image in self.images.items():
            matrix, y_edges, _ = heatmap(events, self.index, which)
            matrix = np.asarray(matrix, dtype=np.float64)
            self.matrices[which] = matrix
            self.plots[which].setLabel("bottom", unit)
            if not len(matrix):
                continue
            # Snapshots are evenly spaced in steps (four an epoch): equal columns centred on them.
            x_edges = column_edges(x)
            y_edges = np.asarray(y_edges, dtype=np.float64)
            image.setImage(column_shares(matrix), levels=(0.0, 1.0), autoLevels=False)
            image.setRect(QRectF(x_edges[0], y_edges[0], x_edges[-1] - x_edges[0], y_edges[-1] - y_edges[0]))
            plot = self.plots[which]
            plot.setXRange(x_edges[0], x_edges[-1], padding=0)
            plot.setYRange(*occupied_range(matrix, y_edges, 4.0 if which == "grad" else 0.0), padding=0)
        self._title_zeros(events)

    def _title_zeros(self, events: list[dict]) -> None:
        from playground.core.histograms import snapshot_layers

        layer = next((lay for e in reversed(events) for lay in snapshot_layers(e) if lay["index"] == self.index), None)
        self._set_header(layer)

    def _set_header(self, layer: dict | None) -> None:
        """The layer's name, and what share of its gradients were exactly 0 at the latest snapshot
        (they have no log10, so no bin in the heatmap)."""
        text = f"<b>Layer {self.index + 1} ({html.escape(self.type)})</b>"
        if layer is not None:
            total = sum(layer["grad_counts"]) + layer["grad_zero"]
            if total and layer["grad_zero"]:
                text += f" — {layer['grad_zero'] / total:.0%} of its gradients exactly 0 at the latest snapshot"
        self.header.setText(text)

    def apply_palette(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        self.view.setBackground(palette.color(QPalette.ColorRole.Base))
        for plot in self.plots.values():
            plot.titleLabel.setText(plot.titleLabel.text, color=text.name(), size="9pt")
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(text)
                axis.setTextPen(text)
                axis.setLabel(axis.labelText, color=text.name())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.apply_palette()


def occupied_range(matrix: np.ndarray, edges: np.ndarray, min_span: float) -> tuple[float, float]:
    """The value range of the bins that ever hold a value, a bin wider on each side and at least
    ``min_span`` wide (gradients: 4 decades), within the edges; all of them if none holds one."""
    used = np.flatnonzero(matrix.sum(axis=0) > 0) if matrix.size else np.zeros(0, dtype=int)
    if not len(used):
        return float(edges[0]), float(edges[-1])
    lo, hi = float(edges[max(used[0] - 1, 0)]), float(edges[min(used[-1] + 2, len(edges) - 1)])
    while hi - lo < min_span and (lo > edges[0] or hi < edges[-1]):
        lo, hi = max(lo - 0.5, float(edges[0])), min(hi + 0.5, float(edges[-1]))
    return lo, hi


def column_edges(x: np.ndarray) -> np.ndarray:
    """Edges of equal columns, one per snapshot, centred on the snapshots' positions ``x`` (evenly
    spaced, increasing) as well as equal columns can be: from half a spacing before the first to
    half a spacing after the last."""
    step = (x[-1] - x[0]) / (len(x) - 1) if len(x) > 1 else 0.0
    step = step or max(abs(float(x[0])), 1.0)
    return x[0] - step / 2 + step * np.arange(len(x) + 1)


class HistogramsPage(QWidget):
    """For each layer with weights, its weight and gradient histograms over training as heatmaps,
    under the gradient problems of the latest snapshot named in words."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run: RunRecord | None = None
        self._stale = True
        self._shown_events = -1  # histogram events drawn
        self.rows: dict[int, LayerHeatmaps] = {}
        self.title = QLabel()
        self.title.setWordWrap(True)
        # The gradients' problems in a box of the warning colours (as the Train area's banner).
        self.warning_box = QFrame()
        self.warning_box.setObjectName("gradientWarnings")
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        box_layout = QVBoxLayout(self.warning_box)
        box_layout.setContentsMargins(6, 6, 6, 6)
        box_layout.addWidget(self.warnings)
        self.legend = QLabel("Each column is one snapshot (four an epoch); its colour shows how many of the layer's "
                             "values fall in each bin then, from none (dark) to the most (yellow). Gradients are on "
                             "a log scale: 1e-8 is -8; exact zeros are counted apart.")
        self.legend.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._column = QWidget()
        self._rows_layout = QVBoxLayout(self._column)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.addWidget(self.legend)  # scrolls away with the rows: a small window keeps room
        self._rows_layout.addStretch(1)
        self.scroll.setWidget(self._column)
        self.redraw_timer = QTimer(self)  # events come four times an epoch: one redraw for a burst
        self.redraw_timer.setSingleShot(True)
        self.redraw_timer.setInterval(150)
        self.redraw_timer.timeout.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.warning_box)
        layout.addWidget(self.scroll, 1)
        self._style_texts()
        self.show_run(None)

    def show_run(self, run: RunRecord | None) -> None:
        if run is self.run and not self._stale:
            if run is not None and self._shown_events > 0:  # renamed
                self.title.setText(self._title(run, histogram_events(run)))
            return
        self.run, self._stale, self._shown_events = run, True, -1
        self._clear_rows()
        self.refresh()

    def events_added(self, run: RunRecord) -> None:
        """New histogram events of ``run`` (a live run): redrawn soon if it is the run shown."""
        if run is self.run:
            self._stale = True
            if not self.redraw_timer.isActive():
                self.redraw_timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        if not self._stale or not self.isVisible():
            return
        self._stale = False
        run = self.run
        events = histogram_events(run) if run is not None else []
        if run is None or not events:
            self._clear_rows()
            self.title.setText("<b>Weights & gradients</b>" + (f" — {html.escape(run.label)}" if run else ""))
            self._set_warnings([], "Select a run in the list below to see its weights and gradients over training."
                               if run is None else "This run has no weight and gradient histograms yet (they are "
                               "recorded four times an epoch; runs trained by older versions have none).")
            self.legend.hide()
            return
        if len(events) == self._shown_events:
            return
        self._shown_events = len(events)
        self._draw(run, events)

    def _draw(self, run: RunRecord, events: list[dict]) -> None:
        from playground.core.histograms import gradient_warnings, histogram_layers

        layers = histogram_layers(events)
        if [(row.index, row.type) for row in self.rows.values()] != layers:
            self._clear_rows()
            for index, type_name in layers:
                row = LayerHeatmaps(index, type_name)
                self.rows[index] = row
                self._rows_layout.insertWidget(self._rows_layout.count() - 1, row)
        per_epoch = steps_per_epoch(run)
        for row in self.rows.values():
            row.set_data(events, per_epoch)
        last = events[-1]
        self.title.setText(self._title(run, events))
        self._set_warnings(gradient_warnings(last), f"No vanishing, exploding or dead gradients in the latest "
                                                    f"snapshot (step {last['step']:,}).")
        self.legend.show()

    @staticmethod
    def _title(run: RunRecord, events: list[dict]) -> str:
        last = events[-1]
        return (f"<b>Weights & gradients</b> — {html.escape(run.label)}: {counted(len(events), 'snapshot')} up to "
                f"epoch {last['epoch']}, step {last['step']:,}")

    def _set_warnings(self, warnings: list[str], otherwise: str) -> None:
        self._warning = bool(warnings)
        self.warnings.setText("\n".join(warnings) if warnings else otherwise)
        self._style_texts()

    def _style_texts(self) -> None:
        if getattr(self, "_warning", False):
            self.warning_box.setStyleSheet(f"QFrame#gradientWarnings {{ background: "
                                           f"{theme.css('warning_background', self)}; border-radius: 4px; }} "
                                           f"QFrame#gradientWarnings QLabel {{ color: {theme.css('warning', self)}; }}")
            self.warning_box.layout().setContentsMargins(6, 6, 6, 6)
        else:
            self.warning_box.setStyleSheet("")
            self.warning_box.layout().setContentsMargins(0, 0, 0, 0)
        self.legend.setStyleSheet(f"color: {theme.css('muted', self)};")

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "legend"):
            self._style_texts()

    def _clear_rows(self) -> None:
        for row in self.rows.values():
            self._rows_layout.removeWidget(row)
            row.deleteLater()
        self.rows = {}
        self._shown_events = -1

    @property
    def warning_text(self) -> str:
        return self.warnings.text() if self._warning else ""


# -- what it looks at: the Evaluate gallery --------------------------------------------------------------


def saliency_overlay(image: np.ndarray, saliency: np.ndarray, coarse: bool = False) -> QImage:
    """A 28x28 digit (uint8, white ink on black) dimmed to grey, with its saliency over it: red where
    the pixels count for the class, blue where they count against it, stronger where they count more.
    ``coarse``: a map that covers regions rather than pixels (Grad-CAM), laid on more lightly, so
    that the digit still shows through."""
    grey = np.repeat((image.astype(np.float32) / 255.0 * 0.55)[..., None], 3, axis=2)
    top = float(np.abs(saliency).max())
    s = (saliency / top if top > 0 else np.zeros_like(saliency))[..., None]
    red, blue = np.array([1.0, 0.25, 0.2], np.float32), np.array([0.3, 0.6, 1.0], np.float32)
    # Pixel maps: faint evidence still shows (square root); region maps: in proportion, at most 65%.
    strength = 0.65 * np.abs(s) if coarse else np.sqrt(np.abs(s))
    if coarse:
        grey = np.repeat((image.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    colour = np.where(s > 0, red, blue)
    return rgb_image(grey + (colour - grey) * strength)


def overlay_icon(image: np.ndarray, saliency: np.ndarray, coarse: bool = False) -> QIcon:
    qimage = saliency_overlay(image, saliency, coarse)
    side = 28 * ICON_SCALE
    return QIcon(QPixmap.fromImage(qimage).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))


class GallerySaliency(QObject):
    """Saliency over the gallery's icons (gradient x input for each image's predicted class): computed
    for the images shown, a few at a time between other events, and kept per image for the run."""

    failed = Signal(str)  # why the saliency cannot be computed (the run's weights cannot be read)

    def __init__(self, gallery, plain_icon, parent=None):
        super().__init__(parent)
        self.gallery = gallery
        self.plain_icon = plain_icon  # a uint8 28x28 image's icon without saliency
        self.enabled = False
        self.run = None
        self._model = None
        self.method = "gradient-x-input"  # or "grad-cam" (a design with a Conv2d layer)
        self._cache: dict[tuple[str, int], np.ndarray] = {}  # (method, test image index) -> saliency
        self._queue: list[tuple[int, int]] = []  # (gallery row, test image index) still to paint
        self._images = None
        self._predictions: list[int] = []
        self.error = ""
        self.timer = QTimer(self)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._work)

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self.restart()

    def set_method(self, method: str) -> None:
        self.method = method
        self.restart()

    def gallery_filled(self, run, images, shown: list[int]) -> None:
        """The gallery shows test images ``shown`` (indices into ``images``) of ``run``'s evaluation."""
        if run is not self.run:
            self.run, self._model, self._cache, self.error = run, None, {}, ""
        self._images, self._shown = images, list(shown)
        self._predictions = run.evaluation.predictions if run is not None and run.evaluation else []
        self.restart()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def restart(self) -> None:
        self._queue = []
        shown = getattr(self, "_shown", [])
        if not self.enabled or self._images is None:
            self.timer.stop()
            if not self.enabled and self._images is not None:
                self._paint_plain(shown)
            return
        self._queue = list(enumerate(shown))
        self.timer.start()

    def _paint_plain(self, shown: list[int]) -> None:
        for row, index in enumerate(shown):
            item = self.gallery.item(row)
            if item is not None:
                item.setIcon(self.plain_icon(self._images[index]))

    def _work(self) -> None:
        end = time.perf_counter() + SALIENCY_BUDGET
        try:
            model = self._load_model()
            while self._queue and time.perf_counter() < end:
                row, index = self._queue.pop(0)
                item = self.gallery.item(row)
                if item is None:
                    continue
                image = self._images[index].numpy()
                key = (self.method, index)
                if key not in self._cache:
                    self._cache[key] = self._saliency(model, image, int(self._predictions[index]))
                item.setIcon(overlay_icon(image, self._cache[key], coarse=self.method == "grad-cam"))
        except Exception as exc:  # a run whose weights cannot be read: say so, keep the plain icons
            self.error = f"Cannot compute what it looks at: {exc}"
            self._queue = []
            self.failed.emit(self.error)
        if not self._queue:
            self.timer.stop()

    def _load_model(self):
        if self._model is None:
            self._model = self.run.load_model("best")
        return self._model

    def _saliency(self, model, image: np.ndarray, target: int) -> np.ndarray:
        from playground.core.explain import saliency

        return np.asarray(saliency(model, self.run.spec, image.astype(np.float32) / 255.0, target, self.method),
                          np.float32)
