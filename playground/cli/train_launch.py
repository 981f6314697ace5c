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
    from playground.core import distributed
    from playground.core.gan_spec import GanSpec
    from playground.cli.common import resolve_design

    n = args.nproc
    if distributed.context_from_env().enabled:
        raise UsageError("--nproc starts the processes itself; under torchrun leave it out")
    kind, most, what = _capacity(config)
    if not 1 <= n <= most:
        raise UsageError(f"--nproc takes a number of processes from 1 to {most} ({what}), not {n}")
    if isinstance(resolve_design(args), GanSpec):
        raise UsageError("data-parallel training is for classifiers; train a GAN in one process")
    if config.batch_size < 2 * n:
        raise UsageError(f"batch size {config.batch_size} is too small for {n} processes: each takes a share "
                         f"of every batch; use a batch size of at least {2 * n} (it is the global batch)")
    if n > 1:
        _check_paths(args)
    return n


def _capacity(config) -> tuple[str, int, str]:
    """The device kind of ``config``, the most processes it allows on this machine, and why."""
    import torch

    from playground.core import distributed
    from playground.core.config import ConfigError, resolve_device

    try:
        device = resolve_device(config.device)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    kind = torch.device(device).type
    if kind == "cuda":
        count = torch.cuda.device_count()
        return kind, min(count, distributed.MAX_PROCESSES), f"one per GPU; there {'is' if count == 1 else 'are'} " \
                                                             f"{count} here"
    if kind != "cpu":
        raise UsageError(f"data-parallel training runs on CPUs or NVIDIA GPUs, not on {device}; use --device cpu")
    cores = os.cpu_count() or 1
    if cores < distributed.MAX_PROCESSES:
        return kind, cores, f"this machine has {cores} CPU core{'s' if cores != 1 else ''}"
    return kind, distributed.MAX_PROCESSES, f"at most {distributed.MAX_PROCESSES} on one machine"


def _check_paths(args: argparse.Namespace) -> None:
    """--out and --data, before any process starts (each rank would say the same)."""
    from playground.core.data import DataError, scan_folder_dataset
    from playground.core.runs import RunFolderError, check_new_run_dir

    if getattr(args, "out", None) is not None:
        try:
            check_new_run_dir(args.out)
        except RunFolderError as exc:
            raise UsageError(str(exc)) from None
    if getattr(args, "data", None) is not None:
        try:
            scan_folder_dataset(args.data)
        except DataError as exc:
            raise UsageError(str(exc)) from None


