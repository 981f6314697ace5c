"""``playground train`` and ``evaluate`` with shared, killed, full or badly named run folders, and bad numbers.

Real processes where processes matter (two trainings, a killed one, a file size limit); waits are on
files and exit codes, with generous deadlines that only bound a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEADLINE = 120  # seconds; only bounds a hang


def playground(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "playground", *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kwargs)


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_two_trainings_into_one_folder_then_the_owner_is_killed(tmp_path):
    """The second training is refused and writes nothing; once the first is killed, its run reads
    as interrupted and evaluates on the weights of its last finished epoch."""
    out = tmp_path / "run"
    out.mkdir()  # an existing empty folder is fine
    first = subprocess.Popen([sys.executable, "-m", "playground", "train", "--preset", "mlp-300", "--epochs", "500",
                              "--limit", "2000", "--test-limit", "2000", "--out", str(out), "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(out / "weights_best.safetensors", first)
        second = playground("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "300", "--test-limit", "300",
                            "--seed", "5",
                            "--out", out)
        assert second.returncode == 2
        assert second.stderr == (f"playground: error: {out} is being written by another training (process "
                                 f"{first.pid}); choose another --out folder\n")
        config = json.loads((out / "config.json").read_text())
        assert config["seed"] == 0 and config["epochs"] == 500  # the first training's, untouched
        starts = [line for line in (out / "metrics.jsonl").read_text().splitlines() if '"type": "start"' in line]
        assert len(starts) == 1
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=DEADLINE)
    assert json.loads((out / "run.json").read_text())["status"] == "running"  # what the killed process left

    from playground.core.runs import load_run

    run = load_run(out)
    assert run.status == "interrupted" and run.epochs and run.evaluation is None
    result = playground("evaluate", out, "--json")
    assert result.returncode == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert evaluation["status"] == "interrupted" and evaluation["accuracy"] > 0.5
    assert evaluation["count"] == 2000
    # A folder that holds a run is not appended to, whatever its status.
    before = contents(out)
    again = playground("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "300", "--test-limit", "300",
                       "--out", out)
    assert again.returncode == 2 and again.stderr.endswith("already holds a run; choose another --out folder\n")
    assert contents(out) == before


def test_a_non_empty_folder_that_is_not_a_run_is_refused(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8 mine")
    result = playground("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "300", "--test-limit", "300",
                        "--out", out)
    assert result.returncode == 2
    assert "is not empty (1 item) and is not a run folder; --out takes a new or empty folder" in result.stderr
    assert contents(out) == {"holiday.jpg": b"\xff\xd8 mine"}


def run_main(args, capsys):
    from playground.cli import main

    code = main(["train", "--preset", "mlp-300", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("out,fragment", [
    ("file/run", "is a file, so the folder {tmp}/file/run cannot be made inside it; choose another --out folder"),
    ("file", "{tmp}/file is a file; --out takes a folder"),
    ("a\0b", "contains a NUL byte, which no file name can hold"),
])
def test_bad_out_exits_2_and_writes_nothing(tmp_path, capsys, out, fragment):
    (tmp_path / "file").write_text("mine")
    code, err = run_main(["--epochs", "1", "--limit", "300", "--test-limit", "300",
                          "--out", str(tmp_path / out)], capsys)
    assert code == 2 and err.startswith("playground: error: ")
    assert fragment.format(tmp=tmp_path) in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_out_folder_exits_2(tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = run_main(["--epochs", "1", "--limit", "300", "--test-limit", "300",
                              "--out", str(folder / "run")], capsys)
    finally:
        folder.chmod(0o700)
    assert code == 2 and "permission denied" in err.lower() and list(folder.iterdir()) == []


def test_a_folder_that_cannot_be_created_exits_2(tmp_path, capsys, monkeypatch):
    """As a read-only disk answers (simulated: tests may run as root, which chmod does not stop)."""
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.name == "run":
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, err = run_main(["--epochs", "1", "--limit", "300", "--test-limit", "300",
                          "--json", "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert err == f"playground: error: cannot write to the run folder {tmp_path / 'run'}: Permission denied\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,fragment", [
    (["--seed", "-1"], "seed must be 0 to 9223372036854775807; got -1"),
    (["--seed", str(10**30)], "seed must be 0 to 9223372036854775807; got 1000000000000000000000000000000"),
    (["--seed", str(2**64)], "seed must be 0 to 9223372036854775807"),
    (["--epochs", str(10**30)], "epochs must be 1 to 10000"),
    (["--batch-size", "-1"], "batch size must be 1 to 65536; got -1"),
    (["--limit", str(10**30)], "limit must be 0 (all images) to 1000000000"),
    (["--limit", "-5"], "limit must be 0 (all images) to 1000000000; got -5"),
    (["--lr", "nan"], "lr must be a finite number; got nan"),
    (["--lr", "inf"], "lr must be a finite number; got inf"),
    (["--momentum=-inf"], "momentum must be a finite number"),
    (["--weight-decay", "1e400"], "weight_decay must be a finite number; got inf"),
    (["--val-fraction", "nan"], "val_fraction must be a finite number"),
])
def test_out_of_range_numbers_exit_2_with_the_range(tmp_path, capsys, args, fragment):
    code, err = run_main(["--epochs", "1", "--limit", "300", "--test-limit", "300",
                          *args, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def limited_training(out: Path, max_bytes: int, *extra):
    """``playground train`` in a process whose files may not grow past ``max_bytes`` (writes past it
    fail with EFBIG, as on a full disk)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run([sys.executable, "-m", "playground", "train", "--preset", "mlp-300", "--optimizer", "adam",
                           "--lr", "0.002", "--epochs", "3", "--limit", "300", "--test-limit", "300",
                           "--out", str(out), *extra],
                          capture_output=True, text=True, preexec_fn=limit, timeout=600)


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_write_that_fails_mid_run_keeps_the_last_epoch(tmp_path, mnist):  # MNIST extracted before the limit
    """1.5 MB: the weights (0.95 MB) fit, Adam's state (1.9 MB) does not."""
    out = tmp_path / "run"
    result = limited_training(out, 1_500_000)
    assert result.returncode == 1, result.stderr
    message = (f"cannot write optimizer.safetensors to the run folder {out}: File too large; the weights of "
               f"epoch 1 are kept in weights_last.safetensors")
    assert result.stderr.endswith(f"playground: error: {message}\n") and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "design.json", "metrics.jsonl", "run.json", "run.lock", "weights_best.safetensors",
        "weights_last.safetensors"]  # no temporary file
    from playground.core.runs import load_run

    run = load_run(out)
    assert run.status == "failed" and run.summary["message"] == message and run.notes == []
    assert [e["epoch"] for e in run.epochs] == []  # the epoch event comes after its files
    evaluated = playground("evaluate", out, "--json")
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout)["accuracy"] > 0.3


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
def test_a_write_that_fails_before_any_weights_says_so(tmp_path, mnist):  # MNIST extracted before the limit
    out = tmp_path / "run"
    result = limited_training(out, 500_000, "--json")
    assert result.returncode == 1
    message = (f"cannot write weights_last.safetensors to the run folder {out}: File too large; no weights had "
               f"been saved yet")
    last = json.loads(result.stdout.splitlines()[-1])
    assert last == {"type": "error", "error": "RunWriteError", "message": message}
    assert result.stderr == f"playground: error: {message}\n"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "design.json", "metrics.jsonl", "run.json",
                                                     "run.lock"]
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    evaluated = playground("evaluate", out)
    assert evaluated.returncode == 2 and "no such weights file" in evaluated.stderr


@pytest.mark.parametrize("name,text,note", [
    ("evaluation.json", "{\"accuracy\": 0.9", "evaluation.json cannot be used (it is not valid JSON"),
    ("metrics.jsonl", "\x00\x01 junk\n{\"type\": \"epoch\", \"epoch\": \"x\"}\n", "metrics.jsonl: skipped 2 lines"),
    ("run.json", "{\"status\": [", "run.json cannot be read (it is not valid JSON"),
])
def test_evaluate_a_run_with_a_corrupt_file_notes_it(tmp_path, name, text, note):
    out = tmp_path / "run"
    trained = playground("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "300", "--test-limit", "300",
                         "--out", out)
    assert trained.returncode == 0, trained.stderr
    (out / name).write_text(text)
    result = playground("evaluate", out)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert f"playground: note: {out}: {note}" in result.stderr
    assert "accuracy" in result.stdout


def test_evaluate_a_run_whose_config_has_wrong_types(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "design.json").write_text(json.dumps({"format_version": 1, "name": "x", "layers": []}))
    (out / "config.json").write_text(json.dumps({"optimizer": {"name": "adam"}, "epochs": "3"}))
    result = playground("evaluate", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"playground: error: {out}: its ")
