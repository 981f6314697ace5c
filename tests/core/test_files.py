"""Files a stranger may have made: pipes, devices, links and crafted contents in run folders and designs.

Nothing here may hang: each read that could block (a FIFO, /dev/zero, a never-ending file) runs in a
thread or a child process with a generous deadline that only bounds a hang, so a regression fails
instead of stopping the suite. Runs are trained on a few hundred real MNIST images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from playground.cli import main
from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import load_dataset
from playground.core.files import FileTooLargeError, NotRegularFileError, open_regular, read_regular
from playground.core.runs import (
    METRICS_LIMIT,
    RunError,
    RunFolderError,
    RunWriter,
    check_new_run_dir,
    list_runs,
    load_run,
    read_evaluation,
    read_events,
    run_owner,
)
from playground.core.spec import DesignError, load_design
from playground.core.text import safe_file_stem
from playground.core.train import train

DEADLINE = 60  # seconds; only bounds a hang
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
needs_dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=32), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-32")


def promptly(fn, *args, **kwargs):
    """``fn(*args)`` run in a thread: its result, or the exception it raised; fails if it hangs."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not return within {DEADLINE} s (it hangs)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def playground(*args):
    return subprocess.run([sys.executable, "-m", "playground", *map(str, args)], capture_output=True, text=True,
                          timeout=DEADLINE, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=300, test_limit=300)
    path = tmp_path_factory.mktemp("runs") / "done"
    config = TrainConfig(optimizer="adam", lr=0.003, batch_size=32, epochs=1, device="cpu", limit=300, test_limit=300)
    events, _ = train(MLP, config, data=data, run_dir=path)
    assert events[-1]["status"] == "completed"
    return path


@pytest.fixture
def runs(finished_run, tmp_path):
    """A folder of two copies of a finished run: ``good`` and ``bad`` (to spoil)."""
    base = tmp_path / "runs"
    shutil.copytree(finished_run, base / "a-good")
    shutil.copytree(finished_run, base / "b-bad")
    return base


# -- the helper ------------------------------------------------------------------------------------------

@needs_fifo
def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(NotRegularFileError, match=r"pipe: a named pipe \(FIFO\), not a regular file"):
        promptly(read_regular, tmp_path / "pipe", 100)
    with pytest.raises(NotRegularFileError):
        promptly(open_regular, tmp_path / "pipe")


@needs_dev_zero
def test_a_device_a_folder_and_links_are_refused(tmp_path):
    with pytest.raises(NotRegularFileError, match=r"a character device .*, not a regular file"):
        promptly(read_regular, "/dev/zero", 100)
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(NotRegularFileError, match="character device"):
        promptly(read_regular, tmp_path / "zero", 100)
    with pytest.raises(NotRegularFileError, match="a folder, not a regular file"):
        read_regular(tmp_path, 100)
    (tmp_path / "real").write_bytes(b"12345")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_regular(tmp_path / "link", 5) == b"12345"  # links are followed unless told not to
    with pytest.raises(NotRegularFileError, match="a symbolic link, not a regular file"):
        read_regular(tmp_path / "link", 5, follow_symlinks=False)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 5)


def test_the_size_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 1000)
    assert read_regular(tmp_path / "f", 1000) == b"x" * 1000
    with pytest.raises(FileTooLargeError, match=r"1,000 bytes, larger than the 999 bytes allowed") as caught:
        read_regular(tmp_path / "f", 999)
    assert isinstance(caught.value, OSError) and str(tmp_path / "f") in str(caught.value)


# -- run folders with pipes and never-ending files ------------------------------------------------------------

@needs_fifo
@pytest.mark.parametrize("name", ["design.json", "config.json"])
def test_a_fifo_as_design_or_config_is_refused_and_the_list_goes_on(runs, name):
    bad = runs / "b-bad"
    (bad / name).unlink()
    os.mkfifo(bad / name)
    with pytest.raises(RunError, match=rf"its {name} cannot be read .*named pipe \(FIFO\), not a regular file"):
        promptly(load_run, bad)
    problems: list[str] = []
    listed = promptly(list_runs, runs, True, problems)
    assert [r.path.name for r in listed] == ["a-good"]
    assert len(problems) == 1 and "b-bad" in problems[0] and "named pipe" in problems[0]


