"""The trainer on a few hundred real MNIST images: learning, determinism, control, failures, runs."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import load_dataset
from playground.core.runs import load_optimizer, load_run, load_weights
from playground.core.train import Trainer, train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")
CNN = NetworkSpec((L("Conv2d", out_channels=8, kernel_size=5), L("MaxPool2d"), L("BatchNorm"), L("ReLU"),
                   L("Flatten"), L("Linear", out_features=10)), name="tiny-cnn")


@pytest.fixture(scope="module")
def small():
    """800 training, 200 validation and 1000 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=1000, test_limit=1000)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=32, epochs=3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


def test_training_learns_and_reports(small):
    events, trainer = train(MLP, config(), data=small, report_interval=0.0)
    start, final = events[0], events[-1]
    assert start["type"] == "start" and start["train_size"] == 800 and start["val_size"] == 200
    assert start["steps_per_epoch"] == 25 and start["total_steps"] == 75
    epochs = of_type(events, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["val_accuracy"] > 0.8
    progress = of_type(events, "progress")
    assert len(progress) == 75  # report_interval 0: one per step
    # At the last step only the last validation is left, estimated by the previous one's time.
    assert progress[-1]["step"] == 75 and 0 < progress[-1]["eta_seconds"] < epochs[1]["seconds"]
    assert all(isinstance(v, (int, float, str, bool, type(None))) for e in events for k, v in e.items()
               if e["type"] != "histograms"  # whose layers are a list (tests/core/test_histograms.py)
               and k != "classes")  # the start event's class names
    assert start["classes"] == [str(d) for d in range(10)]
    assert final["type"] == "finished" and final["status"] == "completed"
    assert final["epochs"] == 3 and final["test_accuracy"] > 0.8
    assert final["test_accuracy"] == trainer.evaluation.accuracy
    assert final["samples_per_second"] > 0


class SteadyClock:
    """``time`` as the trainer sees it, with a ``perf_counter`` that moves 10 ms at each reading, so
    that how many reports come does not depend on how busy the machine is."""

    def __init__(self):
        self._now = 100.0

    def perf_counter(self) -> float:
        self._now += 0.01
        return self._now

    def __getattr__(self, name):
        return getattr(time, name)


def test_progress_is_throttled_by_time(small, monkeypatch):
    from playground.core import train as train_module

    monkeypatch.setattr(train_module, "time", SteadyClock())
    events, _ = train(CNN, config(epochs=1, batch_size=8), data=small, report_interval=0.05)
    progress = of_type(events, "progress")
    assert 10 <= len(progress) < 50  # 100 steps, reported at most every 50 ms (+ the epoch's last)
    assert progress[-1]["step"] == 100
    stamps = [e["elapsed_seconds"] for e in progress[:-1]]
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(stamps, stamps[1:]))


def _metrics(events):
    drop = {"seconds", "elapsed_seconds", "samples_per_second", "eta_seconds", "train_seconds", "run_dir"}
    return [{k: v for k, v in e.items() if k not in drop} for e in events if e["type"] in ("epoch", "finished")]


def test_same_seed_same_metrics(small):
    cfg = config(epochs=2, augment=True)
    first, _ = train(CNN, cfg, data=small)
    second, _ = train(CNN, cfg, data=small)
    assert _metrics(first) == _metrics(second)
    other, _ = train(CNN, cfg.updated(seed=1), data=small)
    assert _metrics(other) != _metrics(first)


def test_loss_choice_matters_and_mse_learns(small):
    ce, _ = train(MLP, config(epochs=2), data=small)
    mse, _ = train(MLP, config(epochs=2, loss="mse"), data=small)
    assert of_type(ce, "epoch")[-1]["train_loss"] != of_type(mse, "epoch")[-1]["train_loss"]
    assert mse[-1]["test_accuracy"] > 0.7


