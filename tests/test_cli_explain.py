"""``playground explain`` on real MNIST digits: the files it writes are what the network sees, its
saliency map and each layer's output, with the shapes the JSON line says; bad input gets a clear
message and the exit code the other commands use."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from playground.cli import main
from playground.core.predict import Classifier
from playground.core.preprocess import load_image, preprocess_image
from playground.core.shapes import infer_shapes


@pytest.fixture(scope="module")
def files(tmp_path_factory, app_folders):
    """Two MNIST test digits (a 7 and a 2, the second dark on light), a blank image and a text file
    named .png."""
    from playground.core.data import load_raw

    folder = tmp_path_factory.mktemp("explain-in")
    _, test = load_raw("mnist")
    Image.fromarray(test.images[0].numpy()).save(folder / "seven.png")
    Image.fromarray(255 - test.images[1].numpy()).save(folder / "two.png")
    Image.new("L", (40, 40), 255).save(folder / "blank.png")
    (folder / "note.png").write_text("not an image\n")
    return {name: str(folder / f"{name}.png") for name in ("seven", "two", "blank", "note")}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_writes_what_the_network_sees_its_saliency_and_every_layer(files, tmp_path, capsys):
    out = tmp_path / "explained"
    assert main(["explain", files["seven"], files["two"], "--out", str(out), "--json"]) == 0
    lines = json_lines(capsys.readouterr().out)
    classifier = Classifier.from_path()
    rows = infer_shapes(classifier.spec).rows
    assert [line["digit"] for line in lines] == [7, 2]
    for line, name in zip(lines, ("seven", "two")):
        image = np.load(line["input"])
        assert image.shape == (28, 28) and image.dtype == np.float32
        assert np.array_equal(image, preprocess_image(load_image(files[name])))  # as `predict` sees it
        assert np.allclose(line["probabilities"], classifier.probabilities(image), atol=1e-5)
        assert line["target"] == line["digit"] and line["method"] == "gradient-x-input"
        saliency = np.load(line["saliency"])
        assert saliency.shape == (28, 28) and saliency.max() > 0
        assert [layer["index"] for layer in line["layers"]] == list(range(len(rows)))
        for layer, row in zip(line["layers"], rows):
            assert layer["type"] == row.type and tuple(layer["shape"]) == row.out_shape
            assert np.load(layer["file"]).shape == row.out_shape
        logits = np.load(line["layers"][-1]["file"])
        assert int(np.argmax(logits)) == line["digit"]
    # Two images never share files; nothing but the .npy files is left in OUT.
    assert len({line["input"] for line in lines}) == 2
    assert all(p.suffix == ".npy" and not p.name.startswith(".") for p in out.iterdir())
    assert len(list(out.iterdir())) == 2 * (2 + len(rows))


def test_method_and_target(files, tmp_path, capsys):
    out = tmp_path / "cam"
    assert main(["explain", files["seven"], "--out", str(out), "--method", "grad-cam", "--target", "3"]) == 0
    text = capsys.readouterr().out
    assert "Grad-CAM for 3" in text and text.startswith(files["seven"] + ": 7 (")
    (saliency,) = out.glob("*.saliency.npy")
    assert np.load(saliency).min() >= 0  # Grad-CAM maps are never negative
    assert main(["explain", files["seven"], "--out", str(tmp_path / "t"), "--target", "10"]) == 2
    assert "--target must be a class from 0 to 9; got '10'" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_a_bad_image_is_one_error_among_the_results(files, tmp_path):
    """As a user runs it: a subprocess, so nothing is hidden (a traceback, the exit code)."""
    out = tmp_path / "mixed"
    result = subprocess.run([sys.executable, "-m", "playground", "explain", files["note"], files["seven"],
                             str(tmp_path / "missing.png"), "--out", str(out), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    note, seven, missing = json_lines(result.stdout)
    assert "not a readable image" in note["error"] and note["path"] == files["note"]
    assert "no such file" in missing["error"]
    assert seven["digit"] == 7 and np.load(seven["input"]).shape == (28, 28)


def test_a_blank_image_fails_with_exit_code_1(files, tmp_path, capsys):
    assert main(["explain", files["blank"], "--out", str(tmp_path / "blank")]) == 1
    assert "no digit found (the image is blank)" in capsys.readouterr().err


def test_an_unusable_out_folder_is_refused_before_anything_is_written(files, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["explain", files["seven"], "--out", str(a_file)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["explain", files["seven"], "--out", str(tmp_path / "no" / "such")]) == 2
    assert "no such folder" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["explain", files["seven"], "--out", str(full)]) == 2
    assert "is not empty (1 entries)" in capsys.readouterr().err
    assert main(["explain", files["seven"], "--out", str(full), "--force"]) == 0
    assert (full / "keep.txt").read_text() == "mine" and len(list(full.glob("*.npy"))) == 12


def test_a_missing_model_is_a_usage_error(files, tmp_path, capsys):
    assert main(["explain", files["seven"], "--out", str(tmp_path / "m"), "--model", str(tmp_path / "nope")]) == 2
    assert "nope: no such file or folder" in capsys.readouterr().err


def test_force_leaves_no_layer_files_of_another_model(files, tmp_path, capsys):
    import torch

    from playground.core import NetworkSpec
    from playground.core import make_layer as L
    from playground.core.export import save_model_file

    out = tmp_path / "twice"
    assert main(["explain", files["seven"], "--out", str(out)]) == 0  # the default model: many layers
    (out / "001-seven.notes.txt").write_text("mine")
    (out / "001-seven.layer-x.npy").write_text("mine too: not a name explain makes")
    spec = NetworkSpec((L("Flatten"), L("Linear", out_features=10)))
    small = save_model_file(tmp_path / "small.pgmodel.safetensors", spec,
                            {"1.weight": torch.zeros(10, 784), "1.bias": torch.zeros(10)})
    assert main(["explain", files["seven"], "--out", str(out), "--model", str(small), "--force"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "001-seven.input.npy", "001-seven.layer-00-Flatten.npy", "001-seven.layer-01-Linear.npy",
        "001-seven.layer-x.npy", "001-seven.notes.txt", "001-seven.saliency.npy"]


def test_a_file_size_limit_leaves_no_half_written_image_and_says_why(files, tmp_path):
    import resource

    def limit_file_size():  # as `ulimit -f 4`: the input and saliency fit, the first layer's output does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out = tmp_path / "limited"
    result = subprocess.run([sys.executable, "-m", "playground", "explain", files["seven"], files["two"],
                             "--out", str(out), "--json"], capture_output=True, text=True, preexec_fn=limit_file_size)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    lines = json_lines(result.stdout)
    assert len(lines) == 2
    for line in lines:
        assert line["error"].endswith("could not write its files into " + str(out)
                                      + ": the disk is full or a file size limit was hit")
    assert list(out.iterdir()) == []


def test_a_dangling_link_as_out_is_refused_up_front(files, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert main(["explain", files["seven"], files["two"], "--out", str(link)]) == 2
    assert capsys.readouterr().err.count("is a link to something that does not exist") == 1
    assert not (tmp_path / "nowhere").exists() and link.is_symlink()
