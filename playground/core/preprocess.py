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

Both return ``None`` when there is no ink, so that a caller can show a hint instead of a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIZE = 28
BOX = 20  # the longer side of the digit's box, as in MNIST
PEN_WIDTH = 2.4  # stroke width in output pixels, close to MNIST's
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres

Stroke = Sequence[tuple[float, float]]


def _render(segments: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased thick segments (N, 4: x0 y0 x1 y1 in output pixels) on a 28x28 frame: each
    pixel's ink falls off linearly over one pixel around the stroke's edge."""
    image = np.zeros((SIZE, SIZE), np.float32)
    half = width / 2
    for x0, y0, x1, y1 in segments:
        # Only the pixels near the segment.
        lo_x, hi_x = int(max(0, min(x0, x1) - half - 1)), int(min(SIZE, max(x0, x1) + half + 2))
        lo_y, hi_y = int(max(0, min(y0, y1) - half - 1)), int(min(SIZE, max(y0, y1) + half + 2))
        if lo_x >= hi_x or lo_y >= hi_y:
            continue
        px, py = _XX[lo_y:hi_y, lo_x:hi_x], _YY[lo_y:hi_y, lo_x:hi_x]
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = np.zeros_like(px) if length2 == 0 else np.clip(((px - x0) * dx + (py - y0) * dy) / length2, 0, 1)
        distance = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
        ink = np.clip(half + 0.5 - distance, 0, 1)
        np.maximum(image[lo_y:hi_y, lo_x:hi_x], ink, out=image[lo_y:hi_y, lo_x:hi_x])
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

    a = np.asarray(image, np.float32)
    if a.ndim == 3:
        a = a[..., :3].mean(-1)
    if a.max() > 1.0:
        a = a / 255.0
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:
        a = 1.0 - a  # dark ink on a light background: make the ink bright, as in MNIST
    a = np.clip(a - np.median(border if np.median(border) <= 0.5 else 1.0 - border), 0, None)
    if a.max() < 0.1:
        return None
    a = a / a.max()
    ys, xs = np.nonzero(a > 0.2)
    crop = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS),
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


def load_image(path) -> np.ndarray:
    """A PNG, JPEG, ... as a greyscale float array; ``ValueError`` with the reason if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), np.float32) / 255.0
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
