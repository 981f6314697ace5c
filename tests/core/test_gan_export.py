"""Exporting a GAN's generator (core/gan_export.py through checked_export.export_checked): each format
written, checked against the app's generator on fixed latents, and usable without the app."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_gan_sample import gan_state, make_gan_run

from playground.core.checked_export import export_checked
from playground.core.export import ExportError, load_model_file
from playground.core.gan_export import (CHECK_SAMPLES, GeneratorCheck, export_generator, generator_script_source)
from playground.core.gan_sample import GeneratorModel, load_generator

EXTENSIONS = {"model": ".pgmodel.safetensors", "torchscript": ".pt", "onnx": ".onnx", "script": ".py"}


@pytest.fixture(autouse=True)
def quiet_jit():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {name: make_gan_run(base / name, name) for name in ("dcgan", "cgan")}


@pytest.mark.parametrize("preset", ["dcgan", "cgan"])
@pytest.mark.parametrize("fmt", list(EXTENSIONS))
def test_each_format_matches_the_generator_on_fixed_latents(runs, tmp_path, preset, fmt):
    out = tmp_path / f"gen{EXTENSIONS[fmt]}"
    check = export_checked(runs[preset], fmt, out)
    assert isinstance(check, GeneratorCheck) and out.is_file()
    assert check.samples == CHECK_SAMPLES == 64 and check.passed
    assert 0 <= check.max_abs_difference < 1e-4
    assert check.to_dict()["kind"] == "generator" and check.to_dict()["passed"] is True
    assert check.format_text().startswith("check PASSED: 64 fixed latent vectors (seed 0), largest output difference")


def test_a_changed_export_fails_the_check(runs, tmp_path):
    """The check compares real outputs: a generator whose weights differ from the exported file's fails."""
    gen = load_generator(runs["dcgan"])
    out = tmp_path / "g.pt"
    export_generator("torchscript", out, gen, check=False)
    other = GeneratorModel.from_state(gen.spec, gan_state("dcgan", seed=1))
    from playground.core.gan_export import check_generator_export

    check = check_generator_export("torchscript", out, other)
    assert not check.passed and check.max_abs_difference > 0.01
    assert check.format_text().startswith("check FAILED")


def test_onnx_inputs_are_the_latent_and_the_one_hot_digit(runs, tmp_path):
    import onnxruntime

    gen = load_generator(runs["cgan"])
    out = tmp_path / "c.onnx"
    export_generator("onnx", out, gen, check=False)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [("latent", 64), ("digit_onehot", 10)]
    assert [o.name for o in session.get_outputs()] == ["image"]
    assert "digit_onehot (N, 10)" in session.get_modelmeta().description
    z, digits = gen.latents(4, 3), [2, 5, 9]  # another batch size than the export's example
    onehot = np.eye(10, dtype=np.float32)[digits]
    image = session.run(None, {"latent": z.numpy(), "digit_onehot": onehot})[0]
    assert np.abs(image - gen.outputs(z, digits).numpy()).max() < 1e-4


def test_the_script_runs_alone_and_generates_the_app_s_images(runs, tmp_path):
    gen = load_generator(runs["cgan"])
    out = tmp_path / "alone" / "cgan_generator.py"
    out.parent.mkdir()
    export_checked(runs["cgan"], "script", out)
    tree = ast.parse(out.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"argparse", "struct", "sys", "zlib", "pathlib", "numpy", "torch", "safetensors"}
    code = (f"import sys; sys.path.insert(0, {str(out.parent)!r}); import numpy, cgan_generator as g; "
            f"numpy.save({str(tmp_path / 'a.npy')!r}, g.generate(12, seed=5, digit=3, out={str(tmp_path / 'png')!r}))")
    # -I: no user site and no PYTHONPATH, so the app is not importable; run from another folder.
    subprocess.run([sys.executable, "-I", "-c", code], check=True, cwd=tmp_path, timeout=120)
    images = np.load(tmp_path / "a.npy")
    assert np.array_equal(images, gen.images(gen.latents(5, 12), [3] * 12))
    from PIL import Image

    pngs = sorted((tmp_path / "png").iterdir())
    assert [p.name for p in pngs] == [f"sample_{i:04d}.png" for i in range(12)]
    assert all(np.array_equal(np.array(Image.open(p)), image) for p, image in zip(pngs, images))
    done = subprocess.run([sys.executable, "-I", str(out), "--count", "2", "--digit", "1", "--out", "cli"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "wrote 2 images to cli"
    assert len(list((tmp_path / "cli").iterdir())) == 2


def test_a_design_s_text_never_becomes_code(runs, tmp_path):
    gen = load_generator(runs["dcgan"])
    hostile = replace(gen.spec, name='x"""\nimport os; os.system("echo owned")\n"""',
                      description='\\"""; raise SystemExit(3) #\u202e')
    source = generator_script_source(hostile, "w.safetensors")
    tree = ast.parse(source)
    assert hostile.description in ast.get_docstring(tree, clean=False)
    neutral = generator_script_source(replace(hostile, name="network", description=""), "w.safetensors")
    assert ast.dump(ast.Module(tree.body[1:], [])) == ast.dump(ast.Module(ast.parse(neutral).body[1:], []))
    check = export_generator("script", tmp_path / "h.py", GeneratorModel(hostile, gen.state_dict()))
    assert check.passed


def test_a_generator_model_file_is_named_as_such_where_a_classifier_is_expected(runs, tmp_path):
    out = tmp_path / "g.pgmodel.safetensors"
    export_checked(runs["dcgan"], "model", out)
    with pytest.raises(ExportError, match="a GAN generator's model file: it makes images of digits"):
        load_model_file(out)
    again = tmp_path / "again.onnx"  # a generator model file exports like its run
    assert export_checked(out, "onnx", again).passed


def test_bad_targets_write_nothing(runs, tmp_path):
    with pytest.raises(ExportError, match="no such folder"):
        export_checked(runs["dcgan"], "onnx", tmp_path / "missing" / "g.onnx")
    with pytest.raises(ExportError, match="needs a .py name"):
        export_checked(runs["dcgan"], "script", tmp_path / "g.safetensors")
    with pytest.raises(ExportError, match="unknown format"):
        export_checked(runs["dcgan"], "keras", tmp_path / "g.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_trained_batch_norm_statistics_and_an_mlp_generator_export(tmp_path):
    """Running statistics are part of the export: a BatchNorm with trained statistics still matches."""
    state = gan_state("dcgan")
    state["generator.1.running_mean"] += torch.linspace(-0.5, 0.5, state["generator.1.running_mean"].numel())
    state["generator.1.running_var"] *= 2
    run = make_gan_run(tmp_path / "stats", "dcgan", state=state)
    for fmt in ("torchscript", "onnx"):
        assert export_checked(run, fmt, tmp_path / f"s{EXTENSIONS[fmt]}").passed
    mlp = make_gan_run(tmp_path / "mlp", "gan-mlp")
    assert export_checked(mlp, "script", tmp_path / "mlp.py").passed
