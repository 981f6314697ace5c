"""The learning-rate finder on real MNIST: the loss falls then blows up, the suggestion lies in the
range, the caller's weights are untouched, and the suggestion for mlp-300 trains it to 95% in one epoch."""

from __future__ import annotations

import pytest
import torch

from playground.core.config import ConfigError, preset_config
from playground.core.data import load_config_dataset
from playground.core.lr_find import LrFinder, lr_find, steepest, valley
from playground.core.presets import get_preset
from playground.core.train import train


def test_the_loss_falls_then_explodes_and_the_suggestion_is_inside_the_range():
    spec = get_preset("mlp-300").spec
    config = preset_config("mlp-300", limit=3000)
    finding = lr_find(spec, config)
    lrs, losses = finding.lrs, finding.losses
    assert lrs[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(lrs, lrs[1:]))
    low = losses.index(min(losses))
    assert min(losses) < 0.9 * losses[0]  # it fell (the running average lags: fastai's 0.98)
    assert finding.diverged and losses[-1] > 4 * min(losses)  # then blew up, and the finder stopped there
    assert lrs[-1] < 10  # before the last rate
    assert lrs[0] < finding.suggested_lr < lrs[low]  # on the way down, before the lowest loss
    assert finding.suggested_lr == finding.steep_lr and lrs[0] < finding.valley_lr < lrs[-1]
    assert set(finding.to_dict()) >= {"suggested_lr", "lrs", "losses"}


def test_the_callers_weights_are_untouched():
    spec = get_preset("mlp-300").spec
    from playground.core.build import build_model

    state = {k: v.clone() for k, v in build_model(spec).state_dict().items()}
    before = {k: v.clone() for k, v in state.items()}
    LrFinder(spec, preset_config("mlp-300", limit=1000), initial_state=state, steps=20).run()
    assert all(torch.equal(state[k], before[k]) for k in state)


def test_suggestions_on_a_made_up_curve():
    lrs = [10 ** (i / 10 - 5) for i in range(50)]
    losses = [2.3] * 15 + [2.3 - 0.2 * i for i in range(1, 11)] + [0.3] * 15 + [0.3 + i for i in range(10)]
    assert lrs[14] <= steepest(lrs, losses) <= lrs[24]
    assert lrs[14] <= valley(lrs, losses) <= lrs[40]


@pytest.mark.parametrize("kwargs, message", [
    ({"start_lr": 1.0, "end_lr": 0.1}, "must be below"),
    ({"steps": 3}, "from 10 to 10000"),
    ({"end_lr": float("inf")}, "end_lr must be"),
    ({"suggestion": "middle"}, "steep, valley"),
])
def test_bad_ranges_say_so(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LrFinder(get_preset("mlp-300").spec, preset_config("mlp-300"), **kwargs)


def test_the_suggestion_for_mlp_300_trains_it_to_95_percent_in_one_epoch():
    """The issue's target: lr-find with the preset's optimizer (SGD, momentum 0.9, batch 64), then one
    epoch at the suggested rate on the whole training set (about 2 s here)."""
    spec = get_preset("mlp-300").spec
    config = preset_config("mlp-300", epochs=1)
    data = load_config_dataset(config)
    finding = lr_find(spec, config, data=data)
    lr = float(f"{finding.suggested_lr:.3g}")
    events, _ = train(spec, config.updated(lr=lr), data=data)
    assert events[-1]["status"] == "completed"
    assert events[-1]["test_accuracy"] >= 0.95, (lr, events[-1]["test_accuracy"])
