"""Sweeps: train one design once per combination of up to four settings' values, one run after another.

A sweep is a ``Sweep`` (each swept setting and its values, parsed from lists such as ``0.1,0.01`` or
ranges such as ``1e-4..1e-1 x4``), a base ``TrainConfig`` the values go on top of, and a design. Each
combination is a normal run with its own run folder, trained by the same ``Trainer`` as any run,
either in this process (``InProcessRuns``, the command line) or in a worker process
(``WorkerRuns``, the window). ``run_sweep`` yields the runs' own events, a ``sweep_run`` result after
each run and a last ``sweep_finished`` with every result and the best by validation accuracy.

Runs go one at a time: a training already uses every core (torch's threads), so two at once on a
small machine only share the same cores and each takes twice as long, with twice the memory.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core.config import SETTINGS, ConfigError, TrainConfig, format_number
from playground.core.text import short_repr

MAX_SWEPT = 4  # settings swept at once
MAX_VALUES = 32  # values of one setting
MAX_RUNS = 256  # runs in one sweep
REPORT_INTERVAL = 0.1  # seconds between a run's progress events
_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0")


class SweepError(ConfigError):
    """A sweep cannot be made as asked; the message says what to type instead."""


def parse_value(name: str, text: str) -> Any:
    """One value of the setting ``name`` as typed (``"1e-3"``, ``"64"``, ``"adam"``, ``"on"``),
    checked against the setting's range; ``SweepError`` saying what is allowed otherwise."""
    spec = SETTINGS.get(name)
    if spec is None:
        raise SweepError(f"unknown setting {short_repr(name)}; known: {', '.join(SETTINGS)}")
    text = text.strip()
    value: Any = text
    try:
        if spec.kind == "int":
            value = int(text)
        elif spec.kind == "float":
            value = float(text)
    except ValueError:
        kind = "a whole number" if spec.kind == "int" else "a number"
        raise SweepError(f"{name}: {short_repr(text)} is not {kind}") from None
    if spec.kind == "bool":
        if text.lower() not in _TRUE + _FALSE:
            raise SweepError(f"{name}: {short_repr(text)} is not on or off (true/false)")
        value = text.lower() in _TRUE
    try:
        spec.check(value)
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    return value


def _range_values(name: str, text: str) -> list[Any]:
    """``A..B xN [log|lin]``: N values from A to B, evenly spaced on a log scale when both ends are
    above 0 (1e-4..1e-1 x4: 1e-4, 1e-3, 1e-2, 1e-1) unless ``lin`` is given, else evenly."""
    spec = SETTINGS[name]
    usage = (f"{name}: a range is written FROM..TO xN, optionally followed by log or lin "
             f"(e.g. 1e-4..1e-1 x4); got {short_repr(text)}")
    if spec.kind not in ("int", "float"):
        raise SweepError(f"{name} is not a number, so it takes a list (a,b,c), not a range")
    ends, _, rest = text.partition("x")
    words = rest.split()
    low_text, sep, high_text = ends.partition("..")
    if not sep or not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("log", "lin")):
        raise SweepError(usage)
    try:
        count = int(words[0])
    except ValueError:
        raise SweepError(usage) from None
    if not 2 <= count <= MAX_VALUES:
        raise SweepError(f"{name}: a range has 2 to {MAX_VALUES} values; got x{count}")
    low, high = parse_value(name, low_text), parse_value(name, high_text)
    if low == high:
        raise SweepError(f"{name}: the range {short_repr(text)} starts and ends at the same value")
    log = (words[1] == "log") if len(words) == 2 else (low > 0 and high > 0)
    if log and not (low > 0 and high > 0):
        raise SweepError(f"{name}: a log-spaced range needs both ends above 0; use lin")
    values = []
    for i in range(count):
        t = i / (count - 1)
        x = math.exp(math.log(low) + t * (math.log(high) - math.log(low))) if log else low + t * (high - low)
        # Round as a person would type it, so that the run's config.json holds the value reported.
        values.append(int(round(x)) if spec.kind == "int" else float(f"{x:.3g}"))
    if len(set(values)) < len(values):
        raise SweepError(f"{name}: {short_repr(text)} gives repeated whole numbers "
                         f"({', '.join(map(str, values))}); ask for fewer values")
    for v in values:
        parse_value(name, format_number(v))  # rounding stays in range
    return values


