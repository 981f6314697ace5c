"""Kinds of training: what is trained and how, for the :class:`~playground.core.train.Trainer`.

The trainer owns the loop, pause/resume/stop, the clock, the events, the run folder and how a run
ends; a task owns the networks, the data on the device, one step and the evaluations. A new kind is a
:class:`TrainingTask` subclass registered in ``train.TASKS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from playground.core.augment import random_affine
from playground.core.build import build_model, count_parameters
from playground.core.config import TrainConfig
from playground.core.data import DataSplits
from playground.core import distributed
from playground.core.distributed import SINGLE, DistContext
from playground.core.events import HISTOGRAMS_PER_EPOCH, HistogramsEvent
from playground.core.histograms import HistogramSnapshot, snapshot_steps
from playground.core.metrics import Evaluation, evaluate
from playground.core.objective import batch_loss, check_compatible, make_optimizer, make_scheduler, to_input
from playground.core.spec import NetworkSpec


def cpu_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


class TrainingTask:
    """What one kind of training provides; the :class:`Trainer` does the rest (the loop, pause,
    resume and stop, the clock, the events, the run folder, the divergence and out-of-memory ends).

    A second kind (a generator/discriminator pair, say) subclasses this, fills in the methods and is
    registered in ``train.TASKS`` under a name, which ``Trainer(task=...)`` and the worker's job
    (``"task"``) choose it by. Its :meth:`step` reports one loss, how many of the batch it got right
    and the batch size, whatever those mean for it; :meth:`weights` is one flat dict (prefix each
    network's names when there are several), saved as the run's weights files.
    """

    model: torch.nn.Module | None = None  # the network being trained (after set_up)
    optimizer: torch.optim.Optimizer | None = None
    steps_per_epoch = 0
    lr = 0.0  # the learning rate of the latest step
    keeps_epoch_weights = False  # the run folder keeps each epoch's weights (time travel)
    dist: DistContext = SINGLE  # the trainer sets it before set_up under torchrun (data-parallel)

    def __init__(self, spec: NetworkSpec, config: TrainConfig):
        """Raise ``DesignError`` / ``ConfigError`` here if this design and config cannot train."""
        self.spec, self.config = spec, config

    @staticmethod
    def spec_from_dict(data: dict):
        """The design of a job (the worker's ``"design"``) as this kind's spec."""
        return NetworkSpec.from_dict(data)

    def set_up(self, data: DataSplits, device: str, initial_state: dict | None,
               optimizer_state: dict | None) -> None:
        """Build the networks and optimizers on ``device``; set ``steps_per_epoch``."""
        raise NotImplementedError

    def parameters(self) -> int:
        raise NotImplementedError

    def start_epoch(self) -> None:
        """Before an epoch's first step (shuffle)."""

    def step(self, b: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Train on the epoch's batch ``b``: its mean loss and count of right answers (tensors left
        on the device, so that the step never waits for it) and its size."""
        raise NotImplementedError

    def validate(self, should_stop: Callable[[], bool]) -> tuple[float, float] | None:
        """The validation loss and accuracy (the best weights have the highest), None without a
        validation set."""
        raise NotImplementedError

    def weights(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights as they are now."""
        raise NotImplementedError

    def optimizer_state(self) -> dict:
        raise NotImplementedError

    def evaluate(self, weights: dict[str, torch.Tensor]) -> Evaluation | None:
        """The final test evaluation of ``weights`` (saved as the run's evaluation), if any."""
        return None

    def release_memory(self) -> None:
        """After running out of memory: let go of what the failed step held."""

    # -- what a kind may add to the events (a classifier adds its histograms) -------------------

    def report_events(self, epoch: int, step: int, end: bool) -> list[dict]:
        """Events to send after each progress report (``end``: the epoch's last step), e.g. figures
        of its own over the steps since the previous report."""
        return []

    def epoch_events(self, epoch: int, step: int) -> list[dict]:
        """Events to send after each epoch's ``epoch`` event."""
        return []

    def manual_step(self, which: str, epoch: int, step: int) -> list[dict]:
        """One step asked for by hand while the run is paused (step mode), and the events it makes;
        a kind without step mode makes none."""
        return []

    def final_quality(self) -> dict | None:
        """The ``quality`` figures for the ``finished`` event, for a kind that has them."""
        return None


class ClassifierTask(TrainingTask):
    """One network that scores the classes of labelled images, trained on a loss over its scores.

    It keeps each epoch's weights in the run folder (time travel) and adds ``histograms`` events:
    ``HISTOGRAMS_PER_EPOCH`` snapshots an epoch of its weights and gradients, taken on the device
    right after the backward pass of evenly spaced steps and sent after the next report."""

    keeps_epoch_weights = True

    def __init__(self, spec: NetworkSpec, config: TrainConfig):
        check_compatible(spec, config)
        super().__init__(spec, config)

    def set_up(self, data, device, initial_state, optimizer_state) -> None:
        cfg, dist = self.config, self.dist
        self.data, self.device = data, device
        model = build_model(self.spec)
        if initial_state is not None:
            model.load_state_dict(initial_state)
        model = model.to(device)
        # Channels-last makes pooling and normalisation much faster on CPUs (and suits GPUs).
        self.channels_last = any(layer.type == "Conv2d" for layer in self.spec.layers) and device != "mps"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        # Under torchrun the steps run through DDP (which averages the gradients); the bare network
        # (self.model) is what is validated, saved and snapshotted.
        self._forward = distributed.wrap(model, device) if dist.enabled else model
        self.model = model = self._forward.module if dist.enabled else model
        self.X = to_input(data.train.images, device)
        self.Y = data.train.labels.to(device)
        n, bs = len(self.Y), cfg.batch_size
        if dist.enabled:
            self.steps_per_epoch = distributed.steps_per_epoch(n, bs, dist.world_size)
        else:
            self.steps_per_epoch = math.ceil(n / bs)
            if n % bs == 1 and self.steps_per_epoch > 1:
                self.steps_per_epoch -= 1  # a batch of one breaks batch normalisation; drop it
        self.optimizer = make_optimizer(model.parameters(), cfg)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.scheduler = make_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        # The permutation's generator, the same on every rank; augmentation draws from it in one
        # process (as it always has), from a generator of its own per rank under torchrun.
        self.generator = torch.Generator(device=device).manual_seed(cfg.seed)
        self.augment_generator = (torch.Generator(device=device).manual_seed(cfg.seed + 1 + dist.rank)
                                  if dist.enabled else self.generator)
        self.lr = cfg.lr
        self._snapshot_steps = (snapshot_steps(self.steps_per_epoch, HISTOGRAMS_PER_EPOCH) if dist.is_main
                                else frozenset())  # rank 0's only: the others' are not shown
        self._snapshots: list[tuple[int, HistogramSnapshot]] = []  # (step in the epoch, snapshot) not sent yet
        self._last_step = -1

    def parameters(self) -> int:
        return count_parameters(self.model)

    def start_epoch(self) -> None:
        self.perm = torch.randperm(len(self.Y), generator=self.generator, device=self.device)
        self._snapshots.clear()

    def step(self, b: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        cfg, optimizer = self.config, self.optimizer
        bs, dist = cfg.batch_size, self.dist
        idx = self.perm[b * bs:(b + 1) * bs]
        total = len(idx)
        if dist.enabled:
            idx = distributed.rank_slice(idx, dist.rank, dist.world_size)
        xb = self.X.index_select(0, idx)
        yb = self.Y.index_select(0, idx)
        if cfg.augment:
            xb = random_affine(xb, self.augment_generator, cfg.max_shift, cfg.max_rotation, cfg.max_scale)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        out = self._forward(xb)
        loss = batch_loss(out, yb, cfg.loss, self.spec.num_classes)
        optimizer.zero_grad(set_to_none=True)
        if dist.enabled:
            (loss * distributed.loss_weight(len(idx), total, dist.world_size)).backward()
        else:
            loss.backward()
        if b in self._snapshot_steps:
            self._snapshot(b)
        self._last_step = b
        optimizer.step()
        self.lr = optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), (out.argmax(1) == yb).sum(), len(yb)

    def validate(self, should_stop) -> tuple[float, float] | None:
        val = self.data.val
        if not len(val):
            return None
        if self.dist.enabled:  # every rank validates the whole set, with rank 0's BatchNorm statistics
            distributed.sync_buffers(self.model)
        result = evaluate(self.model, val.images, val.labels, self.device, loss=self.config.loss,
                          num_classes=self.spec.num_classes, should_stop=should_stop)
        return result.loss, result.accuracy

    def weights(self) -> dict[str, torch.Tensor]:
        return cpu_state(self.model)

    def optimizer_state(self) -> dict:
        return self.optimizer.state_dict()

    def evaluate(self, weights) -> Evaluation | None:
        """The test set's evaluation; None when it has no images (a folder whose test images were all
        skipped): no accuracy, rather than 0% of nothing."""
        if not len(self.data.test):
            return None
        model = build_model(self.spec)
        model.load_state_dict(weights)
        model.to(self.device)
        test = self.data.test
        return evaluate(model, test.images, test.labels, self.device, loss=self.config.loss,
                        num_classes=self.spec.num_classes)

    def _snapshot(self, b: int) -> None:
        """Histograms of the weights and the gradients just computed: queued on the device, read at
        the next report."""
        try:
            self._snapshots.append((b, HistogramSnapshot(self.model, self.spec)))
        except NotImplementedError:  # an operation this device lacks: the run goes on without them
            self._snapshot_steps = frozenset()

    def report_events(self, epoch: int, step: int, end: bool) -> list[dict]:
        """The histograms snapshots taken since the previous report (``step`` is the latest step's)."""
        events = [HistogramsEvent(type="histograms", epoch=epoch, step=step - (self._last_step - b),
                                  layers=snapshot.layers()) for b, snapshot in self._snapshots]
        self._snapshots.clear()
        return events

    def release_memory(self) -> None:
        self._snapshots.clear()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

