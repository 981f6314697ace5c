"""Exports and model files from strangers: design text never becomes code, ONNX is one file, a failed
write loses nothing, and a model file with bad insides gets a clear message."""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import playground
from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import (MODEL_FORMAT, ExportError, check_export, export, export_script, file_stem,
                                    load_model_file, load_state_dict_file, onnx_bytes, save_model_file,
                                    script_docstring, script_source)
from playground.core.layers import LayerSpec
from playground.core.predict import Classifier
from playground.core.runs import RunError, load_weights, save_weights
from playground.core.spec import NetworkSpec

SPEC = PRESETS["mlp-300"].spec
SPEC_STATE_KEYS = ("1.weight", "1.bias", "3.weight", "3.bias")
ROOT = str(Path(playground.__file__).resolve().parents[1])  # this checkout, for subprocesses


def trained_like_state(spec=SPEC):
    torch.manual_seed(1)
    return build_model(spec).state_dict()


def payloads(marker):
    """Design texts that would run code (creating ``marker``) if they reached the script unescaped."""
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return [
        f'"""\n{touch}\n"""',
        f'x"""; {touch}; """',
        f"'''\n{touch}\n'''",
        f'"""+{touch}+"""',
        "C:\\Users\\Nina\\",  # a backslash at the end escapes the closing quote if written raw
        "\\",
        '"',
        '""',
        "\\N{BULLET} and \\N{",  # an unterminated \N{...} escape is a SyntaxError if written raw
        "\\x",
        "line one\nline two\n\n    indented",
        "carriage\rreturn\r\n",
        "nul\x00byte",
        "lone surrogate \ud800 and \udfff",
        "bidi \u202e override \u2066",
        "{} {0} {name} {{}} %s %(x)s",
        "é ü 数字 🙂",
        f'"""{"a" * 30_000}"""{touch}#',  # very long
        "",
    ]


def test_hostile_names_and_descriptions_stay_text(tmp_path, mnist):
    marker = tmp_path / "PWNED"
    state = trained_like_state()
    for i, text in enumerate(payloads(marker)):
        spec = replace(SPEC.renamed(text), description=text)
        path = tmp_path / f"net{i}.py"
        check = export("script", path, spec, state, 0.5, check_images=mnist.test.images[:100])
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        doc = ast.get_docstring(tree, clean=False)
        assert doc == script_docstring(spec, 0.5)
        # The spec itself replaces control characters and lone surrogates (core/text.py); what is
        # left must reach the docstring in full, as text.
        if len(text) < 10_000:
            assert spec.description in doc  # the description, in full, as text
        # Everything after the docstring is the code generated for a neutral name and description.
        neutral = ast.parse(script_source(replace(SPEC, name="x", description=""), f"net{i}.safetensors"))
        assert ast.dump(ast.Module(tree.body[1:], [])) == ast.dump(ast.Module(neutral.body[1:], []))
        assert check.passed and check.images == 100 and check.label_agreement == 1.0
        assert not marker.exists()


def test_the_hostile_script_imports_elsewhere_without_running_the_payload(tmp_path, mnist):
    marker = tmp_path / "PWNED"
    spec = replace(SPEC.renamed(payloads(marker)[0]), description="\n".join(payloads(marker)[:6]))
    state = trained_like_state()
    export("script", tmp_path / "net.py", spec, state)
    x = mnist.test.images[:20].unsqueeze(1).float() / 255
    torch.save(x, tmp_path / "x.pt")
    code = (f"import sys, torch\nsys.path.insert(0, {str(tmp_path)!r})\nimport net\n"
            f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
            "print(net.predict(net.load(), x).argmax(1).tolist())")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    model = build_model(SPEC).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        assert out.stdout.strip() == str(model(x).argmax(1).tolist())
    assert not marker.exists()


