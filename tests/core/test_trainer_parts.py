"""The trainer's parts: its stopwatch, and the seam for a second kind of training (a tiny autoencoder
on real MNIST images goes through the same loop, controls, checks, events and run folder)."""

from __future__ import annotations

import math
import time

import pytest
import torch

from playground.core import PRESETS, NetworkSpec
from playground.core import make_layer as L
from playground.core import train as train_module
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import load_dataset
from playground.core.events import EVENT_FIELDS
from playground.core.objective import to_input
from playground.core.runs import load_optimizer, load_run, load_weights
from playground.core.tasks import ClassifierTask, TrainingTask
from playground.core.train import TASKS
from playground.core.train import Trainer
from playground.core.worker import TrainingProcess

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=32), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-32")


@pytest.fixture(scope="module")
def small():
    """480 training, 120 validation and 600 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=600, test_limit=600)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=32, epochs=3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


class ManualClock:
    """``time`` as the trainer sees it, with a ``perf_counter`` the test sets."""

    now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def __getattr__(self, name):
        return getattr(time, name)


def test_the_stopwatch_leaves_pauses_out(monkeypatch):
    clock = ManualClock()
    monkeypatch.setattr(train_module, "time", clock)
    watch = train_module._Stopwatch()
    clock.now = 100.0
    watch.start_epoch()
    watch.samples += 64
    watch.lap(101.0)  # a report after 1 s of steps
    clock.now = 102.0
    watch.pause()
    clock.now = 112.0  # 10 s paused
    watch.resume()
    assert watch.elapsed(113.0) == 3.0
    clock.now = 113.0
    watch.stop_steps()
    assert watch.step_seconds == 3.0 and watch.samples_per_second() == 64 / 3
    watch.start_validation()
    clock.now = 114.5
    watch.end_validation()
    watch.end_epoch()
    assert watch.val_seconds == 1.5 and watch.loop_seconds == 4.5
    # 3 s for 6 steps, 4 steps and 2 validations left.
    assert watch.eta(6, 4, 2) == 3.0 / 6 * 4 + 1.5 * 2


class Reconstruct(TrainingTask):
    """A second kind of training: an autoencoder that learns to rebuild its images (no labels). A
    step's "right answers" are the images it rebuilds closely."""

    CLOSE = 0.04  # mean squared error per pixel
    fail_at: tuple[int, str] | None = None  # (the run's step, "nan" or "oom"), for the failure tests

    def set_up(self, data, device, initial_state, optimizer_state) -> None:
        self.data, self.device = data, device
        self.model = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 784),
                                         torch.nn.Sigmoid()).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        self.X = to_input(data.train.images, device).flatten(1)
        self.steps_per_epoch = math.ceil(len(self.X) / self.config.batch_size)
        self.lr = self.config.lr
        self.released = False
        self.steps_done = 0

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def step(self, b):
        bs = self.config.batch_size
        x = self.X[b * bs:(b + 1) * bs]
        self.steps_done += 1
        if self.fail_at and self.fail_at[0] == self.steps_done:
            if self.fail_at[1] == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            x = x * float("nan")
        error = ((self.model(x) - x) ** 2).mean(1)
        loss = error.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (error < self.CLOSE).sum(), len(x)

    def validate(self, should_stop):
        x = to_input(self.data.val.images, self.device).flatten(1)
        with torch.no_grad():
            error = ((self.model(x) - x) ** 2).mean(1)
        return error.mean().item(), (error < self.CLOSE).float().mean().item()

    def weights(self):
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def optimizer_state(self):
        return self.optimizer.state_dict()

    def release_memory(self) -> None:
        self.released = True


@pytest.fixture
def reconstruct(monkeypatch):
    monkeypatch.setitem(TASKS, "reconstruct", Reconstruct)
    return Reconstruct


