"""What a classifier optimises: images as network inputs, a batch's loss, the optimizer and the
learning-rate schedule, and the check that a design and a config can train together.

The trainer and the evaluation both use these, so they live apart from both (``metrics`` imports
them without importing the trainer)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from playground.core.config import ConfigError, TrainConfig
from playground.core import shapes
from playground.core.shapes import infer_shapes, training_bytes
from playground.core.spec import DesignError, NetworkSpec
from playground.core.text import format_bytes


def to_input(images: torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] on ``device``."""
    return images.to(device, non_blocking=True).unsqueeze(1).float().div_(255)


def batch_loss(out: torch.Tensor, y: torch.Tensor, loss: str, num_classes: int = 10) -> torch.Tensor:
    """The mean loss of a batch of class scores ``out`` against the true classes ``y``."""
    if loss == "mse":
        return F.mse_loss(out, F.one_hot(y, num_classes).to(out.dtype))
    return F.cross_entropy(out, y)


def check_compatible(spec: NetworkSpec, config: TrainConfig) -> None:
    """Raise ``DesignError`` / ``ConfigError`` if this design cannot be trained with this config."""
    report = infer_shapes(spec)
    if not spec.layers or any(row.problem for row in report.rows):
        raise DesignError("the design cannot be trained: " + "; ".join(p.message for p in report.problems))
    if report.output_shape is not None and report.output_shape != (spec.num_classes,):
        what = ("MSE compares the outputs with one-hot targets" if config.loss == "mse"
                else "cross-entropy needs one score per class")
        raise ConfigError(f"{what}, so the network must output {spec.num_classes} values, but it "
                          f"outputs {'x'.join(map(str, report.output_shape))}; make the last layer "
                          f"Linear {spec.num_classes}")
    if not report.valid:
        raise DesignError("the design cannot be trained: " + "; ".join(p.message for p in report.problems))
    # The whole run's memory, checked before anything is allocated (the formula: core/shapes.py).
    need, machine = training_bytes(report, config.batch_size), shapes.machine_memory_bytes()
    if need > machine:
        raise ConfigError(f"this design needs about {format_bytes(need)} to train at batch size "
                          f"{config.batch_size}; this machine has {format_bytes(machine)}: use a smaller "
                          f"batch size or fewer channels")


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    c = config
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                               weight_decay=c.weight_decay)
    if c.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.weight_decay)
    if c.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=c.lr, alpha=c.alpha, eps=c.eps, momentum=c.momentum,
                                   weight_decay=c.weight_decay)
    if c.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=c.lr, eps=c.eps, weight_decay=c.weight_decay)
    raise ConfigError(f"unknown optimizer {c.optimizer!r}")


def make_scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    """A per-step learning-rate schedule, or ``None`` for a constant rate."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "constant":
        return None
    if config.schedule == "one-cycle":
        # Momentum is left as the user set it rather than cycled.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   cycle_momentum=False)
    if config.schedule == "step":
        period = steps_per_epoch * config.step_epochs
        factor = lambda s: config.gamma ** (s // period)
    else:  # cosine
        factor = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