def test_the_script_reads_ordinary_image_formats_only(tmp_path, mnist):
    """The shipped script classifies a PNG, and a PostScript file named .png never reaches Pillow's
    EPS reader (Ghostscript)."""
    from PIL import Image

    export("script", tmp_path / "net.py", SPEC, trained_like_state())
    Image.fromarray(mnist.test.images[0].numpy()).save(tmp_path / "digit.png")
    (tmp_path / "eps.png").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    ok = subprocess.run([sys.executable, "-I", str(tmp_path / "net.py"), str(tmp_path / "digit.png")],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith(f"{tmp_path / 'digit.png'}: "), ok.stderr
    eps = subprocess.run([sys.executable, "-I", str(tmp_path / "net.py"), str(tmp_path / "eps.png")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert eps.returncode != 0 and "not a readable image" in eps.stderr


def test_an_escaping_bug_is_caught_by_the_proof_before_anything_is_written(tmp_path, monkeypatch):
    import playground.core.export as export_module

    marker = tmp_path / "PWNED"
    monkeypatch.setattr(export_module, "_string_literal", lambda text: '"""' + text + '"""')  # no escaping
    spec = replace(SPEC, description=payloads(marker)[0])
    with pytest.raises(ExportError, match="docstring is not the design's text|code that came from the design"):
        export("script", tmp_path / "net.py", spec, trained_like_state())
    spec = replace(SPEC, description="C:\\Users\\Nina\\")
    with pytest.raises(ExportError, match="does not parse"):
        export("script", tmp_path / "net.py", spec, trained_like_state())
    assert list(tmp_path.iterdir()) == [] and not marker.exists()


def test_the_check_runs_only_the_script_it_generated(tmp_path, mnist):
    marker = tmp_path / "PWNED"
    path = tmp_path / "net.py"
    state = trained_like_state()
    export("script", path, SPEC, state)
    path.write_text(path.read_text() + f"\n__import__('pathlib').Path({str(marker)!r}).touch()\n")
    model = build_model(SPEC).eval()
    model.load_state_dict(state)
    with pytest.raises(ExportError, match="not the script just generated"):
        check_export("script", path, model, mnist.test.images[:10], SPEC)
    assert not marker.exists()


def test_a_design_name_suggests_no_other_folder():
    assert file_stem("../../.bashrc") == "bashrc"
    assert file_stem("/etc/passwd") == "etc-passwd"
    assert file_stem("fast-cnn v2.1") == "fast-cnn-v2.1"
    assert file_stem("..") == file_stem("") == file_stem("数字") == "model"


# -- ONNX: one file ---------------------------------------------------------------------------------


def test_onnx_is_one_self_contained_file(tmp_path, mnist, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = tmp_path / "out"
    out.mkdir()
    state = trained_like_state()
    export("onnx", out / "m.onnx", SPEC, state)
    assert sorted(p.name for p in out.iterdir()) == ["m.onnx"]
    assert list(temp.iterdir()) == []
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(out / "m.onnx", alone / "m.onnx")
    (out / "m.onnx").unlink()

    import onnxruntime

    session = onnxruntime.InferenceSession(str(alone / "m.onnx"), providers=["CPUExecutionProvider"])
    x = mnist.test.images[:50].unsqueeze(1).float() / 255
    got = session.run(None, {"image": x.numpy()})[0]
    model = build_model(SPEC).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == (50, 10) and np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_onnx_over_the_protobuf_limit_is_a_clear_error():
    import onnx

    proto = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    assert onnx_bytes(proto) == proto.SerializeToString()
    with pytest.raises(ExportError, match="too large for a single ONNX file"):
        onnx_bytes(proto, limit=proto.ByteSize() - 1)


# -- a full disk ------------------------------------------------------------------------------------

_FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    import torch
    from playground.core.export import ExportError, export
    from playground.core.spec import NetworkSpec

    spec = NetworkSpec.from_json(Path(sys.argv[1]).read_text())
    state = {k: v for k, v in torch.load(sys.argv[2], weights_only=True).items()}
    limit = int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # a write past this size fails (EFBIG)
    results = {}
    for fmt, out in json.loads(sys.argv[4]).items():
        try:
            export(fmt, out, spec, state)
            results[fmt] = None
        except ExportError as exc:
            results[fmt] = str(exc)
    print(json.dumps(results))
""")


def _export_on_a_full_disk(tmp_path, spec, state, limit, targets):
    (tmp_path / "spec.json").write_text(spec.to_json())
    torch.save(state, tmp_path / "state.pt")
    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "spec.json"), str(tmp_path / "state.pt"),
                          str(limit), json.dumps({k: str(v) for k, v in targets.items()})],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_a_full_disk_leaves_every_earlier_file_and_no_temporary_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    targets = {"model": folder / "m.pgmodel.safetensors", "torchscript": folder / "m.pt",
               "onnx": folder / "m.onnx", "script": folder / "m.py"}
    for path in [*targets.values(), folder / "m.safetensors"]:
        path.write_bytes(f"the earlier {path.name}".encode())
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    results = _export_on_a_full_disk(tmp_path, SPEC, trained_like_state(), 4096, targets)
    for fmt, message in results.items():
        assert message is not None, fmt
        assert f"{targets[fmt]}: cannot be written (File too large); any earlier file" in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing new, nothing changed


def tiny_spec():
    """A network whose weights file (22 numbers) is much smaller than its script."""
    return NetworkSpec((LayerSpec("Conv2d", {"out_channels": 1, "kernel_size": 1, "stride": 1, "padding": 0,
                                             "bias": True}),
                        LayerSpec("MaxPool2d", {"kernel_size": 28, "stride": 0, "padding": 0}),
                        LayerSpec("Flatten", {}),
                        LayerSpec("Linear", {"out_features": 10, "bias": True})), "tiny")


def test_a_script_that_cannot_be_written_leaves_the_earlier_pair(tmp_path):
    spec = tiny_spec()
    state = trained_like_state(spec)
    probe = tmp_path / "probe"
    probe.mkdir()
    export_script(probe / "m.py", spec, state)
    weights_size, script_size = (probe / "m.safetensors").stat().st_size, (probe / "m.py").stat().st_size
    limit = weights_size + 100
    assert script_size > limit  # so the weights are written and the script fails

    # An earlier pair: its weights are put back.
    old = tmp_path / "old"
    old.mkdir()
    (old / "m.py").write_bytes(b"the earlier script")
    (old / "m.safetensors").write_bytes(b"the earlier weights")
    # No earlier pair: the new weights are removed.
    new = tmp_path / "new"
    new.mkdir()
    results = _export_on_a_full_disk(tmp_path, spec, state, limit, {"script": old / "m.py"})
    assert "cannot be written (File too large); any earlier files are unchanged" in results["script"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == {"m.py": b"the earlier script",
                                                               "m.safetensors": b"the earlier weights"}
    results = _export_on_a_full_disk(tmp_path, spec, state, limit, {"script": new / "m.py"})
    assert "cannot be written" in results["script"]
    assert list(new.iterdir()) == []


# -- model files with bad insides -------------------------------------------------------------------


def _write_model(path, state, **metadata):
    meta = {"format": MODEL_FORMAT, "format_version": "1", "design": SPEC.to_json(), **metadata}
    save_weights(path, state, {k: v for k, v in meta.items() if v is not None})
    return path


@pytest.mark.parametrize("design, message", [
    (None, "without a design in its metadata"),
    ("{not json", "design in this model file is malformed: .*not valid JSON"),
    ('{"format_version": 1, "layers": "Linear"}', "malformed: .*'layers' must be a list"),
    ('{"format_version": 1, "name": 3, "layers": []}', "malformed: .*must be text"),
    ('{"format_version": 1, "layers": [{"type": "Linear", "params": {"out_features": [], "bias": true}}]}',
     "malformed: .*out_features"),
    ("[" * 100_000, "malformed"),
])
def test_a_missing_or_malformed_design_is_named(tmp_path, design, message):
    path = _write_model(tmp_path / "m.pgmodel.safetensors", trained_like_state(), design=design)
    with pytest.raises(ExportError, match=message) as info:
        load_model_file(path)
    assert str(path) in str(info.value)


def test_a_design_bigger_than_its_file_is_refused_before_any_weight_is_read(tmp_path, monkeypatch):
    import safetensors.torch

    big = NetworkSpec((LayerSpec("Flatten", {}),
                       *[LayerSpec("Linear", {"out_features": 4096, "bias": True})] * 20,  # 1.29 GB: in budget
                       LayerSpec("Linear", {"out_features": 10, "bias": True})), "big")
    path = _write_model(tmp_path / "m.pgmodel.safetensors", trained_like_state(), design=big.to_json())
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: pytest.fail("the weights were read"))
    with pytest.raises(ExportError, match=r"the weights do not fit this design \(the file holds 238,510 values but "
                                          r"the design needs 322,101,258; missing"):
        load_model_file(path)


def test_int_weights_are_refused_before_loading(tmp_path):
    state = trained_like_state()
    state["1.weight"] = torch.ones_like(state["1.weight"], dtype=torch.int64)
    path = _write_model(tmp_path / "m.pgmodel.safetensors", state)
    with pytest.raises(ExportError, match="weight '1.weight' is int64; the model needs float32"):
        load_model_file(path)
    run = tmp_path / "run"
    run.mkdir()
    SPEC.save(run / "design.json")
    save_weights(run / "weights_best.safetensors", state)
    with pytest.raises(RunError, match="weight '1.weight' is int64; the model needs float32"):
        Classifier.from_path(run)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused_when_read(tmp_path, bad):
    state = trained_like_state()
    state["3.bias"][4] = bad
    path = _write_model(tmp_path / "m.pgmodel.safetensors", state)
    with pytest.raises(ExportError, match="weight '3.bias' holds NaN or infinite values"):
        load_model_file(path)
    save_weights(tmp_path / "w.safetensors", state)
    with pytest.raises(RunError, match="weight '3.bias' holds NaN or infinite values"):
        load_weights(tmp_path / "w.safetensors")
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(ExportError, match="weight '3.bias' holds NaN or infinite values"):
        load_state_dict_file(tmp_path / "w.pt", SPEC)


def foreign_files(folder):
    """A TorchScript file, a torch.save zip checkpoint, a pickle and an ONNX file, all of the same model."""
    model = build_model(SPEC).eval()
    paths = {}
    paths["TorchScript"] = folder / "m.pt"
    export("torchscript", paths["TorchScript"], SPEC, model.state_dict())
    paths["PyTorch checkpoint"] = folder / "checkpoint.pth"
    torch.save(model.state_dict(), paths["PyTorch checkpoint"])
    paths["pickle"] = folder / "m.pkl"
    paths["pickle"].write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=2))
    paths["ONNX"] = folder / "m.onnx"
    export("onnx", paths["ONNX"], SPEC, model.state_dict())
    return paths


def test_other_kinds_of_file_are_named(tmp_path, monkeypatch):
    paths = foreign_files(tmp_path)
    import safetensors.torch

    def never(*args, **kwargs):
        raise AssertionError("safetensors was given a file that is not safetensors")

    monkeypatch.setattr(safetensors.torch, "load_file", never)
    for kind, path in paths.items():
        # The same file under the model file's name: the first bytes decide, not the name...
        disguised = path.with_name(f"{path.stem}-{path.suffix[1:]}.pgmodel.safetensors")
        disguised.write_bytes(path.read_bytes())
        # ...except for ONNX, told by its suffix and first byte.
        for candidate in ([path] if kind == "ONNX" else [path, disguised]):
            with pytest.raises(ExportError, match=f"this is an? {kind} .*the app opens .pgmodel.safetensors"):
                load_model_file(candidate)
            with pytest.raises(RunError, match=f"this is an? {kind}"):
                Classifier.from_path(candidate)
            with pytest.raises(RunError, match=f"not a readable safetensors weights file: this is an? {kind}"):
                load_weights(candidate)


def test_a_model_file_whose_first_bytes_look_like_a_pickle_or_onnx_still_opens(tmp_path):
    """The first 8 bytes are the header's length: 0x80 or 0x08 first, for one header in 32."""
    state = trained_like_state()
    meta = {"format": MODEL_FORMAT, "format_version": "1", "design": SPEC.to_json()}
    for first, name in ((0x80, "m.pgmodel.safetensors"), (0x08, "m.onnx")):
        path = tmp_path / name
        for pad in range(300):  # the header grows 8 bytes at a time
            save_weights(path, state, {**meta, "pad": "x" * pad})
            if path.read_bytes()[0] == first:
                break
        assert path.read_bytes()[0] == first
        spec, state, meta = load_model_file(path)
        assert spec == SPEC and set(state) == set(SPEC_STATE_KEYS)


def test_a_torchscript_or_onnx_file_opened_as_a_state_dict_is_named(tmp_path):
    paths = foreign_files(tmp_path)
    for kind in ("TorchScript", "ONNX"):
        with pytest.raises(ExportError, match=f"this is an? {kind} .*not a state dict"):
            load_state_dict_file(paths[kind])
    assert set(load_state_dict_file(paths["PyTorch checkpoint"])) == set(SPEC_STATE_KEYS)


def test_a_truncated_file_is_refused(tmp_path):
    path = save_model_file(tmp_path / "m.pgmodel.safetensors", SPEC, trained_like_state())
    data = path.read_bytes()
    for cut in (len(data) // 2, 100, 7, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(ExportError, match="truncated|too short"):
            load_model_file(path)


def test_sizes_claimed_beyond_the_file_are_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    import safetensors.torch

    def never(*args, **kwargs):
        raise AssertionError("safetensors was asked to load it")

    monkeypatch.setattr(safetensors.torch, "load_file", never)
    # A 100 GB tensor in a 1 KB file.
    header = json.dumps({"__metadata__": {"format": MODEL_FORMAT, "format_version": "1", "design": SPEC.to_json()},
                         "1.weight": {"dtype": "F32", "shape": [25_000_000_000],
                                      "data_offsets": [0, 100_000_000_000]}}).encode()
    path = tmp_path / "big.pgmodel.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(max(0, 1024 - 8 - len(header))))
    with pytest.raises(ExportError, match="'1.weight' .* needs 100,000,000,000 bytes"):
        load_model_file(path)
    # A header that claims a terabyte.
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}" + bytes(1000))
    with pytest.raises(ExportError, match="header claims 1,000,000,000,000 bytes"):
        load_model_file(path)
    with pytest.raises(RunError, match="header claims"):
        load_weights(path)
