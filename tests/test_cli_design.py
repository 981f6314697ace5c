"""The command line and untrusted designs: no escape sequence from a file reaches the terminal, a
malformed design is a clear error, and the memory budget is shown and enforced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from playground.core import PRESETS, NetworkSpec, make_layer

ROOT = Path(__file__).resolve().parents[1]
UNSAFE_BYTES = (b"\x1b", b"\x07", b"\x00", b"\r", "\u202e".encode(), "\x9b".encode())

HUGE = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=65536),
                    make_layer("Linear", out_features=65536), make_layer("Linear", out_features=10)),
                   name="huge")


# The peak resident memory of this process alone: VmHWM starts afresh at exec, where ru_maxrss keeps the
# forking parent's (a large pytest process) on Linux.
PEAK_KB = ("(int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) "
           "if __import__('os').path.exists('/proc/self/status') "
           "else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m playground ARGS`` with bytes out, so a raw escape byte cannot hide."""
    return subprocess.run([sys.executable, "-m", "playground", *args], capture_output=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


def assert_no_raw_controls(data: bytes) -> None:
    for byte in UNSAFE_BYTES:
        assert byte not in data, (byte, data[:400])


def test_summary_never_prints_escape_sequences_from_a_design(tmp_path):
    data = PRESETS["lenet5"].spec.to_dict()
    data["name"] = "\x1b[2J\x1b]0;pwned\x07evil"
    data["description"] = "gnp.\u202eexe\rover\x00"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))  # the JSON escapes them: the loaded strings hold the raw bytes
    for args in ([], ["--json"]):
        result = run("summary", str(path), *args)
        assert result.returncode == 0, result.stderr
        assert_no_raw_controls(result.stdout + result.stderr)
        assert "pwned" in result.stdout.decode() and "evil" in result.stdout.decode()


def test_file_names_in_errors_are_printable(tmp_path):
    result = run("summary", str(tmp_path / "evil\x1b[2J\x07.json"))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("playground: error: ") and "evil\\x1b[2J\\x07.json: no such file" in err
    assert_no_raw_controls(result.stderr)


@pytest.mark.parametrize("edit,fragment", [
    (lambda d: d["layers"][2].update(type=["Linear"]), "layer 3: unknown layer type ['Linear']"),
    (lambda d: d["layers"][0]["params"].update(out_channels={"a": 1}),
     "layer 1 (Conv2d), field 'out_channels': must be a whole number, not {'a': 1}"),
    (lambda d: d.update(name=12), "'name' must be text, not 12"),
    (lambda d: d.update(layers={"0": {}}), "'layers' must be a list of layers"),
])
def test_wrong_json_types_are_a_clear_error(tmp_path, edit, fragment):
    data = PRESETS["lenet5"].spec.to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = run("summary", str(path))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith(f"playground: error: {path}: ") and fragment in err, err
    assert "Traceback" not in err


def test_deeply_nested_and_oversized_files_are_a_clear_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(100_000_000)
    for path, fragment in ((deep, "nested too deeply"), (big, "larger than 1 MB")):
        result = run("summary", str(path))
        err = result.stderr.decode()
        assert result.returncode == 2 and fragment in err and "Traceback" not in err, err


def test_summary_shows_the_memory_estimate(tmp_path):
    result = run("summary", "--preset", "lenet5", "--batch-size", "64")
    assert result.returncode == 0
    assert "memory: parameters 247 kB · training at batch size 64 about" in result.stdout.decode()
    data = json.loads(run("summary", "--preset", "lenet5", "--json").stdout)
    memory = data["memory"]
    assert memory["parameter_bytes"] == 61_706 * 4
    assert memory["batch_size"] == 128  # the preset's
    assert memory["training_bytes"] == 4 * memory["parameter_bytes"] + 2 * 128 * memory["activation_bytes_per_image"]
    assert memory["machine_bytes"] > 0


def test_summary_of_an_over_budget_design_exits_1_with_the_figure(tmp_path):
    path = tmp_path / "huge.json"
    HUGE.save(path)
    result = run("summary", str(path))
    assert result.returncode == 1
    out = result.stdout.decode()
    assert "memory: parameters 17.4 GB" in out
    assert "17.4 GB as float32, over the limit of 2 GB; layer 3 (Linear 65536)" in out
    data = json.loads(run("summary", str(path), "--json").stdout)
    assert data["valid"] is False and data["problems"][0]["layer"] == 3
    assert "over the limit of 2 GB" in data["problems"][0]["message"]


def test_predict_refuses_a_tiny_model_file_with_a_huge_design_without_allocating(tmp_path):
    import torch
    from PIL import Image

    from playground.core.export import save_model_file

    model = tmp_path / "huge.pgmodel.safetensors"
    save_model_file(model, HUGE, {"1.bias": torch.zeros(4)})
    image = tmp_path / "x.png"
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 13:15] = 255
    Image.fromarray(pixels).save(image)
    code = ("import resource, sys\n"
            "from playground.cli import main\n"
            f"rc = main(['predict', '--model', {str(model)!r}, {str(image)!r}])\n"
            f"print('maxrss_kb', {PEAK_KB})\n"
            "sys.exit(rc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("playground: error: ") and "17.4 GB" in result.stderr
    assert "Traceback" not in result.stderr
    assert int(result.stdout.split("maxrss_kb")[1]) < 1_000_000  # under 1 GB: no weights allocated


def test_train_refuses_a_batch_size_the_machine_cannot_hold(tmp_path, monkeypatch, capsys):
    from playground.cli import main
    from playground.core import shapes
    from playground.core.shapes import infer_shapes, training_bytes

    need_64 = training_bytes(infer_shapes(PRESETS["tutorial-cnn"].spec), 64)
    monkeypatch.setattr(shapes, "machine_memory_bytes", lambda: need_64)
    out = tmp_path / "run"
    assert main(["train", "--preset", "tutorial-cnn", "--batch-size", "1024", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("playground: error: this design needs about ")
    assert "to train at batch size 1024; this machine has" in err
    assert err.rstrip().endswith("use a smaller batch size or fewer channels")
    assert not out.exists()
