"""Images from strangers: only ordinary formats, a pixel limit read from the header, clear messages,
and the odd but ordinary kinds (transparent, palette, 16-bit, CMYK, several frames) read right."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from playground.core.preprocess import FORMATS_TEXT, load_image, preprocess_image
from pngs import one_colour_png

EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 28 28
newpath 4 4 moveto 24 24 lineto 4 setlinewidth stroke
showpage
%%EOF
"""


@pytest.fixture
def never_decoded(monkeypatch):
    """Fails the test if Pillow starts decoding pixels (the refusal must come from the header)."""
    def load(self):
        raise AssertionError(f"decoded a {self.size} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.fixture(scope="module")
def digits(app_folders):
    """The first ten MNIST test digits, enlarged to 112x112 (uint8, white ink on black), and labels."""
    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    images = [np.asarray(Image.fromarray(test.images[i].numpy()).resize((112, 112), Image.BILINEAR))
              for i in range(10)]
    return images, test.labels[:10].tolist()


@pytest.fixture(scope="module")
def classifier():
    from playground.core.predict import Classifier

    return Classifier.from_path(None)


def predict(classifier, path) -> int:
    return int(classifier.probabilities(preprocess_image(load_image(path))).argmax())


# -- formats -----------------------------------------------------------------------------------------

def test_postscript_named_png_is_refused_and_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: calls.append(self) or 1 / 0)
    path = tmp_path / "digit.png"
    path.write_bytes(EPS)
    with pytest.raises(ValueError) as err:
        load_image(path)
    assert calls == []  # Pillow's EPS plugin never looked at it
    assert str(err.value) == (f"{path}: not a readable image (this app reads {FORMATS_TEXT}); "
                              f"save it as PNG or JPEG")
    assert "PNG, JPEG, BMP, GIF, TIFF or WebP" in str(err.value)


def _ico_bytes() -> bytes:
    """A real image, but in a format outside the list (Pillow would read it)."""
    import io

    out = io.BytesIO()
    Image.new("L", (16, 16), 255).save(out, "ICO")
    return out.getvalue()


