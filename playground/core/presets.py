"""Ready-made designs, each with a line on what it is and the training settings it is meant for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playground.core.layers import make_layer as L
from playground.core.spec import NetworkSpec


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    spec: NetworkSpec
    tagline: str  # a few words for menus
    # Overrides of TrainConfig's defaults that this preset is meant to be trained with.
    train: dict[str, Any] = field(default_factory=dict)


TAGLINES = {
    "mlp-300": "a classic two-layer perceptron",
    "tutorial-cnn": "the PyTorch tutorial's CNN",
    "lenet5": "LeCun's LeNet-5 (1998)",
    "fast-cnn": "99% in seconds on a CPU",
    "lstm-rows": "an LSTM reading rows",
}


def _preset(name: str, summary: str, layers, train: dict[str, Any]) -> Preset:
    return Preset(name, summary, NetworkSpec(tuple(layers), name=name, description=summary), TAGLINES[name], train)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset(
            "mlp-300",
            "Two-layer perceptron, 784-300-10 (LeCun et al. 1998 report 4.7% test error).",
            [L("Flatten"), L("Linear", out_features=300), L("ReLU"), L("Linear", out_features=10)],
            {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "batch_size": 64, "epochs": 5,
             "schedule": "cosine"},
        ),
        _preset(
            "tutorial-cnn",
            "The classic PyTorch MNIST tutorial net: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc 10.",
            [L("Conv2d", out_channels=20, kernel_size=5), L("ReLU"), L("MaxPool2d", kernel_size=2),
             L("Conv2d", out_channels=50, kernel_size=5), L("ReLU"), L("MaxPool2d", kernel_size=2),
             L("Flatten"), L("Linear", out_features=500), L("ReLU"), L("Linear", out_features=10)],
            {"optimizer": "sgd", "lr": 0.01, "momentum": 0.5, "batch_size": 64, "epochs": 1,
             "schedule": "constant"},
        ),
        _preset(
            "lenet5",
            "LeNet-5 (LeCun et al. 1998): conv 6@5x5, pool, conv 16@5x5, pool, fc 120, fc 84, fc 10; "
            "ReLU and max pooling in place of the original squashing and subsampling.",
            [L("Conv2d", out_channels=6, kernel_size=5, padding=2), L("ReLU"),
             L("MaxPool2d", kernel_size=2),
             L("Conv2d", out_channels=16, kernel_size=5), L("ReLU"), L("MaxPool2d", kernel_size=2),
             L("Flatten"), L("Linear", out_features=120), L("ReLU"), L("Linear", out_features=84),
             L("ReLU"), L("Linear", out_features=10)],
            # Small random distortions, as LeCun et al. used for their best LeNet-5 result.
            {"optimizer": "adam", "lr": 0.002, "batch_size": 128, "epochs": 15,
             "schedule": "one-cycle", "augment": True},
        ),
        _preset(
            "fast-cnn",
            "A small batch-normalised CNN tuned to pass 99% test accuracy in seconds on a CPU.",
            # Pooling before normalising and activating gives the same kind of network at a
            # quarter of the element-wise work, which dominates on a CPU.
            [L("Conv2d", out_channels=16, kernel_size=5, padding=2, bias=False),
             L("MaxPool2d", kernel_size=2), L("BatchNorm"), L("ReLU"),
             L("Conv2d", out_channels=32, kernel_size=5, padding=2, bias=False),
             L("MaxPool2d", kernel_size=2), L("BatchNorm"), L("ReLU"),
             L("Flatten"), L("Linear", out_features=10)],
            {"optimizer": "adam", "lr": 0.01, "batch_size": 128, "epochs": 2,
             "schedule": "one-cycle"},
        ),
        _preset(
            "lstm-rows",
            "An LSTM that reads the image one row at a time (28 steps of 28 pixels), then fc 10.",
            [L("LSTM", hidden_size=128), L("Linear", out_features=10)],
            {"optimizer": "adam", "lr": 0.002, "batch_size": 128, "epochs": 3,
             "schedule": "one-cycle"},
        ),
    )
}

DEFAULT_PRESET = "tutorial-cnn"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
