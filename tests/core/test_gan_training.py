"""GAN training through the app's trainer, worker and command line, on a few hundred real MNIST
images: the two networks pull apart, step mode steps by hand, the run folder reads back as a GAN run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.events import decode_samples
from playground.core.gan_spec import GAN_PRESETS
from playground.core.runs import load_run
from playground.core.train import Trainer
from playground.core.worker import TrainingProcess


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist", val_fraction=0.0, seed=0, limit=320, test_limit=200)


def gan_config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=2e-4, beta1=0.5, batch_size=32, epochs=1, device="cpu", seed=0)
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_steps_pull_d_real_and_d_fake_apart(small, tmp_path):
    trainer = Trainer(GAN_PRESETS["gan-mlp"].spec, gan_config(epochs=2), data=small, run_dir=tmp_path / "run",
                      report_interval=0.0, task="gan")
    events = list(trainer.run())
    figures = [e for e in events if e["type"] == "gan_progress"]
    assert len(figures) == 20  # one per step: 320 images in batches of 32, two epochs
    first, last = figures[0], figures[-1]
    assert abs(first["d_real"] - first["d_fake"]) < 0.1  # untrained: D cannot tell them apart
    assert last["d_real"] - last["d_fake"] > 0.3, last  # it has learned to tell real from generated
    assert events[-1]["status"] == "completed" and events[-1]["test_accuracy"] is None
    assert events[-1]["quality"]["count"] == 1000
    samples = decode_samples([e for e in events if e["type"] == "samples"][-1])
    assert samples.shape == (64, 28, 28) and samples.dtype == np.uint8
    run = load_run(tmp_path / "run")
    assert run.kind == "gan" and run.spec == GAN_PRESETS["gan-mlp"].spec and run.status == "completed"
    assert run.has_best_weights


def test_the_same_seed_trains_the_same_gan(small):
    def figures():
        events = Trainer(GAN_PRESETS["gan-mlp"].spec, gan_config(), data=small, task="gan", report_interval=0.0).run()
        return [e for e in events if e["type"] in ("gan_progress", "quality")]

    assert figures() == figures()


def test_step_mode_steps_only_while_paused_and_each_step_changes_what_it_should(small):
    trainer = Trainer(GAN_PRESETS["gan-mlp"].spec, gan_config(), data=small, report_interval=0.0, task="gan")
    trainer.control.request_step("generator")  # not paused: dropped
    events = []
    for event in trainer.run():
        events.append(event)
        if event["type"] == "progress" and event["step"] == 3:
            trainer.pause()
        elif event["type"] == "paused":
            for which in ("discriminator", "discriminator", "generator"):
                trainer.control.request_step(which)
        elif event["type"] == "gan_step" and event["which"] == "generator":
            trainer.resume()
    kinds = [e["type"] for e in events]
    i = kinds.index("paused")
    assert kinds[i:i + 8] == ["paused", *["gan_step", "samples"] * 3, "resumed"]
    d1, after_d1, d2, after_d2, g, after_g = events[i + 1:i + 7]
    assert [d1["which"], d2["which"], g["which"]] == ["discriminator", "discriminator", "generator"]
    # A discriminator step sharpens the discriminator and leaves the generator as it was; a
    # generator step changes the generator's images and fools the discriminator a little more.
    assert d2["d_real"] > d1["d_real"] and d2["d_fake"] < d1["d_fake"]
    assert np.array_equal(decode_samples(after_d1), decode_samples(after_d2))
    assert not np.array_equal(decode_samples(after_g), decode_samples(after_d2))
    assert g["d_fake"] > d2["d_fake"]
    assert kinds.count("gan_step") == 3 and events[-1]["steps"] == 10  # steps by hand are not counted


def test_step_mode_through_the_worker_process(tmp_path):
    cfg = gan_config(limit=320, test_limit=200, val_fraction=0.0, epochs=3)
    job = {"task": "gan", "design": GAN_PRESETS["gan-mlp"].spec.to_dict(), "config": cfg.to_dict(),
           "run_dir": str(tmp_path / "run"), "report_interval": 0.0}
    process = TrainingProcess()
    kinds = []
    for event in process.run(job):
        kinds.append(event["type"])
        if event["type"] == "progress" and event["step"] == 2:
            process.pause()
        elif event["type"] == "paused":
            process.step("discriminator")
            process.step("generator")
        elif event["type"] == "gan_step" and event["which"] == "generator":
            process.resume()
    assert kinds.count("gan_step") == 2 and kinds[-1] == "finished"


def test_continuing_a_gan_run_is_refused_in_words(tmp_path):
    job = {"task": "gan", "design": GAN_PRESETS["gan-mlp"].spec.to_dict(), "config": gan_config().to_dict(),
           "initial_weights": str(tmp_path / "w.safetensors")}
    events = list(TrainingProcess().run(job))
    assert events == [{"type": "error", "error": "ConfigError",
                       "message": "continuing a GAN run is not supported yet; start a new run"}]


def test_playground_train_preset_trains_a_gan_and_reports_its_quality(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "playground", "train", "--preset", "gan-mlp", "--limit", "256",
                           "--test-limit", "200", "--epochs", "1", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert "samples" not in {e["type"] for e in events}  # live images are not printed
    final = events[-1]
    assert final["type"] == "finished" and final["run_dir"] == str(out) and final["train_seconds"] > 0
    assert final["test_accuracy"] is None and sum(final["quality"]["histogram"]) == 1000
    text = subprocess.run([sys.executable, "-m", "playground", "train", "--preset", "dcgan", "--augment"],
                          capture_output=True, text=True, timeout=600)
    assert text.returncode == 2 and "augmentation is for classifiers" in text.stderr
