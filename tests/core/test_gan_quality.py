"""The GAN quality meter (the default classifier judging generated digits) and the named failures."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from playground.core.events import EVENT_FIELDS
from playground.core.gan_quality import (QualityMeter, feature_statistics, frechet_distance, frechet_to_features,
                                         gan_warnings, quality_message)

COUNT = 400
QUALITY_FIELDS = {"type", "epoch", "count", "confident_share", "histogram", "frechet", "missing", "message",
                  "digit_accuracy", "warnings"}


@pytest.fixture(scope="module")
def meter(app_folders):
    # Few real images for the reference keep the test fast; the meter's own default is 2,000.
    return QualityMeter(real_count=1000)


@pytest.fixture(scope="module")
def test_set(app_folders):
    from playground.core.data import load_raw

    return load_raw("mnist")[1]


def as_generated(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float 0..1 -> what a generator makes: (N, 1, 28, 28) in -1..1."""
    x = pixels.float() / 255 if pixels.dtype == torch.uint8 else pixels
    return x.unsqueeze(1) * 2 - 1


class OneDigitGenerator(nn.Module):
    """A collapsed 'generator': whatever the noise, a noisy copy of one real digit."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.register_buffer("image", image.float() / 255)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        noise = 0.15 * torch.randn(len(z), 28, 28, generator=torch.Generator().manual_seed(0))
        return as_generated((self.image + noise).clamp(0, 1))


@pytest.fixture(scope="module")
def real_quality(meter, test_set):
    images, labels = other_real(test_set)
    return meter.measure(as_generated(images), asked_digits=labels)


def other_real(test_set):
    """COUNT test images that are not among the meter's reference (every 10th from 0)."""
    return test_set.images[3::10][:COUNT], test_set.labels[3::10][:COUNT]


def test_real_images_score_as_fine(real_quality):
    q = real_quality
    assert q.count == COUNT and sum(q.histogram) == COUNT and len(q.histogram) == 10
    assert q.confident_share > 0.9
    assert q.missing == []
    assert q.message == ""
    assert 0 <= q.frechet < 90  # about 64: the floor for 400 samples of the classifier's 1,568 features


def test_asked_digits_give_the_digit_accuracy(meter, test_set, real_quality):
    assert real_quality.digit_accuracy > 0.97  # the true labels asked: the classifier sees them
    images, labels = other_real(test_set)
    wrong = meter.measure(as_generated(images), asked_digits=(labels + 1) % 10)
    assert wrong.digit_accuracy < 0.03
    assert meter.measure(as_generated(images[:50])).digit_accuracy is None
    with pytest.raises(ValueError, match="50 images"):
        meter.measure(as_generated(images[:50]), asked_digits=labels[:49])


def test_a_generator_of_one_digit_is_caught(meter, test_set, real_quality):
    seven = test_set.images[(test_set.labels == 7).nonzero()[0, 0]]
    generator = OneDigitGenerator(seven)
    q = meter.measure(generator(torch.randn(COUNT, 64)))
    assert q.histogram[7] > 0.9 * COUNT
    assert q.missing == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert "Mode collapse" in q.message and "a 7" in q.message
    assert q.frechet > 4 * real_quality.frechet


def test_noise_gives_a_low_confident_share(meter):
    # Sparse ink noise, as MNIST's share of ink. (A bright grey or uniform-noise image is different:
    # the default classifier calls it an 8 with confidence; the Frechet distance still shows it.)
    g = torch.Generator().manual_seed(1)
    q = meter.measure(as_generated((torch.rand(COUNT, 28, 28, generator=g) < 0.1).float()))
    assert q.confident_share < 0.2
    assert "do not look like digits" in q.message


def test_the_quality_event(real_quality):
    event = real_quality.to_event(3, ["The discriminator wins every time."])
    assert set(event) == QUALITY_FIELDS
    if "quality" in EVENT_FIELDS:  # core/events.py's QualityEvent, once it is there
        assert set(event) == EVENT_FIELDS["quality"]
    assert event["type"] == "quality" and event["epoch"] == 3 and event["count"] == COUNT
    assert event["warnings"] == ["The discriminator wins every time."]
    assert json.loads(json.dumps(event)) == event  # plain numbers, nothing a JSON line cannot carry


