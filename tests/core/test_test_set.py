"""The test set is the whole test set: "Training images" (``limit``) cuts only the training images, and
only the separate "Test images" setting (``test_limit``) cuts the test set. Trained on a few hundred
real MNIST images, evaluated on the real MNIST test set."""

from __future__ import annotations

import json

import pytest

from playground import cli
from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import SETTINGS, ConfigError, TrainConfig
from playground.core.data import load_config_dataset, load_dataset
from playground.core.runs import CONFIG_FILE, load_run
from playground.core.train import train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=32), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-32")
QUICK = dict(optimizer="adam", lr=0.003, batch_size=50, epochs=1, device="cpu", val_fraction=0.1)


def test_the_training_limit_leaves_the_test_set_whole(mnist):
    splits = load_dataset("mnist", val_fraction=0.1, seed=0, limit=500)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (450, 50, 10_000)
    cut = load_dataset("mnist", val_fraction=0.1, seed=0, limit=500, test_limit=300)
    assert (len(cut.train), len(cut.val), len(cut.test)) == (450, 50, 300)
    # The first test images, in order: an old run's evaluation on a cut test set still matches them.
    assert cut.test.labels.tolist() == mnist.test.labels[:300].tolist()
    only_test = load_config_dataset(TrainConfig(test_limit=300))
    assert (len(only_test.train) + len(only_test.val), len(only_test.test)) == (60_000, 300)


@pytest.mark.parametrize(("test_limit", "count"), [(0, 10_000), (300, 300)])
def test_a_run_on_500_images_is_evaluated_on_the_test_set_asked_for(tmp_path, test_limit, count):
    events, _ = train(MLP, TrainConfig(**QUICK, limit=500, test_limit=test_limit), run_dir=tmp_path / "run")
    assert events[0]["train_size"] + events[0]["val_size"] == 500 and events[0]["test_size"] == count
    assert events[-1]["status"] == "completed"
    evaluation = load_run(tmp_path / "run").evaluation
    assert evaluation is not None and evaluation.count == count and sum(map(sum, evaluation.confusion)) == count
    assert evaluation.accuracy > 0.5  # it learned something, measured on those images


def test_the_setting_is_described_once_for_the_flag_the_form_and_validation():
    spec = SETTINGS["test_limit"]
    assert spec.label == "Test images" and spec.flag == "--test-limit" and spec.default == 0
    assert "whole test set" in spec.help and "test set stays whole" in SETTINGS["limit"].help
    assert spec.range_text() == "0 (all images) to 1000000000"
    with pytest.raises(ConfigError, match=r"test limit must be 0 \(all images\) to 1000000000; got -1"):
        TrainConfig(test_limit=-1)


def test_an_old_run_folder_without_the_setting_loads_with_the_whole_test_set(tmp_path):
    train(MLP, TrainConfig(**QUICK, limit=300, test_limit=200), run_dir=tmp_path / "run")
    config_file = tmp_path / "run" / CONFIG_FILE
    old = json.loads(config_file.read_text())
    del old["test_limit"]  # as written before the setting existed
    config_file.write_text(json.dumps(old))
    run = load_run(tmp_path / "run")
    assert run.config.test_limit == 0 and run.config.limit == 300
    assert TrainConfig.from_dict({"limit": 300}).test_limit == 0


def test_the_command_line_trains_and_evaluates_on_the_whole_test_set(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--epochs", "1", "--limit", "300", "--batch-size", "50", "--device", "cpu"]
    assert cli.main(["train", "--preset", "mlp-300", *args, "--test-limit", "200", "--out", str(out), "--json"]) == 0
    start = json.loads(capsys.readouterr().out.splitlines()[0])
    assert start["type"] == "start" and start["test_size"] == 200
    assert cli.main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 200
    config = json.loads((out / CONFIG_FILE).read_text())
    del config["test_limit"]
    (out / CONFIG_FILE).write_text(json.dumps(config))
    assert cli.main(["evaluate", str(out), "--json"]) == 0  # an old run: the whole test set
    assert json.loads(capsys.readouterr().out)["count"] == 10_000
