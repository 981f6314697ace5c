"""What a run is called: its design and the settings that tell it apart, or a name given to it, kept
in its run folder."""

from __future__ import annotations

import json

import pytest

from playground.core import PRESETS, NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig
from playground.core.runs import (RUN_NAME_LIMIT, SUMMARY_FILE, RunError, RunWriter, load_run, run_label,
                                  setting_lines)

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=10)), name="untitled")


def test_optimizer_and_learning_rate_are_always_named():
    assert run_label("untitled", TrainConfig()) == "untitled · adam 0.001"
    assert run_label("untitled", TrainConfig(optimizer="sgd", lr=1.0)) != run_label(
        "untitled", TrainConfig(optimizer="sgd", lr=100.0))
    assert run_label("untitled", TrainConfig(optimizer="sgd", lr=1e-4)) == "untitled · sgd 0.0001"


def test_batch_size_epochs_schedule_and_augmentation_are_named_when_not_the_usual():
    config = TrainConfig(optimizer="sgd", lr=0.01, batch_size=64, epochs=5, schedule="cosine", augment=True)
    assert run_label("untitled", config) == "untitled · sgd 0.01 · bs 64 · 5 ep · cosine · augment"


def test_a_preset_is_compared_with_its_own_settings():
    usual = TrainConfig.from_dict(PRESETS["tutorial-cnn"].train)
    assert run_label("tutorial-cnn", usual) == "tutorial-cnn · sgd 0.01"
    assert run_label("tutorial-cnn", usual.updated(batch_size=128)) == "tutorial-cnn · sgd 0.01 · bs 128"
    # The same settings on a hand-built design are not its usual ones.
    assert run_label("untitled", usual) == "untitled · sgd 0.01 · mom 0.5 · bs 64 · 1 ep"


def test_every_setting_that_differs_from_the_usual_is_named_whatever_the_other_runs():
    a, b = TrainConfig(optimizer="sgd", lr=0.01, momentum=0.9), TrainConfig(optimizer="sgd", lr=0.01, momentum=0.5)
    assert run_label("untitled", a) == "untitled · sgd 0.01"  # the default momentum
    assert run_label("untitled", b) == "untitled · sgd 0.01 · mom 0.5"
    # Only settings that matter: momentum does not for Adam, and the device never names a run.
    adam = TrainConfig(device="cpu")
    assert run_label("untitled", adam.updated(momentum=0.5, device="auto")) == "untitled · adam 0.001"
    assert run_label("untitled", adam.updated(limit=2000)) == "untitled · adam 0.001 · 2,000 images"


def test_every_setting_that_matters_one_a_line():
    lines = setting_lines(TrainConfig(optimizer="sgd", lr=0.01, momentum=0.5, limit=0))
    assert "Learning rate: 0.01" in lines and "Momentum: 0.5" in lines and "Optimizer: sgd" in lines
    assert "Training images: all images" in lines and "Augment: no" in lines
    assert not any(line.startswith("Beta1") for line in lines)  # Adam's, not SGD's
    assert all("\n" not in line for line in lines)


@pytest.fixture
def run_folder(tmp_path):
    path = tmp_path / "run"
    writer = RunWriter(path, MLP, TrainConfig(optimizer="sgd", lr=100.0))
    writer.write_summary(status="failed", message="The loss exploded", test_accuracy=None)
    writer.close()
    return path


def test_a_name_given_to_a_run_is_saved_in_its_folder(run_folder):
    run = load_run(run_folder)
    assert run.label == "untitled · sgd 100"
    run.rename("  lr 100: diverged  ")
    assert run.label == "lr 100: diverged"
    saved = json.loads((run_folder / SUMMARY_FILE).read_text())
    assert saved["name"] == "lr 100: diverged" and saved["status"] == "failed"  # the rest is kept
    assert [p.name for p in run_folder.iterdir() if p.name.endswith(".tmp")] == []  # written atomically
    again = load_run(run_folder)
    assert again.label == "lr 100: diverged" and again.status == "failed" and again.notes == []
    again.rename("")  # back to the automatic label
    assert load_run(run_folder).label == "untitled · sgd 100"
    assert "name" not in json.loads((run_folder / SUMMARY_FILE).read_text())


@pytest.mark.parametrize("name", ["a" * (RUN_NAME_LIMIT + 1), "bad\x1b[2Jname", "new\nline", "rtl\u202eevil"])
def test_a_name_too_long_or_with_control_characters_is_refused(run_folder, name):
    run = load_run(run_folder)
    with pytest.raises(RunError, match="at most|control characters"):
        run.rename(name)
    assert run.label == "untitled · sgd 100" and "name" not in json.loads((run_folder / SUMMARY_FILE).read_text())


def test_a_bad_name_in_a_strangers_run_json_is_left_out(run_folder):
    data = json.loads((run_folder / SUMMARY_FILE).read_text())
    for bad in ("x" * 10_000, "\x1b]0;owned\x07", 42):
        (run_folder / SUMMARY_FILE).write_text(json.dumps({**data, "name": bad}))
        run = load_run(run_folder)
        assert run.label == "untitled · sgd 100" and run.status == "failed"
        assert any("name" in note for note in run.notes)


def test_a_run_still_being_written_is_renamed_when_its_writer_is_done(tmp_path):
    path = tmp_path / "live"
    writer = RunWriter(path, MLP, TrainConfig())
    live = load_run(path)
    live.rename("mine")
    assert live.label == "mine"
    writer.write_summary(status="completed")  # the trainer's last write does not know the name
    writer.close()
    live.save_name()
    loaded = load_run(path)
    assert loaded.label == "mine" and loaded.status == "completed"