def test_a_second_kind_of_training_runs_through_the_trainer(small, tmp_path, reconstruct):
    trainer = Trainer(MLP, config(), data=small, run_dir=tmp_path / "run", report_interval=0.0,
                      task="reconstruct")
    events = list(trainer.run())
    assert isinstance(trainer.task, Reconstruct) and trainer.model is trainer.task.model
    assert all(set(e) == EVENT_FIELDS[e["type"]] for e in events)
    start, final = events[0], events[-1]
    assert start["train_size"] == 480 and start["steps_per_epoch"] == 15 and start["parameters"] == 50992
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["val_loss"] < epochs[0]["val_loss"] and epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert final["status"] == "completed" and final["steps"] == 45 and final["test_accuracy"] is None
    # The run folder: its weights and optimizer, the same log, and no evaluation (the task has none).
    run = load_run(tmp_path / "run")
    assert run.summary["status"] == "completed" and run.summary["epochs_completed"] == 3
    assert run.events == events and run.evaluation is None
    last = load_weights(tmp_path / "run" / "weights_last.safetensors")
    assert set(last) == set(trainer.model.state_dict()) == set(trainer.latest_weights())
    trainer.optimizer.load_state_dict(load_optimizer(tmp_path / "run" / "optimizer.safetensors"))


def test_a_second_kind_stops_and_pauses_like_the_classifier(small, tmp_path, reconstruct):
    trainer = Trainer(MLP, config(epochs=20), data=small, run_dir=tmp_path / "run", report_interval=0.0,
                      task="reconstruct")
    kinds = []
    for event in trainer.run():
        kinds.append(event["type"])
        if event["type"] == "progress" and event["step"] == 20:
            trainer.pause()
        elif event["type"] == "paused":
            trainer.stop()
    assert kinds[-4:] == ["paused", "resumed", "stopped", "finished"]
    assert event["status"] == "stopped" and event["message"] == "Stopped at epoch 2, step 20."
    assert (tmp_path / "run" / "weights_best.safetensors").is_file()


@pytest.mark.parametrize("how,message", [
    ("nan", "The loss became nan at epoch 2, step 20: the learning rate (0.003) is probably too high."),
    ("oom", "The cpu ran out of memory at batch size 32. Try a smaller batch size (for example 16)")])
def test_divergence_and_out_of_memory_end_any_kind_of_training(small, reconstruct, monkeypatch, how, message):
    monkeypatch.setattr(Reconstruct, "fail_at", (20, how))  # in epoch 2 (15 steps an epoch)
    trainer = Trainer(MLP, config(), data=small, report_interval=0.0, task="reconstruct")
    events = list(trainer.run())
    final = events[-1]
    assert final["status"] == "failed" and final["message"].startswith(message)
    assert final["epochs"] == 1 and final["best_epoch"] == 1
    assert trainer.task.released == (how == "oom")


def test_the_classifier_is_the_default_kind_and_unknown_kinds_are_refused(small):
    assert TASKS["classifier"] is ClassifierTask
    assert isinstance(Trainer(MLP, config(), data=small).task, ClassifierTask)
    with pytest.raises(ConfigError, match="unknown kind of training 'vae'; known: classifier, gan"):
        Trainer(MLP, config(), data=small, task="vae")
    with pytest.raises(ConfigError, match="a GAN run needs a GAN design"):
        Trainer(MLP, config(), data=small, task="gan")


def test_the_worker_passes_the_kind_of_training_through(tmp_path):
    job = {"design": PRESETS["mlp-300"].spec.to_dict(), "config": config(epochs=1, limit=200, test_limit=200).to_dict(),
           "run_dir": str(tmp_path / "run"), "task": "vae"}
    events = list(TrainingProcess().run(job))
    assert events == [{"type": "error", "error": "ConfigError",
                       "message": "unknown kind of training 'vae'; known: classifier, gan"}]
    job["task"] = "gan"  # a classifier's design is not a GAN's
    events = list(TrainingProcess().run(job))
    assert events[-1]["type"] == "error" and "not a GAN design" in events[-1]["message"]
    job["task"] = "classifier"
    events = list(TrainingProcess().run(job))
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "completed"
