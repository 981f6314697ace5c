"""The events a training run yields, one type per kind, documented once here.

They are plain dicts at run time (``TypedDict``): the trainer yields them, the worker process prints
them as JSON lines, the run folder logs them (its metrics log), and the window, the plots, the
command line (``--json`` too) and the benchmarks read them. Numbers are plain Python numbers, never
tensors. Progress reports come at most every ``report_interval`` seconds during an epoch (and at its
last step); only their timing and the time figures (seconds, samples per second, ETA) follow the
clock, every other figure follows the steps.

A new field goes in the type here and in the trainer; a new kind of training emits the same events.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, TypedDict, get_args, get_type_hints

import numpy as np


class StartEvent(TypedDict):
    """Once, before the first step."""

    type: Literal["start"]
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    train_size: int
    val_size: int
    test_size: int
    device: str
    parameters: int
    classes: list[str]  # the data set's class names: label i is classes[i]
    # Data-parallel training (torchrun): the number of processes (1 for one), the most images one of
    # them takes of each (global) batch_size batch, and their backend ("gloo", "nccl"; None for one).
    world_size: int
    rank_batch_size: int
    backend: str | None


class ProgressEvent(TypedDict):
    """During an epoch; ``train_loss`` and ``train_accuracy`` are the means over the steps since the
    previous progress report, ``lr`` the rate the latest step used. Before a run that diverged ends,
    the steps up to the bad one are reported, then the bad step alone (its loss non-finite or huge),
    so that the curve shows the explosion."""

    type: Literal["progress"]
    epoch: int
    step: int  # steps done in the whole run
    epoch_step: int  # steps done in this epoch
    steps_per_epoch: int
    total_steps: int
    samples_per_second: float
    eta_seconds: float
    elapsed_seconds: float  # training time so far, validation included, pauses excluded
    train_loss: float
    train_accuracy: float
    lr: float


class EpochEvent(TypedDict):
    """At each epoch's end, after validation and checkpointing; the train figures are the means over
    all the epoch's steps. ``val_loss`` and ``val_accuracy`` are None without a validation set."""

    type: Literal["epoch"]
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float  # this epoch's, validation and checkpoint included
    elapsed_seconds: float
    best: bool  # these weights are the best so far (saved as the best)


class PausedEvent(TypedDict):
    type: Literal["paused"]
    epoch: int
    step: int


class ResumedEvent(TypedDict):
    type: Literal["resumed"]
    epoch: int
    step: int


class StoppedEvent(TypedDict):
    """A stop was asked for; the weights are kept and the ``finished`` event follows."""

    type: Literal["stopped"]
    epoch: int
    step: int


class FinishedEvent(TypedDict):
    """The last event of a run that ended by itself, by a stop or by a failure (divergence, out of
    memory). ``epochs`` and ``epochs_completed`` are the same count (both names are read)."""

    type: Literal["finished"]
    status: Literal["completed", "stopped", "failed"]
    message: str
    epochs: int
    epochs_completed: int
    steps: int
    train_seconds: float
    samples_per_second: float
    test_accuracy: float | None  # None when the test evaluation was skipped or no weights were kept
    test_loss: float | None
    best_epoch: int | None
    best_val_accuracy: float | None
    device: str
    run_dir: str | None
    quality: dict | None  # a GAN's last quality figures (a QualityEvent without its type), else None
    world_size: int  # the processes that trained it together (torchrun, data-parallel); 1 for one


class GanProgressEvent(TypedDict):
    """A GAN run's own figures, right after each ``progress`` (whose ``train_loss`` and
    ``train_accuracy`` are the discriminator's loss and share of right calls): the means over the
    steps since the previous report. ``d_real`` is D(x), the mean probability the discriminator
    gives real images, ``d_fake`` is D(G(z)), the one it gives generated images."""

    type: Literal["gan_progress"]
    epoch: int
    step: int
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float


class GanStepEvent(TypedDict):
    """After one step taken by hand in step mode (``which``: "discriminator" or "generator"), the
    figures of that step; a ``samples`` event follows."""

    type: Literal["gan_step"]
    which: Literal["discriminator", "generator"]
    epoch: int
    step: int
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float


class SamplesEvent(TypedDict):
    """Images of a GAN's fixed noise batch as they are now: ``count`` 28x28 images, ``pixels`` the
    base64 of their uint8 bytes, row-major, 0 black background and 255 white ink (as MNIST; read
    them with :func:`decode_samples`); ``digits`` the digit each was asked for (a conditional GAN)."""

    type: Literal["samples"]
    epoch: int
    step: int
    count: int
    pixels: str
    digits: list[int] | None


