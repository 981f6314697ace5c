"""The trainer: a generator that trains a design and yields plain-number events.

The whole data set lives on the training device as one tensor and is batched by index (no
per-sample DataLoader). Events are dicts of numbers and strings, yielded at most every
``report_interval`` seconds during an epoch, plus one at each epoch end and one at the end:

``start``     epochs, steps_per_epoch, total_steps, train_size, val_size, device, parameters
``progress``  epoch, step, epoch_step, steps_per_epoch, total_steps, samples_per_second, eta_seconds,
              elapsed_seconds, lr, and train_loss, train_accuracy: the means over the steps since the
              previous progress report
``epoch``     epoch, step, train_loss, train_accuracy (the means over all the epoch's steps), val_loss,
              val_accuracy, lr, seconds, elapsed_seconds, best
``paused`` / ``resumed`` / ``stopped``
``finished``  status (completed, stopped or failed), message, epochs_completed, train_seconds,
              samples_per_second, test_accuracy, test_loss, best_epoch, best_val_accuracy, run_dir

Only when reports come, and the timing figures (seconds, samples per second, ETA), follow the
clock; every other figure follows the steps, so the same seed and data give the same numbers, bit
for bit, on a busy machine and an idle one. Each step's loss is checked: after the step on the
CPU, and on an accelerator at each report (a read waits for the device, so not after every step).
A non-finite or exploding loss ends the run as ``failed``, naming the first bad step and its loss;
running out of GPU memory does too; both give advice, and the weights of the last good epoch are
kept.

Pause, resume and stop (:class:`TrainingControl`, thread-safe) take effect between steps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from playground.core.augment import random_affine
from playground.core.build import build_model, count_parameters
from playground.core.config import ConfigError, TrainConfig, resolve_device
from playground.core.data import DataSplits, load_dataset
from playground.core.metrics import Evaluation, evaluate
from playground.core.objective import batch_loss, check_compatible, make_optimizer, make_scheduler, to_input
from playground.core.runs import RunWriter
from playground.core.spec import NetworkSpec

# A loss this large has diverged: cross-entropy starts near ln(10) = 2.3 and MSE on one-hot targets
# near 0.1, so only runaway weights get here (they often overflow to inf or NaN soon after).
DIVERGED_LOSS = 1e4


class TrainingControl:
    """Pause, resume and stop, from any thread; the trainer looks between steps."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

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

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.05):
            pass


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

    def __init__(self):
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

    def figures(self, start: int = 0) -> tuple[float, float]:
        """Mean loss and accuracy over the read steps from ``start``, weighted by batch size."""
        end = len(self.losses)
        seen = sum(self.sizes[start:end])
        if not seen:
            return 0.0, 0.0
        # fsum is exactly rounded: the same steps give the same figure, however they were read.
        loss = math.fsum(v * n for v, n in zip(self.losses[start:end], self.sizes[start:end]))
        return loss / seen, sum(self.correct[start:end]) / seen

    def window(self) -> tuple[float, float]:
        """The figures of the steps since the previous report, which this one becomes."""
        figures = self.figures(self.reported)
        self.reported = len(self.losses)
        return figures


def _cpu_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


