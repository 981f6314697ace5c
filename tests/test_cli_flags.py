"""``playground train`` has a flag for every training setting, generated from the settings' description."""

from __future__ import annotations

import subprocess
import sys

import pytest

from playground.cli.main import build_parser
from playground.cli.train import config_from_args
from playground.core.config import SETTINGS, TrainConfig, format_number


def train_help() -> str:
    result = subprocess.run([sys.executable, "-m", "playground", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())  # argparse wraps lines anywhere


def test_help_lists_every_setting_with_its_label_and_range():
    text = train_help()
    for spec in SETTINGS.values():
        assert spec.flag in text, spec.name
        assert f"{spec.title}" in text, spec.name
        if spec.kind in ("int", "float"):
            assert f"{spec.range_text()} (default {format_number(spec.default)})" in text, spec.name
    assert "--augment, --no-augment" in text and "--nesterov, --no-nesterov" in text
    assert "Shift up to (px), 0 to 8" in text and "with --augment" in text
    assert "Beta1, at least 0 and below 1 (default 0.9), with --optimizer adam or adamw" in text


def a_value(spec, config: TrainConfig):
    """A valid value for the setting that differs from the preset's."""
    current = getattr(config, spec.name)
    if spec.kind == "bool":
        return not current
    if spec.kind == "choice":
        return next(choice for choice in spec.choices if choice != current)
    if spec.kind == "text":
        return "cpu" if current != "cpu" else "auto"
    if spec.kind == "int":
        return spec.minimum + 1 if current != spec.minimum + 1 else spec.minimum + 2
    return spec.minimum + (spec.maximum - spec.minimum) * 0.3


def as_flags(spec, value) -> list[str]:
    if spec.kind == "bool":
        return [spec.flag if value else f"--no-{spec.flag[2:]}"]
    return [spec.flag, str(value)]


@pytest.mark.parametrize("spec", list(SETTINGS.values()), ids=lambda s: s.name)
def test_each_flag_reaches_the_config(spec):
    preset = "tutorial-cnn"
    context = {"optimizer": "sgd", "momentum": 0.5} if spec.name == "nesterov" else {}
    base = config_from_args(build_parser().parse_args(["train", "--preset", preset]))
    value = a_value(spec, base.updated(**context))
    argv = ["train", "--preset", preset, *as_flags(spec, value)]
    for name, other in context.items():
        argv += [SETTINGS[name].flag, str(other)]
    config = config_from_args(build_parser().parse_args(argv))
    assert getattr(config, spec.name) == value
    assert getattr(config, spec.name) != getattr(base, spec.name)  # the flag, not the preset, set it
    untouched = [name for name in SETTINGS if name != spec.name and name not in context]
    assert all(getattr(config, name) == getattr(base, name) for name in untouched)


@pytest.mark.parametrize("argv,message", [
    (["--beta2", "1"], "beta2 must be at least 0 and below 1; got 1"),
    (["--max-rotation", "90"], "the largest rotation must be 0 to 45; got 90"),
    (["--gamma", "0"], "gamma must be above 0 and at most 1; got 0"),
    (["--step-epochs", "0"], "step epochs must be 1 to 10000; got 0"),
    (["--eps", "2"], "eps must be above 0 and at most 1; got 2"),
])
def test_out_of_range_flags_exit_2_naming_the_range(argv, message):
    result = subprocess.run([sys.executable, "-m", "playground", "train", "--preset", "mlp-300", *argv],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"playground: error: {message}\n"


def test_the_old_flags_keep_working():
    args = build_parser().parse_args(["train", "--preset", "mlp-300", "--augment", "--optimizer", "sgd",
                                      "--nesterov", "--momentum", "0.9", "--no-augment"])
    config = config_from_args(args)
    assert config.nesterov is True and config.augment is False  # the last of --augment/--no-augment wins
