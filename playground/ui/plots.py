"""Live training curves with pyqtgraph.

Each curve is one ``PlotDataItem`` created once, fed from a preallocated numpy buffer that doubles
when full (as pyqtgraph's scrolling-plot example does); the window redraws from a timer, only when
new points arrived. Runs chosen for comparison are drawn as dashed overlays.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

pg.setConfigOptions(antialias=True, background="w", foreground="#374151")

COLOURS = {"train_raw": "#bfdbfe", "train": "#2563eb", "val": "#dc2626", "train_acc": "#2563eb",
           "val_acc": "#dc2626"}
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


def curves_from_events(events: list[dict]) -> dict[str, CurveBuffer]:
    """The curves of a run (live or read back from its metrics.jsonl)."""
    curves = {k: CurveBuffer() for k in ("train_raw", "train", "val", "train_acc", "val_acc")}
    smooth = smooth_acc = None
    for e in events:
        kind = e.get("type")
        if kind == "progress":
            x = e["step"] / e["steps_per_epoch"]
            smooth = e["train_loss"] if smooth is None else 0.8 * smooth + 0.2 * e["train_loss"]
            smooth_acc = e["train_accuracy"] if smooth_acc is None else 0.8 * smooth_acc + 0.2 * e["train_accuracy"]
            curves["train_raw"].append(x, e["train_loss"])
            curves["train"].append(x, smooth)
            curves["train_acc"].append(x, smooth_acc)
        elif kind == "epoch" and e.get("val_loss") is not None:
            curves["val"].append(e["epoch"], e["val_loss"])
            curves["val_acc"].append(e["epoch"], e["val_accuracy"])
    return curves


class TrainingPlots(QWidget):
    """Loss (raw and smoothed training loss, validation loss) and accuracy against epochs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget()
        self.acc_plot = pg.PlotWidget()
        for plot, title, ylabel in ((self.loss_plot, "Loss", "loss"), (self.acc_plot, "Accuracy", "accuracy")):
            plot.setTitle(title)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            # No grid: with one, each axis covers the plot area and is repainted (text and all) with
            # every new point, which was 90% of a redraw.
            plot.showGrid(x=False, y=False)
            plot.addLegend(offset=(-10, 10))
            plot.setMouseEnabled(x=True, y=False)
            layout.addWidget(plot)
        self.acc_plot.setXLink(self.loss_plot)
        # Fixed ranges, changed only when the data outgrow them: an auto-ranged axis is repainted on
        # every redraw, and painting axes was half of the GUI thread's time during training.
        for plot in (self.loss_plot, self.acc_plot):
            plot.disableAutoRange()
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.x_max = 1.0
        self.loss_max = 1.0
        self.set_x_range(1)
        self.loss_plot.setYRange(0, self.loss_max, padding=0.02)
        self.items: dict[str, pg.PlotDataItem] = {}
        styles = {
            "train_raw": (self.loss_plot, "training loss (raw)", pg.mkPen(COLOURS["train_raw"], width=1), None),
            "train": (self.loss_plot, "training loss (smoothed)", pg.mkPen(COLOURS["train"], width=2), None),
            "val": (self.loss_plot, "validation loss", pg.mkPen(COLOURS["val"], width=2), "o"),
            "train_acc": (self.acc_plot, "training accuracy", pg.mkPen(COLOURS["train_acc"], width=2), None),
            "val_acc": (self.acc_plot, "validation accuracy", pg.mkPen(COLOURS["val_acc"], width=2), "o"),
        }
        for key, (plot, name, pen, symbol) in styles.items():
            item = plot.plot([], [], pen=pen, name=name, symbol=symbol, symbolSize=6,
                             symbolBrush=pen.color() if symbol else None)
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            self.items[key] = item
        self.curves = curves_from_events([])
        self._drawn: dict[str, tuple[int, int]] = {}
        self._overlays: list[tuple[pg.PlotWidget, pg.PlotDataItem]] = []
        self.redraws = 0

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
            x, y = buffer.data()
            item.setData(x, y)
        # Grow the loss axis only when the loss outgrows it (by doubling, so rarely).
        tops = [float(self.curves[k].data()[1].max()) for k in ("train_raw", "val") if self.curves[k].n]
        top = max(tops, default=1.0)
        if top > self.loss_max or (top < self.loss_max / 4 and self.loss_max > 1.0):
            while top > self.loss_max:
                self.loss_max *= 2
            while top < self.loss_max / 4 and self.loss_max > 1.0:
                self.loss_max /= 2
            self.loss_plot.setYRange(0, self.loss_max, padding=0.02)
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
                self._overlays.append((plot, item))
