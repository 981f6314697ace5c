"""The GAN presets' recipe: their default settings, the training recipe's choices, and the named
failures on real training figures (a few hundred real MNIST images, a few steps)."""

from __future__ import annotations

import pytest
import torch

from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.gan_spec import GAN_PRESETS, build_gan, infer_gan_shapes
from playground.core.gan_task import GanTask
from playground.core.train import Trainer


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist", val_fraction=0.0, seed=0, limit=384, test_limit=100)


def preset_config(name: str, **overrides) -> TrainConfig:
    return TrainConfig.from_dict({**GAN_PRESETS[name].train, "device": "cpu", **overrides})


def run(name: str, data, **overrides) -> list[dict]:
    trainer = Trainer(GAN_PRESETS[name].spec, preset_config(name, **overrides), data=data, report_interval=0.0,
                      task="gan")
    return list(trainer.run())


@pytest.mark.parametrize("name", sorted(GAN_PRESETS))
def test_each_preset_builds_and_its_settings_are_valid(name):
    preset = GAN_PRESETS[name]
    assert infer_gan_shapes(preset.spec).valid
    config = preset_config(name)
    assert config.optimizer == "adam" and not config.augment
    generator, discriminator = build_gan(preset.spec)
    z = torch.randn(3, preset.spec.generator_input[0])
    assert generator.eval()(z).shape == (3, 1, 28, 28)
    assert discriminator.eval()(torch.zeros(3, *preset.spec.discriminator_input)).shape == (3, 1)


def test_the_conditional_preset_is_told_the_digit():
    assert GAN_PRESETS["cgan"].spec.conditional
    assert not GAN_PRESETS["dcgan"].spec.conditional and not GAN_PRESETS["gan-mlp"].spec.conditional


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
def test_a_few_steps_of_each_preset_pull_real_and_generated_apart(small, name):
    events = run(name, small, epochs=2, batch_size=32)
    figures = [e for e in events if e["type"] == "gan_progress"]
    assert len(figures) == 24  # 384 images in batches of 32, two epochs, a report per step
    assert abs(figures[0]["d_real"] - figures[0]["d_fake"]) < 0.2
    assert max(e["d_real"] - e["d_fake"] for e in figures[-4:]) > 0.3
    quality = events[-1]["quality"]
    assert quality["count"] == 1000 and sum(quality["histogram"]) == 1000
    assert (quality["digit_accuracy"] is not None) == (name == "cgan")
    assert not any(w.startswith("Neither network is learning") for w in quality["warnings"])


def test_a_gan_that_cannot_learn_is_named(small):
    # A learning rate too small to move anything: the losses stay where they started.
    events = run("gan-mlp", small, epochs=1, batch_size=32, lr=1e-12)
    warnings = events[-1]["quality"]["warnings"]
    assert any(w.startswith("Neither network is learning") for w in warnings), warnings


def test_the_generator_average_weighs_the_whole_run_towards_its_end():
    # A one-weight "generator" whose weight is the step number: the average of steps 1..T with
    # weights growing as t ** 0.5 is about 0.6 T (an average of the last 10% would be about 0.95 T).
    task = GanTask(GAN_PRESETS["gan-mlp"].spec, preset_config("gan-mlp"))
    task.G, task.G_average, task.updates = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False), 0
    steps = 2000
    with torch.no_grad():
        task.G_average.weight.fill_(0.0)
        for t in range(1, steps + 1):
            task.G.weight.fill_(float(t))
            task._update_average()
    assert task.G_average.weight.item() == pytest.approx(0.6 * steps, rel=0.02)