class Trainer:
    """Trains ``spec`` with ``config``; iterate :meth:`run` for the events.

    ``data`` defaults to the config's data set; ``run_dir`` (optional) receives the run folder's
    files as the run goes; ``initial_state`` / ``optimizer_state`` continue an earlier run.
    """

    def __init__(self, spec: NetworkSpec, config: TrainConfig, data: DataSplits | None = None,
                 run_dir: str | Path | None = None, initial_state: dict | None = None,
                 optimizer_state: dict | None = None, report_interval: float = 0.1):
        check_compatible(spec, config)
        self.spec = spec
        self.config = config
        self.device = resolve_device(config.device)
        self.data = data
        self.run_dir = Path(run_dir) if run_dir else None
        self.initial_state = initial_state
        self.optimizer_state = optimizer_state
        self.report_interval = report_interval
        self.control = TrainingControl()
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.evaluation: Evaluation | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._latest_state: dict[str, torch.Tensor] | None = None
        self._lock = threading.Lock()
        self._evaluate_at_end = True

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

    def run(self) -> Iterator[dict[str, Any]]:
        """The events. With a ``run_dir``, its folder is locked and written as the run goes:
        ``RunFolderError`` if it cannot be started (nothing written), ``RunWriteError`` if a write
        fails later (the run ends; what was written before is intact)."""
        from playground.core.runs import RunWriteError

        writer = RunWriter(self.run_dir, self.spec, self.config) if self.run_dir else None
        try:
            yield from self._run(writer)
        except BaseException as exc:
            if writer:
                message = str(exc) if isinstance(exc, RunWriteError) else f"{type(exc).__name__}: {exc}"
                try:  # the first error is the one to report, even if this write fails too
                    writer.write_summary(status="failed", message=message)
                except RunWriteError:
                    pass
            raise
        finally:
            if writer:
                writer.close()

    def _emit(self, writer: RunWriter | None, event: dict[str, Any]) -> dict[str, Any]:
        if writer:
            writer.log(event)
        return event

    def _run(self, writer: RunWriter | None) -> Iterator[dict[str, Any]]:
        cfg, device, control = self.config, self.device, self.control
        torch.manual_seed(cfg.seed)
        data = self.data = self.data or load_dataset(cfg.dataset, cfg.val_fraction, cfg.seed, cfg.limit)
        model = build_model(self.spec)
        if self.initial_state is not None:
            model.load_state_dict(self.initial_state)
        model = model.to(device)
        # Channels-last makes pooling and normalisation much faster on CPUs (and suits GPUs).
        channels_last = any(layer.type == "Conv2d" for layer in self.spec.layers) and device != "mps"
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        self.model = model

        X = to_input(data.train.images, device)
        Y = data.train.labels.to(device)
        n, bs = len(Y), cfg.batch_size
        if n == 0:
            raise ConfigError("there are no training images (is limit too small?)")
        steps_per_epoch = math.ceil(n / bs)
        if n % bs == 1 and steps_per_epoch > 1:
            steps_per_epoch -= 1  # a batch of one breaks batch normalisation; drop it
        total_steps = steps_per_epoch * cfg.epochs
        optimizer = make_optimizer(model.parameters(), cfg)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        self.optimizer = optimizer
        scheduler = make_scheduler(optimizer, cfg, steps_per_epoch)
        generator = torch.Generator(device=device).manual_seed(cfg.seed)

        yield self._emit(writer, {
            "type": "start", "epochs": cfg.epochs, "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps, "batch_size": bs, "train_size": n, "val_size": len(data.val),
            "test_size": len(data.test), "device": device, "parameters": count_parameters(model),
        })

        step = 0
        step_seconds = 0.0  # time spent in training steps (no validation, no pauses)
        loop_seconds = 0.0  # training loop wall time, validation included, pauses excluded
        samples_done = 0
        best_val, best_epoch, epochs_done = -1.0, 0, 0
        status, message = "completed", ""
        val_seconds_per_epoch = 0.0
        lr_used = cfg.lr
        check_every = _loss_check_steps(device)

        def diverged(epoch: int, first_step: int, bad: tuple[int, float]) -> str:
            index, value = bad
            what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g}"
            return (f"The loss {what} at epoch {epoch}, step {first_step + index}: the learning rate "
                    f"({cfg.lr:g}) is probably too high. Try a learning rate ten times smaller.")

        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.perf_counter()
            perm = torch.randperm(n, generator=generator, device=device)
            log = _StepLog()  # this epoch's steps: its figures, the reports' and the divergence check
            first_step = step + 1
            mark = time.perf_counter()
            last_report = mark

            stopped = failed = False
            for b in range(steps_per_epoch):
                if control.stop_requested:
                    stopped = True
                    break
                if control.paused:
                    paused_at = time.perf_counter()
                    step_seconds += paused_at - mark
                    yield self._emit(writer, {"type": "paused", "epoch": epoch, "step": step})
                    control.wait_while_paused()
                    resumed_at = time.perf_counter()
                    epoch_start += resumed_at - paused_at  # paused time does not count
                    mark = last_report = resumed_at
                    yield self._emit(writer, {"type": "resumed", "epoch": epoch, "step": step})
                    if control.stop_requested:
                        stopped = True
                        break
                idx = perm[b * bs:(b + 1) * bs]
                xb = X.index_select(0, idx)
                yb = Y.index_select(0, idx)
                if cfg.augment:
                    xb = random_affine(xb, generator, cfg.max_shift, cfg.max_rotation, cfg.max_scale)
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                try:
                    out = model(xb)
                    loss = batch_loss(out, yb, cfg.loss, self.spec.num_classes)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                except torch.OutOfMemoryError:
                    failed, status = True, "failed"
                    message = (f"The {device} ran out of memory at batch size {bs}. Try a smaller batch "
                               f"size (for example {max(1, bs // 2)}) or a smaller network.")
                    del xb, yb
                    out = loss = None
                    optimizer.zero_grad(set_to_none=True)
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    break
                lr_used = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                log.add(loss.detach(), (out.argmax(1) == yb).sum(), len(yb))
                step += 1
                samples_done += len(yb)
                now = time.perf_counter()
                # Reports follow the clock (about ten a second for the window); the figures and the
                # divergence check follow the steps only.
                report = now - last_report >= self.report_interval or b == steps_per_epoch - 1
                if report or log.unread >= check_every:
                    bad = log.read()
                    if bad:
                        failed, status, message = True, "failed", diverged(epoch, first_step, bad)
                        break
                if report:
                    step_seconds += now - mark
                    train_loss, train_accuracy = log.window()
                    mark = last_report = time.perf_counter()
                    eta = (step_seconds / step) * (total_steps - step)
                    eta += val_seconds_per_epoch * (cfg.epochs - epoch + 1)
                    yield self._emit(writer, {
                        "type": "progress", "epoch": epoch, "step": step,
                        "epoch_step": step - (epoch - 1) * steps_per_epoch,
                        "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
                        "samples_per_second": samples_done / step_seconds if step_seconds > 0 else 0.0,
                        "eta_seconds": eta, "elapsed_seconds": loop_seconds + now - epoch_start,
                        "train_loss": train_loss, "train_accuracy": train_accuracy, "lr": lr_used,
                    })

            step_seconds += time.perf_counter() - mark
            if stopped:
                bad = log.read()  # steps not yet checked: weights that diverged are not kept as stopped
                if bad:
                    stopped, failed, status = False, True, "failed"
                    message = diverged(epoch, first_step, bad)
            if stopped or failed:
                loop_seconds += time.perf_counter() - epoch_start
                break

            # End of epoch: validate, keep the weights.
            val_start = time.perf_counter()
            val = (evaluate(model, data.val.images, data.val.labels, device, loss=cfg.loss,
                            should_stop=lambda: control.stop_requested) if len(data.val) else None)
            if control.stop_requested:
                loop_seconds += time.perf_counter() - epoch_start
                stopped = True
                break
            val_seconds_per_epoch = time.perf_counter() - val_start
            epochs_done = epoch
            state = _cpu_state(model)
            with self._lock:
                self._latest_state = state
            val_acc = val.accuracy if val else None
            train_loss, train_accuracy = log.figures()  # every step of the epoch, read and checked
            is_best = val is None or val.accuracy > best_val
            if is_best:
                best_val, best_epoch, self.best_state = (val.accuracy if val else -1.0), epoch, state
            loop_seconds += time.perf_counter() - epoch_start
            if writer:
                writer.save_weights("last", state)
                if is_best:
                    writer.save_weights("best", state)
                writer.save_optimizer(optimizer.state_dict())
                writer.write_summary(epochs_completed=epoch, train_seconds=loop_seconds)
            yield self._emit(writer, {
                "type": "epoch", "epoch": epoch, "step": step,
                "train_loss": train_loss, "train_accuracy": train_accuracy,
                "val_loss": val.loss if val else None, "val_accuracy": val_acc,
                "lr": lr_used, "seconds": time.perf_counter() - epoch_start,
                "elapsed_seconds": loop_seconds, "best": is_best,
            })

        if stopped:
            status = "stopped"
            message = f"Stopped at epoch {epoch}, step {step}."
            yield self._emit(writer, {"type": "stopped", "epoch": epoch, "step": step})
            state = _cpu_state(model)
            with self._lock:
                self._latest_state = state
            if writer:
                writer.save_weights("last", state)
                writer.save_optimizer(optimizer.state_dict())
            if self.best_state is None:
                self.best_state = state
                if writer:
                    writer.save_weights("best", state)

        test = None
        if self.best_state is not None and self._evaluate_at_end:
            # Evaluate the best-validation weights (the last ones without validation).
            final_model = build_model(self.spec)
            final_model.load_state_dict(self.best_state)
            final_model.to(device)
            test = evaluate(final_model, data.test.images, data.test.labels, device, loss=cfg.loss)
            self.evaluation = test
            if writer:
                writer.save_evaluation(test)
        summary = {
            "type": "finished", "status": status, "message": message or "Training finished.",
            "epochs": epochs_done, "epochs_completed": epochs_done, "steps": step,
            "train_seconds": loop_seconds,
            "samples_per_second": samples_done / step_seconds if step_seconds > 0 else 0.0,
            "test_accuracy": test.accuracy if test else None, "test_loss": test.loss if test else None,
            "best_epoch": best_epoch or None, "best_val_accuracy": best_val if best_val >= 0 else None,
            "device": device, "run_dir": str(self.run_dir) if self.run_dir else None,
        }
        if writer:
            writer.write_summary(**{k: v for k, v in summary.items() if k != "type"},
                                 finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        yield self._emit(writer, summary)


def guarded(events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The events, with any exception turned into a last ``error`` event (message and type), so that
    a runner that swallows some exceptions (superqt's workers drop RuntimeError) still reports it."""
    try:
        yield from events
    except Exception as exc:  # noqa: BLE001 - reported to the user, not hidden
        yield {"type": "error", "error": type(exc).__name__, "message": str(exc) or type(exc).__name__}


def train(spec: NetworkSpec, config: TrainConfig, **kwargs) -> tuple[list[dict[str, Any]], Trainer]:
    """Run a whole training to the end; return the events and the trainer (for its model)."""
    trainer = Trainer(spec, config, **kwargs)
    events = list(trainer.run())
    return events, trainer
