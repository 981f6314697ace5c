"""The Train form: an editor for every training setting."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from playground.core.config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig


class ConfigForm(QWidget):
    """Editors for every TrainConfig field, each with a tooltip; optimizer-specific ones show only
    for the optimizer that uses them."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}
        d = TrainConfig()

        def combo(name, items, tip):
            w = QComboBox()
            for key, text in items.items():
                w.addItem(key, key)
                w.setItemData(w.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
            w.currentIndexChanged.connect(self._changed)
            return self._add(name, w, tip)

        def spin(name, lo, hi, tip, step=1):
            w = QSpinBox()
            w.setRange(lo, hi)
            w.setSingleStep(step)
            w.valueChanged.connect(self._changed)
            return self._add(name, w, tip)

        def real(name, lo, hi, decimals, step, tip):
            w = QDoubleSpinBox()
            w.setDecimals(decimals)
            w.setRange(lo, hi)
            w.setSingleStep(step)
            w.valueChanged.connect(self._changed)
            return self._add(name, w, tip)

        def check(name, tip):
            w = QCheckBox()
            w.toggled.connect(self._changed)
            return self._add(name, w, tip)

        combo("loss", LOSSES, "What training minimises.\n" + "\n".join(f"{k}: {v}" for k, v in LOSSES.items()))
        combo("optimizer", {k: v[0] for k, v in OPTIMIZERS.items()},
              "How the weights are updated from the gradients.")
        real("lr", 1e-6, 100.0, 6, 0.001, "Learning rate: the size of each step. Too high and the loss "
                                          "explodes; too low and learning crawls.")
        real("momentum", 0.0, 0.999, 3, 0.05, "Momentum: keep a share of the previous step (SGD, RMSprop).")
        check("nesterov", "Nesterov momentum: look ahead before stepping (SGD with momentum).")
        real("beta1", 0.0, 0.999, 3, 0.01, "Adam's running-average factor for gradients.")
        real("beta2", 0.0, 0.9999, 4, 0.001, "Adam's running-average factor for squared gradients.")
        real("alpha", 0.0, 0.999, 3, 0.01, "RMSprop's running-average factor for squared gradients.")
        real("eps", 1e-10, 1.0, 10, 1e-8, "A small number added to avoid dividing by zero.")
        real("weight_decay", 0.0, 1.0, 6, 0.0001, "Weight decay: pull the weights towards zero (L2).")
        combo("schedule", SCHEDULES, "How the learning rate changes during training.")
        spin("step_epochs", 1, 1000, "Step schedule: epochs between learning-rate drops.")
        real("gamma", 0.01, 1.0, 3, 0.05, "Step schedule: factor for each drop.")
        spin("batch_size", 1, 65536, "Images per step. Larger batches run faster per image.", 16)
        spin("epochs", 1, 10000, "Passes over the training images.")
        real("val_fraction", 0.0, 0.5, 3, 0.05, "Share of the training images kept aside to validate.")
        check("augment", "Train on randomly shifted, rotated and scaled copies: sturdier on drawn digits.")
        real("max_shift", 0.0, 8.0, 1, 0.5, "Augmentation: largest shift, in pixels.")
        real("max_rotation", 0.0, 45.0, 1, 1.0, "Augmentation: largest rotation, in degrees.")
        real("max_scale", 0.0, 0.5, 2, 0.05, "Augmentation: largest change of size (0.1 = ±10%).")
        combo("dataset", {"mnist": "Handwritten digits (ships with the app)",
                          "fashion-mnist": "Clothing images (downloaded once, needs the internet)",
                          "kmnist": "Japanese characters (downloaded once, needs the internet)"},
              "The images to learn from.")
        limit = spin("limit", 0, 60000, "Use only the first N training and test images, for quick experiments "
                                        "(0: all of them).", 500)
        limit.setSpecialValueText("all")
        spin("seed", 0, 2**31 - 1, "Random seed: the same seed and settings give the same run.")
        combo("device", {"auto": "CUDA, then Apple MPS, then CPU", "cpu": "The processor"},
              "Where to train.")
        self.set_config(d)

    def _add(self, name: str, widget: QWidget, tip: str) -> QWidget:
        widget.setToolTip(tip)
        widget.setObjectName(f"config_{name}")
        titles = {"lr": "Learning rate", "limit": "Training images", "val_fraction": "Validation share",
                  "step_epochs": "Step every (epochs)", "eps": "Epsilon", "max_shift": "Shift up to (px)",
                  "max_rotation": "Rotate up to (°)", "max_scale": "Scale up to (±)"}
        label = QLabel(titles.get(name, name.replace("_", " ").capitalize()))
        label.setToolTip(tip)
        self.form.addRow(label, widget)
        self.editors[name] = widget
        return widget

    def set_devices(self, devices: list[str]) -> None:
        """Offer the devices torch found (called once torch has loaded)."""
        box: QComboBox = self.editors["device"]
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        box.addItem("auto", "auto")
        for d in devices:
            box.addItem(d, d)
        index = box.findData(current)
        box.setCurrentIndex(max(index, 0))
        box.blockSignals(False)

    def _changed(self, *args) -> None:
        self._update_visibility()
        self.changed.emit()

    def _update_visibility(self) -> None:
        uses = set(OPTIMIZERS[self.editors["optimizer"].currentData()][1])
        schedule = self.editors["schedule"].currentData()
        for name in ("momentum", "nesterov", "beta1", "beta2", "alpha", "eps"):
            self.form.setRowVisible(self.editors[name], name in uses)
        for name in ("step_epochs", "gamma"):
            self.form.setRowVisible(self.editors[name], schedule == "step")
        augment = self.editors["augment"].isChecked()
        for name in ("max_shift", "max_rotation", "max_scale"):
            self.form.setRowVisible(self.editors[name], augment)

    def set_config(self, config: TrainConfig) -> None:
        for name, widget in self.editors.items():
            value = getattr(config, name)
            widget.blockSignals(True)
            if isinstance(widget, QComboBox):
                index = widget.findData(value)
                if index < 0:
                    widget.addItem(value, value)
                    index = widget.count() - 1
                widget.setCurrentIndex(index)
            elif isinstance(widget, QCheckBox):
                widget.setChecked(value)
            else:
                widget.setValue(value)
            widget.blockSignals(False)
        self._update_visibility()

    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (``ConfigError`` says what is wrong)."""
        values: dict[str, Any] = {}
        for name, widget in self.editors.items():
            if isinstance(widget, QComboBox):
                values[name] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                values[name] = widget.isChecked()
            else:
                values[name] = widget.value()
        if values["optimizer"] != "sgd":
            values["nesterov"] = False
        return TrainConfig(**values)
