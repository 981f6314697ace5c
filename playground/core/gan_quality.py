"""How good a GAN's samples are, judged by the app's default digit classifier, and the usual ways a
GAN's training fails, named in words.

:class:`QualityMeter` scores generated images: how many the classifier is sure of (a blob is not a
digit), which digits they look like (a missing digit is mode collapse), and the Frechet distance
between the classifier's penultimate features of generated and real test images (an MNIST analogue
of FID: lower is better, real images against other real images give the floor: about 28 for 1,000
samples). The confident share alone can be fooled: the classifier calls a bright grey blob (what an
untrained generator makes) an 8 with confidence, so read it with the histogram and the distance.
:func:`gan_warnings` reads an epoch's loss and score figures and names what went wrong, as the
divergence message does for a classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

NUM_DIGITS = 10
CONFIDENT = 0.9  # a sample counts as a clear digit when the classifier's top probability is at least this
MISSING_SHARE = 0.03  # a digit under 3% of the samples is missing (a fair share is 10%)
DOMINANT_SHARE = 0.5  # one digit in over half the samples is collapse even if none is quite missing
# Under this confident share the histogram says little (blobs get some label too): the message says
# the samples do not look like digits yet rather than naming a collapse.
NOT_DIGITS_SHARE = 0.2
REAL_COUNT = 2000  # real test images whose feature statistics are the reference
FEATURE_BATCH = 500  # images through the classifier at once


# -- the Frechet distance -------------------------------------------------------------------------


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a covariance (float64); rounding's tiny negative eigenvalues are 0."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and covariance (d, d) of features (N, d), in float64 on the CPU."""
    x = features.detach().to("cpu", torch.float64)
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / max(len(x) - 1, 1)


def _trace_sqrt(symmetric: torch.Tensor) -> torch.Tensor:
    """Tr sqrt(M) of a symmetric positive semi-definite M; rounding's tiny negative eigenvalues are 0."""
    return torch.linalg.eigvalsh((symmetric + symmetric.T) / 2).clamp(min=0).sqrt().sum()


