"""The events of real runs have exactly the fields core/events.py documents, of the documented types,
whether they come from the trainer, from its run folder's metrics.jsonl or through the worker's pipe."""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from playground.core import PRESETS, NetworkSpec
from playground.core import make_layer as L
from playground.core import runs
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.events import EVENT_FIELDS, EVENT_TYPES
from playground.core.train import Trainer, guarded
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


def fits(value, hint) -> bool:
    """Whether ``value`` is of the annotated type (ints count as floats, bools as neither)."""
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin in (Union, types.UnionType):
        return any(fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if is_typeddict(hint):  # a nested record (a histograms event's layers): exactly its fields
        inner = get_type_hints(hint)
        return (isinstance(value, dict) and set(value) == set(inner)
                and all(fits(value[k], inner[k]) for k in inner))
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, (int, float))
    if origin in (list, dict):
        inner = get_args(hint)[-1:] if origin is dict else get_args(hint)
        items = value.values() if isinstance(value, dict) else value
        return isinstance(value, origin) and all(fits(item, h) for item in items for h in inner)
    return isinstance(value, hint)


def assert_documented(event: dict) -> None:
    hints = get_type_hints(EVENT_TYPES[event["type"]])
    assert set(event) == set(hints), (event["type"], set(event) ^ set(hints))
    for key, value in event.items():
        assert fits(value, hints[key]), (event["type"], key, value, hints[key])


def test_every_event_of_a_run_with_pause_and_stop_is_documented(small, tmp_path):
    trainer = Trainer(MLP, config(), data=small, run_dir=tmp_path / "run", report_interval=0.0)
    events = []
    for event in trainer.run():
        events.append(event)
        if event["type"] == "progress" and event["step"] == 3:
            trainer.pause()
        elif event["type"] == "paused":
            trainer.resume()
        elif event["type"] == "epoch" and event["epoch"] == 2:
            trainer.stop()
    kinds = [e["type"] for e in events]
    assert {"start", "progress", "histograms", "paused", "resumed", "epoch", "stopped", "finished"} == set(kinds)
    assert kinds[-2:] == ["stopped", "finished"] and events[-1]["status"] == "stopped"
    for event in events:
        assert_documented(event)
    # The run folder logs the very same dicts, key for key and value for value.
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == events
    assert runs.read_events(tmp_path / "run") == events


def test_a_run_without_validation_and_a_failed_run_are_documented(small):
    no_val = load_dataset("mnist", val_fraction=0.0, seed=0, limit=300, test_limit=300)
    events = list(Trainer(MLP, config(epochs=1), data=no_val).run())
    assert [e for e in events if e["type"] == "epoch"][0]["val_loss"] is None
    diverged = list(Trainer(MLP, config(optimizer="sgd", lr=1e6, momentum=0.9), data=small).run())
    assert diverged[-1]["status"] == "failed" and diverged[-1]["best_epoch"] is None
    for event in events + diverged:
        assert_documented(event)


def test_the_error_event_of_a_failed_job_is_documented(small):
    empty = dataclasses.replace(small, train=small.train.head(0))
    events = list(guarded(Trainer(MLP, config(), data=empty).run()))
    assert events == [{"type": "error", "error": "ConfigError",
                       "message": "there are no training images (is limit too small?)"}]
    assert_documented(events[0])


def test_events_through_the_worker_pipe_are_documented(tmp_path):
    cfg = config(epochs=1, limit=300, test_limit=300, val_fraction=0.2, batch_size=16)
    job = {"design": PRESETS["mlp-300"].spec.to_dict(), "config": cfg.to_dict(),
           "run_dir": str(tmp_path / "run"), "report_interval": 0.0}
    events = list(TrainingProcess().run(job))
    assert events[0]["type"] == "start" and events[-1]["type"] == "finished"
    for event in events:
        assert_documented(event)


def test_a_histograms_event_has_exactly_its_documented_fields(small):
    from playground.core.events import HistogramLayer

    events = list(Trainer(MLP, config(epochs=1), data=small).run())
    histograms = [e for e in events if e["type"] == "histograms"]
    assert len(histograms) == 4
    for event in histograms:
        assert_documented(event)
        assert [layer["index"] for layer in event["layers"]] == [1, 3]  # the two Linear layers
        for layer in event["layers"]:
            assert set(layer) == set(get_type_hints(HistogramLayer))
    # A layer with a field missing, or one too many, does not pass for one.
    layer = dict(histograms[0]["layers"][0])
    assert not fits({k: v for k, v in layer.items() if k != "grad_zero"}, HistogramLayer)
    assert not fits({**layer, "extra": 1}, HistogramLayer)
    assert not fits({**layer, "grad_zero": 1.5}, HistogramLayer)


def test_the_fields_the_run_folder_reader_checks_are_documented():
    for kind, keys in runs._EVENT_NUMBERS.items():
        assert set(keys) <= EVENT_FIELDS[kind], kind


def test_every_event_of_a_gan_run_with_step_mode_is_documented(small, tmp_path):
    from playground.core.gan_spec import GAN_PRESETS

    cfg = config(lr=2e-4, beta1=0.5, epochs=1, batch_size=64)
    trainer = Trainer(GAN_PRESETS["cgan"].spec, cfg, data=small, run_dir=tmp_path / "run", report_interval=0.0,
                      task="gan")
    events = []
    for event in trainer.run():
        events.append(event)
        if event["type"] == "progress" and event["step"] == 2:
            trainer.pause()
        elif event["type"] == "paused":
            trainer.control.request_step("discriminator")
            trainer.control.request_step("generator")
        elif event["type"] == "gan_step" and event["which"] == "generator":
            trainer.resume()
    kinds = {e["type"] for e in events}
    assert {"start", "progress", "gan_progress", "samples", "paused", "gan_step", "resumed", "epoch", "quality",
            "finished"} == kinds
    for event in events:
        assert_documented(event)
    last_quality = [e for e in events if e["type"] == "quality"][-1]
    assert events[-1]["quality"] == {k: v for k, v in last_quality.items() if k != "type"}
    # The run folder logs every event but the live sample images.
    assert runs.read_events(tmp_path / "run") == [e for e in events if e["type"] != "samples"]
