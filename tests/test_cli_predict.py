"""``playground predict`` with images from strangers: a bad file is one error line among the results,
exit codes say the worst that happened, and ``--json`` is always valid JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from playground.cli import build_parser, main
from pngs import one_colour_png


def strict_json(line: str):
    """``json.loads`` that refuses NaN and Infinity, which are not JSON."""
    def refuse(constant):
        raise AssertionError(f"not valid JSON: {constant} in {line}")

    return json.loads(line, parse_constant=refuse)


@pytest.fixture(scope="module")
def files(tmp_path_factory, app_folders):
    """Two MNIST digits (a 7 and a 2, the second dark on light and enlarged), a blank image, a
    400-megapixel bomb and PostScript named .png."""
    from playground.core.data import load_raw

    folder = tmp_path_factory.mktemp("predict")
    _, test = load_raw("mnist")
    Image.fromarray(test.images[0].numpy()).save(folder / "good.png")
    Image.fromarray(255 - np.asarray(Image.fromarray(test.images[1].numpy()).resize((140, 140)))).save(
        folder / "good2.png")
    Image.new("L", (64, 64), 255).save(folder / "blank.png")
    (folder / "bomb.png").write_bytes(one_colour_png(20_000, 20_000))
    (folder / "digit.png").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    return {name: str(folder / f"{name}.png") for name in ("good", "good2", "blank", "bomb", "digit")}


def test_a_bomb_is_one_error_among_the_results(files):
    """As a user runs it: a subprocess, so nothing is hidden (a traceback, a warning, the exit code)."""
    good, bomb, good2 = files["good"], files["bomb"], files["good2"]
    result = subprocess.run([sys.executable, "-m", "playground", "predict", good, bomb, good2, "--json"],
                            capture_output=True, text=True)
    lines = [strict_json(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [good, bomb, good2]
    assert [line.get("digit") for line in lines] == [7, None, 2]
    assert lines[1] == {"path": bomb, "error": f"{bomb}: the image is 400 megapixels; the limit is 40 "
                                                f"megapixels: scale it down"}
    assert result.returncode == 2  # something was unreadable, though the others were classified
    assert result.stderr == ""


def test_text_output_and_exit_codes(files, capsys):
    good, good2, blank, bomb, eps = (files[k] for k in ("good", "good2", "blank", "bomb", "digit"))

    assert main(["predict", good, bomb, good2]) == 2
    out, err = capsys.readouterr()
    assert [line.split(":")[1].split()[0] for line in out.splitlines()] == ["7", "2"]
    assert err == f"playground: {bomb}: the image is 400 megapixels; the limit is 40 megapixels: scale it down\n"

    assert main(["predict", good, blank]) == 1  # readable, but no digit in it
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: 7 (") and err == f"playground: {blank}: no digit found (the image is blank)\n"

    assert main(["predict", blank, eps]) == 2  # unreadable beats failed
    _, err = capsys.readouterr()
    assert f"{eps}: not a readable image (this app reads PNG, JPEG, BMP, GIF, TIFF or WebP)" in err

    assert main(["predict", good, good2]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and err == ""


def test_every_file_gets_one_json_line(files, tmp_path, capsys):
    names = [files["good"], files["blank"], str(tmp_path), str(tmp_path / "missing.png"), files["digit"]]
    assert main(["predict", *names, "--json"]) == 2
    out, err = capsys.readouterr()
    lines = [strict_json(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == names and err == ""
    assert lines[0]["digit"] == 7
    assert [line["error"].removeprefix(f"{name}: ")[:24] for line, name in zip(lines[1:], names[1:])] == [
        "no digit found (the imag", "a folder, not an image; ", "no such file", "not a readable image (th"]


def test_a_model_that_outputs_nan_gives_an_error_not_invalid_json(files, tmp_path, capsys):
    import torch

    from playground.core import NetworkSpec
    from playground.core import make_layer as L
    from playground.core.export import save_model_file

    spec = NetworkSpec((L("Flatten"), L("Linear", out_features=10)))
    state = {"1.weight": torch.full((10, 784), 1e38), "1.bias": torch.zeros(10)}  # finite, but the logits overflow
    assert all(torch.isfinite(t).all() for t in state.values())
    model = save_model_file(tmp_path / "huge.pgmodel.safetensors", spec, state)

    assert main(["predict", files["good"], files["good2"], "--model", str(model), "--json"]) == 1
    out, _ = capsys.readouterr()
    lines = [strict_json(line) for line in out.splitlines()]
    assert lines == [{"path": p, "error": f"{p}: the model's output is not a number (NaN): the model is broken; "
                                          f"retrain it or use another model"}
                     for p in (files["good"], files["good2"])]
    assert main(["predict", files["good"], "--model", str(model)]) == 1
    _, err = capsys.readouterr()
    assert "the model's output is not a number (NaN)" in err


def test_help_documents_the_exit_codes():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["predict"].format_help()
    flat = " ".join(text.split())
    assert "Exit code: 2 if the model or any image could not be read" in flat
    assert "otherwise 1 if any image had no digit (blank) or the model's output was not a number; otherwise 0" in flat
    assert "PNG, JPEG, BMP, GIF, TIFF or WebP, up to 40 megapixels" in flat
