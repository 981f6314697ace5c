"""Training runs on disk: one folder per run, written as the run goes.

A run folder holds::

    design.json              the design trained (a NetworkSpec; a GanSpec for a GAN run, whose weights
                             files hold "generator.*" and "discriminator.*" and which has no
                             evaluation.json: its quality figures are in its events)
    config.json              the TrainConfig
    run.json                 status and summary (updated at each epoch and at the end)
    metrics.jsonl            every event the trainer yielded, one JSON object per line
    weights_last.safetensors the weights at the last finished epoch (or where the run stopped)
    weights_best.safetensors the weights with the best validation accuracy
    optimizer.safetensors    the optimizer state, to continue training
    evaluation.json          the test-set evaluation at the end
    epochs/epoch-NNN.safetensors  a classifier's weights at the end of epoch NNN (from 001), for time
                             travel; only for weights of at most EPOCH_WEIGHTS_LIMIT, and for the
                             first epochs_kept(size) epochs (a GAN run has none)
    run.lock                 locked by the training that writes the folder, while it writes it

Weights are safetensors and everything else JSON: nothing in a run folder is ever unpickled.

One process owns a run folder: :class:`RunWriter` takes an exclusive OS lock on ``run.lock`` (the
OS drops it when the process ends, however it ends), so a second training cannot write into the
same folder, and a reader can tell a run that is still going from one whose process was killed
(``"interrupted"``). Run folders are read as untrusted input: only regular files are read (a pipe,
a device such as /dev/zero or a folder in their place is refused without blocking, see
:mod:`playground.core.files`), each up to a size limit, and a file with bad contents is skipped with
a note, never a traceback. ``run.lock`` is never followed if it is a link, and a lock file this
process did not create is never truncated or written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playground.core import weights
from playground.core.atomic import atomic_write_text
from playground.core.config import SETTINGS, ConfigError, TrainConfig, format_number
from playground.core.data import check_class_names, default_class_names
from playground.core.files import NotRegularFileError, open_fd, open_regular, read_regular
from playground.core.metrics import Evaluation
from playground.core.gan_spec import GAN_PRESETS, GanSpec, load_any_design
from playground.core.spec import NUM_CLASSES, DesignError, NetworkSpec
from playground.core.text import counted, format_bytes, is_unsafe, safe_file_stem, short_repr
from playground.core.weights import save_weights


# The files of a run folder: no other module spells these names.
DESIGN_FILE = "design.json"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LAST_WEIGHTS = "weights_last.safetensors"
BEST_WEIGHTS = "weights_best.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
EVALUATION_FILE = "evaluation.json"
LOCK_NAME = "run.lock"
WEIGHTS_FILES = {"last": LAST_WEIGHTS, "best": BEST_WEIGHTS}
EPOCHS_DIR = "epochs"  # epoch_file_name(n) for each epoch kept


def epoch_file_name(epoch: int) -> str:
    """The name of epoch ``epoch``'s weights file in ``EPOCHS_DIR``: ``epoch-007.safetensors``."""
    return f"epoch-{epoch:03d}.safetensors"


_EPOCH_FILE = re.compile(r"epoch-(\d{3,4})\.safetensors")


class RunError(RuntimeError):
    """A run folder or weights file cannot be used; the message says why."""


class RunFolderError(RunError):
    """A run folder cannot be started: it is in use, already holds a run, or cannot be created or
    written. Nothing was written into it."""


class RunWriteError(RunError):
    """Writing a run folder failed during training (disk full, file too large, ...); the files
    written before are intact and the message says which weights are kept."""


RUN_FILES = frozenset({DESIGN_FILE, CONFIG_FILE, SUMMARY_FILE, METRICS_FILE, LAST_WEIGHTS, BEST_WEIGHTS,
                       OPTIMIZER_FILE, EVALUATION_FILE, EPOCHS_DIR})
# Each epoch's weights are kept (time travel) for models of at most this size, for at most
# MAX_EPOCH_FILES epochs and EPOCH_WEIGHTS_TOTAL bytes in all (the first epochs: see epochs_kept).
EPOCH_WEIGHTS_LIMIT = 20_000_000
EPOCH_WEIGHTS_TOTAL = 2_000_000_000
MAX_EPOCH_FILES = 1000
EPOCH_SCAN_LIMIT = 10 * MAX_EPOCH_FILES  # entries of a stranger's epochs/ folder looked at, at most
# Limits on what is read from a run folder (a folder may come from anyone).
JSON_FILE_LIMIT = 1_000_000  # config.json, run.json: a few kB each (design.json: spec.MAX_DESIGN_BYTES)
EVALUATION_LIMIT = 8_000_000  # evaluation.json: about 100 kB with a prediction per test image
# metrics.jsonl: about 400 bytes an event, 12 events a second; 200,000 events (4 hours of training,
# about 200 MB as Python objects) are read at most, and later lines are left unread, with a note.
METRICS_LIMIT = 64 * 1024 * 1024
METRICS_LINE_LIMIT = 64 * 1024
METRICS_EVENT_LIMIT = 200_000

# -- the run folder's lock ----------------------------------------------------------------------------

_LOCK_OFFSET = 1024  # Windows locks byte ranges: lock one byte after the process id written at 0


def _try_lock(fd: int, shared: bool = False) -> bool:
    """Lock ``fd`` without waiting; False if another open file holds it."""
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).split(b"\n")[0].strip()
    return int(text) if text.isdigit() else None


