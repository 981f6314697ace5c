"""Every preset to every format, each export checked against the model it came from."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import FORMATS, ExportError, export, load_model_file, save_model_file
from playground.core.predict import Classifier


def trained_like_state(name):
    torch.manual_seed(1)
    model = build_model(PRESETS[name].spec)
    # Batch-norm statistics away from their defaults, so that eval-mode export matters.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.state_dict()


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_exports_to_every_format(name, fmt, tmp_path, mnist):
    path = tmp_path / f"{name}{FORMATS[fmt]}"
    check = export(fmt, path, PRESETS[name].spec, trained_like_state(name), 0.9876,
                   check_images=mnist.test.images[:300])
    assert path.is_file()
    assert check.images == 300 and check.label_agreement == 1.0
    assert check.max_abs_difference < 1e-4 and check.passed


def test_the_script_runs_with_only_torch_and_safetensors(tmp_path, mnist):
    state = trained_like_state("lstm-rows")
    path = tmp_path / "net.py"
    export("script", path, PRESETS["lstm-rows"].spec, state)
    model = build_model(PRESETS["lstm-rows"].spec).eval()
    model.load_state_dict(state)
    x = mnist.test.images[:20].unsqueeze(1).float() / 255
    torch.save(x, tmp_path / "x.pt")
    code = ("import sys, torch\n"
            "sys.modules['playground'] = None  # the app must not be needed\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            "import net\n"
            f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
            "print(net.predict(net.load(), x).argmax(1).tolist())")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with torch.no_grad():
        expected = model(x).argmax(1).tolist()
    assert out.stdout.strip() == str(expected)


def test_model_file_round_trip(tmp_path):
    state = trained_like_state("fast-cnn")
    path = save_model_file(tmp_path / "m.pgmodel.safetensors", PRESETS["fast-cnn"].spec, state, 0.99)
    spec, loaded, meta = load_model_file(path)
    assert spec == PRESETS["fast-cnn"].spec and meta["test_accuracy"] == "0.99"
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert Classifier.from_path(path).spec == spec


def test_plain_weights_are_not_a_model_file(tmp_path):
    from playground.core.runs import save_weights

    save_weights(tmp_path / "w.safetensors", trained_like_state("mlp-300"))
    with pytest.raises(ExportError, match="not a model file of this app"):
        load_model_file(tmp_path / "w.safetensors")


def test_export_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="no such folder"):
        export("onnx", tmp_path / "nope" / "m.onnx", PRESETS["mlp-300"].spec, trained_like_state("mlp-300"))
