"""The model that ships with the app."""

from __future__ import annotations

import numpy as np
import torch

from playground.core.metrics import evaluate
from playground.core.predict import Classifier, default_model_dir
from playground.core.preprocess import preprocess_image, preprocess_strokes


def test_default_model_scores_at_least_99_3_percent(mnist):
    classifier = Classifier.from_path()
    result = evaluate(classifier.model, mnist.test.images, mnist.test.labels)
    assert result.count == 10_000
    assert result.accuracy >= 0.993
    # What the model folder says of itself (`playground serve`'s GET /model) is what it scores.
    assert classifier.test_accuracy == result.accuracy == 0.9949


def test_default_model_was_trained_augmented():
    import json

    config = json.loads((default_model_dir() / "config.json").read_text())
    assert config["augment"] is True


def test_default_model_reads_preprocessed_mnist_digits(mnist):
    classifier = Classifier.from_path()
    images = mnist.test.images[:200].numpy()
    labels = mnist.test.labels[:200].numpy()
    preds = [classifier.probabilities(preprocess_image(img)).argmax() for img in images]
    assert (np.array(preds) == labels).mean() > 0.97


def test_drawn_strokes_are_recognised():
    classifier = Classifier.from_path()
    one = [[(50, 10), (50, 90)]]
    seven = [[(10, 10), (70, 10), (35, 100)]]
    zero = [[(40 + 25 * np.sin(t), 50 - 40 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]
    for strokes, digit in ((one, 1), (seven, 7), (zero, 0)):
        probs = classifier.probabilities(preprocess_strokes(strokes))
        assert probs.argmax() == digit, (digit, probs.round(3))
        assert abs(float(probs.sum()) - 1) < 1e-5


def test_inference_is_single_image_and_cpu(mnist):
    classifier = Classifier.from_path()
    x = mnist.test.images[0].numpy() / 255.0
    probs = classifier.probabilities(x)
    assert probs.shape == (10,) and probs.argmax() == 7
    assert next(classifier.model.parameters()).device == torch.device("cpu")
