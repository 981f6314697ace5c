"""Turn a drawing or a photo of a digit into the 28x28 image an MNIST model expects.

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled so that its longer side is 20
pixels, keeping the aspect ratio, with anti-aliased grey levels, then placed in a 28x28 frame so
that its centre of mass is at the centre. White ink on black, values in [0, 1].

Two entry points share that recipe:

- :func:`preprocess_strokes` for drawings kept as strokes (the canvas): the strokes are drawn
  directly at the final scale with a fixed pen width, so a digit drawn small or large ends up with
  MNIST's stroke width either way;
- :func:`preprocess_image` for raster images (``playground predict``): dark-on-light or
  light-on-dark, any size.

:func:`load_image` reads an image file, which may come from a stranger: only ordinary formats, at
most :data:`MAX_PIXELS`, and a ``ValueError`` with a clear message for anything else.

Both return ``None`` when there is no ink, so that a caller can show a hint instead of a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

SIZE = 28
BOX = 20  # the longer side of the digit's box, as in MNIST
PEN_WIDTH = 2.4  # stroke width in output pixels, close to MNIST's
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres

Stroke = Sequence[tuple[float, float]]


_RENDER_CHUNK = 256  # segments at a time: a (chunk, pixels) array of distances stays small


def _render(segments: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased thick segments (N, 4: x0 y0 x1 y1 in output pixels) on a 28x28 frame: each
    pixel's ink falls off linearly over one pixel around the stroke's edge.

    Every segment's distance to every pixel of the drawing's box at once (numpy, in chunks): a
    drawing of a few hundred mouse points renders in about a millisecond, where a Python loop over
    the segments took several (the canvas renders twice per mouse move)."""
    image = np.zeros((SIZE, SIZE), np.float32)
    segments = np.asarray(segments, np.float32).reshape(-1, 4)
    if not len(segments):
        return image
    half = width / 2
    ends = segments.reshape(-1, 2, 2)
    # Only the pixels near the ink: beyond half + 1 from every segment a pixel gets none.
    lo_x, lo_y = np.floor(ends.min((0, 1)) - half - 1).clip(0, SIZE).astype(int)
    hi_x, hi_y = np.ceil(ends.max((0, 1)) + half + 2).clip(0, SIZE).astype(int)
    if lo_x >= hi_x or lo_y >= hi_y:
        return image
    px = _XX[lo_y:hi_y, lo_x:hi_x].reshape(1, -1)
    py = _YY[lo_y:hi_y, lo_x:hi_x].reshape(1, -1)
    nearest = np.full(px.shape[1], np.inf, np.float32)
    for start in range(0, len(segments), _RENDER_CHUNK):
        x0, y0, x1, y1 = (c[:, None] for c in segments[start:start + _RENDER_CHUNK].T)
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = np.where(length2 == 0, 0.0,
                     np.clip(((px - x0) * dx + (py - y0) * dy) / np.where(length2 == 0, 1.0, length2), 0, 1))
        distance = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy)).min(0)
        np.minimum(nearest, distance, out=nearest)
    image[lo_y:hi_y, lo_x:hi_x] = np.clip(half + 0.5 - nearest, 0, 1).reshape(hi_y - lo_y, hi_x - lo_x)
    return image


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    return float((image * _XX).sum() / total), float((image * _YY).sum() / total)


def preprocess_strokes(strokes: Sequence[Stroke], pen_width: float = PEN_WIDTH) -> np.ndarray | None:
    """28x28 float32 image of a drawing given as strokes of (x, y) points in any units."""
    strokes = [np.asarray(s, np.float32).reshape(-1, 2) for s in strokes if len(s)]
    if not strokes:
        return None
    points = np.concatenate(strokes)
    lo, hi = points.min(0), points.max(0)
    extent = float((hi - lo).max())
    # The ink, pen included, fills the 20-pixel box along its longer side.
    scale = (BOX - pen_width) / extent if extent > 0 else 1.0
    segments = []
    for s in strokes:
        p = (s - lo) * scale
        if len(p) == 1:
            p = np.vstack([p, p])  # a dot
        segments.append(np.hstack([p[:-1], p[1:]]))
    segments = np.concatenate(segments)
    # First centred by the box, then moved so that the centre of mass is at the frame's centre.
    box = (hi - lo) * scale
    offset = (SIZE - box) / 2
    image = _render(segments + np.tile(offset, 2), pen_width)
    cx, cy = _centre_of_mass(image)
    shift = np.array([SIZE / 2 - cx, SIZE / 2 - cy], np.float32)
    return _render(segments + np.tile(offset + shift, 2), pen_width)


