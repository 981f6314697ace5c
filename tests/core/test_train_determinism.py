"""The trainer's results do not depend on the clock: the same seed and data give the same epoch
figures, the same weights and the same divergence message whether progress reports come after every
step, once an epoch, or whenever a clock that jumps at random says so."""

from __future__ import annotations

import json
import math
import random
import time

import pytest
import torch

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core import train as train_module
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.runs import load_run, load_weights
from playground.core.train import train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")
CNN = NetworkSpec((L("Conv2d", out_channels=8, kernel_size=5), L("MaxPool2d"), L("BatchNorm"), L("ReLU"),
                   L("Flatten"), L("Linear", out_features=10)), name="tiny-cnn")

CLOCKS = ("every-step", "once-an-epoch", "jumping")


@pytest.fixture(scope="module")
def small():
    """800 training, 200 validation and 1000 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=1000, test_limit=1000)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=32, epochs=2, device="cpu", augment=True)
    base.update(kw)
    return TrainConfig(**base)


class JumpingClock:
    """``time`` as the trainer sees it, with a ``perf_counter`` that jumps forward at random (from no
    time at all to minutes), as on a machine that is sometimes idle and sometimes swamped."""

    def __init__(self, seed: int):
        self._random = random.Random(seed)
        self._now = 1000.0

    def perf_counter(self) -> float:
        self._now += self._random.choice((0.0, 1e-6, 0.003, 0.04, 0.2, 1.5, 90.0))
        return self._now

    def __getattr__(self, name):
        return getattr(time, name)


def run_with(clock, spec, cfg, data, monkeypatch, **kwargs):
    interval = {"every-step": 0.0, "once-an-epoch": 1e9, "jumping": 0.1}[clock]
    with monkeypatch.context() as m:
        if clock == "jumping":
            m.setattr(train_module, "time", JumpingClock(seed=7))
        return train(spec, cfg, data=data, report_interval=interval, **kwargs)


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


FIGURES = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "best")


def test_epoch_figures_and_weights_do_not_depend_on_the_clock(small, tmp_path, monkeypatch):
    cfg = config()
    runs = {clock: run_with(clock, CNN, cfg, small, monkeypatch, run_dir=tmp_path / clock) for clock in CLOCKS}

    # The windows really differed: after every step, only at each epoch's end, and in between.
    steps = {clock: [e["step"] for e in of_type(events, "progress")] for clock, (events, _) in runs.items()}
    assert steps["every-step"] == list(range(1, 51))
    assert steps["once-an-epoch"] == [25, 50]
    assert steps["jumping"] not in (steps["every-step"], steps["once-an-epoch"])
    assert {25, 50} <= set(steps["jumping"])

    figures = {clock: [{k: e[k] for k in FIGURES} for e in of_type(events, "epoch")]
               for clock, (events, _) in runs.items()}
    assert len(figures["every-step"]) == 2
    assert figures["every-step"][1]["train_loss"] < figures["every-step"][0]["train_loss"]
    assert figures["once-an-epoch"] == figures["every-step"]  # bit for bit, not approximately
    assert figures["jumping"] == figures["every-step"]

    finals = {clock: {k: events[-1][k] for k in ("status", "test_accuracy", "test_loss", "best_epoch")}
              for clock, (events, _) in runs.items()}
    assert finals["every-step"]["status"] == "completed" and finals["every-step"]["test_accuracy"] > 0.7
    assert finals["once-an-epoch"] == finals["every-step"] and finals["jumping"] == finals["every-step"]

    reference = runs["every-step"][1].latest_weights()
    for clock in ("once-an-epoch", "jumping"):
        weights = runs[clock][1].latest_weights()
        assert set(weights) == set(reference)
        assert all(torch.equal(weights[k], reference[k]) for k in reference), clock

    # What the run folder keeps is the same too: metrics.jsonl's epoch lines, run.json, the weights.
    on_disk = {}
    for clock in CLOCKS:
        run = load_run(tmp_path / clock)
        on_disk[clock] = ([{k: e[k] for k in FIGURES} for e in run.epochs],
                          {k: run.summary[k] for k in ("status", "epochs_completed", "test_accuracy",
                                                       "best_val_accuracy")})
        lines = [json.loads(line) for line in (tmp_path / clock / "metrics.jsonl").read_text().splitlines()]
        assert [{k: e[k] for k in FIGURES} for e in lines if e["type"] == "epoch"] == figures["every-step"]
        saved = load_weights(tmp_path / clock / "weights_last.safetensors")
        assert all(torch.equal(saved[k], reference[k]) for k in reference), clock
    assert on_disk["once-an-epoch"] == on_disk["every-step"] and on_disk["jumping"] == on_disk["every-step"]
    assert on_disk["every-step"][0] == figures["every-step"]


def test_progress_figures_are_the_averages_of_the_steps_since_the_last_report(small, monkeypatch):
    # 800 images in batches of 32: every step has 32 images, so a window's figure is the plain mean
    # of its steps' figures, which the run with a report after every step shows one by one.
    cfg = config(epochs=1, augment=False)
    per_step, _ = run_with("every-step", MLP, cfg, small, monkeypatch)
    jumping, _ = run_with("jumping", MLP, cfg, small, monkeypatch)
    loss = {e["step"]: e["train_loss"] for e in of_type(per_step, "progress")}
    accuracy = {e["step"]: e["train_accuracy"] for e in of_type(per_step, "progress")}
    reports = of_type(jumping, "progress")
    assert 2 <= len(reports) < 25
    previous = 0
    for report in reports:
        window = range(previous + 1, report["step"] + 1)
        assert report["train_loss"] == pytest.approx(sum(loss[s] for s in window) / len(window), rel=1e-6)
        assert report["train_accuracy"] == pytest.approx(sum(accuracy[s] for s in window) / len(window),
                                                         rel=1e-9)
        previous = report["step"]
    assert previous == 25
    # The epoch's figures are those of all its steps.
    epoch = of_type(jumping, "epoch")[0]
    assert epoch["train_loss"] == pytest.approx(sum(loss.values()) / 25, rel=1e-6)
    assert epoch["train_accuracy"] == pytest.approx(sum(accuracy.values()) / 25, rel=1e-9)


DIVERGING = [
    pytest.param(dict(loss="mse", lr=1e30), "became nan", id="nan"),
    pytest.param(dict(loss="mse", lr=10.0), "exploded to", id="exploded"),
    # One cycle raises the rate for a while: the first epoch goes well and the second diverges.
    pytest.param(dict(loss="mse", lr=15.0, schedule="one-cycle", epochs=6), "exploded to", id="second-epoch"),
]


def named_step(message: str) -> tuple[int, int]:
    epoch, step = message.split(" at epoch ")[1].split(":")[0].split(", step ")
    return int(epoch), int(step)


@pytest.mark.parametrize("settings,word", DIVERGING)
def test_divergence_is_named_at_its_first_step_whatever_the_clock(small, tmp_path, monkeypatch, settings, word):
    cfg = config(optimizer="sgd", momentum=0.0, augment=False, **settings)
    runs = {clock: run_with(clock, MLP, cfg, small, monkeypatch, run_dir=tmp_path / clock)
            for clock in CLOCKS}
    messages = {clock: events[-1]["message"] for clock, (events, _) in runs.items()}
    assert word in messages["every-step"]
    assert f"learning rate ({cfg.lr:g}) is probably too high" in messages["every-step"]
    assert messages["once-an-epoch"] == messages["every-step"]
    assert messages["jumping"] == messages["every-step"]

    # The step named is the first bad one: with a report after every step, each step before it was
    # reported with a finite, sane loss, and the last report is that step's own (the curve shows the
    # explosion), with nothing after it.
    bad_epoch, bad_step = named_step(messages["every-step"])
    assert bad_step > 1
    progress = of_type(runs["every-step"][0], "progress")
    assert [e["step"] for e in progress] == list(range(1, bad_step + 1))
    assert all(math.isfinite(e["train_loss"]) and e["train_loss"] <= 1e4 for e in progress[:-1])
    assert not (math.isfinite(progress[-1]["train_loss"]) and progress[-1]["train_loss"] <= 1e4)

    for clock, (events, trainer) in runs.items():
        final = events[-1]
        assert final["status"] == "failed" and final["epochs"] == bad_epoch - 1
        assert [e["epoch"] for e in of_type(events, "epoch")] == list(range(1, bad_epoch))
        assert all(e["step"] <= bad_step for e in of_type(events, "progress"))  # the bad step, and none after
        assert load_run(tmp_path / clock).summary["status"] == "failed"
        last = tmp_path / clock / "weights_last.safetensors"
        if bad_epoch == 1:
            assert not last.exists() and final["test_accuracy"] is None  # no diverged weights saved
        else:
            # The last good epoch's weights are kept, and tested.
            kept, saved = trainer.latest_weights(), load_weights(last)
            assert all(torch.equal(saved[k], kept[k]) and torch.isfinite(kept[k]).all() for k in kept)
            assert final["best_epoch"] == bad_epoch - 1 and final["test_accuracy"] is not None


@pytest.mark.parametrize("settings,word", DIVERGING)
def test_divergence_found_in_the_buffered_losses(small, monkeypatch, settings, word):
    # On an accelerator the losses are read every few steps rather than after each one (a read waits
    # for the device); the first bad step in that buffer is named all the same.
    cfg = config(optimizer="sgd", momentum=0.0, augment=False, **settings)
    per_step = run_with("every-step", MLP, cfg, small, monkeypatch)[0][-1]["message"]
    for every in (7, train_module.LOSS_CHECK_STEPS):
        monkeypatch.setattr(train_module, "_loss_check_steps", lambda device, every=every: every)
        for clock in ("once-an-epoch", "jumping"):
            events, _ = run_with(clock, MLP, cfg, small, monkeypatch)
            assert events[-1]["message"] == per_step, (every, clock)