def parse_values(name: str, text: str) -> list[Any]:
    """The values of one swept setting: a list ``a,b,c`` or a range ``A..B xN [log|lin]``."""
    if name not in SETTINGS:
        raise SweepError(f"unknown setting {short_repr(name)}; known: {', '.join(SETTINGS)}")
    if not isinstance(text, str) or not text.strip():
        raise SweepError(f"{name}: no values given")
    if ".." in text:
        return _range_values(name, text.strip())
    values = [parse_value(name, part) for part in text.split(",")]
    if len(values) > MAX_VALUES:
        raise SweepError(f"{name}: at most {MAX_VALUES} values; got {len(values)}")
    if len(set(values)) < len(values):
        raise SweepError(f"{name}: a value is given twice in {short_repr(text)}")
    return values


@dataclass(frozen=True)
class Sweep:
    """The swept settings, in order, each with its values."""

    settings: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def from_texts(cls, texts: dict[str, str]) -> "Sweep":
        """``{"lr": "0.1,0.01", "batch_size": "32..256 x4"}`` -> a ``Sweep``; ``SweepError`` if a
        value, a range or the count of settings is wrong."""
        return cls.from_values({name: parse_values(name, text) for name, text in texts.items()})

    @classmethod
    def from_values(cls, values: dict[str, list[Any]]) -> "Sweep":
        if not values:
            raise SweepError("nothing to sweep: give at least one setting a list of values, e.g. lr 0.1,0.01")
        if len(values) > MAX_SWEPT:
            raise SweepError(f"a sweep varies at most {MAX_SWEPT} settings; got {len(values)} "
                             f"({', '.join(values)})")
        for name, vals in values.items():
            if not vals:
                raise SweepError(f"{name}: no values given")
            for v in vals:
                try:
                    SETTINGS[name].check(v)
                except (KeyError, ConfigError) as exc:
                    raise SweepError(str(exc).strip("'")) from None
        sweep = cls(tuple((name, tuple(vals)) for name, vals in values.items()))
        if sweep.count > MAX_RUNS:
            raise SweepError(f"this sweep would be {sweep.count} runs; at most {MAX_RUNS}: give fewer values")
        return sweep

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.settings]

    @property
    def count(self) -> int:
        return math.prod(len(vals) for _, vals in self.settings)

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of values, the first setting's changing slowest."""
        return [dict(zip(self.names, combo)) for combo in itertools.product(*(vals for _, vals in self.settings))]

    def grid(self, base: TrainConfig) -> list[TrainConfig]:
        """The config of each run: ``base`` with one combination on top, each checked whole."""
        configs = []
        for combo in self.combinations():
            try:
                configs.append(base.updated(**combo))
            except ConfigError as exc:
                raise SweepError(f"the run with {describe(combo)} cannot train: {exc}") from None
        return configs


def describe(values: dict[str, Any]) -> str:
    """``lr 0.01, batch_size 64``."""
    return ", ".join(f"{name} {value_text(v)}" for name, v in values.items())