def frechet_distance(mean1: torch.Tensor, cov1: torch.Tensor, mean2: torch.Tensor, cov2: torch.Tensor) -> float:
    """||m1 - m2||^2 + Tr(C1 + C2 - 2 sqrt(C1 C2)) in float64. Tr sqrt(C1 C2) is taken as the trace of
    the square root of sqrt(C1) C2 sqrt(C1), which has the same eigenvalues and is symmetric positive
    semi-definite, so no complex square root of a non-symmetric product is needed (scipy's sqrtm way)."""
    root = _psd_sqrt(cov1)
    value = (mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * _trace_sqrt(root @ cov2 @ root)
    return max(float(value), 0.0)


def frechet_to_features(mean1: torch.Tensor, cov1: torch.Tensor, features: torch.Tensor) -> float:
    """:func:`frechet_distance` from (mean1, cov1) to the statistics of ``features`` (N, d). With
    fewer samples than features, C2 = B B^T (B the centred features over sqrt(N - 1)), and
    sqrt(C1) B B^T sqrt(C1) has the nonzero eigenvalues of B^T C1 B, an N x N matrix: cheaper than
    the d x d one, and no square root of C1 is needed."""
    x = features.detach().to("cpu", torch.float64)
    mean2 = x.mean(0)
    if len(x) - 1 >= x.shape[1]:
        return frechet_distance(mean1, cov1, *feature_statistics(x))
    b = (x - mean2).T / math.sqrt(max(len(x) - 1, 1))
    value = (mean1 - mean2).square().sum() + cov1.trace() + b.square().sum() - 2 * _trace_sqrt(b.T @ cov1 @ b)
    return max(float(value), 0.0)


# -- the quality of a batch of samples --------------------------------------------------------------


def _digit_list(digits: Sequence[int]) -> str:
    """[1, 4, 9] -> '1s, 4s or 9s'."""
    names = [f"{d}s" for d in digits]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _article(digit: int) -> str:
    return "an" if digit == 8 else "a"


@dataclass(frozen=True)
class Quality:
    """One verdict on ``count`` generated samples."""

    count: int
    confident_share: float  # share whose top class probability is >= CONFIDENT
    histogram: list[int]  # how many samples the classifier labels as each digit
    missing: list[int]  # digits under MISSING_SHARE of the samples
    frechet: float  # against the real test images' features; lower is better
    digit_accuracy: float | None  # share labelled as the asked digit (a conditional GAN), else None
    message: str  # "" when fine, else what is wrong in words

    def to_event(self, epoch: int, warnings: Sequence[str] = ()) -> dict[str, Any]:
        """The ``quality`` event of this verdict (see ``core/events.py``)."""
        return {"type": "quality", "epoch": int(epoch), "count": self.count,
                "confident_share": self.confident_share, "histogram": list(self.histogram),
                "frechet": self.frechet, "missing": list(self.missing), "message": self.message,
                "digit_accuracy": self.digit_accuracy, "warnings": list(warnings)}


def quality_message(histogram: Sequence[int], confident_share: float) -> str:
    """What is wrong with samples of this histogram and confident share, in words ("" when fine)."""
    count = sum(histogram)
    if not count:
        return ""
    if confident_share < NOT_DIGITS_SHARE:
        return (f"The samples do not look like digits yet: the classifier is sure of only "
                f"{confident_share:.0%} of them.")
    top = max(range(NUM_DIGITS), key=lambda d: histogram[d])
    if histogram[top] / count > DOMINANT_SHARE:
        return (f"Mode collapse: nearly all samples look like {_article(top)} {top} "
                f"({histogram[top] / count:.0%}).")
    missing = [d for d in range(NUM_DIGITS) if histogram[d] / count < MISSING_SHARE]
    if missing:
        return (f"Mode collapse: the generator makes almost no {_digit_list(missing)} "
                f"(under {MISSING_SHARE:.0%} each).")
    return ""


def reference_indices(size: int, count: int) -> torch.Tensor:
    """Every n-th index of a set of ``size``, ``count`` of them (all when ``count`` >= ``size``)."""
    count = max(1, min(count, size))
    stride = size // count
    return torch.arange(0, stride * count, stride)


class QualityMeter:
    """The app's default digit classifier, loaded once, with the real test images' feature statistics
    (the input of its last Linear layer) computed once, to score generated samples."""

    def __init__(self, device: str | torch.device = "cpu", real_count: int = REAL_COUNT):
        from playground.core.predict import Classifier

        self.device = torch.device(device)
        model = Classifier.from_path().model.to(self.device).eval()
        last = max(i for i, module in enumerate(model) if isinstance(module, torch.nn.Linear))
        self._features = model[:last]
        self._head = model[last:]
        self.real_count = real_count
        self._real: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, d) and class probabilities (N, 10) of images in [0, 1], in batches."""
        feats, probs = [], []
        for start in range(0, len(images), FEATURE_BATCH):
            x = images[start:start + FEATURE_BATCH].to(self.device, torch.float32)
            f = self._features(x)
            feats.append(f.cpu())
            probs.append(torch.softmax(self._head(f), dim=1).cpu())
        return torch.cat(feats), torch.cat(probs)

    def real_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and covariance of ``real_count`` MNIST test images' features,
        every n-th image of the set (computed on first use): the set's first half was written more
        neatly than its second, so its first images alone would make a biased reference."""
        if self._real is None:
            from playground.core.data import load_raw
            from playground.core.objective import to_input

            test = load_raw("mnist")[1]
            features, _ = self._run(to_input(test.images[reference_indices(len(test), self.real_count)]))
            self._real = feature_statistics(features)
        return self._real

    def measure(self, images: torch.Tensor, asked_digits: Sequence[int] | torch.Tensor | None = None) -> Quality:
        """Score generated ``images`` (N, 1, 28, 28), as a generator makes them: tanh range -1..1,
        white ink = 1. ``asked_digits`` (N digits) gives the digit accuracy of a conditional GAN."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28) or not len(images):
            raise ValueError(f"the quality meter needs images of shape (N, 1, 28, 28); got {tuple(images.shape)}")
        # The classifier was trained on MNIST pixels / 255, so -1..1 maps onto 0..1.
        pixels = ((images.detach().float() + 1) / 2).clamp_(0, 1)
        features, probs = self._run(pixels)
        top, labels = probs.max(dim=1)
        count = len(images)
        histogram = torch.bincount(labels, minlength=NUM_DIGITS).tolist()
        confident = float((top >= CONFIDENT).float().mean())
        frechet = frechet_to_features(*self.real_statistics(), features)
        accuracy = None
        if asked_digits is not None:
            asked = torch.as_tensor(asked_digits, dtype=torch.long).reshape(-1)
            if len(asked) != count:
                raise ValueError(f"asked_digits has {len(asked)} digits for {count} images")
            accuracy = float((labels == asked).float().mean())
        missing = [d for d in range(NUM_DIGITS) if histogram[d] / count < MISSING_SHARE]
        return Quality(count, confident, histogram, missing, frechet, accuracy,
                       quality_message(histogram, confident))


# -- the usual failures -----------------------------------------------------------------------------

# The discriminator "wins" when its loss is under this (a coin flip's BCE is ln 4 = 1.39 for the
# real + fake pair, ln 2 = 0.69 per half; 0.1 means it is right with near certainty) ...
D_LOSS_NEAR_ZERO = 0.1
# ... or when it scores real images above this and generated ones under 1 - this (label smoothing
# keeps the loss above 0 even when it wins, so the scores are checked too) ...
D_SURE = 0.95
# ... in at least this share of the epoch's reports: one lucky report is not a pattern.
MOST_OF_EPOCH = 0.6
# The generator's loss "keeps climbing" when each third of the epoch averages higher than the one
# before, and the last third is at least this many times the first and this much above it (its loss
# wanders by a few tenths in a healthy run, and grows slowly as the discriminator improves).
CLIMB_RATIO = 1.5
CLIMB_RISE = 1.0
MIN_CLIMB_REPORTS = 6
# "Nothing learned": over the epoch each loss stays within this share of its first value and the
# discriminator cannot tell real from generated (its two scores within FLAT_SCORE_GAP). A training
# GAN's losses move by more than 2% between reports (mini-batch noise alone does that).
FLAT_SPREAD = 0.02
FLAT_SCORE_GAP = 0.05
MIN_FLAT_REPORTS = 3


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _discriminator_wins(d_losses: Sequence[float], d_real: Sequence[float], d_fake: Sequence[float]) -> bool:
    rows = list(zip(d_losses, d_real, d_fake))
    wins = [loss < D_LOSS_NEAR_ZERO or (real > D_SURE and fake < 1 - D_SURE) for loss, real, fake in rows]
    return bool(rows) and sum(wins) >= MOST_OF_EPOCH * len(rows)


def _climbing(g_losses: list[float]) -> tuple[float, float] | None:
    """(first third's mean, last third's) when the generator's loss keeps climbing, else None."""
    if len(g_losses) < MIN_CLIMB_REPORTS:
        return None
    third = len(g_losses) // 3
    first, middle, last = _mean(g_losses[:third]), _mean(g_losses[third:-third]), _mean(g_losses[-third:])
    rising = first < middle < last and last >= CLIMB_RATIO * first and last - first >= CLIMB_RISE
    return (first, last) if rising else None