class RunLock:
    """The exclusive lock of one run folder, held by the process that writes it."""

    def __init__(self, folder: Path, fd: int, created: bool):
        self.folder, self._fd, self.created = folder, fd, created

    @classmethod
    def acquire(cls, folder: Path, attempts: int = 20) -> "RunLock":
        """Lock ``folder`` (``RunFolderError`` if another training holds it; ``OSError`` if the lock
        file cannot be made). A reader checks the lock for a moment (:func:`run_owner`), so a busy
        lock is tried a few times before giving up."""
        path = Path(folder) / LOCK_NAME
        try:  # O_EXCL: a link or anything else already there is never followed nor reused
            fd, created = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                                  0o666), True
        except FileExistsError:
            # A lock file left by another writer: used only if it is a plain file with no other name
            # (not a link, a pipe or a hard link to someone's file), and never truncated nor written.
            try:
                fd, created = open_fd(path, os.O_RDWR, follow_symlinks=False), False
            except NotRegularFileError as exc:
                raise RunFolderError(f"{folder}: its {LOCK_NAME} is {exc.strerror}; choose another folder") from None
        if not created and os.fstat(fd).st_nlink != 1:
            os.close(fd)
            raise RunFolderError(f"{folder}: its {LOCK_NAME} is a hard link to another file; choose another folder")
        try:
            for attempt in range(attempts):
                if _try_lock(fd):
                    break
                if attempt == attempts - 1:
                    pid = _read_pid(fd)
                    raise RunFolderError(f"{folder} is being written by another training"
                                         f"{f' (process {pid})' if pid else ''}; choose another folder")
                time.sleep(0.05)
            if created:
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(Path(folder), fd, created)

    def release(self, remove: bool = False) -> None:
        if self._fd < 0:
            return
        if remove:  # only for a folder given up before anything was written in it
            with contextlib.suppress(OSError):
                (self.folder / LOCK_NAME).unlink()
        with contextlib.suppress(OSError):
            _unlock(self._fd)
        os.close(self._fd)
        self._fd = -1


def run_owner(folder: str | Path) -> int | None:
    """The process id of the training writing ``folder`` now (0 if it is unknown), or ``None`` if no
    process writes it. Needs only read access. A ``run.lock`` that is not a regular file (a pipe, a
    link, a device) is no writer's lock: it never blocks this, and means no process writes it."""
    try:
        fd = open_fd(Path(folder) / LOCK_NAME, os.O_RDONLY, follow_symlinks=False)
    except OSError:
        return None  # no lock file (a run from before locks, or one never started), or not a lock file
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
        return _read_pid(fd) or 0
    except OSError:
        return None
    finally:
        os.close(fd)


def check_new_run_dir(path: str | Path, option: str = "--out") -> Path:
    """Check, without writing anything, that ``path`` can take a new run: raise ``RunFolderError``
    saying why not (a NUL byte, a file in the way, a folder in use or already holding files, no
    write permission). For the command line, before any data is loaded."""
    text = os.fspath(path)
    if "\0" in text:
        raise RunFolderError(f"{option} {text!r} contains a NUL byte, which no file name can hold")
    path = Path(text)
    try:
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file; {option} takes a folder (a new or empty one)")
        existing = path
        while not existing.exists():
            if existing.parent == existing:
                break
            existing = existing.parent
        if existing != path and not existing.is_dir():
            raise RunFolderError(f"{existing} is a file, so the folder {path} cannot be made inside it; "
                                 f"choose another {option} folder")
        if path.is_dir():
            owner = run_owner(path)
            if owner is not None:
                raise RunFolderError(f"{path} is being written by another training"
                                     f"{f' (process {owner})' if owner else ''}; choose another {option} folder")
            names = set(os.listdir(path))  # a run.lock alone (or a link by that name) is not "empty"
            if names & RUN_FILES:
                raise RunFolderError(f"{path} already holds a run; choose another {option} folder")
            if names:
                raise RunFolderError(f"{path} is not empty ({counted(len(names), 'item')}) and is not a run folder; "
                                     f"{option} takes a new or empty folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(f"cannot write to {existing} (permission denied); choose another "
                                 f"{option} folder")
    except OSError as exc:
        raise RunFolderError(f"{option} {path}: {exc.strerror or exc}") from None
    return path


