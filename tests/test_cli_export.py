"""``playground export`` and ``playground predict --model`` with bad model files and bad ``--out`` paths:
``playground: error: ...``, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import pytest
import torch

from playground.cli import main
from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import MODEL_FORMAT, export, save_model_file
from playground.core.runs import save_weights

SPEC = PRESETS["mlp-300"].spec


def state():
    torch.manual_seed(2)
    return build_model(SPEC).state_dict()


@pytest.fixture
def model_file(tmp_path):
    return save_model_file(tmp_path / "good.pgmodel.safetensors", SPEC, state(), 0.5)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def bad_model_files(folder):
    """Files given where a model file is expected, and the words their message must hold."""
    files = {}
    meta = {"format": MODEL_FORMAT, "format_version": "1"}
    files["no design"] = (folder / "no-design.pgmodel.safetensors", "without a design in its metadata")
    save_weights(files["no design"][0], state(), meta)
    files["bad design"] = (folder / "bad-design.pgmodel.safetensors", "design in this model file is malformed")
    save_weights(files["bad design"][0], state(), {**meta, "design": '{"format_version": 1, "layers": 7}'})
    ints = state()
    ints["1.weight"] = ints["1.weight"].to(torch.int64)
    files["int"] = (save_model_file(folder / "int.pgmodel.safetensors", SPEC, ints),
                    "weight '1.weight' is int64; the model needs float32")
    nans = state()
    nans["1.bias"][0] = float("nan")
    files["nan"] = (save_model_file(folder / "nan.pgmodel.safetensors", SPEC, nans),
                    "weight '1.bias' holds NaN or infinite values")
    files["torchscript"] = (folder / "m.pt", "this is a TorchScript file")
    export("torchscript", files["torchscript"][0], SPEC, state())
    files["onnx"] = (folder / "m.onnx", "this is an ONNX file")
    export("onnx", files["onnx"][0], SPEC, state())
    files["checkpoint"] = (folder / "ckpt.pth", "this is a PyTorch checkpoint")
    torch.save(state(), files["checkpoint"][0])
    files["pickle"] = (folder / "m.pkl", "this is a pickle file")
    files["pickle"][0].write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    good = save_model_file(folder / "whole.pgmodel.safetensors", SPEC, state()).read_bytes()
    files["truncated"] = (folder / "cut.pgmodel.safetensors", "truncated")
    files["truncated"][0].write_bytes(good[: len(good) // 3])
    return files


def test_bad_model_files_get_a_clear_message_and_exit_2(tmp_path, capsys, mnist):
    models = tmp_path / "models"
    models.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    digit = tmp_path / "digit.png"
    from PIL import Image

    Image.fromarray(mnist.test.images[0].numpy()).save(digit)
    for name, (path, words) in bad_model_files(models).items():
        code, stdout, err = run(capsys, "export", path, "--format", "onnx", "--out", out / "m.onnx")
        assert code == 2, name
        assert err.startswith("playground: error: ") and words in err and str(path) in err, (name, err)
        code, stdout, err = run(capsys, "predict", digit, "--model", path)
        assert code == 2 and err.startswith("playground: error: ") and words in err, (name, err)
    assert list(out.iterdir()) == []


def test_a_hostile_description_exports_as_a_script_and_runs_nothing(tmp_path, capsys, mnist):
    marker = tmp_path / "PWNED"
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    spec = replace(SPEC.renamed(f'Nina"""; {touch}; """'), description=f'C:\\Users\\Nina\\\n"""\n{touch}\n"""\\')
    source = save_model_file(tmp_path / "hostile.pgmodel.safetensors", spec, state(), 0.5)
    code, stdout, err = run(capsys, "export", source, "--format", "script", "--out", tmp_path / "net.py")
    assert code == 0, err
    assert "check PASSED: 300 test images, labels agree on 100.00%" in stdout
    assert (tmp_path / "net.py").is_file() and (tmp_path / "net.safetensors").is_file()
    assert not marker.exists()


@pytest.mark.parametrize("where, words", [
    ("missing/m.onnx", "no such folder"),
    ("a-file/m.onnx", "is a file, not a folder"),
    ("a-folder", "is a folder; give the name of the file"),
])
def test_an_out_path_that_cannot_be_written_is_exit_2_and_writes_nothing(tmp_path, capsys, model_file, where, words):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for fmt in ("onnx", "script"):
        code, stdout, err = run(capsys, "export", model_file, "--format", fmt, "--out", tmp_path / where)
        assert code == 2 and err.startswith("playground: error: ") and words in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_exit_2_and_writes_nothing(tmp_path, capsys, model_file):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, stdout, err = run(capsys, "export", model_file, "--format", "torchscript", "--out", locked / "m.pt")
        assert code == 2 and "no permission to write in this folder" in err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_script_out_name_that_would_overwrite_its_weights_is_refused(tmp_path, capsys, model_file):
    code, stdout, err = run(capsys, "export", model_file, "--format", "script", "--out", tmp_path / "w.safetensors")
    assert code == 2 and "a script export needs a .py name" in err


def test_a_full_disk_is_exit_1_with_the_earlier_file_intact(tmp_path, model_file, mnist):
    """A real write failure (writes past 4 KB fail with EFBIG), also where root could write anyway."""
    import subprocess
    import sys
    from pathlib import Path

    import playground

    out = tmp_path / "m.onnx"
    out.write_bytes(b"the earlier export")
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
            "from playground.cli import main\n"
            f"sys.exit(main(['export', {str(model_file)!r}, '--format', 'onnx', '--out', {str(out)!r}]))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(playground.__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stderr  # the input was fine: the work (writing) failed
    assert result.stderr.startswith(f"playground: error: {out}: cannot be written (File too large); any earlier "
                                    f"file is unchanged")
    assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"the earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.pgmodel.safetensors", "m.onnx"]