def preprocess_image(image: np.ndarray) -> np.ndarray | None:
    """28x28 float32 image of a greyscale array (H, W) of any size, either polarity."""
    from PIL import Image

    # One working copy, changed in place: a 40-megapixel image costs 160 MB here, not 600.
    a = np.array(image, np.float32)  # a copy: the caller's array stays as it was
    if a.ndim == 3:
        a = a[..., :3].mean(-1, dtype=np.float32)
    if a.max() > 1.0:
        a /= 255.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        np.subtract(1.0, a, out=a)  # dark ink on a light background: make the ink bright, as in MNIST
        border = 1.0 - border
    a -= np.median(border)
    np.clip(a, 0, None, out=a)
    peak = a.max()
    if not peak >= 0.1:  # also NaN
        return None
    a /= peak
    ink = a > 0.2
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    crop *= 255  # in place: the working copy is not needed any more
    resized = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((nw, nh), Image.LANCZOS),
                         np.float32) / 255.0
    resized = np.clip(resized, 0, 1)
    frame = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    frame[top:top + nh, left:left + nw] = resized
    cx, cy = _centre_of_mass(frame)
    dx, dy = int(round(SIZE / 2 - cx)), int(round(SIZE / 2 - cy))
    dx = int(np.clip(dx, -left, SIZE - left - nw))
    dy = int(np.clip(dy, -top, SIZE - top - nh))
    out = np.zeros_like(frame)
    out[top + dy:top + dy + nh, left + dx:left + dx + nw] = resized
    return out


PREPARATIONS = ("mnist", "resize")  # how an image file becomes 28x28: config.preprocess, a run's choice


def resize_image(image: np.ndarray) -> np.ndarray:
    """28x28 float32 image of a greyscale array in [0, 1]: the whole image scaled down (no cropping),
    inverted to white ink on black if its border is mostly light."""
    from PIL import Image

    small = Image.fromarray((np.asarray(image, np.float32) * 255).astype(np.uint8)).resize(
        (SIZE, SIZE), Image.BILINEAR, reducing_gap=3.0)
    a = np.asarray(small, np.float32) / 255.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return 1.0 - a if np.median(border) > 0.5 else a


def prepare(image: np.ndarray, how: str = "mnist") -> np.ndarray | None:
    """The 28x28 input of a greyscale image in [0, 1] (from :func:`load_image`), prepared as a model
    trained with preprocessing ``how`` expects: "mnist" (:func:`preprocess_image`; None when there is
    no ink) or "resize" (:func:`resize_image`). The one place that choice is made: training, predict,
    explain and exported scripts all come through here."""
    if how == "resize":
        return resize_image(image)
    if how != "mnist":
        raise ValueError(f"unknown preprocessing {how!r}; choose one of: {', '.join(PREPARATIONS)}")
    return preprocess_image(image)


# Images come from strangers: only these formats are opened (no PostScript/EPS, which Pillow hands
# to Ghostscript, nor any other of Pillow's plugins), and never more than MAX_PIXELS.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
FORMATS_TEXT = "PNG, JPEG, BMP, GIF, TIFF or WebP"
MAX_PIXELS = 40_000_000  # about 160 MB as float32; a digit needs far fewer (the output is 28x28)
# Bytes on disk: a 40-megapixel image is far smaller in any of the formats read, even uncompressed.
MAX_IMAGE_FILE_BYTES = 512_000_000


class ImageTooLargeError(ValueError):
    """An image over the pixel limit (a server answers it differently from an unreadable one);
    ``pixels``: its width times height, when known."""

    def __init__(self, message: str, pixels: int | None = None):
        super().__init__(message)
        self.pixels = pixels


def _too_big(name: str, size: str, limit: int = MAX_PIXELS, pixels: int | None = None) -> ImageTooLargeError:
    return ImageTooLargeError(f"{name}: the image is {size}; the limit is {limit / 1_000_000:g} megapixels: "
                              f"scale it down", pixels)


def _high_bit_depth(img) -> np.ndarray:
    """A 16-bit, 32-bit integer or float greyscale image in [0, 1] (Pillow's ``convert("L")`` clips
    16-bit values at 255, which would turn most of such an image white)."""
    a = np.asarray(img).astype(np.float32)
    if img.mode.startswith("I;16"):
        a /= 65535.0
        return a
    np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    for full_scale in (1.0, 255.0, 65535.0):  # the usual ranges of "F" and "I" images
        if lo >= 0 and hi <= full_scale:
            a /= full_scale
            return a
    if hi == lo:
        return np.zeros_like(a)  # one value all over: blank
    a -= lo
    a /= hi - lo
    return a


