"""The trainer: a generator that trains a design and yields plain-number events (see core/events.py).

The :class:`Trainer` owns the loop over epochs and steps, pause/resume/stop, the clock, the events,
the run folder and the ends of a run; what is trained, and how, is a :class:`TrainingTask` (the
classifier is the first kind, in ``TASKS``). The whole data set lives on the training device as one
tensor and is batched by index (no per-sample DataLoader).

Only when reports come, and the timing figures, follow the clock; every other figure follows the
steps, so the same seed and data give the same numbers, bit for bit, on a busy machine and an idle
one. Each step's loss is checked: after the step on the CPU, and on an accelerator at each report
(a read waits for the device, so not after every step). A non-finite or exploding loss ends the run
as ``failed``, naming the first bad step and its loss; running out of memory does too; both give
advice, and the weights of the last good epoch are kept.

Pause, resume and stop (:class:`TrainingControl`, thread-safe) take effect between steps.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from playground.core.config import ConfigError, TrainConfig, resolve_device
from playground.core.data import DataSplits, load_config_dataset
from playground.core import distributed
from playground.core.distributed import SINGLE, DistContext
from playground.core.events import (EpochEvent, ErrorEvent, Event, FinishedEvent, PausedEvent, ProgressEvent,
                                    ResumedEvent, StartEvent, StoppedEvent)
from playground.core.metrics import Evaluation
from playground.core.runs import RunWriteError, RunWriter
from playground.core.spec import NetworkSpec
from playground.core.gan_task import GanTask
from playground.core.tasks import ClassifierTask, TrainingTask
from playground.core.text import short_repr

# The kinds of training, by the name a job gives (``Trainer(task=...)``, the worker's ``"task"``).
TASKS: dict[str, type[TrainingTask]] = {"classifier": ClassifierTask, "gan": GanTask}

# Events the run folder does not log: a GAN's live sample images (tens of kB each, several a
# second); its weights are kept, and make the same images again.
UNLOGGED_EVENTS = frozenset({"samples"})

# A loss this large has diverged: cross-entropy starts near ln(10) = 2.3 and MSE on one-hot targets
# near 0.1, so only runaway weights get here (they often overflow to inf or NaN soon after).
DIVERGED_LOSS = 1e4


class TrainingControl:
    """Pause, resume and stop, from any thread; the trainer looks between steps."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._steps: queue.SimpleQueue[str] = queue.SimpleQueue()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused run so that it can stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_step(self, which: str) -> None:
        """Step mode: one step by hand (a GAN's "discriminator" or "generator"), taken only while
        paused; asked for while running, it is dropped."""
        if self.paused:
            self._steps.put(which)

    def wait_while_paused(self) -> Iterator[str]:
        """While paused: the steps asked for by hand, as they come; returns on resume or stop."""
        while not self._running.wait(0.05):
            try:
                which = self._steps.get_nowait()
            except queue.Empty:
                continue
            if self.paused:
                yield which


# On an accelerator, reading the steps' losses makes the host wait for the device, so they are read
# at each progress report (about ten a second) and at the latest every this many steps, which only
# bounds the unread buffer. The first bad step is named exactly whenever the read comes.
LOSS_CHECK_STEPS = 1024


def _loss_check_steps(device: str) -> int:
    """Read the losses after every step on the CPU (cheap there), every few steps elsewhere."""
    return 1 if torch.device(device).type == "cpu" else LOSS_CHECK_STEPS