def _bad_file(kind: str, folder):
    path = folder / ("icon.ico" if kind == "ico" else f"{kind}.png")
    if kind == "text":
        path.write_text("just some text\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # the first 100 bytes of a real PNG
        whole = folder / "whole.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(whole)
        assert whole.stat().st_size > 4000
        path.write_bytes(whole.read_bytes()[:100])
    elif kind == "folder":
        path.mkdir()
    elif kind == "ico":
        path.write_bytes(_ico_bytes())
    return path


@pytest.mark.parametrize("kind,expected", [
    ("text", "not a readable image (this app reads PNG, JPEG, BMP, GIF, TIFF or WebP); save it as PNG"),
    ("empty", "the file is empty (0 bytes), not an image"),
    ("truncated", "a damaged or truncated PNG image, or one this app cannot decode (OSError: image file is "
                  "truncated); open it in an image editor and save it again as PNG"),
    ("folder", "a folder, not an image; give the image files in it"),
    ("missing", "no such file"),
    ("ico", "not a readable image (this app reads PNG, JPEG, BMP, GIF, TIFF or WebP)"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, kind, expected):
    path = _bad_file(kind, tmp_path)
    with pytest.raises(ValueError) as err:
        load_image(path)
    assert str(err.value).startswith(f"{path}: {expected}")


# -- the pixel limit ---------------------------------------------------------------------------------

def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, never_decoded, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(one_colour_png(20_000, 20_000))
    assert bomb.stat().st_size < 200_000  # 400 megapixels in a small file
    with pytest.raises(ValueError) as err:  # over Pillow's own limit: its error, our message
        load_image(bomb)
    assert str(err.value) == f"{bomb}: the image is 400 megapixels; the limit is 40 megapixels: scale it down"
    # Pillow's limit is process-wide and may be off; ours holds anyway, and names the size.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ValueError) as err:
        load_image(bomb)
    assert str(err.value) == (f"{bomb}: the image is 20,000 x 20,000 pixels; the limit is 40 megapixels: "
                              f"scale it down")


@pytest.mark.parametrize("width,height", [(8_000, 6_000), (10_000, 10_000)])
def test_images_over_40_megapixels_are_refused_quietly(tmp_path, never_decoded, width, height):
    """48 MP is under Pillow's limit (no warning, no error from Pillow); 100 MP is where Pillow only
    warns. Both are refused with the size, and no warning reaches the user."""
    path = tmp_path / "big.png"
    path.write_bytes(one_colour_png(width, height))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as err:
            load_image(path)
    assert f"is {width:,} x {height:,} pixels; the limit is 40 megapixels: scale it down" in str(err.value)


# -- transparency ------------------------------------------------------------------------------------

def black_on_white(digit, path):
    Image.fromarray(255 - digit).save(path)
    return path


def dark_ink_on_transparent(digit, path, hidden_colour=0):
    """Black strokes whose alpha is the ink; the transparent pixels' colour is ``hidden_colour``."""
    rgba = np.zeros(digit.shape + (4,), np.uint8)
    rgba[..., :3] = np.where(digit == 0, hidden_colour, 0)[..., None]
    rgba[..., 3] = digit
    Image.fromarray(rgba, "RGBA").save(path)
    return path


@pytest.mark.parametrize("hidden_colour", [0, 255])
def test_dark_ink_on_a_transparent_background_reads_like_black_on_white(tmp_path, digits, classifier,
                                                                      hidden_colour):
    images, labels = digits
    transparent = [predict(classifier, dark_ink_on_transparent(d, tmp_path / f"t{i}.png", hidden_colour))
                   for i, d in enumerate(images)]
    plain = [predict(classifier, black_on_white(d, tmp_path / f"w{i}.png")) for i, d in enumerate(images)]
    assert transparent == plain
    assert sum(p == label for p, label in zip(transparent, labels)) >= 9
    # The same pixels too, not only the same answers.
    a = preprocess_image(load_image(tmp_path / "t0.png"))
    b = preprocess_image(load_image(tmp_path / "w0.png"))
    assert np.abs(a - b).max() < 0.02


def test_palette_and_grey_alpha_transparency(tmp_path, digits, classifier):
    images, labels = digits
    ok = 0
    for i, digit in enumerate(images):
        ink = (digit > 127).astype(np.uint8)  # index 1: black ink; index 0: transparent (black too)
        p = Image.fromarray(ink, "P")
        p.putpalette([0, 0, 0] * 256)
        p.save(tmp_path / f"p{i}.png", transparency=0)
        p.save(tmp_path / f"p{i}.gif", transparency=0)
        Image.fromarray(np.dstack([np.zeros_like(digit), digit]), "LA").save(tmp_path / f"la{i}.png")
        reference = predict(classifier, black_on_white(np.where(ink, 255, 0).astype(np.uint8),
                                                       tmp_path / f"ref{i}.png"))
        assert Image.open(tmp_path / f"p{i}.png").info["transparency"] == 0
        assert predict(classifier, tmp_path / f"p{i}.png") == reference
        assert predict(classifier, tmp_path / f"p{i}.gif") == reference
        assert predict(classifier, tmp_path / f"la{i}.png") == predict(classifier, black_on_white(
            digit, tmp_path / f"w{i}.png"))
        ok += reference == labels[i]
    assert ok >= 9


def test_a_picture_with_transparent_margins_keeps_its_own_background(tmp_path, digits, classifier):
    """White paper with a dark digit, set in a transparent frame whose hidden colour is black: the frame
    must not read as the background (then the paper would be taken for ink)."""
    images, labels = digits
    digit = images[0]
    rgba = np.zeros((160, 160, 4), np.uint8)  # transparent black all round
    rgba[24:136, 24:136, :3] = (255 - digit)[..., None]
    rgba[24:136, 24:136, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "framed.png")
    image = load_image(tmp_path / "framed.png")
    assert image[:24].min() == 1.0  # the margins became paper
    assert predict(classifier, tmp_path / "framed.png") == labels[0]


def test_a_fully_transparent_image_is_blank(tmp_path):
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(tmp_path / "nothing.png")
    assert preprocess_image(load_image(tmp_path / "nothing.png")) is None


# -- bit depths, colour spaces, frames ---------------------------------------------------------------

def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path, digits):
    digit = 255 - digits[0][0]
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    Image.fromarray(digit).save(tmp_path / "plain.png")
    assert np.abs(load_image(tmp_path / "deep.png") - load_image(tmp_path / "plain.png")).max() < 1e-6


def test_float_tiff(tmp_path, digits):
    digit = digits[0][0]
    Image.fromarray(digit.astype(np.float32) / 255).save(tmp_path / "float.tif")
    assert np.abs(load_image(tmp_path / "float.tif") - digit / 255).max() < 1e-6


def test_cmyk_jpeg(tmp_path, digits, classifier):
    images, labels = digits
    Image.fromarray(255 - images[0]).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    assert Image.open(tmp_path / "print.jpg").mode == "CMYK"
    assert np.abs(load_image(tmp_path / "print.jpg") - (255 - images[0]) / 255).max() < 0.1
    assert predict(classifier, tmp_path / "print.jpg") == labels[0]


@pytest.mark.parametrize("suffix", [".gif", ".tif", ".webp"])
def test_several_frames_use_the_first(tmp_path, digits, suffix):
    from PIL import features

    if suffix == ".webp" and not features.check("webp"):
        pytest.skip("this Pillow has no WebP support")
    first, second = digits[0][0], digits[0][1]
    path = tmp_path / f"frames{suffix}"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)], lossless=True)
    assert Image.open(path).n_frames == 2
    assert np.abs(load_image(path) - first / 255).max() < 0.02


def test_preprocess_image_leaves_the_callers_array_alone(digits):
    digit = (digits[0][0] / 255).astype(np.float32)
    before = digit.copy()
    preprocess_image(digit)
    assert np.array_equal(digit, before)


def test_a_file_larger_than_any_image_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """Some readers (WebP) take the whole file into memory: the file's size is bounded first."""
    import PIL.Image

    from playground.core.preprocess import MAX_IMAGE_FILE_BYTES

    path = tmp_path / "huge.webp"
    with open(path, "wb") as f:  # sparse: no disk space used
        f.truncate(MAX_IMAGE_FILE_BYTES + 1)
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: pytest.fail("the file was handed to Pillow"))
    with pytest.raises(ValueError, match=r"huge.webp: the file is 512 MB; the limit is 512 MB for an image"):
        load_image(path)