def value_text(value: Any) -> str:
    """A setting's value as typed: ``0.001``, ``64``, ``adam``, ``on``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return format_number(value) if isinstance(value, (int, float)) else str(value)


# -- running the runs -------------------------------------------------------------------------------


class InProcessRuns:
    """Each run trained by a ``Trainer`` in this process (the command line's way, as ``train``)."""

    def __init__(self):
        self._data: dict[tuple, Any] = {}  # the data of each data setting, loaded once for all runs
        self._trainer = None

    def run(self, job: dict[str, Any]) -> Iterator[dict]:
        from playground.core.train import guarded

        yield from guarded(self._events(job))
        self._trainer = None

    def _events(self, job: dict[str, Any]) -> Iterator[dict]:
        from playground.core.data import load_config_dataset
        from playground.core.spec import NetworkSpec
        from playground.core.train import Trainer

        config = TrainConfig.from_dict(job["config"])
        key = data_key(config)
        if key not in self._data:
            self._data = {key: load_config_dataset(config)}
        self._trainer = Trainer(NetworkSpec.from_dict(job["design"]), config, data=self._data[key],
                                run_dir=job["run_dir"], report_interval=job["report_interval"],
                                min_reports_per_epoch=job["min_reports_per_epoch"])
        yield from self._trainer.run()

    def stop(self) -> None:
        trainer = self._trainer
        if trainer is not None:
            trainer.stop()

    def close(self) -> None:
        pass


def data_key(config: TrainConfig) -> tuple:
    """The settings the loaded data depends on: runs with the same key share one load."""
    return (config.dataset, config.data_folder, config.preprocess, config.val_fraction, config.seed,
            config.limit, config.test_limit)


class WorkerRuns:
    """Each run trained in a worker process (``core/worker.py``), the window's way; the next
    run's process is started while one trains, so that it finds torch already imported."""

    def __init__(self, start_process: Callable[[], Any] | None = None):
        from playground.core.worker import TrainingProcess

        self._start = start_process or TrainingProcess
        self._process = None
        self._next = None

    def run(self, job: dict[str, Any]) -> Iterator[dict]:
        self._process, self._next = (self._next or self._start()), None
        if job.get("more"):
            self._next = self._start()
        try:
            yield from self._process.run(job)
        finally:
            self._process = None

    def stop(self) -> None:
        process = self._process
        if process is not None:
            process.stop()

    def close(self) -> None:
        """End the spare process and any run still going (without its evaluation)."""
        for process in (self._next, self._process):
            if process is not None:
                process.stop(evaluate=False)
                process.kill()
        self._next = self._process = None


class SweepControl:
    """Stop a sweep from any thread: after the current run, or the current run too (now)."""

    def __init__(self):
        self._stop = threading.Event()
        self.now = False
        self.runs = None  # the runner of the current run, for a stop now

    def stop(self, now: bool = False) -> None:
        self._stop.set()
        if now:
            self.now = True
            if self.runs is not None:
                self.runs.stop()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()


def run_result(combo: dict[str, Any], finished: dict | None, run_dir: Path) -> dict[str, Any]:
    """One row of the results: the swept values, the run's figures, its folder and how it ended."""
    finished = finished or {}
    return {**combo, "val_accuracy": finished.get("best_val_accuracy"),
            "test_accuracy": finished.get("test_accuracy"), "train_seconds": finished.get("train_seconds", 0.0),
            "run_dir": str(run_dir), "status": finished.get("status", "failed"),
            "message": finished.get("message", "")}


def best_result(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The completed run with the highest validation accuracy (the first of equals), if any."""
    scored = [r for r in results if r["status"] == "completed" and r["val_accuracy"] is not None]
    return max(scored, key=lambda r: r["val_accuracy"], default=None)


def sorted_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best validation accuracy first; runs without one last."""
    return sorted(results, key=lambda r: -(r["val_accuracy"] if r["val_accuracy"] is not None else -1.0))


def _check_runs_base(runs_base: Path) -> None:
    """``SweepError`` (before any run) if the run folders cannot be made in ``runs_base``."""
    if runs_base.exists() and not runs_base.is_dir():
        raise SweepError(f"{short_repr(str(runs_base))} is not a folder: give --out a folder to put the runs in")
    try:
        runs_base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"cannot make the runs folder {short_repr(str(runs_base))}: "
                         f"{exc.strerror or exc}") from None


def _remove_if_empty(run_dir: Path) -> None:
    """A run that failed before writing anything leaves no empty folder behind."""
    try:
        run_dir.rmdir()  # only succeeds on an empty folder
    except OSError:
        pass


def run_sweep(spec, base: TrainConfig, sweep: Sweep, runs_base: Path, runs=None,
              control: SweepControl | None = None) -> Iterator[dict]:
    """Train ``spec`` once per combination of ``sweep`` on top of ``base``, one run after another, each
    in a new folder under ``runs_base``. Yields ``sweep_run_started`` (index, the values, run_dir,
    config), each run's own events, ``sweep_run`` (its result) and a last ``sweep_finished``
    (``status`` completed or stopped, ``results`` in run order, ``best``, ``not_run``: the values of
    the runs a stop left out)."""
    from playground.core.objective import check_compatible
    from playground.core.runs import new_run_dir

    configs = sweep.grid(base)
    for config in configs:
        check_compatible(spec, config)
    _check_runs_base(Path(runs_base))
    runs = runs if runs is not None else InProcessRuns()
    control = control or SweepControl()
    control.runs = runs
    combos, results = sweep.combinations(), []
    yield {"type": "sweep_started", "runs": len(configs), "settings": sweep.names}
    try:
        for index, (combo, config) in enumerate(zip(combos, configs)):
            if control.stop_requested:
                break
            run_dir = new_run_dir(Path(runs_base), spec.name)
            job = {"task": "classifier", "design": spec.to_dict(), "config": config.to_dict(),
                   "run_dir": str(run_dir), "report_interval": REPORT_INTERVAL, "min_reports_per_epoch": 25,
                   "more": index + 1 < len(configs)}
            yield {"type": "sweep_run_started", "index": index, "runs": len(configs), "values": combo,
                   "run_dir": str(run_dir), "config": config.to_dict()}
            finished = None
            for event in runs.run(job):
                if event.get("type") == "finished":
                    finished = event
                elif event.get("type") == "error":
                    finished = {"status": "failed", "message": event.get("message", "")}
                yield event
            result = run_result(combo, finished, run_dir)
            _remove_if_empty(run_dir)
            results.append(result)
            yield {"type": "sweep_run", "index": index, "runs": len(configs), **result}
    finally:
        runs.close()
    not_run = combos[len(results):]
    yield {"type": "sweep_finished", "status": "stopped" if not_run else "completed",
           "settings": sweep.names, "results": results, "best": best_result(results), "not_run": not_run}
