"""MNIST-like preprocessing of drawings and images."""

from __future__ import annotations

import numpy as np
import pytest

from playground.core.preprocess import BOX, PEN_WIDTH, preprocess_image, preprocess_strokes

SEVEN = [[(0, 0), (10, 0), (10, 1), (4, 16)], [(3, 8), (9, 8)]]


def moved(strokes, scale, dx, dy):
    return [[(x * scale + dx, y * scale + dy) for x, y in s] for s in strokes]


def centre_of_mass(img):
    ys, xs = np.mgrid[0:28, 0:28] + 0.5
    return (img * xs).sum() / img.sum(), (img * ys).sum() / img.sum()


def test_translation_and_scale_give_the_same_image():
    base = preprocess_strokes(SEVEN)
    for scale, dx, dy in [(1, 0, 0), (0.2, 3, 90), (12.5, 200, 40), (3, -50, -50)]:
        other = preprocess_strokes(moved(SEVEN, scale, dx, dy))
        assert np.abs(other - base).max() < 1e-3, (scale, dx, dy)


def test_mnist_geometry():
    img = preprocess_strokes(SEVEN)
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() == pytest.approx(1.0)
    cx, cy = centre_of_mass(img)
    assert abs(cx - 14) < 0.3 and abs(cy - 14) < 0.3
    rows = np.nonzero(img.max(1) > 0.05)[0]
    assert BOX - 1 <= rows.max() - rows.min() + 1 <= BOX + 2  # the longer side is about 20 pixels
    # A vertical line keeps a stroke about as wide as MNIST's, however tall it was drawn.
    for height in (10, 1000):
        line = preprocess_strokes([[(0, 0), (0, height)]])
        width = (line[14] > 0.5).sum()
        assert 2 <= width <= 3
        assert line[14].sum() == pytest.approx(PEN_WIDTH, abs=0.5)


def test_empty_and_single_dot():
    assert preprocess_strokes([]) is None
    assert preprocess_strokes([[]]) is None
    dot = preprocess_strokes([[(5, 5)]])
    assert dot.max() > 0.9 and (dot > 0).sum() < 20
    cx, cy = centre_of_mass(dot)
    assert abs(cx - 14) < 0.5 and abs(cy - 14) < 0.5
    assert preprocess_image(np.zeros((50, 50))) is None
    assert preprocess_image(np.ones((50, 50))) is None


def test_a_large_dark_on_light_photo_matches_the_mnist_digit(mnist):
    from PIL import Image

    digit = mnist.test.images[0].numpy()  # a 7
    reference = preprocess_image(digit)
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.BILINEAR))
    photo = np.full((300, 260), 255, np.uint8)
    photo[170:282, 10:122] = 255 - big  # dark ink on white paper, in a corner
    out = preprocess_image(photo)
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.9
    cx, cy = centre_of_mass(out)
    assert abs(cx - 14) < 1 and abs(cy - 14) < 1
