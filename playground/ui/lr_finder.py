"""The learning-rate finder dialog: the loss against a rising learning rate, the suggestion marked,
"Use this rate" puts it into the Train form.

The finder (``core/lr_find.py``, about a hundred training steps of a copy of the model, a second or
a few) runs on a superqt worker thread in the window's process rather than in a worker process: it
is short, keeps no run folder and needs no pause, so starting a process (importing torch again)
would cost more than it saves. Each step's point comes to the GUI thread as a plain dict.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from playground.core.config import TrainConfig

DECIMALS = 3  # significant digits of the rate put into the form


def rounded(lr: float) -> float:
    return float(f"{lr:.{DECIMALS}g}")


def style_plot(plot, palette=None) -> None:
    """A plot in its widget's palette, or ``palette`` (background Base, axes in Text), as the Train
    area's curves."""
    from PySide6.QtGui import QPalette

    palette = palette or plot.palette()
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(palette.color(QPalette.ColorRole.Text))
        axis.setTextPen(palette.color(QPalette.ColorRole.Text))
        axis.enableAutoSIPrefix(False)


class PlotDialog(QDialog):
    """A dialog whose ``plot`` follows the window's light or dark palette, as the Train area's curves do."""

    plot = None

    def changeEvent(self, event) -> None:
        # The dialog hears of a new palette before its children have it: style from the dialog's.
        if event.type() == QEvent.Type.PaletteChange and self.plot is not None:
            style_plot(self.plot, self.palette())
        super().changeEvent(event)


class LrFinderDialog(PlotDialog):
    """Run the finder for the design and settings given; show the curve and the suggestion."""

    rate_chosen = Signal(float)

    def __init__(self, spec, config: TrainConfig, initial_state: dict | None = None, parent=None):
        import pyqtgraph as pg

        super().__init__(parent)
        self.setWindowTitle(f"Find a learning rate for {spec.name}")
        self.setModal(True)
        self.spec, self.config, self.initial_state = spec, config, initial_state
        self.worker = None
        self.finder = None
        self._cancel = False
        self.plot = pg.PlotWidget()
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate (log scale)")
        self.plot.setLabel("left", "smoothed training loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        style_plot(self.plot)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(self.palette().color(self.palette().ColorRole.Highlight),
                                                         width=2))
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("r", width=2, style=Qt.PenStyle.DashLine))
        self.marker.hide()
        self.plot.addItem(self.marker)
        self.suggestion_box = QComboBox()
        self.suggestion_box.addItem("Steepest descent", "steep")
        self.suggestion_box.addItem("Valley (more careful)", "valley")
        self.suggestion_box.setToolTip("Steepest: where the loss falls fastest (Smith 2017). Valley: part-way "
                                       "down the longest fall (fastai's default), a smaller, safer rate")
        self.suggestion_box.currentIndexChanged.connect(self._show_suggestion)
        self.status = QLabel(f"{config.optimizer}, batch size {config.batch_size}: press Find.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.find_button = QPushButton("Find")
        self.find_button.setToolTip("Train a copy of the model for about 100 steps while raising the learning "
                                    "rate from 1e-7 to 10; your weights and runs are not touched")
        self.find_button.clicked.connect(self.start)
        self.use_button = QPushButton("Use this rate")
        self.use_button.setToolTip("Put the suggested learning rate into the Train form")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_rate)
        row = QHBoxLayout()
        row.addWidget(QLabel("Suggest"))
        row.addWidget(self.suggestion_box)
        row.addStretch(1)
        row.addWidget(self.find_button)
        row.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.resize(640, 440)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> bool:
        from superqt.utils import GeneratorWorker

        from playground.core.config import ConfigError
        from playground.core.lr_find import LrFinder
        from playground.core.spec import DesignError

        if self.running:
            return False
        self._cancel = False
        try:
            self.finder = LrFinder(self.spec, self.config, initial_state=self.initial_state,
                                   should_stop=lambda: self._cancel)
        except (ConfigError, DesignError) as exc:
            self.status.setText(f"Cannot run the finder: {exc}")
            return False
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self.curve.setData([], [])
        self.marker.hide()
        self.use_button.setEnabled(False)
        self.find_button.setEnabled(False)
        self.status.setText("Raising the learning rate step by step…")
        self.worker = GeneratorWorker(self._steps)
        self.worker.yielded.connect(self._on_point)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._done)
        self.worker.start()
        return True

    def _steps(self):
        from playground.core.train import guarded

        yield from guarded(self.finder.steps())

    def _on_point(self, point: dict) -> None:
        if point.get("type") == "error":
            self.status.setText(f"The finder failed: {point['message']}")
            self.finder = None
            return
        self._lrs.append(point["lr"])
        self._losses.append(point["loss"])
        self.curve.setData(self._lrs, self._losses)
        # The explosion at the end would flatten the part that matters: the loss from its start down.
        low, high = min(self._losses), max(self._losses[0], self._losses[len(self._losses) // 10])
        self.plot.setYRange(low - 0.05 * (high - low), high + 0.25 * (high - low) + 1e-6, padding=0)

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"The finder failed: {exc}")
        self.finder = None

    def _done(self) -> None:
        self.worker = None
        self.find_button.setEnabled(True)
        self.find_button.setText("Find again")
        if self.finder is not None:
            self._show_suggestion()

    def suggested_lr(self) -> float | None:
        finding = self.finder.finding if self.finder is not None else None
        if finding is None:
            return None
        return finding.steep_lr if self.suggestion_box.currentData() == "steep" else finding.valley_lr

    def _show_suggestion(self) -> None:
        if self.running or self.finder is None:
            return
        lr = self.suggested_lr()
        finding = self.finder.finding
        if lr is None:
            self.status.setText("No suggestion: the loss did not fall over the rates tried.")
            self.use_button.setEnabled(False)
            return
        self.marker.setValue(math.log10(lr))
        self.marker.show()
        end = ", stopped when the loss blew up" if finding.diverged else ""
        self.status.setText(f"Suggested learning rate: {rounded(lr):g} ({len(finding.lrs)} steps from "
                            f"{finding.lrs[0]:.0e} to {finding.lrs[-1]:.2g}{end}).")
        self.use_button.setEnabled(True)

    def use_rate(self) -> None:
        lr = self.suggested_lr()
        if lr is not None:
            self.rate_chosen.emit(rounded(lr))
            self.accept()

    def reject(self) -> None:
        if self.running:  # stop between steps, then close
            self._cancel = True
            self.worker.finished.connect(super().reject)
            return
        super().reject()
