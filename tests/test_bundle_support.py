"""What a frozen (PyInstaller) bundle needs: the worker started through the app itself, the hidden
``_worker`` entry, and ``playground gui --smoke-test`` (packaging/check_bundle.sh runs it on a bundle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core import worker

ROOT = Path(__file__).resolve().parents[1]


def fresh_user_env(tmp_path: Path) -> dict[str, str]:
    """A user with nothing yet: home, settings, cache and data in ``tmp_path``; no screen."""
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"),
               QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    for name in ("PLAYGROUND_CACHE_DIR", "PLAYGROUND_DATA_DIR"):
        env.pop(name, None)
    return env


def test_frozen_worker_command_is_the_app_with_the_hidden_argument(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    assert worker.worker_command() == [sys.executable, worker.WORKER_ARG]
    assert worker.worker_env()["PYTHONPATH"] == "/somewhere"  # not this package's folder: the bundle has it


def test_unfrozen_worker_command_runs_the_module(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    assert worker.worker_command() == [sys.executable, "-m", "playground.core.worker"]
    assert worker.worker_env()["PYTHONPATH"].split(os.pathsep) == [str(ROOT), "/somewhere"]


def test_hidden_worker_entry_speaks_the_worker_protocol(tmp_path, monkeypatch):
    """As in a bundle (frozen, so no PYTHONPATH is added), a TrainingProcess starts ``playground _worker``,
    which says ready and trains a tiny real run to the end. Here the app is ``python -m playground``."""
    from playground.core import PRESETS, launch
    from playground.core.config import TrainConfig

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(launch, "self_command", lambda: [sys.executable, "-m", "playground"])
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the bundle has its modules inside; here, this checkout
    process = worker.TrainingProcess()
    assert process.proc.args == [sys.executable, "-m", "playground", worker.WORKER_ARG]
    assert json.loads(process.proc.stdout.readline()) == {"type": "ready"}
    config = TrainConfig(epochs=1, limit=300, test_limit=300, batch_size=32, device="cpu")
    job = {"design": PRESETS["mlp-300"].spec.to_dict(), "config": config.to_dict(),
           "run_dir": str(tmp_path / "run")}
    events = list(process.run(job))
    assert events[0]["type"] == "start" and events[-1]["type"] == "finished", events[-1]
    assert events[-1]["status"] == "completed"
    assert not process.alive and process.proc.returncode == 0


@pytest.mark.slow
def test_gui_smoke_test_passes_its_checks(tmp_path):
    result = subprocess.run([sys.executable, "-m", "playground", "gui", "--smoke-test"], capture_output=True,
                            text=True, env=fresh_user_env(tmp_path), cwd=tmp_path, timeout=280)
    assert result.returncode == 0, result.stdout + result.stderr
    ok = [line for line in result.stdout.splitlines() if line.startswith("ok: ")]
    assert len(ok) == 4, result.stdout
    for words in ("PyTorch", "default model reads a drawn 1", "training worker started", "main window showed"):
        assert any(words in line for line in ok), (words, result.stdout)
    assert "Traceback" not in result.stderr
