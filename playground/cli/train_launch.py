"""``playground train --nproc N``: start N data-parallel ranks of ``playground train`` on this machine.

The same as ``torchrun --standalone --nproc_per_node=N -m playground train ...``, through torch's
``elastic_launch`` with the command that runs this app again (``core/launch.py``), so that it works
from a checkout, an installed package and a frozen bundle alike. The arguments are checked here
first (a bad one is exit 2 before any process starts); each rank then trains as under torchrun.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid

from playground.cli.common import UsageError
from playground.core.config import SETTINGS

# Arguments of `playground train` passed on to the ranks as they were given (the settings are added).
_PASSED = (("data", "--data"), ("out", "--out"))


def rank_arguments(args: argparse.Namespace) -> list[str]:
    """The ``train`` arguments of ``args`` without ``--nproc``, for each rank."""
    argv = ["train"]
    argv += ["--preset", args.preset] if args.preset else [os.fspath(args.design)]
    for name, spec in SETTINGS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if spec.kind == "bool":
            argv.append(spec.flag if value else "--no-" + spec.flag.removeprefix("--"))
        else:
            argv += [spec.flag, repr(value) if isinstance(value, float) else str(value)]
    for name, flag in _PASSED:
        if getattr(args, name, None) is not None:
            argv += [flag, os.fspath(getattr(args, name))]
    if args.json:
        argv.append("--json")
    return argv


def check_launch(args: argparse.Namespace, config) -> int:
    """``UsageError`` unless ``args`` (its settings: ``config``) can train on ``--nproc`` processes
    here; the number."""
    import torch

    from playground.core import distributed
    from playground.core.config import ConfigError, resolve_device
    from playground.core.gan_spec import GanSpec
    from playground.cli.common import resolve_design

    n = args.nproc
    if distributed.context_from_env().enabled:
        raise UsageError("--nproc starts the processes itself; under torchrun leave it out")
    if not 1 <= n <= distributed.MAX_PROCESSES:
        raise UsageError(f"--nproc takes a number of processes from 1 to {distributed.MAX_PROCESSES}, not {n}")
    if isinstance(resolve_design(args), GanSpec):
        raise UsageError("data-parallel training is for classifiers; train a GAN in one process")
    try:
        device = resolve_device(config.device)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    kind = torch.device(device).type
    if kind == "cuda" and n > torch.cuda.device_count():
        raise UsageError(f"--nproc {n} needs {n} GPUs (one each); there are {torch.cuda.device_count()} here")
    if kind == "cpu" and n > (os.cpu_count() or 1):
        raise UsageError(f"--nproc {n} is more processes than this machine's {os.cpu_count()} CPU cores; "
                         f"use at most {os.cpu_count()}")
    if kind not in ("cpu", "cuda"):
        raise UsageError(f"data-parallel training runs on CPUs or NVIDIA GPUs, not on {device}; use --device cpu")
    if config.batch_size < 2 * n:
        raise UsageError(f"batch size {config.batch_size} is too small for {n} processes: each takes a share "
                         f"of every batch; use a batch size of at least {2 * n} (it is the global batch)")
    return n


def launch(args: argparse.Namespace, n: int) -> int:
    """Start the ranks and wait for them; rank 0 prints the events. A failed rank's own message is
    on stderr already (``rank N: ...``); this adds one line, never torch's traceback."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from playground.core.launch import self_command

    # torch's agent logs each worker it starts and signals: our own line says what matters.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    command = self_command()
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", run_id=f"playground-{uuid.uuid4().hex[:12]}",
                          max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, command[0])(*command[1:], *rank_arguments(args))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = failure.exitcode
        how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
        print(f"playground: error: rank {rank} of {n} failed ({how}); its message is above", file=sys.stderr)
        return 2 if code == 2 else 1
    except SignalException as exc:
        print(f"playground: interrupted ({exc.sigval.name}): the ranks stopped after the same step; rank 0 "
              f"kept the weights in the run folder", file=sys.stderr)
        return 130
    return 0

