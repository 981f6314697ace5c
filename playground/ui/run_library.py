"""The runs the window knows: those trained since launch and those saved on disk, one list of core
``RunRecord``s, with the curves of each.

The views mirror it: the Train area's run list, the Draw area's model chooser, the Export dialog's
runs and the Evaluate area follow its signals and keep no run of their own. It starts no process:
the Train area runs the worker and feeds its events here (:meth:`RunLibrary.begin_run`,
:meth:`RunLibrary.add_event`, :meth:`RunLibrary.finish_run`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from playground.core.config import TrainConfig
from playground.core.runs import RunError, RunRecord
from playground.core.spec import NetworkSpec
from playground.ui.plots import CurveBuffer, CurveBuilder, curves_from_events


def trained(run: RunRecord) -> tuple[float, int]:
    """How much ``run`` trained, from its events: the epochs (a fraction for a run stopped within an
    epoch) and the training images it saw (steps done times the batch size, at most the whole set)."""
    per_epoch, steps, size = 0, 0, 0
    for e in run.events:
        if e.get("type") == "start":
            per_epoch, size = e.get("steps_per_epoch", 0), e.get("train_size", 0)
        elif e.get("type") in ("progress", "epoch", "paused", "stopped"):
            steps = max(steps, int(e["step"]))
            per_epoch = e.get("steps_per_epoch", per_epoch)
    epochs = steps / per_epoch if per_epoch else float(len(run.epochs))
    seen = steps * run.config.batch_size
    return epochs, min(seen, size) if size else seen


class RunLibrary(QObject):
    """Every run of the window, oldest first, and the run of this session trained last."""

    run_added = Signal(object)  # a RunRecord new in ``runs``
    run_updated = Signal(object)  # its status, summary or evaluation changed
    epoch_finished = Signal(object)  # its last weights were just written
    run_finished = Signal(object)  # its training process has ended

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list[RunRecord] = []
        self.current: RunRecord | None = None  # the run this session started last
        self._builder = CurveBuilder()  # the current run's curves, built as its events come
        self._curves: dict[RunRecord, dict[str, CurveBuffer]] = {}
        self._base: dict[RunRecord, str] = {}  # a run's automatic label before any "#n"
        self.offsets: dict[RunRecord, float] = {}  # epochs a continued run's curves start from

    @property
    def training(self) -> RunRecord | None:
        """The run being trained now, if any."""
        return self.current if self.current is not None and not self.current.finished else None

    # -- a run of this session -----------------------------------------------------------------------

    def begin_run(self, spec: NetworkSpec, config: TrainConfig, path: Path | None, label: str = "",
                  continues: RunRecord | None = None) -> RunRecord:
        """A new run, current from now on; its events come through :meth:`add_event`. ``label``: a name
        for it (by default the design and the settings that tell it apart). ``continues``: the run it
        continues, whose label it takes with " (continued)", and whose epochs its curves go on from."""
        run = RunRecord.new(spec, config, path, label)
        offset = 0.0
        if continues is not None:
            run.auto_label = f"{continues.label} (continued)"
            offset = self.offsets.get(continues, 0.0) + trained(continues)[0]
            self.offsets[run] = offset
        self._builder = CurveBuilder(offset)
        self._curves[run] = self._builder.curves
        self.current = run
        self._add(run)
        return run

    def rename(self, run: RunRecord, name: str) -> None:
        """Give ``run`` a name of its own (an empty one: its automatic label again), saved in its folder
        (``RunError`` saying why it cannot be)."""
        run.rename(name)
        self.run_updated.emit(run)

    def add_event(self, run: RunRecord, event: dict[str, Any]) -> bool:
        """One of ``run``'s events, as the trainer yielded it; whether its curves got new points."""
        was_finished = run.finished
        run.add_event(event)
        points = run is self.current and self._builder.add(event)
        if event.get("type") == "epoch" and run.path is not None:
            self.epoch_finished.emit(run)
        if run.finished != was_finished:
            self.run_updated.emit(run)
        return points

    def finish_run(self, run: RunRecord) -> None:
        """``run``'s training process has ended (a run that sent no final event failed)."""
        if not run.finished:
            run.end()
            self.run_updated.emit(run)
        with contextlib.suppress(RunError):  # a name given while it trained; kept in memory if it fails
            run.save_name()
        self.run_finished.emit(run)

    # -- runs on disk ----------------------------------------------------------------------------------

    def load_from_disk(self, base: Path | None = None) -> list[str]:
        """Add the run folders under ``base`` (the user's runs folder) not listed yet, without their
        metrics logs (a run's events are read when its curves are first shown); a message for each
        folder that cannot be read."""
        from playground.core.paths import runs_dir
        from playground.core.runs import list_runs

        known = {r.path for r in self.runs if r.path is not None}
        problems: list[str] = []
        new = [r for r in list_runs(base or runs_dir(), with_events=False, problems=problems) if r.path not in known]
        self._add(*new)
        return problems

    def _add(self, *runs: RunRecord) -> None:
        """Add runs, each labelled by itself, with "#n" after a duplicate of an earlier run of the same
        design and settings (the labels of the runs already there never change)."""
        for run in runs:
            self._base[run] = run.auto_label
            same = sum(1 for r in self.runs if r.spec.name == run.spec.name and self._base.get(r) == run.auto_label)
            if same:
                run.auto_label = f"{run.auto_label} #{same + 1}"
            self.runs.append(run)
        for run in runs:
            self.run_added.emit(run)

    # -- what the views ask --------------------------------------------------------------------------

    def curves(self, run: RunRecord) -> dict[str, CurveBuffer]:
        """``run``'s curves: built as they come for a run of this session, else from its events."""
        if run not in self._curves:
            self._curves[run] = curves_from_events(run.events, self.offsets.get(run, 0.0))
        return self._curves[run]

    def runs_with_best_weights(self, kind: str | None = "classifier") -> list[RunRecord]:
        """Ended runs of ``kind`` ("classifier", "gan"; None: both) with best weights on disk (to draw
        with or export), newest first."""
        return [r for r in reversed(self.runs)
                if r.finished and r.has_best_weights and (kind is None or r.kind == kind)]