def test_images_of_the_wrong_shape_are_refused(meter):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        meter.measure(torch.zeros(4, 28, 28))


def test_collapse_messages():
    fair = [100] * 10
    assert quality_message(fair, 0.95) == ""
    few = [100, 20, 110, 110, 10, 110, 110, 110, 110, 20]
    assert quality_message(few, 0.95) == "Mode collapse: the generator makes almost no 1s, 4s or 9s (under 3% each)."
    eights = [20, 20, 20, 20, 20, 20, 20, 20, 800, 40]
    assert quality_message(eights, 0.95) == "Mode collapse: nearly all samples look like an 8 (80%)."
    assert "do not look like digits" in quality_message(fair, 0.1)


def test_frechet_distance_matches_the_closed_form():
    # Diagonal covariances commute: the distance is |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2, and it
    # does not change when both are seen in a rotated basis.
    a, b = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    m1, m2 = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    expected = 1 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(m1, torch.diag(a), m2, torch.diag(b)) == pytest.approx(expected)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    rotated = frechet_distance(q @ m1, q @ torch.diag(a) @ q.T, q @ m2, q @ torch.diag(b) @ q.T)
    assert rotated == pytest.approx(expected)
    x = torch.randn(300, 20, generator=torch.Generator().manual_seed(3))
    mean, cov = feature_statistics(x)
    assert frechet_distance(mean, cov, mean, cov) == pytest.approx(0, abs=1e-6)


def test_the_few_samples_shortcut_gives_the_same_distance():
    g = torch.Generator().manual_seed(4)
    reference = feature_statistics(torch.randn(500, 40, generator=g) * torch.linspace(0.1, 2, 40))
    for count in (12, 39, 40, 41, 200):  # fewer samples than features, as many, more
        features = torch.randn(count, 40, generator=g) + 0.3
        full = frechet_distance(*reference, *feature_statistics(features))
        assert frechet_to_features(*reference, features) == pytest.approx(full, rel=1e-6)


# -- named failures, on made-up per-report figures of one epoch ------------------------------------


def wobble(level: float, size: float, n: int = 30, phase: float = 0.0) -> list[float]:
    return [level + size * math.sin(1.7 * i + phase) for i in range(n)]


def test_a_healthy_epoch_has_no_warning():
    assert gan_warnings(wobble(1.1, 0.15), wobble(1.3, 0.3, phase=1), wobble(0.65, 0.05), wobble(0.35, 0.05)) == []


def test_a_discriminator_that_wins_is_named():
    warnings = gan_warnings(wobble(0.03, 0.01), wobble(6.0, 0.5), wobble(0.99, 0.005), wobble(0.01, 0.005))
    assert len(warnings) == 1 and warnings[0].startswith("The discriminator wins every time")
    # With one-sided label smoothing its loss stays above 0; the scores still show it.
    smoothed = gan_warnings(wobble(0.36, 0.01), wobble(5.0, 0.5), wobble(0.97, 0.01), wobble(0.02, 0.01))
    assert any(w.startswith("The discriminator wins every time") for w in smoothed)


def test_a_climbing_generator_loss_is_named():
    g = [0.8 + 0.1 * i + 0.1 * math.sin(i) for i in range(30)]
    warnings = gan_warnings(wobble(0.6, 0.1), g, wobble(0.8, 0.05), wobble(0.2, 0.05))
    assert len(warnings) == 1 and warnings[0].startswith("The generator's loss keeps climbing")
    assert "from 1.2" in warnings[0]


def test_nothing_learned_is_named():
    warnings = gan_warnings(wobble(1.386, 0.002), wobble(0.693, 0.001), wobble(0.5, 0.002), wobble(0.5, 0.002))
    assert len(warnings) == 1 and warnings[0].startswith("Neither network is learning")
    assert "about 0.50" in warnings[0]


def test_too_few_or_broken_figures_say_nothing():
    assert gan_warnings([], [], [], []) == []
    nan = float("nan")
    assert gan_warnings([1.0, nan], [1.0, 2.0], [0.6, 0.6], [0.4, nan]) == []