def test_incompatible_design_is_a_clear_error():
    wide = NetworkSpec((L("Flatten"), L("Linear", out_features=100)))
    with pytest.raises(ConfigError, match="MSE compares the outputs with one-hot targets.*outputs 100"):
        Trainer(wide, config(loss="mse"))
    with pytest.raises(ConfigError, match="device 'cuda:3' is not available"):
        Trainer(MLP, config(device="cuda:3"))


def test_pause_and_resume(small):
    trainer = Trainer(CNN, config(epochs=2, batch_size=8), data=small, report_interval=0.02)
    events, times = [], {}
    started = time.perf_counter()
    for event in trainer.run():
        events.append(event)
        if event["type"] == "progress" and "paused" not in times:
            trainer.pause()
        elif event["type"] == "paused":
            times["paused"] = time.perf_counter()
            threading.Timer(0.4, trainer.resume).start()
        elif event["type"] == "resumed":
            times["resumed"] = time.perf_counter()
    wall = time.perf_counter() - started
    events = [e for e in events if e["type"] != "histograms"]  # they follow some progress reports
    kinds = [e["type"] for e in events]
    i = kinds.index("paused")
    assert kinds[i + 1] == "resumed" and kinds[i - 1] == "progress"
    # Paused at once (no step between asking and pausing), and no step while paused.
    assert events[i - 1]["step"] == events[i]["step"] == events[i + 1]["step"]
    assert times["resumed"] - times["paused"] >= 0.39  # waited for the resume
    assert events[-1]["status"] == "completed" and events[-1]["epochs"] == 2
    # Paused time is not training time: the 0.4 s of the pause are not in the run's training time.
    assert events[-1]["train_seconds"] <= wall - 0.39


def test_stop_answers_quickly_and_keeps_weights(small, tmp_path):
    trainer = Trainer(CNN, config(epochs=50, batch_size=8), data=small, run_dir=tmp_path / "run",
                      report_interval=0.02)
    asked = stopped = None
    for event in trainer.run():
        if event["type"] == "epoch" and asked is None:
            asked = event
            trainer.stop()
        if event["type"] == "stopped":
            stopped = event
    final = event
    assert stopped["step"] == asked["step"]  # at once: no step after the request
    assert final["status"] == "stopped" and final["epochs"] == 1
    assert final["test_accuracy"] > 0.5
    run = load_run(tmp_path / "run")
    assert run.summary["status"] == "stopped"
    weights = load_weights(tmp_path / "run" / "weights_last.safetensors")
    latest = trainer.latest_weights()
    assert set(weights) == set(latest)
    assert all(torch.equal(weights[k], latest[k]) for k in weights)


def test_stop_while_paused(small):
    trainer = Trainer(CNN, config(epochs=5, batch_size=8), data=small, report_interval=0.02)
    kinds = []
    for event in trainer.run():
        kinds.append(event["type"])
        if event["type"] == "progress" and "paused" not in kinds:
            trainer.pause()
        if event["type"] == "paused":
            threading.Timer(0.1, trainer.stop).start()
    assert kinds[-3:] == ["resumed", "stopped", "finished"]
    assert event["status"] == "stopped" and event["test_accuracy"] is not None


@pytest.mark.parametrize("loss,lr,word", [("mse", 1e30, "became nan at epoch 1, step 2"),
                                          ("cross-entropy", 1e6, "at epoch 1, step 2")])
def test_huge_learning_rate_stops_with_advice(small, tmp_path, loss, lr, word):
    cfg = config(optimizer="sgd", lr=lr, momentum=0.0 if loss == "mse" else 0.9, epochs=2, loss=loss)
    events, trainer = train(MLP, cfg, data=small, run_dir=tmp_path / "nan")
    final = events[-1]
    assert final["status"] == "failed"
    assert word in final["message"]
    assert f"learning rate ({lr:g}) is probably too high" in final["message"]
    assert final["epochs"] == 0 and final["test_accuracy"] is None
    assert not of_type(events, "epoch")
    assert load_run(tmp_path / "nan").summary["status"] == "failed"
    assert not (tmp_path / "nan" / "weights_last.safetensors").exists()  # no diverged weights saved