class _StepLog:
    """The loss and correct predictions of each step of an epoch.

    A step only appends its two tensors, which stay on the training device so that it never waits
    for the GPU; :meth:`read` turns the unread ones into Python numbers in one go. The epoch's and a
    report's figures are then exact sums over steps, so they are the same whenever the reads and the
    reports happen (the clock decides those)."""

    def __init__(self, first_step: int):
        self.first_step = first_step  # the run's number of the epoch's first step
        self._unread_loss: list[torch.Tensor] = []
        self._unread_correct: list[torch.Tensor] = []
        self.losses: list[float] = []  # each step's mean loss over its batch
        self.correct: list[int] = []
        self.sizes: list[int] = []
        self.reported = 0  # steps already in a progress report

    def add(self, loss: torch.Tensor, correct: torch.Tensor, size: int) -> None:
        self._unread_loss.append(loss)
        self._unread_correct.append(correct)
        self.sizes.append(size)

    @property
    def unread(self) -> int:
        return len(self._unread_loss)

    def read(self) -> tuple[int, float] | None:
        """Read the unread steps; the first diverged one (its index in the epoch and its loss), if any."""
        if not self._unread_loss:
            return None
        start = len(self.losses)
        if len(self._unread_loss) == 1:  # the CPU's case, after every step: cheaper than a stack
            self.losses.append(self._unread_loss[0].item())
            self.correct.append(self._unread_correct[0].item())
        else:  # one copy from the device for all of them
            self.losses += torch.stack(self._unread_loss).tolist()
            self.correct += torch.stack(self._unread_correct).tolist()
        self._unread_loss.clear()
        self._unread_correct.clear()
        for i in range(start, len(self.losses)):
            value = self.losses[i]
            if not math.isfinite(value) or value > DIVERGED_LOSS:
                return i, value
        return None

    def figures(self, start: int = 0, end: int | None = None) -> tuple[float, float]:
        """Mean loss and accuracy over the read steps from ``start`` (to ``end``), weighted by batch size."""
        end = len(self.losses) if end is None else end
        seen = sum(self.sizes[start:end])
        if not seen:
            return 0.0, 0.0
        # fsum is exactly rounded: the same steps give the same figure, however they were read.
        loss = math.fsum(v * n for v, n in zip(self.losses[start:end], self.sizes[start:end]))
        return loss / seen, sum(self.correct[start:end]) / seen

    def window(self, end: int | None = None) -> tuple[float, float]:
        """The figures of the steps since the previous report (up to ``end``), which this one becomes."""
        figures = self.figures(self.reported, end)
        self.reported = len(self.losses) if end is None else end
        return figures


class _Stopwatch:
    """The run's time with pauses left out: time in training steps (for samples per second and the
    ETA) and time in the loop, validation included (the elapsed and training time shown)."""

    def __init__(self):
        self.step_seconds = 0.0
        self.loop_seconds = 0.0  # the epochs before this one, validation included
        self.val_seconds = 0.0  # the latest validation's, for the ETA
        self.samples = 0
        self.last_report = 0.0
        self._epoch_start = self._mark = self._paused_at = self._val_start = 0.0

    def start_epoch(self) -> None:
        self._epoch_start = self._mark = self.last_report = time.perf_counter()

    def lap(self, now: float) -> None:
        """A report at ``now``: the steps since the previous one count as step time."""
        self.step_seconds += now - self._mark
        self._mark = self.last_report = now

    def stop_steps(self) -> None:
        self.step_seconds += time.perf_counter() - self._mark

    def pause(self) -> None:
        self._paused_at = time.perf_counter()
        self.step_seconds += self._paused_at - self._mark

    def resume(self) -> None:
        now = time.perf_counter()
        self._epoch_start += now - self._paused_at
        self._mark = self.last_report = now

    def start_validation(self) -> None:
        self._val_start = time.perf_counter()

    def end_validation(self) -> None:
        self.val_seconds = time.perf_counter() - self._val_start

    def end_epoch(self) -> None:
        self.loop_seconds += time.perf_counter() - self._epoch_start

    def epoch_seconds(self) -> float:
        return time.perf_counter() - self._epoch_start

    def elapsed(self, now: float) -> float:
        return self.loop_seconds + now - self._epoch_start

    def samples_per_second(self) -> float:
        return self.samples / self.step_seconds if self.step_seconds > 0 else 0.0

    def eta(self, steps_done: int, steps_left: int, validations_left: int) -> float:
        return self.step_seconds / steps_done * steps_left + self.val_seconds * validations_left


