"""Every training setting describes itself once (SETTINGS), and TrainConfig validates from that."""

from __future__ import annotations

import dataclasses

import pytest

from playground.core.config import (SETTINGS, ConfigError, SettingSpec, TrainConfig, format_number, preset_config,
                                    range_text)

NUMBERS = [spec for spec in SETTINGS.values() if spec.kind in ("int", "float")]


def test_every_field_has_one_setting_in_field_order():
    assert list(SETTINGS) == [f.name for f in dataclasses.fields(TrainConfig)]
    defaults = TrainConfig()
    for name, spec in SETTINGS.items():
        assert spec.name == name and spec.kind in ("int", "float", "choice", "bool", "text")
        assert spec.label and spec.help, name
        assert spec.default == getattr(defaults, name)
        if spec.kind in ("int", "float"):
            assert spec.minimum is not None and spec.maximum is not None, name
        if spec.kind == "choice":
            assert spec.default in spec.choices
        for other, allowed in spec.applies_to.items():
            assert other in SETTINGS and all(SETTINGS[other].kind == "bool" or value in SETTINGS[other].choices
                                             for value in allowed)


def bump(spec: SettingSpec, bound: float, direction: int) -> float:
    """The next value past ``bound`` in ``direction`` that the setting's kind can hold."""
    if spec.kind == "int":
        return bound + direction
    return bound + direction * max(abs(bound) * 1e-9, 1e-12)


@pytest.mark.parametrize("spec", NUMBERS, ids=lambda s: s.name)
def test_validation_accepts_exactly_the_declared_range(spec):
    base = {"optimizer": "sgd", "momentum": 0.5} if spec.name == "nesterov" else {}
    low, high = spec.minimum, spec.maximum
    for value, inside in ((low, spec.min_inclusive), (high, spec.max_inclusive),
                          (bump(spec, low, -1), False), (bump(spec, high, 1), False),
                          (bump(spec, low, 1), True), (bump(spec, high, -1), True)):
        value = int(value) if spec.kind == "int" else float(value)
        if inside:
            assert getattr(TrainConfig(**base, **{spec.name: value}), spec.name) == value
        else:
            with pytest.raises(ConfigError) as caught:
                TrainConfig(**base, **{spec.name: value})
            assert f"must be {spec.range_text()}; got {format_number(value)}" in str(caught.value)


def test_range_messages_read_as_words():
    assert range_text(1, 65536) == "1 to 65536"
    assert range_text(0.0, 1e30, min_inclusive=False) == "above 0 and at most 1e30"
    assert range_text(0.0, 0.9, max_inclusive=False) == "at least 0 and below 0.9"
    assert range_text(0, 10, special=(0, "all images")) == "0 (all images) to 10"
    assert SETTINGS["eps"].range_text() == "above 0 and at most 1"
    with pytest.raises(ConfigError, match=r"validation fraction must be at least 0 and below 0.9; got 0.9$"):
        TrainConfig(val_fraction=0.9)
    with pytest.raises(ConfigError, match=r"eps must be above 0 and at most 1; got 0$"):
        TrainConfig(eps=0.0)
    assert TrainConfig(val_fraction=0.85).val_fraction == 0.85  # the form once capped this at 0.5
    assert TrainConfig(seed=2**63 - 1).seed == 2**63 - 1  # and this at 2**31 - 1


@pytest.mark.parametrize("spec", [s for s in SETTINGS.values() if s.kind == "choice"], ids=lambda s: s.name)
def test_choices_are_the_declared_ones(spec):
    for choice in spec.choices:
        assert getattr(TrainConfig(**{spec.name: choice}), spec.name) == choice
    with pytest.raises(ConfigError, match=f"{spec.name} must be one of {', '.join(spec.choices)}; got 'nope'"):
        TrainConfig(**{spec.name: "nope"})
    with pytest.raises(ConfigError, match=f"{spec.name} must be a name"):
        TrainConfig(**{spec.name: 3})


def test_kinds_are_checked_before_ranges():
    with pytest.raises(ConfigError, match="augment must be true or false; got 1"):
        TrainConfig(augment=1)
    with pytest.raises(ConfigError, match="epochs must be a whole number; got 2.0"):
        TrainConfig(epochs=2.0)
    with pytest.raises(ConfigError, match="gamma must be a finite number; got '0.5'"):
        TrainConfig(gamma="0.5")
    with pytest.raises(ConfigError, match="device must be a name such as auto, cpu"):
        TrainConfig(device="")


def test_where_a_setting_applies():
    values = dataclasses.asdict(TrainConfig(optimizer="sgd"))
    applying = {name for name, spec in SETTINGS.items() if spec.applies(values)}
    assert {"momentum", "nesterov"} <= applying
    assert not {"beta1", "beta2", "alpha", "eps", "step_epochs", "gamma", "max_shift"} & applying
    values = dataclasses.asdict(TrainConfig(optimizer="rmsprop", schedule="step", augment=True))
    applying = {name for name, spec in SETTINGS.items() if spec.applies(values)}
    assert {"alpha", "momentum", "eps", "step_epochs", "gamma", "max_shift", "max_rotation", "max_scale"} <= applying
    assert not {"nesterov", "beta1", "beta2"} & applying


def test_whole_numbers_in_json_are_taken_for_number_settings():
    config = TrainConfig.from_dict({"lr": 1, "max_shift": 3, "epochs": 2})
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.max_shift == 3.0 and config.epochs == 2
    assert preset_config("tutorial-cnn").optimizer == "sgd"
