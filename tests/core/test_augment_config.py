"""Augmentation and training settings."""

from __future__ import annotations

import json

import pytest
import torch

from playground.core.augment import random_affine
from playground.core.config import ConfigError, TrainConfig, preset_config, resolve_device


def centre_of_mass(img: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    total = img.sum()
    return float((ys * img).sum() / total), float((xs * img).sum() / total)


def test_zero_augmentation_is_identity(mnist):
    x = mnist.test.images[:16].unsqueeze(1).float() / 255
    g = torch.Generator().manual_seed(0)
    y = random_affine(x, g, max_shift=0, max_rotation=0, max_scale=0)
    assert torch.allclose(x, y, atol=1e-5)


def test_augmentation_moves_digits_a_little(mnist):
    x = mnist.test.images[:64].unsqueeze(1).float() / 255
    g = torch.Generator().manual_seed(0)
    y = random_affine(x, g, max_shift=3, max_rotation=0, max_scale=0)
    shifts = [max(abs(a - b) for a, b in zip(centre_of_mass(x[i, 0]), centre_of_mass(y[i, 0])))
              for i in range(64)]
    assert max(shifts) <= 3.3 and sum(shifts) / 64 > 0.5
    # Ink is kept (no digit pushed out of the frame).
    assert (y.sum((1, 2, 3)) / x.sum((1, 2, 3))).min() > 0.85


def test_config_round_trip_and_preset_defaults():
    cfg = preset_config("fast-cnn", epochs=5)
    assert cfg.optimizer == "adam" and cfg.schedule == "one-cycle" and cfg.epochs == 5
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["format_version"] == 1


@pytest.mark.parametrize("changes,fragment", [
    ({"lr": 0}, "learning rate must be above 0"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"batch_size": 0}, "batch size must be 1 to 65536"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam"),
    ({"loss": "hinge"}, "loss must be one of cross-entropy, mse"),
    ({"nesterov": True, "optimizer": "adam"}, "Nesterov momentum needs the sgd optimizer"),
    ({"val_fraction": 0.95}, "validation fraction"),
])
def test_bad_settings_are_named(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        TrainConfig(**changes)


def test_config_files_are_checked():
    with pytest.raises(ConfigError, match="unknown setting 'learning_rate'"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="unknown format_version 7"):
        TrainConfig.from_dict({"format_version": 7})
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0


def test_devices():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda:0", "mps")
    with pytest.raises(ConfigError, match="not available here; available: cpu"):
        resolve_device("tpu")
