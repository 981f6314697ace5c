"""Weights files from strangers: a crafted safetensors header is refused at once with a clear message,
and every path checks the header against the design (built on the meta device) before any weight
is read."""

from __future__ import annotations

import ast
import json
import os
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import torch

import playground
from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.config import TrainConfig
from playground.core.export import (MODEL_FORMAT, ExportError, _string_literal, load_model_file,
                                    load_state_dict_file)
from playground.core.layers import make_layer
from playground.core.predict import Classifier
from playground.core.runs import RunError, RunRecord, load_weights, save_weights
from playground.core.spec import NetworkSpec
from playground.core.weights import (SAFETENSORS_HEADER_LIMIT, STATE_DICT_FILE_LIMIT, expected_weights,
                                     layout)

SPEC = PRESETS["mlp-300"].spec  # 1.weight (300, 784), 1.bias (300,), 3.weight (10, 300), 3.bias (10,)
ROOT = Path(playground.__file__).resolve().parents[1]


def _safetensors(path: Path, header: dict, data_size: int = 0, sparse: bool = False) -> Path:
    """A safetensors file with this header, followed by ``data_size`` bytes of zeros."""
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        if sparse:
            f.truncate(8 + len(raw) + data_size)  # no disk space taken
        else:
            f.write(bytes(data_size))
    return path


def _model_header(**tensors) -> dict:
    return {"__metadata__": {"format": MODEL_FORMAT, "format_version": "1", "design": SPEC.to_json()}, **tensors}


@pytest.fixture
def no_weight_read(monkeypatch):
    """Fail the test if safetensors is asked to read the tensors."""
    import safetensors.torch

    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: pytest.fail("the weights were read"))