@needs_fifo
@pytest.mark.parametrize("name,note", [
    ("run.json", "run.json cannot be read (a named pipe (FIFO), not a regular file)"),
    ("evaluation.json", "evaluation.json cannot be used (a named pipe (FIFO), not a regular file)"),
    ("metrics.jsonl", "metrics.jsonl cannot be read (a named pipe (FIFO), not a regular file)"),
])
def test_a_fifo_as_another_run_file_is_skipped_with_a_note(runs, name, note):
    bad = runs / "b-bad"
    (bad / name).unlink()
    os.mkfifo(bad / name)
    run = promptly(load_run, bad)
    assert len(run.notes) == 1 and run.notes[0].startswith(note)
    assert run.spec == MLP and run.config.epochs == 1


@needs_fifo
def test_a_fifo_as_the_lock_of_a_running_run(runs):
    bad = runs / "b-bad"
    summary = json.loads((bad / "run.json").read_text())
    (bad / "run.json").write_text(json.dumps({**summary, "status": "running"}))
    (bad / "run.lock").unlink()
    os.mkfifo(bad / "run.lock")
    assert promptly(run_owner, bad) is None  # a pipe is no writer's lock
    run = promptly(load_run, bad)
    assert run.status == "interrupted" and len(run.epochs) == 1
    # Nor can a new training take that folder, nor a RunWriter use the pipe as its lock.
    with pytest.raises(RunFolderError, match="already holds a run"):
        promptly(check_new_run_dir, bad)
    (runs / "empty").mkdir()
    os.mkfifo(runs / "empty" / "run.lock")
    with pytest.raises(RunFolderError, match=r"is not empty \(1 item"):
        promptly(check_new_run_dir, runs / "empty")
    with pytest.raises(RunFolderError, match=r"its run.lock is a named pipe \(FIFO\), not a regular file"):
        promptly(RunWriter, runs / "empty", MLP, TrainConfig())
    assert os.listdir(runs / "empty") == ["run.lock"]


@needs_dev_zero
def test_metrics_and_design_linked_to_dev_zero(runs):
    bad = runs / "b-bad"
    (bad / "metrics.jsonl").unlink()
    (bad / "metrics.jsonl").symlink_to("/dev/zero")
    run = promptly(load_run, bad)
    assert run.events == [] and run.notes == [
        "metrics.jsonl cannot be read (a character device (such as /dev/zero), not a regular file); "
        "its curves are incomplete"]
    (bad / "design.json").unlink()
    (bad / "design.json").symlink_to("/dev/zero")
    with pytest.raises(RunError, match=r"its design.json cannot be read .*character device"):
        promptly(load_run, bad)
    with pytest.raises(DesignError, match=r"design.json: a character device .*; choose a .json design file"):
        promptly(load_design, bad / "design.json")


def test_an_overlong_line_counts_against_the_metrics_limit(runs):
    """A metrics.jsonl whose second line never ends (1 TB of zeros, sparse on disk) is read up to
    METRICS_LIMIT bytes, not to its end."""
    bad = runs / "b-bad"
    first = (bad / "metrics.jsonl").read_bytes().split(b"\n")[0] + b"\n"
    (bad / "metrics.jsonl").write_bytes(first)
    try:
        os.truncate(bad / "metrics.jsonl", 2**40)
    except OSError:
        pytest.skip("this file system has no sparse files of 1 TB")
    notes: list[str] = []
    events = promptly(read_events, bad, notes)
    assert [e["type"] for e in events] == ["start"]
    assert notes[0] == "metrics.jsonl: skipped 1 line that are not events (the first: a line over 64 kB)"
    assert notes[1] == f"metrics.jsonl is too long: only its first 1 events ({METRICS_LIMIT:,} bytes) were read"