def _quiet_torch_logs() -> None:
    """torch's agent logs each worker it starts and signals ("Received 2 death signal ..."), each
    module's logger at its own level: our own lines say what matters."""
    prefix = "torch.distributed.elastic"
    for name in [prefix, *(n for n in list(logging.root.manager.loggerDict) if n.startswith(prefix + "."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def launch(args: argparse.Namespace, n: int) -> int:
    """Start the ranks and wait for them (and for the last of them: none outlives this); rank 0
    prints the events. Ends with one line saying what happened when the ranks did not complete,
    never torch's traceback."""
    import signal
    import tempfile

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from playground.core import distributed
    from playground.core.launch import self_command

    _quiet_torch_logs()
    command = self_command()
    # Ctrl+C reaches the ranks as SIGTERM (torch's agent passes on the signal it got): a rank still
    # starting Python dies of it quietly, where SIGINT would print a KeyboardInterrupt traceback.
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=n, rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", run_id=f"playground-{uuid.uuid4().hex[:12]}",
                          max_restarts=0, monitor_interval=0.1, signals_to_handle="SIGTERM,SIGHUP,SIGQUIT")
    interrupted = []

    def on_interrupt(signum, frame):
        interrupted.append(signum)
        raise SignalException(f"Process {os.getpid()} got signal: SIGINT", sigval=signal.SIGTERM)

    handlers = {sig: signal.getsignal(sig) for sig in distributed.STOP_SIGNALS}
    signal.signal(signal.SIGINT, on_interrupt)
    fd, state = tempfile.mkstemp(prefix="playground-launch-", suffix=".json")
    os.close(fd)
    os.environ[distributed.LAUNCH_STATE_ENV] = state
    earlier = set(_children())  # a caller's own child processes (main() called in-process) are not ranks
    try:
        try:
            elastic_launch(config, command[0])(*command[1:], *rank_arguments(args))
            failed, stopped_by = None, None
        except ChildFailedError as exc:
            failed, stopped_by = exc, None
        except SignalException as exc:
            failed, stopped_by = None, "SIGINT" if interrupted else exc.sigval.name
        except KeyboardInterrupt:  # before torch's agent handles the signals itself
            failed, stopped_by = None, "SIGINT"
        finally:
            for sig, handler in handlers.items():  # torch's agent leaves its own installed
                signal.signal(sig, handler)
            _end_stragglers(spare=earlier)
        if failed is not None:
            return _report_failure(failed, n, distributed.read_launch_state(state), args.json)
        if stopped_by is not None:
            return _report_stop(stopped_by, distributed.read_launch_state(state), again=len(interrupted) > 1)
        return 0
    finally:
        os.environ.pop(distributed.LAUNCH_STATE_ENV, None)
        for path in (state, state + ".tmp"):
            try:
                os.unlink(path)
            except OSError:
                pass


def _report_failure(exc, n: int, state: dict, json_lines: bool) -> int:
    """One line for the ranks that failed: a rank killed by a signal first (its own message does not
    exist); a usage error (exit code 2) was said by the rank already. With --json also an ``error``
    object on stdout when rank 0 could not print one."""
    import json
    import signal

    from playground.core.text import printable

    failures = exc.failures
    # torch's agent ends the others with SIGTERM once one has failed: name the one that failed first.
    killed = sorted((failure.exitcode == -signal.SIGTERM, rank) for rank, failure in failures.items()
                    if failure.exitcode < 0)
    if not killed and any(failure.exitcode == 2 for failure in failures.values()):
        return 2  # bad input: said once, by the rank that found it
    if killed:
        rank = killed[0][1]
        code = -failures[rank].exitcode
        message = f"rank {rank} of {n} was killed by signal {code}{_signal_name(code)}; the run failed"
    else:
        rank = min(failures)
        message = f"rank {rank} of {n} failed (exit code {failures[rank].exitcode})"
    if state.get("run_dir") and not state.get("status"):  # rank 0 said nothing of the run folder
        message += f"; what it wrote is in {printable(state['run_dir'])}"
    if json_lines and not state.get("status"):
        print(json.dumps({"type": "error", "error": "RankFailed", "message": message}), flush=True)
    if not killed:
        message += "; its message is above"
    print(f"playground: error: {message}", file=sys.stderr)
    return 1


def _signal_name(number: int) -> str:
    """`` (SIGKILL)`` for 9 ('' for a number that is no signal here)."""
    import signal

    try:
        return f" ({signal.Signals(number).name})"
    except ValueError:
        return ""


def _report_stop(name: str, state: dict, again: bool = False) -> int:
    """The launcher was stopped (its stop signal passed on to the ranks, which have ended): what
    became of the run, from rank 0's state file. 0 for a run that stopped (or completed) cleanly,
    as in one process."""
    from playground.core.text import printable

    run_dir = state.get("run_dir")
    status = state.get("status")
    if run_dir is None:
        print(f"playground: interrupted ({name}): stopped before training began; nothing was written",
              file=sys.stderr)
        return 130
    if status in ("stopped", "completed"):
        print(f"playground: interrupted ({name}): the ranks stopped after the same step; rank 0 kept the "
              f"weights in {printable(run_dir)}", file=sys.stderr)
        return 0
    if again:  # a second Ctrl+C: the ranks were told to abort
        print(f"playground: interrupted twice ({name}): the ranks were aborted before they could stop together; "
              f"the run failed (its folder: {printable(run_dir)})", file=sys.stderr)
        return 130
    print(f"playground: interrupted ({name}): a rank ended before the ranks could stop together; the run "
          f"failed (its folder: {printable(run_dir)})", file=sys.stderr)
    return 1


def _end_stragglers(grace: float = 5.0, spare: set[int] = frozenset()) -> None:
    """Make sure no rank outlives the launcher: torch's agent starts each in its own session and
    forgets one it started just as it was stopped. Its children still running get SIGTERM (a rank
    that has not started training dies at once), then SIGKILL after ``grace`` seconds. Linux only
    (it reads /proc). ``spare``: children that were there before the launch."""
    import signal

    children = [pid for pid in _children() if pid not in spare]
    for pid in children:
        _kill_group(pid, signal.SIGTERM)
    children = _wait(children, grace)
    for pid in children:
        _kill_group(pid, signal.SIGKILL)
    _wait(children, 5.0)  # reaped, not left as zombies


def _wait(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still running after at most ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        if pids:
            time.sleep(0.05)
    return pids


def _children() -> list[int]:
    """The processes this one started that still run (Linux; none elsewhere)."""
    me, found = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == me and fields[0] != "Z":
            found.append(int(entry))
    return found


def _kill_group(pid: int, sig) -> None:
    """``sig`` to the process group the rank ``pid`` leads (its own session), else to it alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    """Reaps ``pid`` if it has ended."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0