# -- 1. crafted headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry, message", [
    ({"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}, "tensor 'w' has an unknown dtype"),
    ({"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}, "tensor 'w' has an unknown dtype"),
    ({"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}, "at most 8 dimensions"),
    ({"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}, "a dimension that is not a whole number"),
    ({"dtype": "F32", "shape": [2**48], "data_offsets": [0, 4]}, "a dimension that is not a whole number"),
    ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}, "a dimension that is not a whole number"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [0, True]}, "data offsets that are not two whole"),
    ({"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}, "at most 8 dimensions"),
    ([], "the entry of tensor 'w' is not an object"),
])
def test_a_malformed_header_entry_is_named(tmp_path, no_weight_read, entry, message):
    path = _safetensors(tmp_path / "m.pgmodel.safetensors", _model_header(w=entry), 4)
    with pytest.raises(ExportError, match=message):
        load_model_file(path)
    with pytest.raises(RunError, match=f"not a readable safetensors weights file: .*{message}"):
        load_weights(path)


def test_a_header_of_huge_dimensions_is_refused_at_once(tmp_path):
    """400 dimensions of 4,000 digits: today's product of them takes seconds (and its message cannot
    be formatted). Run apart, so that a regression fails on the timeout rather than hangs the suite."""
    path = _safetensors(tmp_path / "m.pgmodel.safetensors",
                        _model_header(w={"dtype": "F32", "shape": [int("9" * 4000)] * 400, "data_offsets": [0, 4]}),
                        4)
    code = ("from playground.core.export import ExportError, load_model_file\n"
            "try:\n"
            f"    load_model_file({str(path)!r})\n"
            "except ExportError as exc:\n"
            "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tensor 'w' has a shape that is not a list of at most 8 dimensions" in done.stdout


def test_a_header_over_16_mb_is_refused_with_the_limit_in_the_message(tmp_path, no_weight_read):
    assert SAFETENSORS_HEADER_LIMIT == 16_000_000
    header = _model_header(**{"1.bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    header["__metadata__"]["pad"] = "x" * 17_000_000  # valid JSON, a real 17 MB header
    path = _safetensors(tmp_path / "m.pgmodel.safetensors", header, 4)
    with pytest.raises(ExportError, match=r"its header claims 17,000,\d{3} bytes \(the limit is 16,000,000\)"):
        load_model_file(path)
    with pytest.raises(RunError, match=r"the limit is 16,000,000"):
        load_weights(path)


# -- 2. the header against the design, before any weight is read -------------------------------------


def _run_folder(tmp_path: Path, weights: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    SPEC.save(run / "design.json")
    os.replace(weights, run / "weights_best.safetensors")
    return run


def test_run_weights_of_the_wrong_shapes_are_refused_before_they_are_read(tmp_path, no_weight_read):
    """The right names, but a 300 MB first weight for a design that needs 0.9 MB: refused from the
    header, by the run record and by the classifier, without reading the tensors."""
    shapes = {"1.weight": [300, 250_000], "1.bias": [300], "3.weight": [10, 300], "3.bias": [10]}
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    assert offset > 300_000_000
    run = _run_folder(tmp_path, _safetensors(tmp_path / "w.safetensors", header, offset, sparse=True))
    message = r"weight '1.weight' has shape \(300, 250000\) but the design needs \(300, 784\)"
    with pytest.raises(RunError, match=message):
        RunRecord(run, SPEC, TrainConfig(), {}).load_model()
    with pytest.raises(RunError, match=message):
        Classifier.from_path(run)
    with pytest.raises(RunError, match=message):  # the canvas following a run's newest weights
        Classifier.from_weights_file(SPEC, run / "weights_best.safetensors")


def test_run_weights_with_missing_names_are_refused_before_they_are_read(tmp_path, no_weight_read):
    state = build_model(SPEC).state_dict()
    del state["3.bias"]
    save_weights(tmp_path / "w.safetensors", state)
    run = _run_folder(tmp_path, tmp_path / "w.safetensors")
    message = r"the weights do not fit this design \(the file holds 238,500 values but the design needs 238,510; " \
              r"missing \['3.bias'\], unexpected \[\]\)"
    with pytest.raises(RunError, match=message):
        RunRecord(run, SPEC, TrainConfig(), {}).load_model()
    with pytest.raises(RunError, match=message):
        Classifier.from_path(run)


def test_fitting_run_weights_load(tmp_path):
    model = build_model(SPEC)
    save_weights(tmp_path / "w.safetensors", model.state_dict())
    run = _run_folder(tmp_path, tmp_path / "w.safetensors")
    loaded = RunRecord(run, SPEC, TrainConfig(), {}).load_model()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert not loaded.training


EVERY_LAYER = NetworkSpec((make_layer("Conv2d", out_channels=4), make_layer("BatchNorm"), make_layer("ReLU"),
                           make_layer("MaxPool2d", kernel_size=2), make_layer("Tanh"), make_layer("Dropout"),
                           make_layer("AvgPool2d", kernel_size=2), make_layer("GELU"), make_layer("Sigmoid"),
                           make_layer("LeakyReLU"), make_layer("GRU", hidden_size=8), make_layer("Linear"),
                           make_layer("Linear", out_features=10)), name="every layer")
RECURRENT = [NetworkSpec((make_layer(kind, hidden_size=16, num_layers=2, bidirectional=True),
                          make_layer("Linear", out_features=10)), name=kind) for kind in ("RNN", "LSTM", "GRU")]


@pytest.mark.parametrize("spec", [p.spec for p in PRESETS.values()] + [EVERY_LAYER, *RECURRENT],
                         ids=lambda s: s.name)
def test_the_design_weights_from_the_meta_device_are_those_of_the_real_model(spec):
    assert spec.layers and all(layer.type for layer in spec.layers)
    assert expected_weights(spec) == layout(build_model(spec).state_dict())


def test_the_expected_weights_of_a_large_design_cost_no_memory():
    """1.78 GB of weights, in a fresh process whose peak resident memory stays that of torch alone."""
    code = ("from playground.core.layers import make_layer\n"
            "from playground.core.spec import NetworkSpec\n"
            "from playground.core.weights import expected_weights\n"
            "spec = NetworkSpec((make_layer('Flatten'), make_layer('Linear', out_features=65536),\n"
            "                    make_layer('Linear', out_features=6000), make_layer('Linear', out_features=10)))\n"
            "import math\n"
            "print(sum(math.prod(s) for _, s in expected_weights(spec).values()))\n"
            "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    values, peak_kb = (int(n) for n in done.stdout.split())
    assert values == 444_727_770
    assert peak_kb < 1_000_000  # torch itself; the real model would take 1.78 GB


# -- 3. .pt/.pth state dicts ---------------------------------------------------------------------------


def test_a_state_dict_file_larger_than_any_design_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.pt"
    with open(path, "wb") as f:
        f.truncate(STATE_DICT_FILE_LIMIT + 1)  # sparse: no disk space taken
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(ExportError, match=r"2,001,000,001 bytes, more than the weights of any design can take "
                                          r"\(at most 2,001,000,000 bytes\); it was not read"):
        load_state_dict_file(path)


def test_a_state_dict_file_is_checked_against_the_design(tmp_path):
    state = build_model(SPEC).state_dict()
    state["3.weight"] = torch.zeros(10, 301)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ExportError, match=r"weight '3.weight' has shape \(10, 301\) but the design needs \(10, 300\)"):
        load_state_dict_file(tmp_path / "w.pt", SPEC)
    # Without a design, the same file is only checked to be a finite state dict (the window's
    # classifier then checks it against the design in the designer).
    assert set(load_state_dict_file(tmp_path / "w.pt")) == set(state)
    with pytest.raises(RunError, match=r"weight '3.weight' has shape \(10, 301\)"):
        Classifier(SPEC, load_state_dict_file(tmp_path / "w.pt"), "w.pt")


# -- 5. no import cycle through export ---------------------------------------------------------------


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "playground" / "core" / f"{module}.py").read_text(encoding="utf-8"))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_runs_and_weights_do_not_import_export():
    assert "playground.core.export" not in _imports("runs")
    assert not {"playground.core.export", "playground.core.runs"} & _imports("weights")


# -- 6. the script generator's string literal ----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "nul\x00byte", "carriage\rreturn\r\n", "bidi \u202e override \u2066 \u2069", "lone \ud800 and \udfff",
    "C:\\Users\\Nina\\", "\\", '"', '""', '"""', "'''", "\\N{BULLET} \\x \\u12", "tab\tnew\nline",
    "del\x7f and c1\x85\x9b", "line\u2028sep\u2029", "é 数字 🙂", "",
])
def test_the_string_literal_reads_back_exactly_and_holds_no_raw_control_character(text):
    literal = _string_literal(text)
    assert ast.literal_eval(literal) == text
    raw = [c for c in literal if c not in "\n\t" and not c.isprintable()]
    assert raw == [], [unicodedata.name(c, hex(ord(c))) for c in raw]
    assert literal.startswith('"""') and literal.endswith('"""') and '"""' not in literal[3:-3]
