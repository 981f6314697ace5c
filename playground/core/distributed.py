"""Data-parallel training under ``torchrun``: which process this is, its device, and the few
collective operations the trainer needs. Qt-free.

``torchrun --nproc_per_node=N -m playground train ...`` (or ``playground train --nproc N``) starts N
processes, each with ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and ``MASTER_ADDR`` / ``MASTER_PORT`` in its
environment. :func:`context_from_env` reads them; without them, or with ``WORLD_SIZE`` 1, the context is
:data:`SINGLE` and the trainer takes its plain single-process path, unchanged.

Semantics: the config's ``batch_size`` is the GLOBAL batch. Every rank builds the same permutation each
epoch (same seed), and each step rank r trains on the r-th of ``world_size`` nearly equal slices of the
same global batch (:func:`rank_slice`); DDP averages the gradients, and each rank's loss is weighted by
its share of the batch (:func:`loss_weight`), so one DDP step is one single-process step up to float
rounding (for a design without BatchNorm or Dropout: BatchNorm's statistics are per rank, Dropout's
masks differ). The same settings therefore train the same number of steps with the same learning rate.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from playground.core.config import ConfigError

MAX_PROCESSES = 64  # on one machine (``--nproc``); torchrun itself may start more across nodes

# The signals torch's agent (torchrun, ``--nproc``) forwards to the ranks when it is stopped. Until a
# rank trains (process group joined, data loaded) they kill it at once, quietly; then they stop the
# run after a step all ranks agree on (see cli/train.py). playground/__main__.py sets them to "die
# now" before the slow imports, so a Ctrl+C during start-up prints no KeyboardInterrupt traceback.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
                     if hasattr(signal, name))

# ``--nproc``: the file in which rank 0 tells the launcher its run folder and how the run ended.
LAUNCH_STATE_ENV = "PLAYGROUND_LAUNCH_STATE"


class DistributedError(Exception):
    """The torchrun environment is inconsistent, or the process group cannot start."""


@dataclass(frozen=True)
class DistContext:
    """Which of ``world_size`` processes this is. ``backend`` is ``gloo`` (CPU) or ``nccl`` (CUDA),
    None for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder and prints the events."""
        return self.rank == 0

    def device(self, resolved: str) -> str:
        """The device of this rank for the config's device ``resolved`` (``resolve_device``'s answer):
        ``cuda:LOCAL_RANK`` for any CUDA device, else the CPU; ``ConfigError`` for others (Apple MPS)."""
        if not self.enabled:
            return resolved
        kind = torch.device(resolved).type
        if kind == "cpu":
            return "cpu"
        if kind != "cuda":
            raise ConfigError(f"data-parallel training runs on CPUs (gloo) or NVIDIA GPUs (NCCL), not on "
                              f"{resolved}; use --device cpu or train in one process")
        count = torch.cuda.device_count()
        if self.local_rank >= count:
            raise ConfigError(f"process {self.local_rank} on this machine needs cuda:{self.local_rank}, but there "
                              f"are {count} GPUs here; start at most {count} processes per machine")
        return f"cuda:{self.local_rank}"


SINGLE = DistContext()


def _env_int(env: Mapping[str, str], name: str) -> int:
    text = env.get(name)
    if text is None:
        raise DistributedError(f"WORLD_SIZE is set but {name} is not: start the processes with torchrun "
                               f"(or python -m torch.distributed.run)")
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} is not a whole number") from None


def context_from_env(env: Mapping[str, str] | None = None, device: str = "cpu") -> DistContext:
    """The context torchrun's variables describe (:data:`SINGLE` without them or with WORLD_SIZE 1);
    ``device`` (resolved) picks the backend: NCCL for CUDA, gloo otherwise."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return SINGLE
    world = _env_int(env, "WORLD_SIZE")
    if world <= 1:
        return SINGLE
    rank, local_rank = _env_int(env, "RANK"), _env_int(env, "LOCAL_RANK")
    if not 0 <= rank < world or local_rank < 0:
        raise DistributedError(f"RANK={rank} / LOCAL_RANK={local_rank} do not fit WORLD_SIZE={world}")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not env.get(name):
            raise DistributedError(f"{name} is not set: start the processes with torchrun")
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, backend=backend)


def init_process_group(ctx: DistContext, timeout_seconds: float = 600) -> None:
    """Join the other processes (torchrun's rendezvous: ``env://``); on CUDA, pin this rank's GPU first."""
    import torch.distributed as dist

    if not ctx.enabled or dist.is_initialized():
        return
    if ctx.backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
    try:
        dist.init_process_group(backend=ctx.backend, init_method="env://", rank=ctx.rank,
                                world_size=ctx.world_size, timeout=datetime.timedelta(seconds=timeout_seconds))
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"cannot join the other {ctx.world_size - 1} processes ({exc})") from None


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except RuntimeError:  # another rank is gone: nothing left to tear down cleanly
            pass


