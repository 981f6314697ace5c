"""The exported standalone script reads an image file as ``playground predict`` does: the same
MNIST-style preprocessing (a copy of the core's own functions, run without the app), the same
digit and probabilities, the same refusals. Images are real MNIST test digits, made to look like
a photo of ink on paper, and a digit on a transparent background."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from playground import cli
from playground.core.export import preprocessing_parts, preprocessing_source
from playground.core.predict import default_model_dir
from playground.core.preprocess import load_image, preprocess_image


def _on_paper(digit: np.ndarray, scale: int, paper: int, margins: tuple[int, int, int, int]) -> Image.Image:
    """A 28x28 MNIST digit drawn large in dark ink on light paper, off centre, as a phone photo of a
    handwritten digit would show it."""
    big = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR)
    ink = np.asarray(big, np.float32) / 255.0
    left, top, right, bottom = margins
    page = np.full((top + ink.shape[0] + bottom, left + ink.shape[1] + right), paper, np.float32)
    page[top:top + ink.shape[0], left:left + ink.shape[1]] = paper * (1 - ink) + 20 * ink
    noise = np.random.default_rng(0).normal(0, 3, page.shape)  # paper grain
    return Image.fromarray(np.clip(page + noise, 0, 255).astype(np.uint8))


def _transparent(digit: np.ndarray, scale: int) -> Image.Image:
    """Black ink whose shape is only in the alpha channel, on a fully transparent background."""
    alpha = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BILINEAR)
    rgba = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    rgba.putalpha(alpha)
    return rgba


def _huge_header(path) -> None:
    """A PNG whose header claims 8,000 x 8,000 pixels (and no pixel data): refused from the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8000, 8000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def photos(mnist, tmp_path_factory):
    """Image files of the first MNIST test digits in several formats, with their true labels."""
    folder = tmp_path_factory.mktemp("photos")
    images, labels = mnist.test.images.numpy(), mnist.test.labels.tolist()
    files = {}
    for i, (fmt, ext) in enumerate([("PNG", "png"), ("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"),
                                    ("BMP", "bmp"), ("JPEG", "jpg")]):
        photo = _on_paper(images[i], scale=8 + 3 * i, paper=235 - 6 * i, margins=(40 + 9 * i, 25, 70, 55 + 5 * i))
        if fmt == "JPEG":
            photo = photo.convert("RGB")
        path = folder / f"digit{i}.{ext}"
        photo.save(path, fmt, **({"quality": 80} if fmt in ("JPEG", "WEBP") else {}))
        files[path] = labels[i]
    for i in (6, 7):
        path = folder / f"transparent{i}.png"
        _transparent(images[i], scale=10).save(path)
        files[path] = labels[i]
    return files


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The bundled default model exported as a standalone script, as a user would."""
    out = tmp_path_factory.mktemp("export") / "net.py"
    assert cli.main(["export", str(default_model_dir()), "--format", "script", "--out", str(out), "--json"]) == 0
    return out


def _run_alone(script, *args):
    """Run the script as ``python net.py ...`` would, with the app made unimportable."""
    code = ("import runpy, sys\nsys.modules['playground'] = None  # the script must not need the app\n"
            f"sys.argv = [{str(script)!r}, *sys.argv[1:]]\nrunpy.run_path({str(script)!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-I", "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=script.parent, timeout=300)


def _predict_json(capsys, *args) -> tuple[int, list[dict]]:
    code = cli.main(["predict", "--json", "--model", str(default_model_dir()), *map(str, args)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_the_script_says_what_predict_says_on_photos_of_digits(exported, photos, capsys):
    result = _run_alone(exported, "--json", *photos)
    assert result.returncode == 0, result.stderr
    script = [json.loads(line) for line in result.stdout.splitlines()]
    code, predicted = _predict_json(capsys, *photos)
    assert code == 0 and len(script) == len(predicted) == len(photos)
    assert script == predicted  # the path, the digit and all ten probabilities
    # And both are right: the photos are real digits, and the app's model reads them.
    right = sum(row["digit"] == label for row, label in zip(script, photos.values()))
    assert right >= len(photos) - 1, script
    seven = next(iter(photos))
    assert photos[seven] == 7 and script[0]["digit"] == 7 and max(script[0]["probabilities"]) > 0.5


def test_the_script_prints_the_digit_and_its_probabilities(exported, photos):
    seven = next(iter(photos))
    result = _run_alone(exported, seven)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"{seven}: 7 (") and line.count(":") == 1 + 10 + str(seven).count(":")


def test_the_script_refuses_what_predict_refuses(exported, tmp_path, capsys):
    """Another format (PostScript named .png never reaches Ghostscript), too many pixels (from the
    header), a missing file and a blank page: the same message as predict, and the same exit code."""
    (tmp_path / "eps.png").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    _huge_header(tmp_path / "huge.png")
    Image.new("L", (300, 200), 240).save(tmp_path / "blank.png")
    files = [tmp_path / "eps.png", tmp_path / "huge.png", tmp_path / "missing.png", tmp_path / "blank.png"]
    result = _run_alone(exported, "--json", *files)
    script = [json.loads(line) for line in result.stdout.splitlines()]
    code, predicted = _predict_json(capsys, *files)
    assert script == predicted and result.returncode == code == 2, result.stderr
    assert "not a readable image" in script[0]["error"] and "8,000 x 8,000 pixels" in script[1]["error"]
    assert script[2]["error"].endswith("no such file") and "blank" in script[3]["error"]
    plain = _run_alone(exported, tmp_path / "eps.png")
    assert plain.returncode == 2 and plain.stdout == "" and "not a readable image" in plain.stderr


def test_the_scripts_preprocessing_is_the_apps_on_many_images(photos, mnist, tmp_path):
    """The copy in the script, run on its own, gives exactly the app's 28x28 arrays."""
    namespace: dict = {}
    exec(compile(preprocessing_source(), "script-preprocessing", "exec"), namespace)  # noqa: S102
    files = list(photos)
    for i, digit in enumerate(mnist.test.images[10:40].numpy()):  # MNIST as stored, and inverted
        path = tmp_path / f"{i}.{['png', 'gif', 'tiff'][i % 3]}"
        Image.fromarray(digit if i % 2 else 255 - digit).resize((28 + 7 * i, 28 + 5 * i)).save(path)
        files.append(path)
    Image.fromarray(mnist.test.images[41].numpy().astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    files.append(tmp_path / "16bit.png")
    for path in files:
        ours, theirs = preprocess_image(load_image(path)), namespace["preprocess_image"](namespace["load_image"](path))
        assert ours is not None and theirs is not None and theirs.shape == (28, 28)
        assert np.array_equal(ours, theirs), path


def test_the_script_holds_the_copy_and_imports_nothing_of_the_app(exported):
    import ast

    text = exported.read_text()
    imports, definitions = preprocessing_parts()
    assert imports in text and definitions in text
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(text))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"argparse", "json", "sys", "pathlib", "re", "warnings", "numpy", "PIL", "torch",
                        "safetensors"}, imported


def test_a_preprocessing_that_would_need_the_app_is_never_exported(tmp_path, monkeypatch):
    import inspect

    import playground.core.export as export_module
    from playground.core.export import ExportError, export
    from playground.core.predict import Classifier

    source = inspect.getsource(export_module.preprocess)
    needs_app = source.replace("    from PIL import Image\n", "    from playground.core.text import printable\n"
                               "    from PIL import Image\n", 1)
    assert needs_app != source
    monkeypatch.setattr(export_module.inspect, "getsource", lambda module: needs_app)
    classifier = Classifier.from_path(default_model_dir())
    state = classifier.model.state_dict()
    with pytest.raises(ExportError, match="imports the app itself"):
        export("script", tmp_path / "net.py", classifier.spec, state)
    assert list(tmp_path.iterdir()) == []
