"""``TrainConfig``: everything about a training run except the design, saved as JSON beside each run."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from playground.core.atomic import atomic_write_text
from playground.core.text import short_repr

CONFIG_FORMAT_VERSION = 1

LOSSES = {
    "cross-entropy": "Cross-entropy of the softmax of the outputs against the true class.",
    "mse": "Mean squared error between the 10 outputs and the one-hot target (LeCun et al. 1998).",
}

OPTIMIZERS = {
    "sgd": "Stochastic gradient descent; with momentum (and optionally Nesterov's) when momentum > 0.",
    "adam": "Adam: per-parameter step sizes from running averages of gradients and their squares.",
    "adamw": "AdamW: Adam with weight decay applied to the weights directly (decoupled).",
    "rmsprop": "RMSprop: divides each step by a running average of recent gradient magnitudes.",
    "adagrad": "Adagrad: step sizes shrink for parameters that have had large gradients.",
}

SCHEDULES = {
    "constant": "The learning rate stays the same.",
    "step": "Multiply the learning rate by gamma every step_epochs epochs.",
    "cosine": "Decay the learning rate along a half cosine to zero by the end.",
    "one-cycle": "Warm up to the learning rate over the first 30% of steps, then anneal to near zero.",
}

DATASETS = {
    "mnist": "Handwritten digits (ships with the app).",
    "fashion-mnist": "Clothing images (downloaded once, needs the internet).",
    "kmnist": "Japanese characters (downloaded once, needs the internet).",
    "folder": "Your own images: a folder with one subfolder of images per class (see Data folder).",
}

PREPROCESS = {
    "mnist": "As MNIST and the Draw area: the ink cropped, scaled to 20 pixels and centred by its mass.",
    "resize": "The whole image scaled to 28x28 (dark-on-light images are inverted to white on black).",
}

MAX_SEED = 2**63 - 1  # torch's and numpy's generators take any seed from 0 to this
MAX_LIMIT = 1_000_000_000  # more images than any data set here has: "all of them"


class ConfigError(ValueError):
    """A training setting is out of range or does not fit the design; the message says how to fix it."""


def format_number(value: int | float) -> str:
    """A number as it would be typed: ``1e-08`` -> ``1e-8``, ``1e+30`` -> ``1e30``, ``0.5`` -> ``0.5``;
    a whole number too long to print is described by its size."""
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 256 else short_repr(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    mantissa, e, exponent = repr(value).partition("e")
    return mantissa + (f"e{int(exponent)}" if e else "")


def range_text(minimum: float | None, maximum: float | None, min_inclusive: bool = True,
               max_inclusive: bool = True, special: tuple[Any, str] | None = None) -> str:
    """The allowed values in words: ``1 to 65536``, ``above 0 and at most 1e30``, ``at least 0``."""
    def bound(value: float) -> str:
        text = format_number(value)
        return f"{text} ({special[1]})" if special is not None and special[0] == value else text

    if minimum is not None and maximum is not None and min_inclusive and max_inclusive:
        return f"{bound(minimum)} to {bound(maximum)}"
    parts = []
    if minimum is not None:
        parts.append(f"{'at least' if min_inclusive else 'above'} {bound(minimum)}")
    if maximum is not None:
        parts.append(f"{'at most' if max_inclusive else 'below'} {bound(maximum)}")
    return " and ".join(parts) or "any number"


def in_range(value: int | float, minimum: float | None, maximum: float | None, min_inclusive: bool = True,
             max_inclusive: bool = True) -> bool:
    return ((minimum is None or (value >= minimum if min_inclusive else value > minimum))
            and (maximum is None or (value <= maximum if max_inclusive else value < maximum)))


@dataclass(frozen=True)
class SettingSpec:
    """One training setting described once: validation, the command-line flags and the Train form all
    read it, as ``ParamSpec`` does for layer parameters."""

    name: str
    kind: str  # "int", "float", "choice", "bool" or "text"
    label: str  # the form's row title
    help: str
    default: Any = None
    unit: str = ""  # shown after the label: "px", "°"
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    # name -> description; for "choice" the only values allowed, for "text" suggestions
    choices: dict[str, str] = field(default_factory=dict)
    # {"optimizer": ("sgd", "rmsprop")}: the setting matters only when every listed setting has one of
    # the listed values (the form hides it otherwise)
    applies_to: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    special: tuple[Any, str] | None = None  # a value with its own meaning: (0, "all images")
    noun: str = ""  # how range messages name it; the name with spaces by default
    step: int | float = 1  # what Up/Down add in the form
    metavar: str = ""  # the value's name in --help
    optional: bool = False  # a "text" setting that may be empty

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        return range_text(self.minimum, self.maximum, self.min_inclusive, self.max_inclusive, self.special)

    def in_range(self, value: int | float) -> bool:
        return in_range(value, self.minimum, self.maximum, self.min_inclusive, self.max_inclusive)

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this setting matters with these other settings (momentum does not for Adam)."""
        return all(values.get(other) in allowed for other, allowed in self.applies_to.items())

    def check(self, value: Any) -> None:
        """Raise ``ConfigError`` saying what is allowed unless ``value`` is one."""
        name = self.name
        if self.kind in ("choice", "text"):
            if not isinstance(value, str):
                raise ConfigError(f"{name} must be a name (text); got {short_repr(value)}")
            if self.kind == "choice" and value not in self.choices:
                raise ConfigError(f"{name} must be one of {', '.join(self.choices)}; got {short_repr(value)}")
            if not value and not self.optional:
                raise ConfigError(f"{name} must be a name such as {', '.join(self.choices)}")
            return
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{name} must be true or false; got {short_repr(value)}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a whole number" if self.kind == "int" else "a finite number"
            raise ConfigError(f"{name} must be {kind}; got {short_repr(value)}")
        if self.kind == "int" and not isinstance(value, int):
            raise ConfigError(f"{name} must be a whole number; got {short_repr(value)}")
        if self.kind == "float" and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number; got {short_repr(value)}")
        if not self.in_range(value):
            raise ConfigError(f"{self.noun or name.replace('_', ' ')} must be {self.range_text()}; "
                              f"got {format_number(value)}")