def _reason(exc: BaseException) -> str:
    """What went wrong in a failed write, in words (safetensors wraps the OS error in its own)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    found = re.search(r'message: "([^"]+)"|I/O error: (.+?) \(os error \d+\)', str(exc))
    return next(g for g in found.groups() if g) if found else str(exc) or type(exc).__name__


def new_run_dir(base: Path, name: str) -> Path:
    """A fresh folder ``base/YYYYmmdd-HHMMSS-name`` (with a suffix if that exists)."""
    base.mkdir(parents=True, exist_ok=True)
    safe = safe_file_stem(name, "run")
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    for i in range(1000):
        path = base / (stem if i == 0 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a run folder in {base}")


def load_weights(path: str | Path, needed: weights.Layout | None = None) -> dict[str, Any]:
    """A state dict from a safetensors file, its header checked first (against ``needed``, the
    design's weights, when given) and its values finite; ``RunError`` otherwise (never unpickles)."""
    try:
        return weights.load_weights(path, needed)
    except weights.WeightsError as exc:
        raise RunError(str(exc)) from None


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


def state_bytes(state: dict[str, Any]) -> int:
    """The bytes of a state dict's tensors (what its weights file holds, less the header)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def design_weights_bytes(spec: NetworkSpec) -> int:
    """The bytes of a design's weights (from a model on the ``meta`` device: nothing is allocated);
    ``DesignError`` if it cannot be built."""
    import torch

    return sum(math.prod(shape) * getattr(torch, dtype).itemsize
               for dtype, shape in weights.expected_weights(spec).values())


def epochs_kept(size: int) -> int:
    """How many epochs' weights of ``size`` bytes a run keeps (its first ones); 0 over the limit."""
    if size > EPOCH_WEIGHTS_LIMIT:
        return 0
    return min(MAX_EPOCH_FILES, EPOCH_WEIGHTS_TOTAL // max(size, 1))


def _write_summary(folder: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


def stored_config(config: TrainConfig) -> TrainConfig:
    """``config`` as a run's config.json keeps it: a data folder as an absolute (resolved) path, so
    that the run can be evaluated or trained again from any working folder."""
    from dataclasses import replace

    if config.dataset != "folder" or not config.data_folder:
        return config
    try:
        return replace(config, data_folder=str(Path(config.data_folder).expanduser().resolve()))
    except (OSError, RuntimeError, ValueError):
        return config


class RunWriter:
    """Writes a run folder as training goes; each file is replaced atomically.

    The folder is locked (:class:`RunLock`) from the start until :meth:`close`. Failing to start
    raises ``RunFolderError`` and leaves nothing behind; a failed write later raises
    ``RunWriteError`` and leaves the files written before intact (no temporary file, no half line
    in metrics.jsonl)."""

    def __init__(self, path: Path, spec: NetworkSpec, config: TrainConfig):
        self.path = Path(path)
        self.weights_epoch: int | None = None  # the epoch of the weights in weights_last.safetensors
        self._epoch: int | None = None
        self._lock: RunLock | None = None
        self._metrics_fd = -1
        if "\0" in os.fspath(path):
            raise RunFolderError(f"{path!r}: a folder name cannot contain a NUL byte")
        made = not self.path.exists()
        written: list[Path] = []
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock.acquire(self.path)
            if set(os.listdir(self.path)) & RUN_FILES:
                raise RunFolderError(f"{self.path} already holds a run; choose another folder")
            for name, save in ((DESIGN_FILE, spec.save), (CONFIG_FILE, stored_config(config).save)):
                written.append(self.path / name)
                save(self.path / name)
            self.summary: dict[str, Any] = {"status": "running", "design": spec.name,
                                            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
            written.append(self.path / SUMMARY_FILE)
            _write_summary(self.path, self.summary)
            written.append(self.path / METRICS_FILE)
            self._metrics_fd = os.open(self.path / METRICS_FILE,
                                       os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            self._metrics_size = 0
        except BaseException as exc:
            self._give_up(written, made, keep_lock_file=isinstance(exc, RunFolderError))
            if isinstance(exc, OSError):
                raise RunFolderError(f"cannot write to the run folder {self.path}: {_reason(exc)}") from None
            raise

    def _give_up(self, written: list[Path], made: bool, keep_lock_file: bool) -> None:
        """Undo a start that failed: the folder is as it was (gone, if this writer made it)."""
        if self._metrics_fd >= 0:
            os.close(self._metrics_fd)
            self._metrics_fd = -1
        for file in written:
            with contextlib.suppress(OSError):
                file.unlink()
        if self._lock is not None:
            self._lock.release(remove=self._lock.created and not keep_lock_file)
            self._lock = None
        if made:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        from safetensors import SafetensorError

        try:
            yield
        except (OSError, SafetensorError) as exc:
            raise RunWriteError(self.failure_message(what, exc)) from None

    def failure_message(self, what: str, exc: BaseException) -> str:
        last = self.path / LAST_WEIGHTS
        if self.weights_epoch is not None:
            kept = f"the weights of epoch {self.weights_epoch} are kept in {last.name}"
        elif last.exists():
            kept = f"the last weights saved are kept in {last.name}"
        else:
            kept = "no weights had been saved yet"
        return f"cannot write {what} to the run folder {self.path}: {_reason(exc)}; {kept}"

    def log(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("epoch"), int):
            self._epoch = event["epoch"]
        data = (json.dumps(event) + "\n").encode("utf-8")
        with self._writing(METRICS_FILE):
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._metrics_fd, view):]
            except OSError:
                # Cut off the part of the line that was written: the log stays whole lines.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._metrics_fd, self._metrics_size)
                    os.lseek(self._metrics_fd, self._metrics_size, os.SEEK_SET)
                raise
        self._metrics_size += len(data)

    def save_weights(self, kind: str, state_dict: dict[str, Any]) -> None:
        with self._writing(WEIGHTS_FILES[kind]):
            save_weights(self.path / WEIGHTS_FILES[kind], state_dict)
        if kind == "last":
            self.weights_epoch = self._epoch

    def save_epoch_weights(self, epoch: int, state_dict: dict[str, Any]) -> bool:
        """Keep ``state_dict`` as epoch ``epoch``'s weights (``EPOCHS_DIR``), if the model is small
        enough and the epoch among the first :func:`epochs_kept`; whether it was written."""
        if not 1 <= epoch <= epochs_kept(state_bytes(state_dict)):
            return False
        name = epoch_file_name(epoch)
        with self._writing(f"{EPOCHS_DIR}/{name}"):
            folder = self.path / EPOCHS_DIR
            folder.mkdir(exist_ok=True)
            save_weights(folder / name, state_dict)
        return True

    def save_optimizer(self, state: dict[str, Any]) -> None:
        with self._writing(OPTIMIZER_FILE):
            save_optimizer(self.path / OPTIMIZER_FILE, state)

    def save_evaluation(self, evaluation: Evaluation) -> None:
        with self._writing(EVALUATION_FILE):
            atomic_write_text(self.path / EVALUATION_FILE, json.dumps(evaluation.to_dict(True)) + "\n")

    def write_summary(self, **updates: Any) -> None:
        self.summary.update(updates)
        with self._writing(SUMMARY_FILE):
            _write_summary(self.path, self.summary)

    def close(self) -> None:
        """Close the log and release the folder (never raises: it runs after errors too)."""
        if self._metrics_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._metrics_fd)
            self._metrics_fd = -1
        if self._lock is not None:
            self._lock.release()
            self._lock = None


# -- what a run is called ---------------------------------------------------------------------------

RUN_NAME_LIMIT = 120  # characters in a name given to a run
_SHORT = {"batch_size": "bs", "epochs": "ep", "momentum": "mom", "weight_decay": "wd", "val_fraction": "val",
          "limit": "images", "step_epochs": "step every", "max_shift": "shift", "max_rotation": "rotate",
          "max_scale": "scale"}


def usual_config(design: str) -> TrainConfig:
    """The settings a design is usually trained with: its preset's, or the defaults."""
    from playground.core.presets import PRESETS

    preset = PRESETS.get(design) or GAN_PRESETS.get(design)
    try:
        return TrainConfig.from_dict(preset.train) if preset else TrainConfig()
    except ConfigError:
        return TrainConfig()


def _setting_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return name.replace("_", " ") if value else f"no {name.replace('_', ' ')}"
    if name == "schedule":
        return "constant lr" if value == "constant" else value
    if name in ("loss", "dataset"):
        return value
    if name == "limit":
        return "all images" if value == 0 else f"{value:,} images"
    if name == "epochs":
        return f"{value} ep"
    if name == "data_folder":  # the folder's name, not its whole path: "data my-photos"
        parts = Path(value).parts or ("",)
        return f"data {'/'.join(parts[-2:]) if parts[-1].lower() == 'train' else parts[-1]}"
    shown = format_number(value) if isinstance(value, (int, float)) else str(value)
    return f"{_SHORT.get(name, name.replace('_', ' '))} {shown}"


def run_label(design: str, config: TrainConfig, usual: TrainConfig | None = None) -> str:
    """``design · optimizer lr`` and every other setting that differs from ``usual`` (the design's
    usual settings by default: its preset's, or the defaults). It depends on the run alone, never on
    the other runs, so a label once shown stays. So ``tutorial-cnn · sgd 0.01 · bs 128``."""
    usual = usual if usual is not None else usual_config(design)
    values = {name: getattr(config, name) for name in SETTINGS}
    parts = [design, f"{config.optimizer} {format_number(config.lr)}"]
    for name, spec in SETTINGS.items():
        if name in ("optimizer", "lr", "device", "test_limit") or not spec.applies(values):
            continue  # the device and the test images do not change what is trained
        value = values[name]
        if value != getattr(usual, name):
            parts.append(_setting_text(name, value))
    return " · ".join(parts)


def setting_lines(config: TrainConfig) -> list[str]:
    """Every setting that matters for ``config``, one ``Title: value`` line each (for a tooltip)."""
    values = {name: getattr(config, name) for name in SETTINGS}
    lines = []
    for name, spec in SETTINGS.items():
        if not spec.applies(values):
            continue
        value = values[name]
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif spec.special is not None and value == spec.special[0]:
            shown = spec.special[1]
        elif isinstance(value, (int, float)):
            shown = format_number(value)
        else:
            shown = str(value)
        lines.append(f"{spec.title}: {shown}")
    return lines


def check_run_name(name: str) -> str:
    """A name given to a run, trimmed; ``RunError`` saying why if it cannot be one (too long, or
    with control characters). An empty name means the automatic label."""
    if not isinstance(name, str):
        raise RunError(f"a run name is text; got {short_repr(name)}")
    name = name.strip()
    if len(name) > RUN_NAME_LIMIT:
        raise RunError(f"a run name has at most {RUN_NAME_LIMIT} characters; this one has {len(name):,}")
    bad = next((ch for ch in name if is_unsafe(ch)), None)
    if bad is not None:
        raise RunError(f"a run name cannot contain control characters (it has {short_repr(bad)})")
    return name


class RunRecord:
    """One training run: one read back from its folder, or one of this session whose events are
    still coming in (:meth:`add_event`). ``summary`` is run.json's contents (for a live run, kept as
    the trainer writes them); ``events`` are read from the folder's log when first asked for if the
    run was loaded without them."""

    def __init__(self, path: str | Path | None, spec: NetworkSpec, config: TrainConfig,
                 summary: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None,
                 evaluation: Evaluation | None = None, notes: list[str] | None = None, label: str = ""):
        self.path = Path(path) if path is not None else None
        self.spec, self.config = spec, config
        self.summary: dict[str, Any] = summary if summary is not None else {"status": "unknown"}
        self._events = events
        self.evaluation = evaluation
        self.notes: list[str] = notes if notes is not None else []  # parts of the folder skipped, and why
        self.name = str(self.summary.get("name", "")) or label  # a name given to the run, or ""
        self.auto_label = run_label(spec.name, config)  # the library adds "#n" to a duplicate's
        self._name_unsaved = False

    @classmethod
    def new(cls, spec: NetworkSpec, config: TrainConfig, path: str | Path | None, label: str = "") -> "RunRecord":
        """A run starting now, whose events will come through :meth:`add_event`."""
        summary = {"status": "running", "design": spec.name, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        return cls(path, spec, config, summary, [], label=label)

    def __repr__(self) -> str:
        return f"RunRecord({self.label!r}, {self.status!r}, {str(self.path)!r})"

    # -- what the run is ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """What the run is called: the name given to it, else the design and its telling settings."""
        return self.name or self.auto_label

    def rename(self, name: str) -> None:
        """Call the run ``name`` (an empty name: its automatic label again), in its run.json too so
        that the name survives a restart; ``RunError`` if it cannot be a name or cannot be saved. A
        run still being written keeps the name in memory until :meth:`save_name` after its end."""
        name, before = check_run_name(name), self.name
        self.name, self._name_unsaved = name, True
        if self.path is not None and run_owner(self.path) is None:
            try:
                self.save_name()
            except RunError:
                self.name, self._name_unsaved = before, False
                raise

    def save_name(self) -> None:
        """Write a name given while the run was being written into its run.json, now that it is not."""
        if not self._name_unsaved or self.path is None:
            return
        file = self.path / SUMMARY_FILE
        try:
            data = _read_json(file) if os.path.lexists(file) else {}
        except (OSError, ValueError) as exc:
            raise RunError(f"cannot save the run's name: its run.json cannot be read "
                           f"({getattr(exc, 'strerror', None) or exc})") from None
        if not isinstance(data, dict):
            raise RunError("cannot save the run's name: its run.json is not a JSON object")
        if self.name:
            data["name"] = self.name
        else:
            data.pop("name", None)
        try:
            _write_summary(self.path, data)
        except OSError as exc:
            raise RunError(f"cannot save the run's name in {file}: {exc.strerror or exc}") from None
        self._name_unsaved = False

    @property
    def status(self) -> str:
        return self.summary.get("status", "unknown")

    @property
    def finished(self) -> bool:
        """Whether the run has ended (completed, stopped, failed, interrupted or unknown)."""
        return self.status != "running"

    @property
    def started(self) -> str:
        """When the run started, as ``YYYY-mm-dd HH:MM:SS`` (empty if unknown)."""
        return str(self.summary.get("started", "")).replace("T", " ")

    @property
    def test_accuracy(self) -> float | None:
        return self.summary.get("test_accuracy")

    @property
    def classes(self) -> list[str]:
        """The names of the classes, label i is ``classes[i]``: as run.json records them, else the
        data set's usual names ("0".."9" for MNIST and for runs from before class names)."""
        count = getattr(self.spec, "num_classes", NUM_CLASSES)
        recorded = check_class_names(self.summary.get("classes"), count)
        return recorded if recorded is not None else default_class_names(count, self.config.dataset)

    def file(self, name: str) -> Path:
        """One of the run folder's files (one of this module's ``*_FILE`` / ``*_WEIGHTS`` names)."""
        if self.path is None:
            raise RunError(f"the run {self.label!r} has no folder")
        return self.path / name

    def _has(self, name: str) -> bool:
        return self.path is not None and (self.path / name).is_file()

    @property
    def has_best_weights(self) -> bool:
        return self._has(BEST_WEIGHTS)

    @property
    def has_last_weights(self) -> bool:
        return self._has(LAST_WEIGHTS)

    @property
    def can_continue(self) -> bool:
        """Whether training can go on from this run: it has ended, with its last weights and the
        optimizer state beside them."""
        return self.finished and self.has_last_weights and self._has(OPTIMIZER_FILE)

    # -- each epoch's weights (time travel) --------------------------------------------------------------

    def epoch_numbers(self) -> list[int]:
        """The epochs whose weights are in the folder's ``EPOCHS_DIR``, sorted. Only regular files
        named as :func:`epoch_file_name` names them count (a stranger's folder may hold anything), of
        epochs 1 to ``MAX_EPOCH_FILES``; at most ``EPOCH_SCAN_LIMIT`` entries are looked at."""
        if self.path is None:
            return []
        found = []
        try:
            folder = self.path / EPOCHS_DIR
            if folder.is_symlink() or not folder.is_dir():
                return []
            with os.scandir(folder) as entries:
                for count, entry in enumerate(entries):
                    if count >= EPOCH_SCAN_LIMIT:
                        break
                    match = _EPOCH_FILE.fullmatch(entry.name)
                    if (match and 1 <= int(match[1]) <= MAX_EPOCH_FILES and entry.name == epoch_file_name(int(match[1]))
                            and entry.is_file(follow_symlinks=False)):
                        found.append(int(match[1]))
        except OSError:
            return []
        return sorted(found)

    def epoch_weights_path(self, epoch: int) -> Path:
        """The weights file of epoch ``epoch`` (it exists if ``epoch`` is in :meth:`epoch_numbers`);
        load it with ``Classifier.from_weights_file(run.spec, path)``."""
        if not _is_int(epoch) or epoch < 1:
            raise RunError(f"an epoch is a whole number from 1, not {short_repr(epoch)}")
        return self.file(EPOCHS_DIR) / epoch_file_name(epoch)

    def _epochs_done(self) -> int:
        done = self.summary.get("epochs_completed")
        return done if _is_int(done) else len(self.epochs)

    def time_travel_note(self) -> str | None:
        """Why the run has no weights per epoch to go back to (or only its first epochs'), in words;
        None when every finished epoch's weights are kept."""
        if self.kind == "gan":
            return "a GAN run keeps no weights per epoch"
        try:
            size = design_weights_bytes(self.spec)
        except DesignError:
            return "its design cannot be built"
        if size > EPOCH_WEIGHTS_LIMIT:
            return (f"weights of {format_bytes(size)} are over the {format_bytes(EPOCH_WEIGHTS_LIMIT)} "
                    f"kept per epoch")
        kept, numbers, done = epochs_kept(size), self.epoch_numbers(), self._epochs_done()
        if not numbers:
            return ("no epoch has finished yet" if done == 0 else
                    "it kept no weights per epoch (trained by an earlier version, or they were deleted)")
        if done > kept:
            return (f"only its first {kept:,} epochs' weights are kept ({format_bytes(size)} each, "
                    f"{format_bytes(EPOCH_WEIGHTS_TOTAL)} at most)")
        return None

    # -- events ----------------------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        if self._events is None:
            self._events = read_events(self.path, self.notes) if self.path is not None else []
        return self._events

    @property
    def events_loaded(self) -> bool:
        """Whether the events are in memory (a run listed without its log has not read it yet)."""
        return self._events is not None

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == "epoch"]

    def add_event(self, event: dict[str, Any]) -> None:
        """An event of a live run: logged, and its end (a ``finished`` or ``error`` event) taken into
        the summary as the trainer writes it into run.json; the test evaluation is read then."""
        self.events.append(event)
        kind = event.get("type")
        if kind == "start" and isinstance(event.get("classes"), list):
            self.summary["classes"] = event["classes"]
        elif kind == "finished":
            self.summary.update({k: v for k, v in event.items() if k != "type"})
            if self.path is not None:
                self.evaluation = read_evaluation(self.path, self.notes, getattr(self.spec, "num_classes", NUM_CLASSES))
        elif kind == "error":
            self.summary.update(status="failed", message=event.get("message", ""), test_accuracy=None)

    def end(self, message: str = "The training ended unexpectedly.") -> None:
        """The run's process is gone: a run still "running" then failed (it sent no final event)."""
        if not self.finished:
            self.summary.update(status="failed", message=message, test_accuracy=None)

    # -- weights ---------------------------------------------------------------------------------------

    def weights_path(self, which: str = "best") -> Path:
        path = self.file(WEIGHTS_FILES[which])
        if which == "best" and not path.exists():
            path = self.file(LAST_WEIGHTS)
        return path

    @property
    def kind(self) -> str:
        """"classifier" or "gan" (a generator and a discriminator: views of classifiers skip it)."""
        return "gan" if isinstance(self.spec, GanSpec) else "classifier"

    def load_model(self, which: str = "best"):
        """The trained model, in eval mode on the CPU; its weights file's header is checked against the
        design before any weight is read."""
        from playground.core.build import build_model

        if self.kind == "gan":
            raise RunError(f"{self.path}: a GAN run; its generator is read with playground.core.gan_sample")
        try:
            needed = weights.expected_weights(self.spec)
        except DesignError as exc:  # over the memory budget
            raise RunError(f"{self.path}: {exc}") from None
        state = load_weights(self.weights_path(which), needed)
        model = build_model(self.spec)
        model.load_state_dict(state)
        return model.eval()


def _read_json(path: Path, limit: int = JSON_FILE_LIMIT) -> Any:
    """A JSON file read up to ``limit`` bytes; ``ValueError`` with the reason if it cannot be, an
    ``OSError`` (whose ``strerror`` says why) if it is not a regular file, is too large or cannot be
    opened."""
    try:
        return json.loads(read_regular(path, limit).decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("it is not text (UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"it is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except ValueError as exc:  # an integer past Python's 4300-digit limit
        raise ValueError(f"it is not valid JSON ({str(exc)[:80]})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
_SUMMARY_NUMBERS = ("epochs", "epochs_completed", "steps", "train_seconds", "samples_per_second",
                    "test_accuracy", "test_loss", "best_epoch", "best_val_accuracy")
_SUMMARY_TEXTS = ("status", "message", "design", "started", "finished", "device", "run_dir", "name")


def _read_summary(path: Path, notes: list[str]) -> dict[str, Any]:
    """run.json, with fields of the wrong type dropped (each with a note)."""
    file = path / SUMMARY_FILE
    if not os.path.lexists(file):
        notes.append("run.json is missing: the run's status is unknown")
        return {"status": "unknown"}
    try:
        data = _read_json(file)
    except (OSError, ValueError) as exc:
        notes.append(f"run.json cannot be read ({getattr(exc, 'strerror', None) or exc}): the run's status is unknown")
        return {"status": "unknown"}
    if not isinstance(data, dict):
        notes.append("run.json is not a JSON object: the run's status is unknown")
        return {"status": "unknown"}
    summary: dict[str, Any] = {}
    for key, value in data.items():
        ok = ((value is None or _is_number(value)) if key in _SUMMARY_NUMBERS
              else isinstance(value, str) if key in _SUMMARY_TEXTS else True)
        if ok:
            summary[key] = value
        else:
            notes.append(f"run.json: {key!r} has the wrong type ({type(value).__name__}); left out")
    if "name" in summary:
        try:
            summary["name"] = check_run_name(summary["name"])
        except RunError as exc:
            notes.append(f"run.json: its name is left out ({exc})")
            del summary["name"]
    if summary.get("status") not in STATUSES:
        if "status" in summary:
            notes.append(f"run.json: unknown status {summary['status']!r}")
        summary["status"] = "unknown"
    return summary


def run_classes(folder: str | Path, spec: NetworkSpec) -> list[str]:
    """The class names of the run (or model) folder ``folder``: from its run.json, else its data
    set's usual names, else "0".."n-1" (a folder without a run.json: a model folder)."""
    folder, count = Path(folder), getattr(spec, "num_classes", NUM_CLASSES)
    names = None
    with contextlib.suppress(OSError, ValueError, RecursionError):
        summary = _read_json(folder / SUMMARY_FILE) if os.path.lexists(folder / SUMMARY_FILE) else {}
        names = check_class_names(summary.get("classes") if isinstance(summary, dict) else None, count)
    if names is not None:
        return names
    dataset = "mnist"
    with contextlib.suppress(OSError, ValueError, RecursionError, ConfigError):
        if os.path.lexists(folder / CONFIG_FILE):
            dataset = TrainConfig.from_dict(_read_json(folder / CONFIG_FILE), CONFIG_FILE).dataset
    return default_class_names(count, dataset)


def run_preprocess(folder: str | Path) -> str:
    """How the run in ``folder`` turned image files into 28x28 (its config's ``preprocess``): "mnist"
    for a folder without a readable config.json (a model folder, an old run)."""
    with contextlib.suppress(OSError, ValueError, RecursionError, ConfigError):
        if os.path.lexists(Path(folder) / CONFIG_FILE):
            config = TrainConfig.from_dict(_read_json(Path(folder) / CONFIG_FILE), CONFIG_FILE)
            return config.preprocess if config.dataset == "folder" else "mnist"
    return "mnist"


def _evaluation_problem(data: Any, classes: int = NUM_CLASSES) -> str | None:
    """What is wrong with an evaluation.json's contents, or None. Everything the Evaluate tab and
    ``playground evaluate`` index is checked: a prediction and a true class (each in [0, 10)) for each
    of the ``count`` images, misclassified indices in [0, count), a 10x10 confusion table of whole
    numbers from 0 to ``count``, and precision, recall, F1 and support for each of the 10 classes (or
``classes``: the design's number)."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    for key in ("accuracy", "loss"):
        if not (_is_number(data.get(key)) and math.isfinite(data[key])):
            return f"{key!r} is not a finite number"
    count = data.get("count")
    if not _is_int(count) or count < 0:
        return "'count' is not a whole number"
    confusion, per_class = data.get("confusion"), data.get("per_class")
    if (not isinstance(confusion, list) or len(confusion) != classes
            or not all(isinstance(row, list) and len(row) == classes
                       and all(_is_int(v) and 0 <= v <= count for v in row) for row in confusion)):
        return f"'confusion' is not a {classes}x{classes} table of whole numbers from 0 to 'count'"
    if (not isinstance(per_class, list) or len(per_class) != classes
            or not all(isinstance(m, dict) and set(m) == {"precision", "recall", "f1", "support"}
                       and all(_is_number(m[k]) and math.isfinite(m[k]) for k in ("precision", "recall", "f1"))
                       and _is_int(m["support"]) and 0 <= m["support"] <= count
                       for m in per_class)):
        return f"'per_class' does not hold precision, recall, F1 and support for each of the {classes} classes"
    for key in ("predictions", "labels"):
        value = data.get(key)
        if (not isinstance(value, list) or len(value) != count
                or not all(_is_int(v) and 0 <= v < classes for v in value)):
            return f"{key!r} is not a list of 'count' ({count:,}) classes from 0 to {classes - 1}"
    misclassified = data.get("misclassified")
    if (not isinstance(misclassified, list) or len(misclassified) > count
            or not all(_is_int(i) and 0 <= i < count for i in misclassified)):
        return "'misclassified' is not a list of image indices from 0 to 'count' - 1"
    return None


def read_evaluation(path: str | Path, notes: list[str] | None = None, classes: int = NUM_CLASSES) -> Evaluation | None:
    """The test evaluation a run wrote, or None (missing, or unusable: then with a note); it must be
    of ``classes`` classes (the design's)."""
    file = Path(path) / EVALUATION_FILE
    if not os.path.lexists(file):
        return None
    try:
        data = _read_json(file, EVALUATION_LIMIT)
        problem = _evaluation_problem(data, classes)
        if problem is None:
            return Evaluation.from_dict(data)
    except (OSError, ValueError) as exc:
        problem = getattr(exc, "strerror", None) or str(exc)
    except Exception as exc:  # never a traceback for a stranger's file  # noqa: BLE001
        problem = f"{type(exc).__name__}: {str(exc)[:80]}"
    if notes is not None:
        notes.append(f"evaluation.json cannot be used ({problem}); the run is shown without its test evaluation")
    return None


def load_run(path: str | Path, with_events: bool = True) -> RunRecord:
    """A run folder read back; ``with_events=False`` skips the metrics log (read it later with
    :func:`read_events`), for listing many runs quickly.

    Raises ``RunError`` only when the design or the config cannot be read (nothing can be done with
    the run without them); an unreadable run.json, evaluation.json or metrics line is skipped with a
    note in ``notes``. A run whose run.json says "running" but whose training process is gone (no
    one holds its lock) has the status "interrupted"."""
    path = Path(path)
    if not os.path.lexists(path / DESIGN_FILE):
        raise RunError(f"{path}: not a run folder (no design.json)")
    try:
        spec = load_any_design(path / DESIGN_FILE)  # a regular file of at most MAX_DESIGN_BYTES
    except DesignError as exc:
        raise RunError(f"{path}: its design.json cannot be read ({exc})") from None
    try:
        config = TrainConfig.from_dict(_read_json(path / CONFIG_FILE), CONFIG_FILE)
    except (ConfigError, OSError, ValueError, RecursionError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise RunError(f"{path}: its config.json cannot be read ({reason})") from None
    notes: list[str] = []
    summary = _read_summary(path, notes)
    if summary["status"] == "running" and run_owner(path) is None:
        last = path / LAST_WEIGHTS
        summary["status"] = "interrupted"
        summary["message"] = ("The training process ended without finishing (it was killed, crashed or the "
                              "computer stopped); " + (f"the weights of its last finished epoch are kept in "
                                                      f"{last.name}." if last.exists() else "it saved no weights."))
    count = getattr(spec, "num_classes", NUM_CLASSES)
    evaluation = read_evaluation(path, notes, count)
    if "classes" in summary and check_class_names(summary["classes"], count) is None:
        notes.append(f"run.json: 'classes' is not a list of {count} class names; the classes are numbered")
        del summary["classes"]
    events = read_events(path, notes) if with_events else None
    return RunRecord(path, spec, config, summary, events, evaluation, notes)


# The fields each kind of event must have, as numbers (None allowed for those in _MAYBE).
_EVENT_NUMBERS = {
    "start": ("epochs", "steps_per_epoch", "total_steps", "train_size"),
    "progress": ("epoch", "step", "steps_per_epoch", "total_steps", "train_loss", "train_accuracy",
                 "samples_per_second", "eta_seconds"),
    "epoch": ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"),
    "paused": ("epoch", "step"), "resumed": ("epoch", "step"), "stopped": ("epoch", "step"),
    "finished": ("test_accuracy", "train_seconds"),
    "histograms": ("epoch", "step"),  # its layers are checked by core/histograms.py, which reads them
}
_MAYBE = {"val_loss", "val_accuracy", "test_accuracy", "train_seconds", "seconds"}


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "not an event"
    for key in _EVENT_NUMBERS.get(event["type"], ()):
        value = event.get(key)
        if not (_is_number(value) or (value is None and key in _MAYBE)):
            return f"{key!r} is not a number"
    for key in ("steps_per_epoch", "total_steps"):
        if key in event and not (_is_number(event[key]) and event[key] > 0):
            return f"{key!r} is not above 0"
    if event["type"] == "epoch" and (event["val_loss"] is None) != (event["val_accuracy"] is None):
        return "'val_loss' and 'val_accuracy' do not go together"
    return None


def read_events(path: str | Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The events a run logged in its metrics.jsonl. Streamed, and bounded: lines longer than an
    event can be and lines that are not events (junk, wrong types, a line a crash cut short) are
    skipped, and at most ``METRICS_LIMIT`` bytes are read; ``notes`` gets a line saying what was
    skipped."""
    events: list[dict[str, Any]] = []
    metrics = Path(path) / METRICS_FILE
    skipped, first_problem, read, cut = 0, "", 0, False
    try:
        with open_regular(metrics) as f:  # a pipe or a device (/dev/zero) is refused, never read
            while True:
                line = f.readline(METRICS_LINE_LIMIT + 1)
                if not line:
                    break
                read += len(line)
                if len(line) > METRICS_LINE_LIMIT and not line.endswith(b"\n"):
                    # Skip the rest of an overlong line; what is skipped counts against METRICS_LIMIT.
                    while line and not line.endswith(b"\n") and read < METRICS_LIMIT:
                        line = f.readline(min(1024 * 1024, METRICS_LIMIT - read))
                        read += len(line)
                    problem = f"a line over {METRICS_LINE_LIMIT // 1024} kB"
                else:
                    try:
                        event = json.loads(line.decode("utf-8"))
                        problem = _event_problem(event)
                    except (UnicodeDecodeError, ValueError, RecursionError):
                        problem = "a line that is not JSON"
                    if problem is None:
                        events.append(event)
                if problem is not None:
                    skipped += 1
                    first_problem = first_problem or problem
                if read >= METRICS_LIMIT or len(events) >= METRICS_EVENT_LIMIT:
                    cut = bool(f.read(1))
                    break
    except FileNotFoundError:
        return events
    except OSError as exc:
        if notes is not None:
            notes.append(f"metrics.jsonl cannot be read ({exc.strerror or exc}); its curves are incomplete")
        return events
    if notes is not None and skipped:
        notes.append(f"metrics.jsonl: skipped {counted(skipped, 'line')} that are not events "
                     f"(the first: {first_problem})")
    if notes is not None and cut:
        notes.append(f"metrics.jsonl is too long: only its first {len(events):,} events ({read:,} bytes) were read")
    return events


def list_runs(base: Path, with_events: bool = True, problems: list[str] | None = None) -> list[RunRecord]:
    """Every readable run folder under ``base``, oldest first; ``problems`` gets a message for each
    folder that cannot be read."""
    try:
        children = sorted(base.iterdir()) if base.is_dir() else []
    except OSError as exc:
        if problems is not None:
            problems.append(f"{base}: {exc.strerror or exc}")
        return []
    runs = []
    for child in children:
        try:
            if not (child.is_dir() and os.path.lexists(child / DESIGN_FILE)):
                continue
            runs.append(load_run(child, with_events))
        except (RunError, OSError) as exc:
            if problems is not None:
                problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad folder never stops the list
            if problems is not None:
                problems.append(f"{child}: cannot be read ({type(exc).__name__}: {str(exc)[:200]})")
    return runs
