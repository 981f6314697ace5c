"""``export_checked``: the one export-with-check call behind ``playground export`` and the Export dialog.

A run trained on a few hundred real MNIST images, exported from its folder, from a model folder and
from a model file; errors come as the exceptions the command line turns into its exit codes."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import playground.core.atomic as atomic
import playground.core.checked_export as checked_export
from playground.cli import main
from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.checked_export import CHECK_IMAGES, export_checked
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.export import ExportError, ExportWriteError, load_model_file
from playground.core.export_formats import EXPORT_FORMATS, FORMATS
from playground.core.runs import RunError, load_run
from playground.core.train import train

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=32), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-32")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished run (240 training, 60 validation, 300 test images) with its evaluation."""
    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=300, test_limit=300)
    path = tmp_path_factory.mktemp("runs") / "done"
    events, _ = train(MLP, TrainConfig(epochs=1, batch_size=32, device="cpu"), data=data, run_dir=path)
    assert events[-1]["status"] == "completed"
    return path


def test_a_run_folder_exports_its_accuracy_and_passes_the_check(run_dir, tmp_path):
    accuracy = load_run(run_dir).evaluation.accuracy
    out = tmp_path / "net.py"
    check = export_checked(run_dir, "script", out)
    assert check.passed and check.images == CHECK_IMAGES == 300 and check.format == "script"
    assert f"Test accuracy on MNIST: {accuracy:.2%}." in out.read_text()
    assert out.with_suffix(".safetensors").is_file()

    model = tmp_path / "net.pgmodel.safetensors"
    assert export_checked(run_dir, "model", model).passed
    _, _, meta = load_model_file(model)
    assert float(meta["test_accuracy"]) == pytest.approx(accuracy)


def test_a_model_file_and_a_model_folder_export(run_dir, tmp_path):
    model = tmp_path / "m.pgmodel.safetensors"
    export_checked(run_dir, "model", model)
    check = export_checked(model, "torchscript", tmp_path / "m.pt")
    assert check.passed and (tmp_path / "m.pt").is_file()

    folder = tmp_path / "model-folder"
    folder.mkdir()
    shutil.copy(run_dir / "design.json", folder / "design.json")
    shutil.copy(run_dir / "weights_best.safetensors", folder / "weights.safetensors")
    out = tmp_path / "f.py"
    assert export_checked(folder, "script", out).passed
    assert "Test accuracy" not in out.read_text()  # a folder without an evaluation: no accuracy claimed


def test_a_bad_target_is_refused_before_the_source_is_read(tmp_path):
    with pytest.raises(ExportError, match="no such folder"):
        export_checked(tmp_path / "no-such-run", "onnx", tmp_path / "missing" / "m.onnx")
    with pytest.raises(ExportError, match="unknown format 'keras'"):
        export_checked(tmp_path, "keras", tmp_path / "m.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_source_that_cannot_be_loaded_is_a_run_error(tmp_path):
    (tmp_path / "junk.pgmodel.safetensors").write_bytes(b"\x00" * 64)
    for source in (tmp_path / "no-such-run", tmp_path / "junk.pgmodel.safetensors"):
        with pytest.raises(RunError):
            export_checked(source, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_failed_write_is_an_export_write_error_and_keeps_the_old_file(run_dir, tmp_path, monkeypatch):
    target = tmp_path / "m.pt"
    target.write_bytes(b"the previous export")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", full)
    with pytest.raises(ExportWriteError, match="No space left on device.*unchanged"):
        export_checked(run_dir, "torchscript", target)
    assert target.read_bytes() == b"the previous export"
    assert os.listdir(tmp_path) == ["m.pt"]


def test_the_command_line_goes_through_export_checked(run_dir, tmp_path, monkeypatch, capsys):
    calls = []

    def spy(source, fmt, out):
        calls.append((source, fmt, out))
        return export_checked(source, fmt, out)

    monkeypatch.setattr(checked_export, "export_checked", spy)
    out = tmp_path / "m.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out), "--json"]) == 0
    assert calls == [(run_dir, "onnx", out)]
    assert json.loads(capsys.readouterr().out)["passed"] is True


def test_the_command_line_offers_the_formats_of_the_one_table(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "run", "--format", "keras", "--out", "m.h5"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'keras'" in err and all(name in err.split("choose from")[1] for name in EXPORT_FORMATS)
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for fmt in EXPORT_FORMATS.values():
        assert f"{fmt.name}: {fmt.title} ({fmt.extension}), {fmt.help}" in help_text
        assert FORMATS[fmt.name] == fmt.extension