def _setting(default: Any, kind: str, label: str, help: str, **details: Any) -> Any:
    """A TrainConfig field whose metadata is its ``SettingSpec`` (the name is filled in below)."""
    spec = SettingSpec("", kind, label, help, default, **details)
    return field(default=default, metadata={"setting": spec})


_ADAM_LIKE = ("adam", "adamw")
_PROBABILITY = dict(minimum=0.0, maximum=1.0, max_inclusive=False)  # a running-average factor


@dataclass(frozen=True)
class TrainConfig:
    loss: str = _setting("cross-entropy", "choice", "Loss", "What training minimises.", choices=LOSSES)
    optimizer: str = _setting("adam", "choice", "Optimizer", "How the weights are updated from the gradients.",
                              choices=OPTIMIZERS)
    # Above float32's range (3.4e38) torch cannot even set the rate; 1e30 leaves room for showing what
    # divergence looks like.
    lr: float = _setting(0.001, "float", "Learning rate", "The size of each step. Too high and the loss "
                         "explodes; too low and learning crawls.", minimum=0.0, maximum=1e30,
                         min_inclusive=False, noun="the learning rate", step=0.001, metavar="RATE")
    momentum: float = _setting(0.9, "float", "Momentum", "Keep a share of the previous step (SGD, RMSprop).",
                               **_PROBABILITY, step=0.05, applies_to={"optimizer": ("sgd", "rmsprop")})
    nesterov: bool = _setting(False, "bool", "Nesterov", "Look ahead along the momentum before "
                              "stepping.", applies_to={"optimizer": ("sgd",)})
    beta1: float = _setting(0.9, "float", "Beta1", "Adam's running-average factor for gradients.",
                            **_PROBABILITY, step=0.01, applies_to={"optimizer": _ADAM_LIKE})
    beta2: float = _setting(0.999, "float", "Beta2", "Adam's running-average factor for squared gradients.",
                            **_PROBABILITY, step=0.001, applies_to={"optimizer": _ADAM_LIKE})
    alpha: float = _setting(0.99, "float", "Alpha", "RMSprop's running-average factor for squared gradients.",
                            **_PROBABILITY, step=0.01, applies_to={"optimizer": ("rmsprop",)})
    eps: float = _setting(1e-8, "float", "Epsilon", "A small number added to avoid dividing by zero.",
                          minimum=0.0, maximum=1.0, min_inclusive=False, step=1e-8,
                          applies_to={"optimizer": (*_ADAM_LIKE, "rmsprop", "adagrad")})
    weight_decay: float = _setting(0.0, "float", "Weight decay", "Pull the weights towards zero (L2).",
                                   minimum=0.0, maximum=1e6, step=0.0001)
    batch_size: int = _setting(128, "int", "Batch size", "Images per step. Larger batches run faster per "
                               "image.", minimum=1, maximum=65536, step=16)
    epochs: int = _setting(3, "int", "Epochs", "Passes over the training images.", minimum=1, maximum=10000)
    schedule: str = _setting("constant", "choice", "Schedule", "How the learning rate changes during training.",
                             choices=SCHEDULES)
    step_epochs: int = _setting(1, "int", "Step every", "Step schedule: epochs between learning-rate drops.",
                                unit="epochs", minimum=1, maximum=10000, applies_to={"schedule": ("step",)})
    gamma: float = _setting(0.5, "float", "Gamma", "Step schedule: the factor of each drop.", minimum=0.0,
                            maximum=1.0, min_inclusive=False, step=0.05, applies_to={"schedule": ("step",)})
    val_fraction: float = _setting(0.1, "float", "Validation share", "Share of the training images kept "
                                   "aside to validate.", minimum=0.0, maximum=0.9, max_inclusive=False,
                                   noun="validation fraction", step=0.05, metavar="SHARE")
    seed: int = _setting(0, "int", "Seed", "Random seed: the same seed and settings give the same run.",
                         minimum=0, maximum=MAX_SEED)
    device: str = _setting("auto", "text", "Device", "Where to train: auto (CUDA, then MPS, then CPU), cpu, "
                           "cuda, cuda:N or mps.", choices={"auto": "CUDA, then Apple MPS, then CPU",
                                                             "cpu": "The processor"}, metavar="NAME")
    augment: bool = _setting(False, "bool", "Augment", "Train on randomly shifted, rotated and scaled copies "
                             "of the images: sturdier on drawn digits.")
    max_shift: float = _setting(2.0, "float", "Shift up to", "Augmentation: the largest shift.", unit="px",
                                minimum=0.0, maximum=8.0, noun="the largest shift", step=0.5,
                                applies_to={"augment": (True,)}, metavar="PIXELS")
    max_rotation: float = _setting(10.0, "float", "Rotate up to", "Augmentation: the largest rotation.",
                                   unit="°", minimum=0.0, maximum=45.0, noun="the largest rotation", step=1.0,
                                   applies_to={"augment": (True,)}, metavar="DEGREES")
    max_scale: float = _setting(0.1, "float", "Scale up to ±", "Augmentation: the largest change of size "
                                "(0.1: up to 10% larger or smaller).", minimum=0.0, maximum=0.5,
                                noun="the largest change of size", step=0.05, applies_to={"augment": (True,)},
                                metavar="SHARE")
    dataset: str = _setting("mnist", "choice", "Dataset", "The images to learn from.", choices=DATASETS)
    data_folder: str = _setting("", "text", "Data folder", "The folder of the images: for the folder data set, "
                                "one subfolder of images per class (train/ and test/ used when present); for "
                                "Fashion-MNIST and KMNIST, a folder with their four IDX files (no download).",
                                optional=True, metavar="FOLDER",
                                applies_to={"dataset": ("folder", "fashion-mnist", "kmnist")})
    preprocess: str = _setting("mnist", "choice", "Preprocessing", "How a folder's images become 28x28.",
                               choices=PREPROCESS, applies_to={"dataset": ("folder",)})
    limit: int = _setting(0, "int", "Training images", "Use only the first N training images (the validation "
                          "share included), for quick experiments. The test set stays whole unless Test images "
                          "limits it.", minimum=0, maximum=MAX_LIMIT, special=(0, "all images"), step=500,
                          metavar="N")
    # Its own setting: a run on few training images is still measured on the whole test set.
    test_limit: int = _setting(0, "int", "Test images", "Evaluate on only the first N test images: quicker, "
                               "but a less exact test accuracy. 0 evaluates on the whole test set.",
                               minimum=0, maximum=MAX_LIMIT, special=(0, "all images"), step=500,
                               noun="test limit", metavar="N")

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        for spec in SETTINGS.values():
            spec.check(getattr(self, spec.name))
        if self.nesterov and not (self.optimizer == "sgd" and self.momentum > 0):
            raise ConfigError("Nesterov momentum needs the sgd optimizer with momentum above 0")
        if "\0" in self.data_folder:
            raise ConfigError("data_folder cannot contain a NUL character")

    def updated(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": CONFIG_FORMAT_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a training config is a JSON object")
        data = dict(data)
        version = data.pop("format_version", CONFIG_FORMAT_VERSION)
        if type(version) is not int or version != CONFIG_FORMAT_VERSION:
            raise ConfigError(f"{source}: unknown format_version {short_repr(version)}; this app reads "
                              f"{CONFIG_FORMAT_VERSION}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown setting {short_repr(unknown[0])}")
        for name, value in list(data.items()):
            if SETTINGS[name].kind == "float" and isinstance(value, int) and not isinstance(value, bool):
                try:
                    data[name] = float(value)
                except OverflowError:  # a whole number of hundreds of digits
                    raise ConfigError(f"{source}: {name} must be a finite number; got {short_repr(value)}") from None
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        except (OverflowError, TypeError, ValueError) as exc:  # whatever a stranger's value makes Python raise
            raise ConfigError(f"{source}: a setting has a value this app cannot use "
                              f"({type(exc).__name__}: {str(exc)[:80]})") from None

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        return cls.from_dict(data, source)


# Every training setting by name, in the order the form shows them.
SETTINGS: dict[str, SettingSpec] = {
    f.name: replace(f.metadata["setting"], name=f.name) for f in fields(TrainConfig)}


def preset_config(preset_name: str, **overrides: Any) -> TrainConfig:
    """The config a preset is meant to be trained with, with ``overrides`` on top."""
    from playground.core.presets import get_preset

    return TrainConfig.from_dict({**get_preset(preset_name).train, **overrides}, f"preset {preset_name}")


def resolve_device(name: str) -> str:
    """``auto`` -> the first of CUDA, Apple MPS, CPU that is available; a named device is checked."""
    import torch

    available = available_devices()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if "mps" in available else "cpu"
    if name == "cuda":
        name = "cuda:0"
    if name not in available:
        raise ConfigError(f"device {name!r} is not available here; available: {', '.join(available)}")
    return name


def available_devices() -> list[str]:
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def device_label(device: str) -> str:
    """A human name: ``CPU``, the GPU's name, or ``Apple GPU (MPS)``."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return "CPU"