class _RunEnded(Exception):
    """Ends a run before its last epoch: ``stopped`` (asked for) or ``failed`` (why in ``message``)."""

    def __init__(self, status: str, message: str = "", bad_step: int | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.bad_step = bad_step  # a diverged step's index in the epoch's log


@dataclass
class _Progress:
    """Where a run is (one per run, updated as it goes)."""

    steps_per_epoch: int
    total_steps: int
    epoch: int = 0
    step: int = 0  # steps done
    epochs_done: int = 0
    best_epoch: int = 0
    best_val: float = -1.0  # the best validation accuracy so far
    best_val_loss: float = math.inf  # its validation loss: of two epochs as accurate, the lower wins


def _better(val: tuple[float, float], best_accuracy: float, best_loss: float) -> bool:
    """Whether validation (loss, accuracy) ``val`` beats the best so far: higher accuracy, or the same
    accuracy with a lower loss (a small folder reaches 100% early; later epochs still improve)."""
    loss, accuracy = val
    return accuracy > best_accuracy or (accuracy == best_accuracy and math.isfinite(loss) and loss < best_loss)


MAX_SKIPPED_LISTED = 1000  # files of a data folder named in run.json's "skipped_files"; the count is exact


def skipped_summary(skipped) -> dict:
    """run.json's record of the data folder's skipped files: ``skipped_count`` and ``skipped_files``
    (each ``{"path", "reason"}``, the first :data:`MAX_SKIPPED_LISTED`); nothing when none was."""
    if not skipped:
        return {}
    return {"skipped_count": len(skipped),
            "skipped_files": [{"path": str(p), "reason": str(r)} for p, r in skipped[:MAX_SKIPPED_LISTED]]}


class Trainer:
    """Trains ``spec`` with ``config``; iterate :meth:`run` for the events.

    ``data`` defaults to the config's data set; ``run_dir`` (optional) receives the run folder's
    files as the run goes; ``initial_state`` / ``optimizer_state`` continue an earlier run; ``task``
    names the kind of training (a key of ``TASKS``). Progress reports come every ``report_interval``
    seconds, and with ``min_reports_per_epoch`` > 0 also after ``steps_per_epoch //
    min_reports_per_epoch`` steps without one (so that a short run still draws a curve; reports
    change no figure, only how the epoch is cut into windows).

    ``dist`` (under torchrun, see core/distributed.py; its process group already started) makes this
    one of ``dist.world_size`` data-parallel processes: each step's figures and stop requests are
    all-reduced so that every rank sees the same ones, and only rank 0 writes the run folder and
    evaluates on the test set. The default is the plain single-process path.
    """

    def __init__(self, spec: NetworkSpec, config: TrainConfig, data: DataSplits | None = None,
                 run_dir: str | Path | None = None, initial_state: dict | None = None,
                 optimizer_state: dict | None = None, report_interval: float = 0.1,
                 task: str = "classifier", min_reports_per_epoch: int = 0, dist: DistContext = SINGLE):
        if not isinstance(task, str) or task not in TASKS:
            raise ConfigError(f"unknown kind of training {short_repr(task)}; known: {', '.join(sorted(TASKS))}")
        if type(min_reports_per_epoch) is not int or not 0 <= min_reports_per_epoch <= 10_000:
            raise ConfigError(f"min_reports_per_epoch must be a whole number from 0 to 10000, not "
                              f"{short_repr(min_reports_per_epoch)}")
        if dist.enabled and task != "classifier":
            raise ConfigError("data-parallel training is for classifiers; train a GAN in one process")
        self.min_reports_per_epoch = min_reports_per_epoch
        self.task = TASKS[task](spec, config)
        self.task.dist = self.dist = dist
        self.spec = spec
        self.config = config
        self.device = dist.device(resolve_device(config.device))
        self.data = data
        self.run_dir = Path(run_dir) if run_dir else None
        self.initial_state = initial_state
        self.optimizer_state = optimizer_state
        self.report_interval = report_interval
        self.control = TrainingControl()
        self.evaluation: Evaluation | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._latest_state: dict[str, torch.Tensor] | None = None
        self._lock = threading.Lock()
        self._evaluate_at_end = True
        self._writer: RunWriter | None = None
        self._clock = _Stopwatch()
        self._agreed_stop = False  # under torchrun: some rank asked to stop (all-reduced each step)

    @property
    def model(self) -> torch.nn.Module | None:
        return self.task.model

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        return self.task.optimizer

    # Control, from any thread.
    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self, evaluate: bool = True) -> None:
        """Stop between steps; ``evaluate=False`` also skips the final test evaluation (for a
        window that is closing)."""
        self._evaluate_at_end = evaluate
        self.control.stop()

    def latest_weights(self) -> dict[str, torch.Tensor] | None:
        """A CPU copy of the weights at the newest epoch end (never the ones being updated)."""
        with self._lock:
            return self._latest_state

    def run(self) -> Iterator[Event]:
        """The events. With a ``run_dir``, its folder is locked and written as the run goes:
        ``RunFolderError`` if it cannot be started (nothing written), ``RunWriteError`` if a write
        fails later (the run ends; what was written before is intact)."""
        keeps = self.run_dir and self.dist.is_main  # under torchrun rank 0 alone writes the folder
        writer = self._writer = RunWriter(self.run_dir, self.spec, self.config) if keeps else None
        try:
            yield from self._run()
        except BaseException as exc:
            if writer:
                message = str(exc) if isinstance(exc, RunWriteError) else f"{type(exc).__name__}: {exc}"
                if self.dist.enabled and distributed.is_lost_contact(exc):  # not gloo's or NCCL's raw text
                    message = distributed.lost_contact_message(self.dist)
                try:  # the first error is the one to report, even if this write fails too
                    writer.write_summary(status="failed", message=message)
                except RunWriteError:
                    pass
            raise
        finally:
            if writer:
                writer.close()

    def _emit(self, event: Event) -> Event:
        if self._writer and event["type"] not in UNLOGGED_EVENTS:
            self._writer.log(event)
        return event

    def _run(self) -> Iterator[Event]:
        """Set up, then train and validate epoch by epoch until the end, a stop or a failure."""
        self._clock = _Stopwatch()
        run = self._set_up()
        yield self._emit(self._start_event(run))
        status, message = "completed", "Training finished."
        try:
            for epoch in range(1, self.config.epochs + 1):
                run.epoch = epoch
                log = _StepLog(run.step + 1)
                yield from self._train_epoch(run, log)
                yield from self._validate_and_checkpoint(run, log)
        except _RunEnded as end:
            status, message = end.status, end.message
        if status == "stopped":
            message = f"Stopped at epoch {run.epoch}, step {run.step}."
            yield from self._keep_stopped(run)
        yield from self._finish(run, status, message)

    def _set_up(self) -> _Progress:
        """Seed, load the data, and set the task up on the device."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        data = self.data = self.data or load_config_dataset(cfg)
        if len(data.train) == 0:
            raise ConfigError("there are no training images (is limit too small?)")
        classes = data.class_names
        if isinstance(self.task, ClassifierTask):
            if self.spec.num_classes != len(classes):
                raise ConfigError(f"the data set has {len(classes)} classes but the design is made for "
                                  f"{self.spec.num_classes}; make its last layer Linear {len(classes)}")
            if self._writer:
                self._writer.write_summary(classes=classes, **skipped_summary(data.skipped))
        elif getattr(self.spec, "conditional", False) and len(classes) > 10:  # a cGAN's one-hot digit code
            raise ConfigError(f"a conditional GAN is told one of 10 classes; this data set has {len(classes)}: "
                              f"use an unconditional GAN (gan-mlp, dcgan)")
        self.task.set_up(data, self.device, self.initial_state, self.optimizer_state)
        steps = self.task.steps_per_epoch
        return _Progress(steps_per_epoch=steps, total_steps=steps * cfg.epochs)

    def _start_event(self, run: _Progress) -> StartEvent:
        data = self.data
        bs, world = self.config.batch_size, self.dist.world_size
        return StartEvent(type="start", epochs=self.config.epochs, steps_per_epoch=run.steps_per_epoch,
                          total_steps=run.total_steps, batch_size=bs,
                          train_size=len(data.train), val_size=len(data.val), test_size=len(data.test),
                          device=self.device, parameters=self.task.parameters(), classes=data.class_names,
                          world_size=world, rank_batch_size=distributed.rank_batch_size(bs, world),
                          backend=self.dist.backend)

    def _train_epoch(self, run: _Progress, log: _StepLog) -> Iterator[Event]:
        """One epoch's steps, with progress reports; pauses and stops come between steps."""
        task, clock, control = self.task, self._clock, self.control
        interval, check_every = self.report_interval, _loss_check_steps(self.device)
        dist = self.dist.enabled
        if dist:  # each step's figures are read anyway (the agreed stop): check them all, on every rank alike
            check_every = 1
        done, last = run.step, task.steps_per_epoch - 1
        # With a minimum number of reports, also one after this many steps without one (0: never).
        every = max(1, task.steps_per_epoch // self.min_reports_per_epoch) if self.min_reports_per_epoch else 0
        step, add = task.step, log.add
        clock.start_epoch()
        task.start_epoch()
        try:
            for b in range(task.steps_per_epoch):
                if dist:
                    if self._agreed_stop:
                        control.stop()  # asked on some rank: every rank stops after the same step
                        yield from self._pause_or_stop(run, log)
                elif control.stop_requested or control.paused:
                    yield from self._pause_or_stop(run, log)
                try:
                    loss, correct, size = step(b)
                except torch.OutOfMemoryError as exc:
                    raise self._out_of_memory(exc) from None
                if dist:
                    loss, correct, size, self._agreed_stop = self._reduce_step(loss, correct, size)
                add(loss, correct, size)
                run.step = done + b + 1
                clock.samples += size
                now = time.perf_counter()
                # Reports follow the clock (about ten a second for the window) and, if asked, a
                # number of steps since the last one; the figures and the divergence check follow
                # the steps only.
                report = (now - clock.last_report >= interval or b == last
                          or (every and b + 1 - log.reported >= every))
                if report or log.unread >= check_every:
                    self._check_losses(run, log)
                if report:
                    clock.lap(now)
                    yield self._emit(self._progress_event(run, log, now))
                    for event in task.report_events(run.epoch, run.step, b == last):
                        yield self._emit(event)
        except _RunEnded as end:
            clock.end_epoch()
            yield from self._report_divergence(run, log, end.bad_step)
            raise
        finally:
            clock.stop_steps()

    def _reduce_step(self, loss, correct, size) -> tuple[torch.Tensor, torch.Tensor, int, bool]:
        """Under torchrun: the global batch's figures and the agreed stop, from all ranks."""
        loss, correct, size, stop = distributed.reduce_step(loss, correct, size, self.control.stop_requested)
        return torch.tensor(loss, dtype=torch.float64), torch.tensor(correct), size, stop

    def _pause_or_stop(self, run: _Progress, log: _StepLog) -> Iterator[Event]:
        """Between steps: wait out a pause (its time does not count); end the run on a stop."""
        control = self.control
        if not control.stop_requested:
            self._clock.pause()
            yield self._emit(PausedEvent(type="paused", epoch=run.epoch, step=run.step))
            for which in control.wait_while_paused():
                for event in self.task.manual_step(which, run.epoch, run.step):
                    yield self._emit(event)
            self._clock.resume()
            yield self._emit(ResumedEvent(type="resumed", epoch=run.epoch, step=run.step))
        if control.stop_requested:
            self._check_losses(run, log)  # weights that diverged are not kept as stopped
            raise _RunEnded("stopped")

    def _check_losses(self, run: _Progress, log: _StepLog) -> None:
        """Read the steps' losses; a diverged one ends the run, naming the first bad step."""
        bad = log.read()
        if bad:
            index, value = bad
            what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g}"
            raise _RunEnded("failed", f"The loss {what} at epoch {run.epoch}, step {log.first_step + index}: "
                                      f"the learning rate ({self.config.lr:g}) is probably too high. Try a "
                                      f"learning rate ten times smaller.", bad_step=index)

    def _report_divergence(self, run: _Progress, log: _StepLog, index: int | None) -> Iterator[Event]:
        """Before a diverged run ends: the steps not reported yet before the diverged one, then that
        step alone, so that the curves show the run up to the explosion."""
        if index is None:
            return
        step = run.step
        for end in (index, index + 1):
            if end > log.reported:
                run.step = log.first_step + end - 1
                yield self._emit(self._progress_event(run, log, time.perf_counter(), end))
        run.step = step

    def _out_of_memory(self, exc: torch.OutOfMemoryError) -> _RunEnded:
        traceback.clear_frames(exc.__traceback__)  # the failed step's tensors go before the cache is freed
        self.task.release_memory()
        bs = self.config.batch_size
        return _RunEnded("failed", f"The {self.device} ran out of memory at batch size {bs}. Try a smaller "
                                   f"batch size (for example {max(1, bs // 2)}) or a smaller network.")

    def _progress_event(self, run: _Progress, log: _StepLog, now: float, end: int | None = None) -> ProgressEvent:
        clock = self._clock
        train_loss, train_accuracy = log.window(end)
        eta = clock.eta(run.step, run.total_steps - run.step, self.config.epochs - run.epoch + 1)
        return ProgressEvent(type="progress", epoch=run.epoch, step=run.step,
                             epoch_step=run.step - (run.epoch - 1) * run.steps_per_epoch,
                             steps_per_epoch=run.steps_per_epoch, total_steps=run.total_steps,
                             samples_per_second=clock.samples_per_second(), eta_seconds=eta,
                             elapsed_seconds=clock.elapsed(now), train_loss=train_loss,
                             train_accuracy=train_accuracy, lr=self.task.lr)

    def _validate_and_checkpoint(self, run: _Progress, log: _StepLog) -> Iterator[Event]:
        """At an epoch's end: validate, keep the weights (the best too, and the epoch's own for time
        travel), report the epoch."""
        task, clock, writer = self.task, self._clock, self._writer
        clock.start_validation()
        if self.dist.enabled:  # all ranks validate to the end, then agree on the figures and on a stop
            val, stop = distributed.agree_validation(task.validate(should_stop=lambda: False),
                                                     self.control.stop_requested, self.device)
            if stop:
                self.control.stop()
        else:
            val = task.validate(should_stop=lambda: self.control.stop_requested)
        if self.control.stop_requested:
            clock.end_epoch()
            raise _RunEnded("stopped")
        clock.end_validation()
        run.epochs_done = run.epoch
        state = self._keep_latest()
        train_loss, train_accuracy = log.figures()  # every step of the epoch, read and checked
        is_best = val is None or _better(val, run.best_val, run.best_val_loss)
        if is_best:
            run.best_val, run.best_epoch, self.best_state = (val[1] if val else -1.0), run.epoch, state
            run.best_val_loss = val[0] if val else math.inf
        clock.end_epoch()
        if writer:
            writer.save_weights("last", state)
            if is_best:
                writer.save_weights("best", state)
            writer.save_optimizer(task.optimizer_state())
            if task.keeps_epoch_weights:  # for time travel (a classifier's, when small enough)
                writer.save_epoch_weights(run.epoch, state)
            writer.write_summary(epochs_completed=run.epoch, train_seconds=clock.loop_seconds)
        yield self._emit(EpochEvent(
            type="epoch", epoch=run.epoch, step=run.step, train_loss=train_loss, train_accuracy=train_accuracy,
            val_loss=val[0] if val else None, val_accuracy=val[1] if val else None, lr=task.lr,
            seconds=clock.epoch_seconds(), elapsed_seconds=clock.loop_seconds, best=is_best))
        for event in task.epoch_events(run.epoch, run.step):
            yield self._emit(event)

    def _keep_latest(self) -> dict[str, torch.Tensor]:
        state = self.task.weights()
        with self._lock:
            self._latest_state = state
        return state

    def _keep_stopped(self, run: _Progress) -> Iterator[Event]:
        """After a stop: keep the weights as they are (as the best too if there are none yet)."""
        yield self._emit(StoppedEvent(type="stopped", epoch=run.epoch, step=run.step))
        state, writer = self._keep_latest(), self._writer
        if writer:
            writer.save_weights("last", state)
            writer.save_optimizer(self.task.optimizer_state())
        if self.best_state is None:
            self.best_state = state
            if writer:
                writer.save_weights("best", state)

    def _finish(self, run: _Progress, status: str, message: str) -> Iterator[Event]:
        """Evaluate the best weights (the last ones without validation) on the test set; summarise."""
        test, writer, clock = None, self._writer, self._clock
        if self.best_state is not None and self._evaluate_at_end and self.dist.is_main:
            test = self.evaluation = self.task.evaluate(self.best_state)
            if writer and test:
                writer.save_evaluation(test)
        summary = FinishedEvent(
            type="finished", status=status, message=message, epochs=run.epochs_done,
            epochs_completed=run.epochs_done, steps=run.step, train_seconds=clock.loop_seconds,
            samples_per_second=clock.samples_per_second(), test_accuracy=test.accuracy if test else None,
            test_loss=test.loss if test else None, best_epoch=run.best_epoch or None,
            best_val_accuracy=run.best_val if run.best_val >= 0 else None, device=self.device,
            run_dir=str(self.run_dir) if self.run_dir else None, quality=self.task.final_quality(),
            world_size=self.dist.world_size)
        if writer:
            writer.write_summary(**{k: v for k, v in summary.items() if k != "type"},
                                 finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        yield self._emit(summary)


def guarded(events: Iterator[Event]) -> Iterator[Event]:
    """The events, with any exception turned into a last ``error`` event (message and type), so that
    a runner that swallows some exceptions (superqt's workers drop RuntimeError) still reports it."""
    try:
        yield from events
    except Exception as exc:  # noqa: BLE001 - reported to the user, not hidden
        yield ErrorEvent(type="error", error=type(exc).__name__, message=str(exc) or type(exc).__name__)


def train(spec: NetworkSpec, config: TrainConfig, **kwargs) -> tuple[list[Event], Trainer]:
    """Run a whole training to the end; return the events and the trainer (for its model)."""
    trainer = Trainer(spec, config, **kwargs)
    events = list(trainer.run())
    return events, trainer
