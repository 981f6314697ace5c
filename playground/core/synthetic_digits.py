"""Photographed-style digits: real MNIST digits made to look like photos of ink on paper.

For checking folder data sets end to end (a test makes a small folder, ``bench/folder_data.py`` a
full one): each image is a digit from MNIST (the training set for ``train``, the test set for
unseen images), scaled so that the image is 36 to 110 pixels, placed off-centre in dark ink on
light paper with texture, noise, a lighting gradient, a little blur and a tint, and saved as JPEG
(with its artefacts) or PNG. The folder has one subfolder per class, named after the digit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MIN_SIZE, MAX_SIZE = 36, 110  # the image's longer side, in pixels


def _paper(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Light paper (0-255 floats): a base brightness, a lighting gradient, a blotchy texture and
    fine noise."""
    from PIL import Image

    base = rng.uniform(165, 240)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h) * rng.uniform(-35, 35)
    coarse = rng.normal(0, 1, (max(2, h // 8), max(2, w // 8))).astype(np.float32)
    blotches = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.float32)
    paper = base + ramp + blotches * rng.uniform(2, 8) + rng.normal(0, rng.uniform(2, 8), (h, w))
    return paper


def photographed_digit(digit: np.ndarray, rng: np.random.Generator) -> "PIL.Image.Image":  # noqa: F821
    """A 28x28 uint8 MNIST digit (white on black) as a photo-like image of dark ink on light paper
    (RGB), 36-110 pixels along its longer side, the digit off-centre."""
    from PIL import Image, ImageFilter

    ink = digit.astype(np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.max(1) > 0.1), np.flatnonzero(ink.max(0) > 0.1)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    size = int(rng.integers(MIN_SIZE, MAX_SIZE + 1))
    w = size if rng.random() < 0.5 else int(size * rng.uniform(0.75, 1.0))
    h = size if w != size else int(size * rng.uniform(0.75, 1.0))
    scale = rng.uniform(0.45, 0.75) * min(h, w) / max(ink.shape)
    dh, dw = max(4, round(ink.shape[0] * scale)), max(2, round(ink.shape[1] * scale))
    alpha = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((dw, dh), Image.BICUBIC),
                       np.float32) / 255.0
    top = int(rng.integers(1, max(2, h - dh)))
    left = int(rng.integers(1, max(2, w - dw)))
    mask = np.zeros((h, w), np.float32)
    mask[top:top + dh, left:left + dw] = np.clip(alpha, 0, 1)[:h - top, :w - left]
    paper = _paper(rng, h, w)
    ink_level = rng.uniform(10, 90)
    grey = paper * (1 - mask) + ink_level * mask
    tint = rng.uniform(0.9, 1.08, 3)
    rgb = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    blur = rng.uniform(0, 1.0)
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else image


def write_digit_folder(folder: str | os.PathLike, digits: np.ndarray, labels: np.ndarray, classes: list[int],
                       per_class: int, seed: int = 0) -> dict[int, int]:
    """Write ``per_class`` photographed-style images of each digit in ``classes`` (taken from
    ``digits``/``labels`` in order) into ``folder/<digit>/``, alternating JPEG (quality 35-90) and
    PNG; returns how many of each were written."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    written = {}
    for digit in classes:
        target = folder / str(digit)
        target.mkdir(parents=True, exist_ok=True)
        indices = np.flatnonzero(labels == digit)[:per_class]
        for n, i in enumerate(indices):
            image = photographed_digit(digits[i], rng)
            if n % 2:
                image.save(target / f"{digit}_{n:05d}.png")
            else:
                image.save(target / f"{digit}_{n:05d}.jpg", quality=int(rng.integers(35, 91)))
        written[digit] = len(indices)
    return written


def make_photographed_digits(folder: str | os.PathLike, train_per_class: int = 600, unseen_per_class: int = 100,
                             classes: tuple[int, ...] = (0, 1, 2, 3, 4), seed: int = 0) -> Path:
    """``folder/train`` (from MNIST's training digits) and ``folder/unseen`` (from its test
    digits, so never seen in training), one subfolder per digit; returns ``folder``."""
    from playground.core.data import load_raw

    train, test = load_raw("mnist")
    folder = Path(folder)
    write_digit_folder(folder / "train", train.images.numpy(), train.labels.numpy(), list(classes),
                       train_per_class, seed)
    write_digit_folder(folder / "unseen", test.images.numpy(), test.labels.numpy(), list(classes),
                       unseen_per_class, seed + 1)
    return folder
