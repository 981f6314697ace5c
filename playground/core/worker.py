"""Training in a separate process, driven through pipes: for front ends that must stay responsive.

Why a process and not a thread: torch's CPU kernels use OpenMP, and only a process's main thread gets
OpenMP's warm ("hot") thread team, so the same training run from a secondary thread is slower
(docs/benchmarks.md), and it would also compete with the window for the GIL. In a worker process the
trainer runs on the main thread at full speed.

Protocol (JSON lines): the worker prints ``{"type": "ready"}`` once torch is imported, reads one job
line from stdin (``design``, ``config``, ``run_dir``, optional ``initial_weights``,
``optimizer_state``, ``report_interval``, ``min_reports_per_epoch`` (0 when absent: reports by
the clock only) and ``task``, the kind of training: a key of ``core.tasks.TASKS``,
``"classifier"`` when absent), then prints each trainer event
(``core/events.py``) as it comes, and an ``error`` event if the job fails. While
it trains it takes commands on stdin: ``pause``, ``resume``, ``stop`` (keep weights, evaluate) and
``abort`` (stop without the final evaluation), and while paused ``step discriminator`` / ``step
generator`` (a GAN's step mode). If stdin closes, it aborts.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from playground.core.events import ErrorEvent, Event


WORKER_NICENESS = 4
STEP_KINDS = ("discriminator", "generator")  # the steps a paused GAN run takes by hand


WORKER_ARG = "_worker"  # `playground _worker` runs main() below: a frozen bundle's way in (no -m there)


def worker_command() -> list[str]:
    """The command line of a worker: ``python -m playground.core.worker``, or in a frozen bundle, where
    ``sys.executable`` is the app and ``-m`` does not exist, the app with the hidden ``_worker``."""
    from playground.core.launch import frozen, self_command

    if frozen():
        return self_command() + [WORKER_ARG]
    return [sys.executable, "-m", "playground.core.worker"]


def worker_env() -> dict[str, str]:
    """The worker's environment: this one, plus (not frozen) this package's folder first on PYTHONPATH
    so that ``-m`` finds the same ``playground`` as this process did (a checkout run from anywhere)."""
    from playground.core.launch import frozen

    env = dict(os.environ)
    if not frozen():  # a bundle finds its modules inside itself and ignores PYTHONPATH
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class TrainingProcess:
    """A worker process, started ahead of time so that a run starts without waiting for torch."""

    def __init__(self):
        self.proc = subprocess.Popen(
            worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1, env=worker_env())
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        threading.Thread(target=self._drain_stderr, daemon=True, name="worker-stderr").start()
        self._lock = threading.Lock()
        self.paused = False

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip())

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the worker has ended; its output says how

    def pause(self) -> None:
        self.paused = True
        self._send("pause")

    def resume(self) -> None:
        self.paused = False
        self._send("resume")

    def stop(self, evaluate: bool = True) -> None:
        self.paused = False
        self._send("stop" if evaluate else "abort")

    def step(self, which: str) -> None:
        """Step mode: one step by hand while paused (a GAN's "discriminator" or "generator")."""
        if which in STEP_KINDS:
            self._send(f"step {which}")

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        self.proc.wait()

    def run(self, job: dict[str, Any]) -> Iterator[Event]:
        """Send ``job`` and yield the worker's events until it finishes (the generator to run off the
        GUI thread). A worker that dies without a final event yields an ``error`` event with the end
        of what it printed to stderr."""
        self._send(json.dumps(job))
        ended = False
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # stray output of a library; not an event
            if event.get("type") == "ready":
                continue
            yield event
            if event.get("type") in ("finished", "error"):
                ended = True
                break
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        if not ended:
            tail = "\n".join(list(self._stderr)[-8:])
            yield ErrorEvent(type="error", error="WorkerDied",
                             message=f"The training process ended unexpectedly (exit code "
                                     f"{self.proc.returncode})." + (f"\n{tail}" if tail else ""))


def _read_commands(trainer) -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == "pause":
            trainer.pause()
        elif command == "resume":
            trainer.resume()
        elif command == "stop":
            trainer.stop()
        elif command == "abort":
            trainer.stop(evaluate=False)
        elif command.startswith("step ") and command[5:] in STEP_KINDS:
            trainer.control.request_step(command[5:])
    trainer.stop(evaluate=False)  # the front end went away


def main() -> int:
    from playground.core.config import ConfigError, TrainConfig
    from playground.core.runs import load_optimizer, load_weights
    from playground.core.train import TASKS, Trainer, guarded
    from playground.core.weights import expected_weights

    if hasattr(signal, "SIGXFSZ"):
        # Past a file size limit a write should fail (EFBIG) and be reported, not kill the worker.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if hasattr(os, "nice"):
        # Below the window in priority: it is idle most of the time, and when it draws it should
        # get a core at once rather than wait behind both training threads.
        os.nice(WORKER_NICENESS)
    print(json.dumps({"type": "ready"}), flush=True)
    line = sys.stdin.readline()
    if not line:
        return 0

    def setup() -> Iterator[Event]:
        job = json.loads(line)
        task = job.get("task", "classifier")
        if not isinstance(task, str) or task not in TASKS:
            raise ConfigError(f"unknown kind of training {task!r}; known: {', '.join(sorted(TASKS))}")
        spec = TASKS[task].spec_from_dict(job["design"])
        config = TrainConfig.from_dict(job["config"])
        if task != "classifier" and (job.get("initial_weights") or job.get("optimizer_state")):
            raise ConfigError("continuing a GAN run is not supported yet; start a new run")
        initial = (load_weights(job["initial_weights"], expected_weights(spec)) if job.get("initial_weights")
                   else None)
        optimizer = load_optimizer(Path(job["optimizer_state"])) if job.get("optimizer_state") else None
        trainer = Trainer(spec, config, run_dir=job.get("run_dir"), initial_state=initial,
                          optimizer_state=optimizer, report_interval=job.get("report_interval", 0.1),
                          task=task,
                          min_reports_per_epoch=job.get("min_reports_per_epoch", 0))
        threading.Thread(target=_read_commands, args=(trainer,), daemon=True, name="commands").start()
        yield from trainer.run()

    for event in guarded(setup()):
        print(json.dumps(event), flush=True)
    # Leave without the interpreter's shutdown: the "commands" thread may be blocked reading stdin,
    # and finalising the interpreter under a daemon thread that holds stdin's lock aborts the process
    # (SIGABRT, "could not acquire lock ... at interpreter shutdown"). Everything is written by now:
    # the events are flushed and the run folder closed (the trainer's generator has ended).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