def test_out_of_memory_stops_with_advice_and_process_stays_usable(small, monkeypatch):
    trainer = Trainer(MLP, config(batch_size=64), data=small)
    events = trainer.run()
    assert next(events)["type"] == "start"
    calls = {"n": 0}
    real_forward = trainer.model.forward

    def forward(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(x)

    monkeypatch.setattr(trainer.model, "forward", forward)
    rest = list(events)
    final = rest[-1]
    assert final["status"] == "failed"
    assert "ran out of memory at batch size 64" in final["message"]
    assert "smaller batch size (for example 32)" in final["message"]
    # The process goes on: another run trains normally.
    again, _ = train(MLP, config(epochs=1), data=small)
    assert again[-1]["status"] == "completed"


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_learns(optimizer, small):
    lr = {"sgd": 0.05, "adam": 0.003, "adamw": 0.003, "rmsprop": 0.001, "adagrad": 0.05}[optimizer]
    events, _ = train(MLP, config(optimizer=optimizer, lr=lr, epochs=2, momentum=0.9,
                                  nesterov=optimizer == "sgd"), data=small)
    assert events[-1]["test_accuracy"] > 0.75, optimizer


@pytest.mark.parametrize("schedule,end_factor", [("constant", 1.0), ("step", 0.25), ("cosine", 0.0),
                                                 ("one-cycle", 0.0)])
def test_schedules(schedule, end_factor, small):
    events, _ = train(MLP, config(schedule=schedule, lr=0.01, gamma=0.5, step_epochs=1), data=small,
                      report_interval=0.0)
    lrs = [e["lr"] for e in of_type(events, "progress")]
    assert lrs[-1] == pytest.approx(0.01 * end_factor, abs=1e-5)
    if schedule == "one-cycle":
        assert max(lrs) == pytest.approx(0.01, rel=0.05) and lrs[0] < 0.002


def test_run_folder_reads_back(small, tmp_path):
    events, trainer = train(CNN, config(epochs=2), data=small, run_dir=tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert run.spec == CNN and run.config == config(epochs=2)
    assert run.summary["status"] == "completed" and run.summary["epochs_completed"] == 2
    assert [e["val_accuracy"] for e in run.epochs] == [e["val_accuracy"] for e in of_type(events, "epoch")]
    assert run.evaluation.accuracy == events[-1]["test_accuracy"]
    model = run.load_model("best")
    x = small.test.images.unsqueeze(1).float() / 255
    with torch.no_grad():
        pred = model(x).argmax(1).tolist()
    assert pred == run.evaluation.predictions
    state = load_optimizer(tmp_path / "run" / "optimizer.safetensors")
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    trainer.optimizer.load_state_dict(state)  # the saved state fits the optimizer again


def test_continue_from_saved_state(small, tmp_path):
    _, first = train(MLP, config(epochs=1), data=small, run_dir=tmp_path / "a")
    state = load_weights(tmp_path / "a" / "weights_last.safetensors")
    opt = load_optimizer(tmp_path / "a" / "optimizer.safetensors")
    events, _ = train(MLP, config(epochs=1), data=small, initial_state=state, optimizer_state=opt,
                      report_interval=0.0)
    first_loss = of_type(events, "progress")[0]["train_loss"]  # the first step's
    fresh, _ = train(MLP, config(epochs=1), data=small, report_interval=0.0)
    assert first_loss < of_type(fresh, "progress")[0]["train_loss"] / 2


def test_stop_without_final_evaluation(small):
    trainer = Trainer(CNN, config(epochs=20, batch_size=8), data=small, report_interval=0.02)
    for event in trainer.run():
        if event["type"] == "progress":
            trainer.stop(evaluate=False)
    assert event["status"] == "stopped" and event["test_accuracy"] is None


def test_guarded_turns_exceptions_into_an_error_event():
    from playground.core.train import guarded

    def failing():
        yield {"type": "start"}
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    events = list(guarded(failing()))
    assert events[-1] == {"type": "error", "error": "RuntimeError",
                          "message": "mat1 and mat2 shapes cannot be multiplied"}
