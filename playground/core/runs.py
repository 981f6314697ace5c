"""Training runs on disk: one folder per run, written as the run goes.

A run folder holds::

    design.json              the design trained (a NetworkSpec)
    config.json              the TrainConfig
    run.json                 status and summary (updated at each epoch and at the end)
    metrics.jsonl            every event the trainer yielded, one JSON object per line
    weights_last.safetensors the weights at the last finished epoch (or where the run stopped)
    weights_best.safetensors the weights with the best validation accuracy
    optimizer.safetensors    the optimizer state, to continue training
    evaluation.json          the test-set evaluation at the end

Weights are safetensors and everything else JSON: nothing in a run folder is ever unpickled.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.core.atomic import atomic_path, atomic_write_text
from playground.core.config import ConfigError, TrainConfig
from playground.core.metrics import Evaluation
from playground.core.spec import DesignError, NetworkSpec, load_design


class RunError(RuntimeError):
    """A run folder or weights file cannot be used; the message says why."""


def new_run_dir(base: Path, name: str) -> Path:
    """A fresh folder ``base/YYYYmmdd-HHMMSS-name`` (with a suffix if that exists)."""
    base.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    for i in range(1000):
        path = base / (stem if i == 0 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a run folder in {base}")


def _contiguous_cpu(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_weights(path: Path, state_dict: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Serialized in memory, then written atomically: a failed write (a full disk) is an ``OSError`` and
    leaves any earlier file as it was."""
    from safetensors.torch import save

    data = save(_contiguous_cpu(state_dict), metadata=metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_weights(path: str | Path) -> dict[str, Any]:
    """A state dict from a safetensors file (never unpickles)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from playground.core.export import safetensors_header

    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such weights file")
    try:
        safetensors_header(path)  # what the file is, and its sizes, checked before anything is read
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunError(f"{path}: not a readable safetensors weights file: {exc}") from None
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise RunError(f"{path}: weight {key!r} holds NaN or infinite values; these weights cannot be used")
    return state


def save_optimizer(path: Path, state: dict[str, Any]) -> None:
    """An optimizer ``state_dict`` as safetensors: tensors by key, the rest as JSON metadata."""
    import torch

    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    meta = {"param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars)}
    save_weights(path, tensors, meta)


def load_optimizer(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    tensors = load_weights(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for key, value in json.loads(meta.get("scalars", "{}")).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": json.loads(meta["param_groups"])}


class RunWriter:
    """Writes a run folder as training goes; each file is replaced atomically."""

    def __init__(self, path: Path, spec: NetworkSpec, config: TrainConfig):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        spec.save(self.path / "design.json")
        config.save(self.path / "config.json")
        self.summary: dict[str, Any] = {"status": "running", "design": spec.name,
                                        "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.write_summary()
        self._metrics = open(self.path / "metrics.jsonl", "a", encoding="utf-8")

    def log(self, event: dict[str, Any]) -> None:
        self._metrics.write(json.dumps(event) + "\n")
        self._metrics.flush()

    def save_weights(self, kind: str, state_dict: dict[str, Any]) -> None:
        save_weights(self.path / f"weights_{kind}.safetensors", state_dict)

    def save_optimizer(self, state: dict[str, Any]) -> None:
        save_optimizer(self.path / "optimizer.safetensors", state)

    def save_evaluation(self, evaluation: Evaluation) -> None:
        atomic_write_text(self.path / "evaluation.json", json.dumps(evaluation.to_dict(True)) + "\n")

    def write_summary(self, **updates: Any) -> None:
        self.summary.update(updates)
        atomic_write_text(self.path / "run.json", json.dumps(self.summary, indent=2) + "\n")

    def close(self) -> None:
        self._metrics.close()


@dataclass
class RunRecord:
    """A run folder read back."""

    path: Path
    spec: NetworkSpec
    config: TrainConfig
    summary: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    evaluation: Evaluation | None = None

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == "epoch"]

    def weights_path(self, which: str = "best") -> Path:
        path = self.path / f"weights_{which}.safetensors"
        if which == "best" and not path.exists():
            path = self.path / "weights_last.safetensors"
        return path

    def load_model(self, which: str = "best"):
        """The trained model, in eval mode on the CPU."""
        from playground.core.build import build_model

        model = build_model(self.spec)
        load_state_into(model, load_weights(self.weights_path(which)), self.weights_path(which))
        return model.eval()


def load_state_into(model, state: dict[str, Any], source: Path | str) -> None:
    """Load ``state`` into ``model``, with a clear message when it belongs to another design."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise RunError(f"{source}: the weights do not fit this design "
                       f"(missing {missing[:3]}, unexpected {extra[:3]})")
    import torch

    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise RunError(f"{source}: weight {key!r} has shape {tuple(value.shape)} but the design "
                           f"needs {tuple(own[key].shape)}")
        if value.dtype != own[key].dtype:  # load_state_dict would convert silently
            raise RunError(f"{source}: weight {key!r} is {str(value.dtype).removeprefix('torch.')}; the model "
                           f"needs {str(own[key].dtype).removeprefix('torch.')}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise RunError(f"{source}: weight {key!r} holds NaN or infinite values; these weights cannot be used")
    model.load_state_dict(state)


def load_run(path: str | Path, with_events: bool = True) -> RunRecord:
    """A run folder read back; ``with_events=False`` skips the metrics log (read it later with
    :func:`read_events`), for listing many runs quickly."""
    path = Path(path)
    if not (path / "design.json").is_file():
        raise RunError(f"{path}: not a run folder (no design.json)")
    try:
        spec = load_design(path / "design.json")
        config = TrainConfig.from_json((path / "config.json").read_text(), str(path / "config.json"))
        summary = json.loads((path / "run.json").read_text()) if (path / "run.json").exists() else {}
    except (DesignError, ConfigError, OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None
    evaluation = None
    if (path / "evaluation.json").exists():
        evaluation = Evaluation.from_dict(json.loads((path / "evaluation.json").read_text()))
    return RunRecord(path, spec, config, summary, read_events(path) if with_events else [], evaluation)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events a run logged in its metrics.jsonl (all of them up to a line a crash cut short)."""
    events = []
    metrics = Path(path) / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a crash: keep what came before
    return events


def list_runs(base: Path, with_events: bool = True) -> list[RunRecord]:
    """Every readable run folder under ``base``, oldest first."""
    if not base.is_dir():
        return []
    runs = []
    for child in sorted(base.iterdir()):
        if child.is_dir() and (child / "design.json").exists():
            try:
                runs.append(load_run(child, with_events))
            except RunError:
                continue
    return runs