def _flatten_alpha(img):
    """An "L" image of an image with transparency, composited onto a background chosen so that the
    digit shows: a digit drawn in one colour on a transparent background (the transparent pixels'
    colour is usually black too, and ``convert("L")`` alone would then see a blank image) goes onto
    the colour that contrasts with its ink; an opaque picture with transparent margins gets margins of
    its own background colour."""
    from PIL import Image

    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    grey, alpha = rgba.convert("L"), rgba.getchannel("A")
    g, a = np.asarray(grey), np.asarray(alpha)
    visible = a >= 128
    if not visible.any():
        visible = a > 0
    counts = np.bincount(g[visible], minlength=256)  # a histogram, so no large copies
    if counts.sum() == 0:
        return Image.new("L", rgba.size, 0)  # fully transparent: blank
    levels = np.nonzero(counts)[0]
    if levels[-1] - levels[0] < 64:  # one colour: the shape is in the alpha channel
        background = 255 if counts @ np.arange(256) / counts.sum() < 128 else 0
    else:  # the median visible grey, the picture's own background
        background = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
    return Image.composite(grey, Image.new("L", rgba.size, background), alpha)


def _greyscale(img) -> np.ndarray:
    """The first frame of an open image as a float32 greyscale array in [0, 1]."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_bit_depth(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = _flatten_alpha(img)
    elif img.mode == "LAB":
        img = img.getchannel("L")  # Pillow cannot convert LAB to L; its L band is the lightness
    elif img.mode != "L":
        img = img.convert("L")  # also CMYK (Pillow undoes Adobe's inverted CMYK), YCbCr, "1", "P"
    a = np.asarray(img).astype(np.float32)
    a /= 255.0  # in place: at the pixel limit each float copy is 160 MB
    return a


def _open_image(source, name: str, max_pixels: int = MAX_PIXELS):
    """Pillow's reading of the header of ``source`` (a path or a binary file object), limited to
    :data:`IMAGE_FORMATS`; ``ValueError`` with the reason if it is not such an image."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's warnings (its own decompression-bomb limit, higher than ours; "Corrupt EXIF
            # data" and the like) are expected on damaged files, which get a clear ValueError instead.
            # (libtiff's messages go to stderr from C; Pillow has no switch for them.)
            warnings.simplefilter("ignore")
            return Image.open(source, formats=IMAGE_FORMATS)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not a readable image (this app reads {FORMATS_TEXT}); "
                         f"save it as PNG or JPEG") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found[1]) / 1e6:,.0f} megapixels" if found else "far too large"
        raise _too_big(name, size, max_pixels, int(found[1]) if found else None) from None
    except OSError as exc:
        raise ValueError(f"{name}: cannot be read ({exc.strerror or exc})") from None


def _decode_image(img, name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The first frame of an image just opened (:func:`_open_image`) as :func:`load_image` returns
    it, its size checked against ``max_pixels`` from the header before anything is decoded."""
    import warnings

    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise _too_big(name, f"{width:,} x {height:,} pixels", max_pixels, width * height)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # see _open_image
                return _greyscale(img)
        # Decoders of damaged files raise OSError, SyntaxError, ValueError, EOFError, struct.error,
        # zlib.error, ...: every one of them means this file cannot be read.
        except Exception as exc:
            raise ValueError(f"{name}: a damaged or truncated {img.format} image, or one this app cannot "
                             f"decode ({exc.__class__.__name__}: {exc}); open it in an image editor and "
                             f"save it again as PNG") from None


def load_image(path) -> np.ndarray:
    """A PNG, JPEG, BMP, GIF, TIFF or WebP image (the first frame) as a greyscale float array in
    [0, 1]; ``ValueError`` with the reason and what to do if it is unreadable, in another format or
    over :data:`MAX_PIXELS` (checked from the header, before decoding)."""
    from pathlib import Path

    name = str(path)
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: a folder, not an image; give the image files in it")
    try:
        if not path.is_file():
            path.stat()  # FileNotFoundError if it does not exist
            raise ValueError(f"{name}: not a regular file; give an image file")
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise ValueError(f"{name}: the file is empty (0 bytes), not an image")
    if size > MAX_IMAGE_FILE_BYTES:  # some readers (WebP) take the whole file into memory
        raise ValueError(f"{name}: the file is {size / 1e6:,.0f} MB; the limit is "
                         f"{MAX_IMAGE_FILE_BYTES // 1_000_000} MB for an image: scale it down")
    return _decode_image(_open_image(path, name), name)


def load_image_bytes(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`load_image` of an image file's contents (an upload to ``playground serve``): the same
    formats, the same checks (the pixel limit from the header, before decoding; ``max_pixels``, a
    server's may be lower) and messages, with ``name`` in place of the file's."""
    import io

    if not data:
        raise ValueError(f"{name}: empty (0 bytes), not an image")
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise ValueError(f"{name}: {len(data) / 1e6:,.0f} MB; the limit is "
                         f"{MAX_IMAGE_FILE_BYTES // 1_000_000} MB for an image: scale it down")
    return _decode_image(_open_image(io.BytesIO(data), name, max_pixels), name, max_pixels)