class QualityEvent(TypedDict):
    """At each epoch's end of a GAN run: ``count`` generated images scored by the app's default
    digit classifier. ``confident_share``: the share it labels with a probability of at least 0.9;
    ``histogram``: how many it labels as each digit; ``missing``: the digits under 3% of them;
    ``frechet``: the Frechet distance between its penultimate features of generated and real test
    images (lower is closer); ``digit_accuracy``: a conditional GAN's share of images seen as the
    digit asked for; ``message`` and ``warnings``: what went wrong, in words ("" and [] when nothing)."""

    type: Literal["quality"]
    epoch: int
    count: int
    confident_share: float
    histogram: list[int]
    missing: list[int]
    frechet: float
    digit_accuracy: float | None
    message: str
    warnings: list[str]


class HistogramLayer(TypedDict):
    """One layer with weights in a ``histograms`` event: ``index`` is its position in the design's
    layers (from 0), ``type`` its layer type. ``weight_counts``: how many of its parameters (weights
    and biases together) fall in each of ``HISTOGRAM_WEIGHT_BINS`` equal bins over ``weight_range``
    (its smallest to its largest parameter). ``grad_counts``: how many of their gradients have a
    ``log10|gradient|`` in each of ``HISTOGRAM_GRAD_BINS`` equal bins over ``grad_log10_range``
    (-12 to 2, half a decade each; smaller ones count in the first bin, larger in the last);
    ``grad_zero``: the gradients exactly 0, counted there only. Both histograms count every parameter
    once (unless some are not finite). ``weight_rms`` and ``grad_rms``: root mean squares."""

    index: int
    type: str
    weight_range: list[float]
    weight_counts: list[int]
    grad_log10_range: list[float]
    grad_counts: list[int]
    grad_zero: int
    weight_rms: float
    grad_rms: float


class HistogramsEvent(TypedDict):
    """A classifier's weights and gradients, ``HISTOGRAMS_PER_EPOCH`` (4) times an epoch at evenly
    spaced steps (the first at its first step), taken right after that step's backward pass (before
    the weights are updated) and sent after the next progress report; ``step`` is the run's step it
    was taken at. ``layers``: one entry per layer with weights, in order (at most
    ``MAX_HISTOGRAM_LAYERS``, spread over the design, so that a line stays a few kB).
    ``core/histograms.py`` reads them (warnings in words, heatmaps over a run)."""

    type: Literal["histograms"]
    epoch: int
    step: int
    layers: list[HistogramLayer]


class ErrorEvent(TypedDict):
    """Instead of ``finished`` when the run raised (a bad job, a failed write): the exception's
    type name and message."""

    type: Literal["error"]
    error: str
    message: str


Event = (StartEvent | ProgressEvent | EpochEvent | PausedEvent | ResumedEvent | StoppedEvent | FinishedEvent
         | ErrorEvent | GanProgressEvent | GanStepEvent | SamplesEvent | QualityEvent | HistogramsEvent)

# Each kind of event's type and fields, by its ``type``.
EVENT_TYPES: dict[str, type] = {
    get_args(get_type_hints(cls)["type"])[0]: cls
    for cls in (StartEvent, ProgressEvent, EpochEvent, PausedEvent, ResumedEvent, StoppedEvent, FinishedEvent,
                ErrorEvent, GanProgressEvent, GanStepEvent, SamplesEvent, QualityEvent, HistogramsEvent)
}
EVENT_FIELDS: dict[str, frozenset[str]] = {kind: frozenset(get_type_hints(cls)) for kind, cls in EVENT_TYPES.items()}

# The shape of a histograms event (see HistogramLayer).
HISTOGRAMS_PER_EPOCH = 4
HISTOGRAM_WEIGHT_BINS = 32
HISTOGRAM_GRAD_BINS = 28
HISTOGRAM_GRAD_LOG10_RANGE = (-12.0, 2.0)
MAX_HISTOGRAM_LAYERS = 32

SAMPLE_SIDE = 28
MAX_SAMPLES = 1024  # images in one samples event


def encode_samples(images: np.ndarray) -> str:
    """``images``: uint8 (count, 28, 28), white ink on black; the ``pixels`` text of a samples event."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    return base64.b64encode(images.tobytes()).decode("ascii")


def decode_samples(event: dict) -> np.ndarray:
    """A samples event's images, uint8 (count, 28, 28); ``ValueError`` if the event is malformed."""
    count = event.get("count")
    if type(count) is not int or not 0 <= count <= MAX_SAMPLES:
        raise ValueError(f"a samples event holds 0 to {MAX_SAMPLES} images, not {count!r}")
    pixels = event.get("pixels")
    size = count * SAMPLE_SIDE * SAMPLE_SIDE
    if not isinstance(pixels, str) or len(pixels) > 4 * (size + 2) // 3 + 4:
        raise ValueError("a samples event's pixels are not the base64 text of its images")
    try:
        data = base64.b64decode(pixels, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a samples event's pixels are not valid base64") from None
    if len(data) != size:
        raise ValueError(f"a samples event of {count} images has {len(data)} bytes, not {size}")
    return np.frombuffer(data, dtype=np.uint8).reshape(count, SAMPLE_SIDE, SAMPLE_SIDE).copy()
