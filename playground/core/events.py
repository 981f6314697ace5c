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

from typing import Literal, TypedDict, get_args, get_type_hints


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


class ErrorEvent(TypedDict):
    """Instead of ``finished`` when the run raised (a bad job, a failed write): the exception's
    type name and message."""

    type: Literal["error"]
    error: str
    message: str


Event = (StartEvent | ProgressEvent | EpochEvent | PausedEvent | ResumedEvent | StoppedEvent | FinishedEvent
         | ErrorEvent)

# Each kind of event's type and fields, by its ``type``.
EVENT_TYPES: dict[str, type] = {
    get_args(get_type_hints(cls)["type"])[0]: cls
    for cls in (StartEvent, ProgressEvent, EpochEvent, PausedEvent, ResumedEvent, StoppedEvent, FinishedEvent,
                ErrorEvent)
}
EVENT_FIELDS: dict[str, frozenset[str]] = {kind: frozenset(get_type_hints(cls)) for kind, cls in EVENT_TYPES.items()}
