"""Fixes from a new user's trial, in the core and the command line: short runs draw a curve
(``min_reports_per_epoch``), an exported script without its weights says so, ``evaluate`` names the
run by its label, and a TorchScript export prints no torch deprecation warning."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from playground.cli import main
from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import load_dataset
from playground.core.export import export, save_model_file
from playground.core.runs import load_run
from playground.core.train import Trainer, train

SPEC = PRESETS["mlp-300"].spec
TIMING = ("seconds", "elapsed_seconds", "samples_per_second", "eta_seconds", "train_seconds")


@pytest.fixture(scope="module")
def small():
    """500 images of the real MNIST (450 to train on), 200 to test."""
    return load_dataset("mnist", val_fraction=0.1, seed=0, limit=500, test_limit=200)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=8, epochs=2, device="cpu", limit=500, test_limit=200,
                seed=5)
    base.update(kw)
    return TrainConfig(**base)


def without_timing(event):
    return {k: v for k, v in event.items() if k not in TIMING}


def test_a_minimum_of_reports_per_epoch_changes_no_figure(small):
    plain, plain_trainer = train(SPEC, config(), data=small, report_interval=1e9)
    many, many_trainer = train(SPEC, config(), data=small, report_interval=1e9, min_reports_per_epoch=25)
    for epoch in (1, 2):
        assert len([e for e in plain if e["type"] == "progress" and e["epoch"] == epoch]) == 1  # as today
        assert len([e for e in many if e["type"] == "progress" and e["epoch"] == epoch]) >= 25
    steps = [e["epoch_step"] for e in many if e["type"] == "progress" and e["epoch"] == 1]
    assert steps == sorted(set(steps)) and steps[-1] == many[0]["steps_per_epoch"]
    assert ([without_timing(e) for e in plain if e["type"] in ("epoch", "finished")]
            == [without_timing(e) for e in many if e["type"] in ("epoch", "finished")])
    for name, tensor in plain_trainer.best_state.items():
        assert torch.equal(tensor, many_trainer.best_state[name]), name


@pytest.mark.parametrize("bad", [-1, 1.5, True, "25", 10**6])
def test_a_bad_minimum_of_reports_is_refused(bad):
    with pytest.raises(ConfigError, match="min_reports_per_epoch"):
        Trainer(SPEC, config(), min_reports_per_epoch=bad)


def test_the_worker_passes_the_minimum_of_reports_on(small, tmp_path):
    from playground.core.worker import TrainingProcess

    process = TrainingProcess()
    try:
        job = {"design": SPEC.to_dict(), "config": config(epochs=1).to_dict(), "run_dir": str(tmp_path / "r"),
               "report_interval": 1e9, "min_reports_per_epoch": 25}
        events = list(process.run(job))
    finally:
        process.kill()
    assert events[-1]["type"] == "finished", events[-1]
    assert len([e for e in events if e["type"] == "progress"]) >= 25


def test_a_script_without_its_weights_says_so(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "digits.py"
    export("script", path, SPEC, build_model(SPEC).state_dict())
    path.with_suffix(".safetensors").unlink()
    (tmp_path / "x.png").write_bytes(b"")
    out = subprocess.run([sys.executable, "-I", str(path), "x.png"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert "digits.safetensors not found next to the script: copy it along" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_evaluate_prints_the_runs_label(small, tmp_path, capsys):
    spec = SPEC.__class__(SPEC.layers, name="untitled")
    train(spec, config(epochs=1), data=small, run_dir=tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(run.label + ", best weights") and run.label != "untitled"
    run.rename("my first try")
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("my first try, best weights")


def test_torchscript_export_prints_no_deprecation_warning(tmp_path, capsys):
    torch.manual_seed(0)
    model = save_model_file(tmp_path / "m.pgmodel.safetensors", SPEC, build_model(SPEC).state_dict(), 0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", str(model), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
    out, err = capsys.readouterr()
    assert "exported torchscript" in out and "Warning" not in err
    assert not [w for w in caught if "torch.jit" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:  # only around the export: torch's own calls still warn
        warnings.simplefilter("always")
        torch.jit.trace(build_model(SPEC).eval(), torch.zeros(1, 1, 28, 28))
    assert [w for w in caught if "torch.jit" in str(w.message)]
