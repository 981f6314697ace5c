"""``TrainConfig``: everything about a training run except the design, saved as JSON beside each run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from playground.core.atomic import atomic_write_text
from playground.core.text import short_repr

CONFIG_FORMAT_VERSION = 1

LOSSES = {
    "cross-entropy": "Cross-entropy of the softmax of the outputs against the true class.",
    "mse": "Mean squared error between the 10 outputs and the one-hot target (LeCun et al. 1998).",
}

# name -> (description, hyperparameters it uses besides lr and weight_decay)
OPTIMIZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sgd": ("Stochastic gradient descent; with momentum (and optionally Nesterov's) when momentum > 0.",
            ("momentum", "nesterov")),
    "adam": ("Adam: per-parameter step sizes from running averages of gradients and their squares.",
             ("beta1", "beta2", "eps")),
    "adamw": ("AdamW: Adam with weight decay applied to the weights directly (decoupled).",
              ("beta1", "beta2", "eps")),
    "rmsprop": ("RMSprop: divides each step by a running average of recent gradient magnitudes.",
                ("alpha", "momentum", "eps")),
    "adagrad": ("Adagrad: step sizes shrink for parameters that have had large gradients.", ("eps",)),
}

SCHEDULES = {
    "constant": "The learning rate stays the same.",
    "step": "Multiply the learning rate by gamma every step_epochs epochs.",
    "cosine": "Decay the learning rate along a half cosine to zero by the end.",
    "one-cycle": "Warm up to the learning rate over the first 30% of steps, then anneal to near zero.",
}

DATASET_NAMES = ("mnist", "fashion-mnist", "kmnist")

MAX_SEED = 2**63 - 1  # torch's and numpy's generators take any seed from 0 to this
MAX_LIMIT = 1_000_000_000  # more images than any data set here has: "all of them"


class ConfigError(ValueError):
    """A training setting is out of range or does not fit the design; the message says how to fix it."""


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "cross-entropy"
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 3
    schedule: str = "constant"
    step_epochs: int = 1
    gamma: float = 0.5
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    augment: bool = False
    max_shift: float = 2.0  # pixels
    max_rotation: float = 10.0  # degrees
    max_scale: float = 0.1  # +-10%
    dataset: str = "mnist"
    limit: int = 0  # 0 = the whole training set

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(message)

        for name in ("loss", "optimizer", "schedule", "dataset", "device"):
            value = getattr(self, name)
            need(isinstance(value, str), f"{name} must be a name (text); got {short_repr(value)}")
        for name in ("nesterov", "augment"):
            value = getattr(self, name)
            need(isinstance(value, bool), f"{name} must be true or false; got {short_repr(value)}")
        need(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        need(self.optimizer in OPTIMIZERS,
             f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        need(self.schedule in SCHEDULES,
             f"schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        need(self.dataset in DATASET_NAMES,
             f"dataset must be one of {', '.join(DATASET_NAMES)}; got {self.dataset!r}")
        for name in ("lr", "momentum", "beta1", "beta2", "alpha", "eps", "weight_decay", "gamma",
                     "val_fraction", "max_shift", "max_rotation", "max_scale"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                 f"{name} must be a finite number; got {short_repr(value)}")
        for name in ("batch_size", "epochs", "step_epochs", "seed", "limit"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool),
                 f"{name} must be a whole number; got {short_repr(value)}")
        # Above float32's range (3.4e38) torch cannot even set the rate; 1e30 leaves room for
        # showing what divergence looks like.
        need(0 < self.lr <= 1e30, f"the learning rate must be above 0 and at most 1e30; got {self.lr:g}")
        need(self.eps <= 1, f"eps must be at most 1; got {self.eps:g}")
        need(self.weight_decay <= 1e6, f"weight decay must be at most 1e6; got {self.weight_decay:g}")
        need(0 <= self.momentum < 1, f"momentum must be in [0, 1); got {self.momentum}")
        need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)")
        need(0 <= self.alpha < 1, f"alpha must be in [0, 1); got {self.alpha}")
        need(self.eps > 0, "eps must be above 0")
        need(self.weight_decay >= 0, f"weight decay must be 0 or more; got {self.weight_decay}")
        need(not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0),
             "Nesterov momentum needs the sgd optimizer with momentum above 0")
        need(1 <= self.batch_size <= 65536, f"batch size must be 1 to 65536; got {self.batch_size}")
        need(1 <= self.epochs <= 10000, f"epochs must be 1 to 10000; got {self.epochs}")
        need(1 <= self.step_epochs <= 10000, f"step_epochs must be 1 to 10000; got {self.step_epochs}")
        need(0 < self.gamma <= 1, f"gamma must be in (0, 1]; got {self.gamma}")
        need(0 <= self.val_fraction < 0.9, f"validation fraction must be in [0, 0.9); got {self.val_fraction}")
        need(0 <= self.seed <= MAX_SEED, f"seed must be 0 to {MAX_SEED}; got {self.seed}")
        need(0 <= self.limit <= MAX_LIMIT, f"limit must be 0 (all images) to {MAX_LIMIT}; got {self.limit}")
        need(0 <= self.max_shift <= 8 and 0 <= self.max_rotation <= 45 and 0 <= self.max_scale <= 0.5,
             "augmentation: shift 0-8 pixels, rotation 0-45 degrees, scale 0-0.5")
        need(isinstance(self.device, str) and bool(self.device), "device must be a name such as auto, cpu, cuda")

    def updated(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

    @property
    def optimizer_hyperparameters(self) -> tuple[str, ...]:
        return OPTIMIZERS[self.optimizer][1]

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
            if known[name].type == "float" and isinstance(value, int) and not isinstance(value, bool):
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