@needs_fifo
def test_the_cli_never_hangs_on_a_pipe(runs, tmp_path):
    bad = runs / "b-bad"
    (bad / "config.json").unlink()
    os.mkfifo(bad / "config.json")
    result = playground("evaluate", bad)
    assert result.returncode == 2 and result.stderr == (
        f"playground: error: {bad}: its config.json cannot be read (a named pipe (FIFO), not a regular file)\n")
    os.mkfifo(tmp_path / "design.json")
    result = playground("summary", tmp_path / "design.json")
    assert result.returncode == 2 and result.stderr == (
        f"playground: error: {tmp_path / 'design.json'}: a named pipe (FIFO), not a regular file; "
        f"choose a .json design file\n")


# -- run.lock is never followed, truncated or written when the writer did not make it -----------------------

def test_a_run_lock_linked_to_another_file_is_never_written(runs, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_bytes(b"my thesis\n" * 100)
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.lock").symlink_to(outside)
    result = playground("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "300", "--test-limit", "300",
                        "--out", out)
    assert result.returncode == 2 and result.stderr == (
        f"playground: error: {out} is not empty (1 item) and is not a run folder; --out takes a new or "
        f"empty folder\n")
    with pytest.raises(RunFolderError, match="its run.lock is a symbolic link, not a regular file"):
        RunWriter(out, MLP, TrainConfig())
    (out / "run.lock").unlink()
    os.link(outside, out / "run.lock")
    with pytest.raises(RunFolderError, match="its run.lock is a hard link to another file"):
        RunWriter(out, MLP, TrainConfig())
    assert outside.read_bytes() == b"my thesis\n" * 100
    assert sorted(os.listdir(out)) == ["run.lock"]


def test_a_lock_file_left_behind_is_used_but_never_truncated(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.lock").write_bytes(b"left here\n")
    writer = RunWriter(tmp_path / "run", MLP, TrainConfig())
    try:
        assert (tmp_path / "run" / "run.lock").read_bytes() == b"left here\n"
        assert run_owner(tmp_path / "run") == 0  # held, by a process that did not write its id there
    finally:
        writer.close()
    assert run_owner(tmp_path / "run") is None


# -- crafted config.json and evaluation.json ---------------------------------------------------------------------

@pytest.mark.parametrize("changes,fragment", [
    ({"lr": 10**400}, "lr must be a finite number; got a whole number of about 401 digits"),
    ({"epochs": [3]}, "epochs must be a whole number; got [3]"),
    ({"seed": float("inf")}, "seed must be a whole number; got inf"),
    ({"seed": 10**400}, "seed must be 0 to 9223372036854775807; got a whole number of about 401 digits"),
    ({"format_version": [1]}, "unknown format_version [1]"),
    ({"batch_size": {"a": 1}}, "batch_size must be a whole number"),
])
def test_any_bad_config_value_is_a_config_error(changes, fragment):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({**TrainConfig().to_dict(), **changes}, "config.json")
    assert str(caught.value).startswith("config.json: ") and fragment in str(caught.value)


def test_a_400_digit_learning_rate_in_a_run_folder(runs, capsys):
    bad = runs / "b-bad"
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(config).replace('"lr": 0.003', '"lr": 1' + "0" * 400))
    code = main(["evaluate", str(bad)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err == (
        f"playground: error: {bad}: its config.json cannot be read (config.json: lr must be a finite number; "
        f"got a whole number of about 401 digits)\n")
    problems: list[str] = []
    assert [r.path.name for r in list_runs(runs, False, problems)] == ["a-good"]
    assert len(problems) == 1 and problems[0].startswith(f"{bad}: its config.json cannot be read")


def test_any_error_in_one_folder_stays_in_that_folder(runs, monkeypatch):
    import playground.core.runs as runs_module

    real = runs_module.load_run

    def load_run(path, with_events=True):
        if path.name == "b-bad":
            raise KeyError("something no one foresaw")
        return real(path, with_events)

    monkeypatch.setattr(runs_module, "load_run", load_run)
    problems: list[str] = []
    assert [r.path.name for r in list_runs(runs, False, problems)] == ["a-good"]
    assert problems == [f"{runs / 'b-bad'}: cannot be read (KeyError: 'something no one foresaw')"]


def _spoiled_evaluation(folder: Path, **changes) -> None:
    data = json.loads((folder / "evaluation.json").read_text())
    (folder / "evaluation.json").write_text(json.dumps({**data, **changes}))


@pytest.mark.parametrize("changes,fragment", [
    (lambda n: {"misclassified": [-5, 10**30]}, "'misclassified' is not a list of image indices from 0 to 'count' - 1"),
    (lambda n: {"misclassified": [n]}, "'misclassified' is not a list of image indices"),
    (lambda n: {"labels": []}, "'labels' is not a list of 'count' ({n:,}) classes from 0 to 9"),
    (lambda n: {"predictions": [10] * n}, "'predictions' is not a list of 'count' ({n:,}) classes from 0 to 9"),
    (lambda n: {"confusion": [[0] * 11] * 11}, "'confusion' is not a 10x10 table of whole numbers from 0 to 'count'"),
    (lambda n: {"confusion": [[-1] * 10] * 10}, "'confusion' is not a 10x10 table"),
    (lambda n: {"per_class": [{"precision": 1, "recall": 1, "f1": 1, "support": 1}] * 11},
     "'per_class' does not hold precision, recall, F1 and support for each of the 10 classes"),
    (lambda n: {"count": 10**30}, "'predictions' is not a list of 'count'"),
    (lambda n: {"accuracy": float("nan")}, "'accuracy' is not a finite number"),
])
def test_an_evaluation_the_evaluate_tab_could_not_show_is_skipped(runs, changes, fragment):
    bad = runs / "b-bad"
    good = read_evaluation(bad)
    assert good is not None and good.count == len(good.labels) == len(good.predictions) > 0
    _spoiled_evaluation(bad, **changes(good.count))
    notes: list[str] = []
    assert read_evaluation(bad, notes) is None
    assert len(notes) == 1 and notes[0].startswith(f"evaluation.json cannot be used ({fragment.format(n=good.count)}")
    assert notes[0].endswith("; the run is shown without its test evaluation")
    run = load_run(bad)
    assert run.evaluation is None and run.notes == notes and run.status == "completed"


def test_export_reads_only_the_evaluation(runs, tmp_path, capsys):
    """A run whose config.json is spoiled still exports (the export needs only the design, the weights
    and, for the accuracy, evaluation.json)."""
    from safetensors import safe_open

    bad = runs / "b-bad"
    accuracy = json.loads((bad / "evaluation.json").read_text())["accuracy"]
    (bad / "config.json").write_text('{"lr": 1' + "0" * 400 + "}")
    code = main(["export", str(bad), "--format", "model", "--out", str(tmp_path / "m.pgmodel.safetensors")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    with safe_open(str(tmp_path / "m.pgmodel.safetensors"), framework="pt") as f:
        assert float(f.metadata()["test_accuracy"]) == accuracy
    # An unusable evaluation.json: exported without an accuracy, no error.
    _spoiled_evaluation(bad, labels=[])
    code = main(["export", str(bad), "--format", "model", "--out", str(tmp_path / "n.pgmodel.safetensors")])
    out, err = capsys.readouterr()
    assert code == 0, err
    with safe_open(str(tmp_path / "n.pgmodel.safetensors"), framework="pt") as f:
        assert f.metadata()["test_accuracy"] == ""


def test_safe_file_stem():
    assert safe_file_stem("../../.bashrc") == "bashrc"
    assert safe_file_stem("/etc/passwd") == "etc-passwd"
    assert safe_file_stem("fast-cnn v2.1") == "fast-cnn-v2.1"
    assert safe_file_stem("..") == safe_file_stem("") == safe_file_stem("数字") == "model"
    assert safe_file_stem("数字", "run") == "run"
    assert safe_file_stem("a" * 79 + "-b") == "a" * 79  # at most 80 characters, never ending in "-"


def test_a_run_folder_name_made_from_a_strangers_design_name_stays_in_its_folder(tmp_path):
    from playground.core.runs import new_run_dir

    made = [new_run_dir(tmp_path, name) for name in ("../../.bashrc", "数字", "a" * 300)]
    assert all(path.parent == tmp_path and path.is_dir() for path in made)
    assert [path.name.split("-", 2)[2] for path in made] == ["bashrc", "run", "a" * 80]
