"""The runs the window knows: those trained since launch and those saved on disk, one list of core
``RunRecord``s, with the curves of each.

The views mirror it: the Train area's run list, the Draw area's model chooser, the Export dialog's
runs and the Evaluate area follow its signals and keep no run of their own. It starts no process:
the Train area runs the worker and feeds its events here (:meth:`RunLibrary.begin_run`,
:meth:`RunLibrary.add_event`, :meth:`RunLibrary.finish_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from playground.core.config import TrainConfig
from playground.core.runs import RunRecord
from playground.core.spec import NetworkSpec
from playground.ui.plots import CurveBuffer, CurveBuilder, curves_from_events


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

    @property
    def training(self) -> RunRecord | None:
        """The run being trained now, if any."""
        return self.current if self.current is not None and not self.current.finished else None

    # -- a run of this session -----------------------------------------------------------------------

    def begin_run(self, spec: NetworkSpec, config: TrainConfig, path: Path | None, label: str = "") -> RunRecord:
        """A new run, current from now on; its events come through :meth:`add_event`."""
        run = RunRecord.new(spec, config, path, label)
        self._builder = CurveBuilder()
        self._curves[run] = self._builder.curves
        self.current = run
        self._add(run)
        return run

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
        for run in list_runs(base or runs_dir(), with_events=False, problems=problems):
            if run.path not in known:
                self._add(run)
        return problems

    def _add(self, run: RunRecord) -> None:
        self.runs.append(run)
        self.run_added.emit(run)

    # -- what the views ask --------------------------------------------------------------------------

    def curves(self, run: RunRecord) -> dict[str, CurveBuffer]:
        """``run``'s curves: built as they come for a run of this session, else from its events."""
        if run not in self._curves:
            self._curves[run] = curves_from_events(run.events)
        return self._curves[run]

    def runs_with_best_weights(self) -> list[RunRecord]:
        """Ended runs with best weights on disk (to draw with or export), newest first."""
        return [r for r in reversed(self.runs) if r.finished and r.has_best_weights]