def die_on_stop_signals() -> None:
    """Let :data:`STOP_SIGNALS` kill this process at once (the system's default), also while it
    waits inside torch's C++ code, where a Python handler would never run."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def is_lost_contact(exc: BaseException) -> bool:
    """Whether ``exc`` says that another rank is gone: a collective failed (gloo's or NCCL's error)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        needle in text for needle in ("gloo", "Gloo", "NCCL", "Connection reset", "Connection closed by peer",
                                      "Broken pipe"))


def lost_contact_message(ctx: DistContext) -> str:
    """What a rank says when a collective failed: which other rank stopped (when it can only be one)."""
    who = f"rank {1 - ctx.rank}" if ctx.world_size == 2 else "one of the other ranks"
    return f"lost contact with another process ({who} stopped or was killed); the run failed"


def record_launch_state(**fields) -> None:
    """Rank 0 of a ``--nproc`` launch: merge ``fields`` (``run_dir``, ``status``) into the launcher's
    state file (named by :data:`LAUNCH_STATE_ENV`; nothing without it, e.g. under torchrun)."""
    path = os.environ.get(LAUNCH_STATE_ENV)
    if not path:
        return
    state = {**read_launch_state(path), **fields}
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(path + ".tmp", path)
    except OSError:  # the launcher's messages get less precise, the run goes on
        pass


def read_launch_state(path: str) -> dict:
    """The fields rank 0 recorded ({} when none or unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# -- sharding: every rank computes the same global batches, each takes its slice ----------------


def steps_per_epoch(n: int, batch_size: int, world_size: int) -> int:
    """Global steps of an epoch over ``n`` images: a last global batch smaller than ``2 * world_size``
    is dropped, so that no rank gets an empty slice or a batch of one (which breaks BatchNorm)."""
    if batch_size < 2 * world_size:
        raise ConfigError(f"batch size {batch_size} is too small for {world_size} processes: each takes a "
                          f"share of every batch; use a batch size of at least {2 * world_size}")
    if n < 2 * world_size:
        raise ConfigError(f"{n} training images are too few for {world_size} processes; use at least "
                          f"{2 * world_size} (a larger --limit) or fewer processes")
    steps = -(-n // batch_size)
    if n - (steps - 1) * batch_size < 2 * world_size:
        steps -= 1
    return steps


def rank_slice(global_batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s part of a global batch of indices: the r-th of ``world_size`` nearly equal,
    disjoint, contiguous slices that together are the whole batch."""
    return torch.tensor_split(global_batch, world_size)[rank]


def rank_batch_size(batch_size: int, world_size: int) -> int:
    """The most images one rank takes of a full global batch."""
    return -(-batch_size // world_size)


def loss_weight(local: int, total: int, world_size: int) -> float:
    """The factor on a rank's mean loss before backward, so that DDP's average of the ranks'
    gradients is the gradient of the global batch's mean loss (exact also for unequal slices)."""
    return local * world_size / total


# -- collectives the trainer uses ----------------------------------------------------------------


def reduce_step(loss: torch.Tensor, correct: torch.Tensor, size: int, stop: bool) -> tuple[float, int, int, bool]:
    """All-reduce one step's figures: the global batch's mean loss, right answers, size, and whether
    any rank asked to stop (so all of them stop after the same step). One small tensor, one call."""
    import torch.distributed as dist

    figures = torch.stack([loss.detach().double() * size, correct.double(),
                           torch.tensor(float(size), dtype=torch.float64, device=loss.device),
                           torch.tensor(1.0 if stop else 0.0, dtype=torch.float64, device=loss.device)])
    dist.all_reduce(figures)
    total_loss, total_correct, total, stops = figures.tolist()
    return total_loss / total, round(total_correct), round(total), stops > 0


def agree_validation(val: tuple[float, float] | None, stop: bool, device: str
                     ) -> tuple[tuple[float, float] | None, bool]:
    """Rank 0's validation figures and whether any rank asked to stop, the same on every rank (so
    that the best-epoch decision and a stop during validation agree)."""
    import torch.distributed as dist

    mine = val if (val is not None and dist.get_rank() == 0) else (0.0, 0.0)
    figures = torch.tensor([mine[0], mine[1], 1.0 if stop else 0.0], dtype=torch.float64, device=device)
    dist.all_reduce(figures)
    loss, accuracy, stops = figures.tolist()
    return (None if val is None else (loss, accuracy)), stops > 0


def sync_buffers(model: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm's running statistics) to every rank, before validation: each rank
    updated its own with its slice of the last step."""
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def wrap(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """``model`` in DistributedDataParallel (BatchNorm made SyncBatchNorm on CUDA, where it exists)."""
    from torch.nn.parallel import DistributedDataParallel

    if torch.device(device).type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[torch.device(device).index])
    return DistributedDataParallel(model)
