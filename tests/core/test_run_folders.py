"""Run folders as untrusted, shared things: one writer per folder, killed runs, corrupt files, failed writes.

Trained on a few hundred real MNIST images; a write failure is made real (a file size limit on a
worker process) or injected as the OSError a full disk raises.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tracemalloc

import pytest
import torch

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import load_dataset
from playground.core.runs import (
    RUN_FILES,
    RunError,
    RunFolderError,
    RunWriteError,
    RunWriter,
    check_new_run_dir,
    list_runs,
    load_run,
    load_weights,
    read_events,
    run_owner,
)
from playground.core.train import Trainer, train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")


def config(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(optimizer="adam", lr=0.003, batch_size=32, epochs=2, device="cpu"), **kw})


@pytest.fixture(scope="module")
def small():
    """240 training, 60 validation and 300 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=300, test_limit=300)


@pytest.fixture(scope="module")
def finished_run(small, tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "done"
    events, _ = train(MLP, config(), data=small, run_dir=path)
    assert events[-1]["status"] == "completed"
    return path


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A fresh copy of a finished run folder, to spoil."""
    return shutil.copytree(finished_run, tmp_path / "run")


def contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- one writer per folder --------------------------------------------------------------------------------

def test_a_second_writer_is_refused_and_writes_nothing(tmp_path):
    first = RunWriter(tmp_path / "run", MLP, config())
    before = contents(tmp_path / "run")
    with pytest.raises(RunFolderError, match=rf"being written by another training \(process {os.getpid()}\)"):
        RunWriter(tmp_path / "run", MLP, config(seed=5))
    assert contents(tmp_path / "run") == before
    assert load_run(tmp_path / "run").status == "running" and run_owner(tmp_path / "run") == os.getpid()
    first.close()
    assert run_owner(tmp_path / "run") is None


def test_a_folder_that_holds_a_run_is_not_appended_to(run_copy):
    before = contents(run_copy)
    with pytest.raises(RunFolderError, match="already holds a run"):
        RunWriter(run_copy, MLP, config(seed=5))
    assert contents(run_copy) == before
    with pytest.raises(RunFolderError, match="already holds a run"):
        check_new_run_dir(run_copy)


def test_new_run_dir_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="is a file, so the folder .* cannot be made inside it"):
        check_new_run_dir(tmp_path / "file" / "run")
    with pytest.raises(RunFolderError, match="is a file; --out takes a folder"):
        check_new_run_dir(tmp_path / "file")
    with pytest.raises(RunFolderError, match="NUL byte"):
        check_new_run_dir(str(tmp_path / "a\0b"))
    with pytest.raises(RunFolderError, match=r"is not empty \(1 item\) and is not a run folder"):
        check_new_run_dir(tmp_path / "full")
    assert check_new_run_dir(tmp_path / "empty") == tmp_path / "empty"
    assert check_new_run_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "full"]  # nothing written


def test_a_writer_that_cannot_start_leaves_nothing(tmp_path, monkeypatch):
    import playground.core.runs as runs

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "atomic_write_text", full)  # run.json cannot be written
    with pytest.raises(RunFolderError, match=r"cannot write to the run folder .*: No space left on device"):
        RunWriter(tmp_path / "run", MLP, config())
    assert not (tmp_path / "run").exists()


# -- a run whose process is gone ----------------------------------------------------------------------------

def test_a_run_left_running_without_its_process_is_interrupted(small, tmp_path):
    trainer = Trainer(MLP, config(epochs=5), data=small, run_dir=tmp_path / "run")
    events = trainer.run()
    for event in events:
        if event["type"] == "epoch":
            assert load_run(tmp_path / "run").status == "running"  # its writer holds the lock
            break
    # What a killed process leaves: run.json says "running" and no one holds the lock.
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    events.close()
    (tmp_path / "run" / "run.json").write_text(json.dumps(summary))
    run = load_run(tmp_path / "run")
    assert summary["status"] == "running" and run.status == "interrupted"
    assert "weights of its last finished epoch are kept" in run.summary["message"]
    assert run.epochs[0]["epoch"] == 1
    model = run.load_model()  # best, else last weights
    x = small.test.images[:100].unsqueeze(1).float() / 255
    accuracy = (model(x).argmax(1) == small.test.labels[:100]).float().mean().item()
    assert accuracy > 0.5
    assert [r.status for r in list_runs(tmp_path)] == ["interrupted"]


# -- corrupt files --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,fragment", [
    ("{\"accuracy\": 0.9, \"loss\"", "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    (json.dumps({"accuracy": "high", "loss": 0.1}), "'accuracy' is not a finite number"),
    ("\x00\xff\xfe", "not"),
    ("[" * 100_000, "nested too deeply"),
    ("[" + " " * 8_000_000 + "]", "larger than the 8,000,000 bytes allowed"),
])
def test_a_corrupt_evaluation_is_skipped_with_a_note(run_copy, text, fragment):
    (run_copy / "evaluation.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    run = load_run(run_copy)
    assert run.evaluation is None and run.status == "completed" and len(run.epochs) == 2
    assert len(run.notes) == 1 and run.notes[0].startswith("evaluation.json cannot be used")
    assert fragment in run.notes[0]


def test_a_truncated_evaluation_and_wrong_types_inside_it(run_copy):
    good = json.loads((run_copy / "evaluation.json").read_text())
    (run_copy / "evaluation.json").write_text(json.dumps(good)[:500])
    assert load_run(run_copy).evaluation is None
    spoiled = {**good, "per_class": [{"precision": "x", "recall": 1, "f1": 1, "support": 3}] * 10}
    (run_copy / "evaluation.json").write_text(json.dumps(spoiled))
    run = load_run(run_copy)
    assert run.evaluation is None and "'per_class'" in run.notes[0]
    (run_copy / "evaluation.json").write_text(json.dumps(good))
    assert load_run(run_copy).evaluation.accuracy == good["accuracy"]


def test_junk_in_metrics_is_skipped_and_the_rest_read(run_copy):
    good = read_events(run_copy)
    with open(run_copy / "metrics.jsonl", "ab") as f:
        f.write(b"\x00\x01\xff\xfe binary junk\n")
        f.write(json.dumps({"type": "epoch", "epoch": "x", "step": 1}).encode() + b"\n")
        f.write(json.dumps({"type": "progress", "epoch": 1, "step": 1, "steps_per_epoch": 0}).encode() + b"\n")
        f.write(b"[1, 2]\n")
        f.write(json.dumps(good[-1]).encode() + b"\n")
    run = load_run(run_copy)
    assert run.events == good + [good[-1]]
    assert run.notes == ["metrics.jsonl: skipped 4 lines that are not events (the first: a line that is "
                         "not JSON)"]


def test_a_50_mb_metrics_line_is_not_read_into_memory(run_copy):
    good = read_events(run_copy)
    with open(run_copy / "metrics.jsonl", "ab") as f:
        f.write(b'{"type": "progress", "junk": "' + b"x" * (50 * 1024 * 1024) + b'"}\n')
        f.write(json.dumps(good[-1]).encode() + b"\n")
    tracemalloc.start()
    try:
        notes: list[str] = []
        events = read_events(run_copy, notes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert events == good + [good[-1]]
    assert notes == ["metrics.jsonl: skipped 1 line that are not events (the first: a line over 64 kB)"]
    assert peak < 5 * 1024 * 1024  # the 50 MB line was never held whole


def test_metrics_read_up_to_a_limit(run_copy, monkeypatch):
    import playground.core.runs as runs

    whole = read_events(run_copy)
    size = (run_copy / "metrics.jsonl").stat().st_size
    monkeypatch.setattr(runs, "METRICS_LIMIT", size // 2)
    notes: list[str] = []
    events = read_events(run_copy, notes)
    assert 0 < len(events) < len(whole) and events == whole[:len(events)]
    assert notes[0].startswith(f"metrics.jsonl is too long: only its first {len(events):,} events (")
    monkeypatch.setattr(runs, "METRICS_LIMIT", size * 2)
    monkeypatch.setattr(runs, "METRICS_EVENT_LIMIT", 3)
    notes = []
    assert read_events(run_copy, notes) == whole[:3]
    assert notes[0].startswith("metrics.jsonl is too long: only its first 3 events (")


@pytest.mark.parametrize("text", ["{\"status\": \"comp", "[]", "\xff\xfe", json.dumps({"status": 7})])
def test_a_corrupt_run_json_gives_an_unknown_status_with_a_note(run_copy, text):
    (run_copy / "run.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    run = load_run(run_copy)
    assert run.status == "unknown" and run.notes and "run.json" in run.notes[0]
    assert run.evaluation is not None  # the rest of the folder is still read


def test_wrong_types_in_run_json_are_left_out(run_copy):
    summary = json.loads((run_copy / "run.json").read_text())
    (run_copy / "run.json").write_text(json.dumps({**summary, "test_accuracy": "99%", "message": ["x"]}))
    run = load_run(run_copy)
    assert run.status == "completed" and "test_accuracy" not in run.summary and "message" not in run.summary
    assert len(run.notes) == 2


@pytest.mark.parametrize("bad", [{"loss": ["x"]}, {"seed": "7"}, {"augment": "yes"}, {"limit": 10**30},
                                 {"lr": None}])
def test_a_config_with_wrong_types_is_a_clear_error(run_copy, bad):
    cfg = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({**cfg, **bad}))
    with pytest.raises(RunError, match=r"its config.json cannot be read \(config.json: "):
        load_run(run_copy)
    problems: list[str] = []
    assert list_runs(run_copy.parent, problems=problems) == []
    assert len(problems) == 1 and "config.json" in problems[0]


def test_config_bounds_seed_and_limit():
    with pytest.raises(ConfigError, match=r"seed must be 0 to 9223372036854775807; got 10{30}"):
        TrainConfig(seed=10**30)
    with pytest.raises(ConfigError, match="limit must be 0 \\(all images\\) to 1000000000"):
        TrainConfig(limit=2**70)
    assert TrainConfig(seed=2**63 - 1).seed == 2**63 - 1
    torch.manual_seed(2**63 - 1)  # the largest seed is one torch takes


# -- failed writes ----------------------------------------------------------------------------------------------

def test_a_full_disk_ends_the_run_with_a_message_and_keeps_what_was_written(small, tmp_path, monkeypatch):
    """The disk fills after the first epoch's weights: the optimizer state cannot be written, nor the
    failed status (the first error is the one reported), and the weights of epoch 1 stay whole."""
    import playground.core.runs as runs

    real_save, real_text = runs.save_weights, runs.atomic_write_text
    disk_full = False

    def save_weights(path, state, metadata=None):
        nonlocal disk_full
        if disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, state, metadata)
        if path.name == "weights_best.safetensors":
            disk_full = True  # the next write (the optimizer state) finds the disk full

    def atomic_write_text(path, text):
        if disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_text(path, text)

    monkeypatch.setattr(runs, "save_weights", save_weights)
    monkeypatch.setattr(runs, "atomic_write_text", atomic_write_text)
    trainer = Trainer(MLP, config(epochs=3), data=small, run_dir=tmp_path / "run")
    events = []
    with pytest.raises(RunWriteError) as caught:
        for event in trainer.run():
            events.append(event)
    assert str(caught.value) == (f"cannot write optimizer.safetensors to the run folder {tmp_path / 'run'}: No "
                                 f"space left on device; the weights of epoch 1 are kept in "
                                 f"weights_last.safetensors")
    assert [e["type"] for e in events if e["type"] not in ("progress", "histograms")] == ["start"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "design.json", "metrics.jsonl", "run.json", "run.lock", "weights_best.safetensors",
        "weights_last.safetensors"]
    weights = load_weights(tmp_path / "run" / "weights_last.safetensors")
    assert set(weights) == set(trainer.model.state_dict())
    run = load_run(tmp_path / "run")
    assert run.status == "interrupted" and run.notes == []  # run.json still said "running"
    assert run_owner(tmp_path / "run") is None  # the lock was released


def test_a_failed_metrics_write_leaves_whole_lines(tmp_path, monkeypatch):
    writer = RunWriter(tmp_path / "run", MLP, config())
    writer.log({"type": "start", "epochs": 1, "steps_per_epoch": 1, "total_steps": 1, "train_size": 1})
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[:7]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(RunWriteError, match="cannot write metrics.jsonl .*No space left on device; no weights"):
        writer.log({"type": "paused", "epoch": 1, "step": 0})
    monkeypatch.undo()
    writer.close()
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes().endswith(b'"train_size": 1}\n')
    assert len(read_events(tmp_path / "run")) == 1


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="needs prlimit (Linux)")
def test_the_training_process_reports_a_write_that_fails(tmp_path):
    """A worker whose files may not grow past 500 kB (so the weights cannot be written) ends with an
    error event that says so, and leaves no temporary file."""
    import resource

    from playground.core.worker import TrainingProcess

    process = TrainingProcess()
    try:
        resource.prlimit(process.proc.pid, resource.RLIMIT_FSIZE, (500_000, 500_000))
        cfg = TrainConfig(epochs=1, limit=300, test_limit=300, device="cpu", optimizer="adam")
        spec = NetworkSpec((L("Flatten"), L("Linear", out_features=300), L("ReLU"), L("Linear", out_features=10)))
        events = list(process.run({"design": spec.to_dict(), "config": cfg.to_dict(),
                                   "run_dir": str(tmp_path / "run")}))
    finally:
        process.kill()
    assert events[-1]["type"] == "error", events[-1]
    assert events[-1]["message"] == (f"cannot write weights_last.safetensors to the run folder {tmp_path / 'run'}: "
                                     f"File too large; no weights had been saved yet")
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["config.json", "design.json", "metrics.jsonl", "run.json", "run.lock"]
    assert set(names) - {"run.lock"} <= RUN_FILES
    run = load_run(tmp_path / "run")
    assert run.status == "failed" and run.summary["message"] == events[-1]["message"]


def test_the_lock_file_is_the_only_extra_file(finished_run):
    assert {p.name for p in finished_run.iterdir()} - RUN_FILES == {"run.lock"}
    assert sys.platform == "win32" or (finished_run / "run.lock").read_text().strip().isdigit()
