"""The one run type: a run followed live (its events fed in as they come) and the same run read back
from its folder are one ``RunRecord`` that agree; what can be done with a run follows the files it has.

Trained on a few hundred real MNIST images."""

from __future__ import annotations

import io
import shutil
import tokenize
from pathlib import Path

import pytest

import playground
from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.runs import (
    BEST_WEIGHTS,
    DESIGN_FILE,
    EVALUATION_FILE,
    LAST_WEIGHTS,
    METRICS_FILE,
    OPTIMIZER_FILE,
    RunError,
    RunRecord,
    load_run,
)
from playground.core.train import train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")
CONFIG = TrainConfig(optimizer="adam", lr=0.003, batch_size=32, epochs=2, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run folder and the record that followed it live, event by event."""
    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=300, test_limit=300)  # 240 train, 60 val, 300 test
    path = tmp_path_factory.mktemp("runs") / "done"
    live = RunRecord.new(MLP, CONFIG, path)
    assert live.status == "running" and not live.finished and live.events_loaded
    statuses = []
    events, _ = train(MLP, CONFIG, data=data, run_dir=path)
    for event in events:
        live.add_event(event)
        statuses.append(live.status)
    assert statuses[:-1] == ["running"] * (len(events) - 1)  # only the final event ends it
    return path, live, events


@pytest.fixture
def copy(trained, tmp_path):
    """A copy of the finished run folder, for a test to take files out of."""
    shutil.copytree(trained[0], tmp_path / "copy")
    return tmp_path / "copy"


def test_a_live_record_and_the_loaded_one_agree(trained):
    path, live, events = trained
    loaded = load_run(path)
    assert live.label == loaded.label == "mlp-64 · adam 0.003 · bs 32 · 2 ep"  # design and settings
    assert live.status == loaded.status == "completed" and live.finished and loaded.finished
    assert live.test_accuracy == loaded.test_accuracy == events[-1]["test_accuracy"] > 0.5
    assert live.evaluation is not None and loaded.evaluation is not None
    assert live.evaluation.accuracy == loaded.evaluation.accuracy == live.test_accuracy
    assert live.evaluation.confusion == loaded.evaluation.confusion
    assert live.evaluation.predictions == loaded.evaluation.predictions and live.evaluation.count == 300
    assert live.events == loaded.events == events
    assert [e["epoch"] for e in live.epochs] == [e["epoch"] for e in loaded.epochs] == [1, 2]
    assert len(live.started) == len(loaded.started) == len("2026-01-01 12:00:00")
    for key in ("status", "message", "epochs_completed", "best_epoch", "test_loss"):
        assert live.summary[key] == loaded.summary[key], key
    assert live.spec == loaded.spec and live.config == loaded.config
    assert live.notes == loaded.notes == []


def test_a_finished_run_with_all_its_files_can_continue(trained):
    run = load_run(trained[0])
    assert run.has_best_weights and run.has_last_weights and run.can_continue
    assert trained[1].can_continue  # the live record too, once it has ended
    assert run.weights_path("best") == trained[0] / BEST_WEIGHTS
    assert run.file(OPTIMIZER_FILE).is_file() and run.file(DESIGN_FILE).is_file()


def test_without_the_optimizer_state_a_run_cannot_continue(copy):
    (copy / OPTIMIZER_FILE).unlink()
    run = load_run(copy)
    assert run.has_best_weights and run.has_last_weights and not run.can_continue
    assert run.load_model("last") is not None  # its weights still serve


def test_without_last_weights_a_run_cannot_continue_but_keeps_its_best(copy):
    (copy / LAST_WEIGHTS).unlink()
    run = load_run(copy)
    assert run.has_best_weights and not run.has_last_weights and not run.can_continue


def test_without_best_weights_the_last_ones_are_used(copy):
    (copy / BEST_WEIGHTS).unlink()
    run = load_run(copy)
    assert not run.has_best_weights and run.can_continue
    assert run.weights_path("best") == copy / LAST_WEIGHTS


def test_a_running_run_cannot_continue_even_with_its_files(trained):
    running = RunRecord.new(MLP, CONFIG, trained[0])  # as a run whose worker still writes the folder
    assert running.has_last_weights and not running.finished and not running.can_continue


def test_a_run_without_a_folder_has_nothing(trained):
    run = RunRecord.new(MLP, CONFIG, None, label="in memory")
    assert run.label == "in memory" and run.events == [] and run.evaluation is None
    assert not run.has_best_weights and not run.has_last_weights and not run.can_continue
    with pytest.raises(RunError, match="has no folder"):
        run.file(LAST_WEIGHTS)


def test_events_of_a_listed_run_are_read_when_first_asked_for(trained):
    path, _, events = trained
    run = load_run(path, with_events=False)
    assert not run.events_loaded
    assert run.status == "completed" and run.evaluation is not None  # the rest is there at once
    assert run.events == events and run.events_loaded


def test_the_ends_of_a_live_run(tmp_path):
    failed = RunRecord.new(MLP, CONFIG, tmp_path / "none")
    failed.add_event({"type": "error", "error": "WorkerDied", "message": "gone"})
    assert failed.status == "failed" and failed.summary["message"] == "gone" and failed.test_accuracy is None
    failed.end()  # the process ended after its error: the error stays the reason
    assert failed.summary["message"] == "gone"
    silent = RunRecord.new(MLP, CONFIG, tmp_path / "none")
    silent.end()
    assert silent.status == "failed" and silent.summary["message"] == "The training ended unexpectedly."
    stopped = RunRecord.new(MLP, CONFIG, tmp_path / "none")
    stopped.add_event({"type": "finished", "status": "stopped", "message": "Stopped.", "test_accuracy": None,
                       "train_seconds": 1.0})
    stopped.end()
    assert stopped.status == "stopped" and stopped.evaluation is None  # no evaluation file to read


def test_no_other_module_spells_the_run_folder_file_names():
    """The names are constants of ``playground.core.runs``; any other module's code uses those."""
    names = (BEST_WEIGHTS, LAST_WEIGHTS, OPTIMIZER_FILE, EVALUATION_FILE, DESIGN_FILE, METRICS_FILE)
    root = Path(playground.__file__).parent
    text = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}  # f-strings since 3.12
    spelled = []
    for file in sorted(root.rglob("*.py")):
        if file == root / "core" / "runs.py":
            continue
        for token in tokenize.tokenize(io.BytesIO(file.read_bytes()).readline):
            if token.type in text and any(name in token.string for name in names):
                spelled.append(f"{file.relative_to(root)}:{token.start[0]}")
    assert spelled == []