def _flat(values: list[float]) -> bool:
    return max(values) - min(values) <= FLAT_SPREAD * max(abs(values[0]), 1e-6)


def gan_warnings(d_losses: Sequence[float], g_losses: Sequence[float], d_real: Sequence[float],
                 d_fake: Sequence[float]) -> list[str]:
    """The common GAN failures seen in one epoch's per-report figures (the ``gan_progress`` events'
    ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` in order), each named in words; [] when none.
    Non-finite figures are left out (a diverged run has its own message)."""
    d_losses, g_losses = _finite(d_losses), _finite(g_losses)
    d_real, d_fake = _finite(d_real), _finite(d_fake)
    warnings = []
    if _discriminator_wins(d_losses, d_real, d_fake):
        warnings.append("The discriminator wins every time (its loss is near 0, D(x) near 1 and D(G(z)) "
                        "near 0): the generator gets no useful signal. Try a smaller discriminator (fewer "
                        "channels or layers) or a smaller learning rate.")
    climb = _climbing(g_losses)
    if climb:
        warnings.append(f"The generator's loss keeps climbing (from {climb[0]:.2f} to {climb[1]:.2f} this "
                        f"epoch): the discriminator is pulling ahead. If the samples stop improving, try a "
                        f"smaller learning rate or a smaller discriminator.")
    scores = list(zip(d_real, d_fake))
    if (len(d_losses) >= MIN_FLAT_REPORTS and len(g_losses) >= MIN_FLAT_REPORTS and _flat(d_losses)
            and _flat(g_losses) and scores and all(abs(r - f) <= FLAT_SCORE_GAP for r, f in scores)):
        warnings.append(f"Neither network is learning: both losses stay at their starting values (D(x) and "
                        f"D(G(z)) both about {_mean(d_real):.2f}). Check that the learning rate is not too "
                        f"small and that the layers can train.")
    return warnings
