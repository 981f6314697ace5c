""""My digits": the user's own drawings, kept with their labels, and a short fine-tune on them.

The store is a folder data set in the user data folder (``my-digits/``, one subfolder per digit,
"0".."9"), so ``playground train --data`` can use it too. Each drawing is kept as what the network
saw: the 28x28 image the canvas preprocessing made, white ink on black, as an 8-bit grey PNG
(a few hundred bytes), written atomically under a name of its own (the time it was added and a
random part, so names sort by age and never clash).

Anyone can put files in that folder, so reading it is bounded: at most ``MAX_PER_DIGIT`` drawings
and ``SCAN_LIMIT`` entries a digit, files of at most ``MAX_FILE_BYTES``, only 28x28 images; anything
else is skipped and named in ``problems``.

:func:`fine_tune` trains a model on MNIST training images plus the drawings, through the normal
:class:`~playground.core.train.Trainer` (so the result is a normal run folder), starting from the
model's weights, for one pass over 6,000 MNIST training images (about 10 s for fast-cnn on two
cores). The drawings are repeated until they are ``weight`` of the training images (10% by
default: 20 drawings come 33 times each among 6,000 MNIST images, about 6 in each batch of 64), so
a few dozen count. It reports the accuracy on the drawings
before and after, on held-out drawings when there are enough, and the MNIST test accuracy before and
after.
"""

from __future__ import annotations

import io
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from playground.core.atomic import atomic_write_bytes, atomic_write_text
from playground.core.files import read_regular
from playground.core.paths import data_dir
from playground.core.text import printable

FOLDER_NAME = "my-digits"
DIGITS = tuple(str(d) for d in range(10))
SIZE = 28
MAX_FILE_BYTES = 64 * 1024  # a 28x28 grey PNG is under 1 kB
MAX_PER_DIGIT = 10_000  # drawings read per digit: far more than anyone draws
SCAN_LIMIT = 4 * MAX_PER_DIGIT  # entries of a digit's folder looked at, at most
MAX_PROBLEMS = 50  # odd files named, at most (then a count)
RESULT_FILE = "my_digits.json"  # in a fine-tuned run's folder: what it was tuned on, before and after


class MyDigitsError(RuntimeError):
    """The store cannot be read or written; the message says why."""


def my_digits_dir() -> Path:
    return data_dir() / FOLDER_NAME


@dataclass(frozen=True)
class Drawing:
    """One drawing of the store: its file and its digit."""

    path: Path
    digit: int


@dataclass
class LoadedDigits:
    """The store's drawings read into memory: uint8 images (N, 28, 28) white on black, their digits,
    their files, and the files skipped with why."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[Path]
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=10)[:10].tolist() if len(self.labels) else [0] * 10

    def subset(self, index) -> "LoadedDigits":
        index = np.asarray(index, np.int64)
        return LoadedDigits(self.images[index], self.labels[index], [self.paths[i] for i in index], self.problems)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A 28x28 image in [0, 1] (floats) or 0..255 (uint8) as uint8; ``ValueError`` for another shape."""
    a = np.asarray(image)
    if a.shape != (SIZE, SIZE):
        raise ValueError(f"a drawing is a {SIZE}x{SIZE} image, not {a.shape}")
    if a.dtype == np.uint8:
        return a.copy()
    a = np.nan_to_num(a.astype(np.float32), nan=0.0)
    return np.clip(np.round(a * 255), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def read_drawing(path: str | Path) -> np.ndarray:
    """A stored drawing as uint8 (28, 28); ``ValueError`` saying why a file is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise ValueError(f"{printable(Path(path).name)}: {exc.strerror or exc}") from None
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as img:
            if img.size != (SIZE, SIZE):
                raise ValueError(f"{printable(Path(path).name)}: {img.size[0]}x{img.size[1]} pixels, not a "
                                 f"{SIZE}x{SIZE} drawing made by the app")
            image = np.asarray(img.convert("L"), np.uint8).copy()
    except UnidentifiedImageError:
        raise ValueError(f"{printable(Path(path).name)}: not a PNG image") from None
    except ValueError:
        raise
    except Exception as exc:  # a damaged PNG: zlib.error, SyntaxError, OSError...
        raise ValueError(f"{printable(Path(path).name)}: a damaged PNG ({type(exc).__name__})") from None
    if image.min() == image.max():
        raise ValueError(f"{printable(Path(path).name)}: every pixel the same shade, not a drawing")
    return image


class MyDigits:
    """The "My digits" folder: add, list, count and delete drawings by digit."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else my_digits_dir()
        self.problems: list[str] = []  # what the last listing skipped, and why

    def folder(self, digit: int) -> Path:
        return self.root / DIGITS[_check_digit(digit)]

    def add(self, image: np.ndarray, digit: int) -> Path:
        """Keep ``image`` (28x28, floats in [0, 1] or uint8) as a drawing of ``digit``; its file.
        ``MyDigitsError`` if it cannot be written (nothing half-written is left)."""
        data = png_bytes(image)
        folder = self.folder(digit)
        pixels = to_uint8(image)
        if pixels.min() == pixels.max():
            raise ValueError("every pixel is the same shade: that is not a drawing")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(100):
                path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}.png"
                if not path.exists():
                    atomic_write_bytes(path, data)
                    return path
        except OSError as exc:
            raise MyDigitsError(f"cannot save the drawing in {folder} ({exc.strerror or exc})") from None
        raise MyDigitsError(f"cannot find a free file name in {folder}")

    def restore(self, path: str | Path, data: bytes) -> None:
        """Put a deleted drawing back (undo), under its own name."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise MyDigitsError(f"cannot put {path.name} back ({exc.strerror or exc})") from None

    def drawings(self, digit: int | None = None) -> list[Drawing]:
        """The drawings (of ``digit``, or all), oldest first within each digit; odd entries are skipped
        and listed in ``problems``. Only names are looked at here, not contents."""
        self.problems = []
        digits = range(10) if digit is None else [_check_digit(digit)]
        found: list[Drawing] = []
        for d in digits:
            found += [Drawing(p, d) for p in self._names(d)]
        if self.root.is_dir():
            for entry in _scan(self.root, SCAN_LIMIT):
                if entry.name not in DIGITS and not entry.name.startswith("."):
                    self._problem(f"{printable(entry.name)}: not a digit's folder (0 to 9); skipped")
        return found

    def _names(self, digit: int) -> list[Path]:
        folder = self.folder(digit)
        if not folder.is_dir():
            return []
        names: list[Path] = []
        for entry in _scan(folder, SCAN_LIMIT, self._problem):
            if entry.name.startswith("."):
                continue  # hidden files and unfinished atomic writes
            if not entry.name.lower().endswith(".png") or not entry.is_file(follow_symlinks=False):
                self._problem(f"{DIGITS[digit]}/{printable(entry.name)}: not a PNG file; skipped")
                continue
            names.append(Path(entry.path))
        names.sort(key=lambda p: p.name)
        if len(names) > MAX_PER_DIGIT:
            self._problem(f"{DIGITS[digit]}: {len(names):,} drawings; only the newest {MAX_PER_DIGIT:,} are used")
            names = names[-MAX_PER_DIGIT:]
        return names

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("… and more odd files")

    def counts(self) -> list[int]:
        """Drawings per digit: those :meth:`load` reads (so each file is read; the odd ones are
        skipped and named in ``problems``)."""
        return self.load().counts()

    def delete(self, paths: Sequence[str | Path]) -> list[tuple[Path, bytes]]:
        """Remove drawings of the store; what was removed (file and bytes), to put back with
        :meth:`restore`. A path outside the store is refused (``MyDigitsError``)."""
        removed: list[tuple[Path, bytes]] = []
        root = self.root.resolve()
        for path in map(Path, paths):
            if path.resolve().parent.parent != root:
                raise MyDigitsError(f"{printable(path)} is not a drawing of {self.root}")
            try:
                data = read_regular(path, MAX_FILE_BYTES, follow_symlinks=False)
            except OSError:
                data = b""  # odd or gone: removed all the same, nothing to put back
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MyDigitsError(f"cannot delete {path.name} ({exc.strerror or exc})") from None
            removed.append((path, data))
            try:
                path.parent.rmdir()  # the digit's last drawing: no empty folder (a class without images)
            except OSError:
                pass  # not empty
        return removed

    def load(self) -> LoadedDigits:
        """Every readable drawing; unreadable ones are skipped and named in ``problems``."""
        images, labels, paths = [], [], []
        for drawing in self.drawings():
            try:
                images.append(read_drawing(drawing.path))
            except ValueError as exc:
                self._problem(f"{DIGITS[drawing.digit]}/{exc}; skipped")
                continue
            labels.append(drawing.digit)
            paths.append(drawing.path)
        stack = np.stack(images) if images else np.zeros((0, SIZE, SIZE), np.uint8)
        return LoadedDigits(stack, np.asarray(labels, np.int64), paths, list(self.problems))


def _check_digit(digit) -> int:
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= int(digit) <= 9:
        raise ValueError(f"a digit is a whole number from 0 to 9, not {digit!r}")
    return int(digit)


def _scan(folder: Path, limit: int, problem=None) -> Iterator[os.DirEntry]:
    """At most ``limit`` entries of ``folder`` (a stranger's folder may hold millions)."""
    try:
        with os.scandir(folder) as entries:
            for i, entry in enumerate(entries):
                if i >= limit:
                    if problem is not None:
                        problem(f"{printable(folder.name)}: over {limit:,} entries; the rest are not read")
                    return
                yield entry
    except OSError as exc:
        if problem is not None:
            problem(f"{printable(folder.name)}: cannot be read ({exc.strerror or exc})")


# -- fine-tuning ------------------------------------------------------------------------------------

MNIST_IMAGES = 6000  # MNIST training images a fine-tune goes over (with the drawings): seconds on a CPU
VAL_IMAGES = 2000
DEFAULT_WEIGHT = 0.1  # the drawings' share of the training images, after oversampling
HOLD_OUT_FROM = 50  # with at least this many drawings, some are held out to measure on
HOLD_OUT_SHARE = 0.2  # of each digit's drawings (those with at least 5)
FINE_TUNE_LR = 2e-4


@dataclass
class FineTuneResult:
    """What a fine-tune did: accuracies are shares (0..1); ``held_out_*`` are None when there were
    too few drawings to hold some out."""

    run_dir: str | None
    source: str
    drawings: int  # trained on
    held_out: int
    copies: int  # the drawings' copies among the training images
    mnist_images: int
    drawings_before: float
    drawings_after: float
    held_out_before: float | None
    held_out_after: float | None
    mnist_before: float
    mnist_after: float | None
    status: str = "completed"
    message: str = ""

    def as_event(self) -> dict:
        return {"type": "fine_tuned", **asdict(self)}

    def summary(self) -> str:
        """The figures in a few words."""
        drawings = f"{self.drawings} drawing{'s' if self.drawings != 1 else ''}"
        parts = [f"On your {drawings}: {self.drawings_before:.0%} right before, {self.drawings_after:.0%} after."]
        if self.held_out_before is not None:
            parts.append(f"On {self.held_out} drawings it did not train on: {self.held_out_before:.0%} before, "
                         f"{self.held_out_after:.0%} after.")
        if self.mnist_after is not None:
            parts.append(f"MNIST test: {self.mnist_before:.2%} before, {self.mnist_after:.2%} after.")
        return " ".join(parts)


def split_held_out(digits: LoadedDigits, share: float = HOLD_OUT_SHARE,
                   minimum: int = HOLD_OUT_FROM) -> tuple[LoadedDigits, LoadedDigits | None]:
    """(to train on, held out): with at least ``minimum`` drawings, every ``1/share``-th drawing of
    each digit that has at least 5 is held out (by age, so it is the same each time); else none."""
    if len(digits) < minimum or share <= 0:
        return digits, None
    every = max(2, round(1 / share))
    held = []
    for d in range(10):
        index = np.flatnonzero(digits.labels == d)
        if len(index) >= 5:
            held += index[every - 1::every].tolist()
    keep = np.setdiff1d(np.arange(len(digits)), held)
    return digits.subset(keep), digits.subset(sorted(held))


def _accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    import torch

    from playground.core.metrics import evaluate

    if not len(labels):
        return 0.0
    return evaluate(model, torch.from_numpy(images), torch.from_numpy(labels)).accuracy


def reads_digits(classifier) -> bool:
    """Whether a model's classes are the ten digits, 0 to 9 (a model of another data set's classes
    cannot learn from My digits)."""
    spec = getattr(classifier, "spec", None)
    classes = getattr(classifier, "classes", None)
    return (spec is not None and spec.num_classes == 10
            and (classes is None or [str(c) for c in classes] == list(DIGITS)))


def _source(source):
    """A Classifier for ``source``: one already loaded, a path (run folder, model folder or model
    file) or None (the default model)."""
    from playground.core.predict import Classifier

    if isinstance(source, Classifier):
        return source
    return Classifier.from_path(source)


def fine_tune_config(source, epochs: int, seed: int):
    """The settings of a fine-tune: the source run's loss when it has one; Adam at a small learning
    rate (the model is nearly there); no augmentation: shifted and turned copies of a few drawings
    spread over what MNIST calls other digits (a short-topped 7 turned a little is a flagged 1) and
    cost MNIST accuracy (measured: 0.25 points instead of 0.10 for the test's 7s)."""
    import json

    from playground.core.config import TrainConfig
    from playground.core.runs import CONFIG_FILE, DESIGN_FILE

    loss = "cross-entropy"
    folder = Path(source.source)
    for candidate in (folder, folder.parent):
        if not (candidate / DESIGN_FILE).is_file():
            continue  # not a run or model folder: a config.json there is someone else's
        try:
            loss = TrainConfig.from_dict(json.loads(read_regular(candidate / CONFIG_FILE, 1_000_000))).loss
            break
        except Exception:  # noqa: BLE001 - no config there, or not a readable one: the default loss
            continue
    return TrainConfig(loss=loss, optimizer="adam", lr=FINE_TUNE_LR, batch_size=64, epochs=epochs,
                       schedule="constant", seed=seed, augment=False, dataset="mnist", device="cpu")


def fine_tune_data(digits: LoadedDigits, weight: float, mnist_images: int, seed: int):
    """MNIST training images (a seeded sample) plus ``digits`` repeated so that they are ``weight``
    of the whole; MNIST's validation images (a part) and its whole test set. Returns (splits, copies)."""
    import torch

    from playground.core.data import Split, load_dataset

    mnist = load_dataset("mnist", seed=seed)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(mnist.train), generator=g)[:mnist_images].sort().values
    n = len(pick)
    copies = max(len(digits), int(round(n * weight / (1 - weight)))) if len(digits) else 0
    repeat = np.resize(np.arange(len(digits)), copies)
    images = torch.cat([mnist.train.images[pick], torch.from_numpy(digits.images[repeat])])
    labels = torch.cat([mnist.train.labels[pick], torch.from_numpy(digits.labels[repeat])])
    # ``replace`` keeps whatever else the splits carry (their class names).
    return replace(mnist, train=Split(images, labels), val=mnist.val.head(VAL_IMAGES)), copies


def fine_tune_events(source=None, digits: LoadedDigits | None = None, epochs: int = 1,
                     weight: float = DEFAULT_WEIGHT, run_dir: str | Path | None = None,
                     mnist_images: int = MNIST_IMAGES, seed: int = 0,
                     trainer_out: list | None = None) -> Iterator[dict]:
    """Fine-tune ``source`` (a Classifier, a run, model folder or model file, None: the default model)
    on ``digits`` (default: the store's): the Trainer's events, then one ``fine_tuned`` event
    (:meth:`FineTuneResult.as_event`). ``run_dir``: a new run folder (default: one in the runs
    folder). ``trainer_out``: a list that receives the Trainer (to stop it from another thread)."""
    from playground.core.paths import runs_dir
    from playground.core.runs import new_run_dir
    from playground.core.train import Trainer

    if not 1 <= epochs <= 20 or not 0 < weight < 1:
        raise ValueError("a fine-tune takes 1 to 20 epochs and a weight between 0 and 1")
    classifier = _source(source)
    if not reads_digits(classifier):
        raise MyDigitsError(f"{classifier.spec.name} does not classify the digits 0 to 9, so it cannot learn "
                            f"from My digits; choose a model of MNIST's digits")
    digits = MyDigits().load() if digits is None else digits
    if not len(digits):
        raise MyDigitsError("there are no drawings in My digits yet: after a guess, say whether it was right")
    train_on, held = split_held_out(digits)
    data, copies = fine_tune_data(train_on, weight, mnist_images, seed)
    before = _figures(classifier.model, train_on, held, data)
    config = fine_tune_config(classifier, epochs, seed)
    folder = Path(run_dir) if run_dir is not None else new_run_dir(runs_dir(), f"{classifier.spec.name}-my-digits")
    state = {k: v.detach().clone() for k, v in classifier.model.state_dict().items()}
    trainer = Trainer(classifier.spec, config, data=data, run_dir=folder, initial_state=state,
                      min_reports_per_epoch=10)
    if trainer_out is not None:
        trainer_out.append(trainer)
    finished = {}
    for event in trainer.run():
        if event["type"] == "finished":
            finished = event
        yield event
    result = _result(classifier, trainer, train_on, held, data, before, finished, folder, copies)
    yield result.as_event()


def _figures(model, train_on: LoadedDigits, held: LoadedDigits | None, data) -> dict:
    from playground.core.metrics import evaluate

    return {"drawings": _accuracy(model, train_on.images, train_on.labels),
            "held_out": _accuracy(model, held.images, held.labels) if held is not None else None,
            "mnist": evaluate(model, data.test.images, data.test.labels).accuracy}


def _result(classifier, trainer, train_on, held, data, before, finished, folder, copies) -> FineTuneResult:
    from playground.core.build import build_model

    after = {"drawings": before["drawings"], "held_out": before["held_out"], "mnist": None}
    if trainer.best_state is not None:
        model = build_model(classifier.spec).eval()
        model.load_state_dict(trainer.best_state)
        after = _figures_after(model, train_on, held, trainer)
    result = FineTuneResult(
        run_dir=str(folder), source=str(classifier.source), drawings=len(train_on),
        held_out=len(held) if held is not None else 0, copies=copies, mnist_images=len(data.train) - copies,
        drawings_before=before["drawings"], drawings_after=after["drawings"], held_out_before=before["held_out"],
        held_out_after=after["held_out"], mnist_before=before["mnist"], mnist_after=after["mnist"],
        status=finished.get("status", "failed"), message=finished.get("message", ""))
    try:
        import json

        from playground.core.runs import RunError, load_run

        atomic_write_text(folder / RESULT_FILE, json.dumps(asdict(result), indent=2))
        load_run(folder, with_events=False).rename(f"{classifier.spec.name} tuned on my digits")
    except (OSError, RunError):
        pass  # the run itself is complete; only this note or its name is missing
    return result


def _figures_after(model, train_on, held, trainer) -> dict:
    evaluation = trainer.evaluation
    return {"drawings": _accuracy(model, train_on.images, train_on.labels),
            "held_out": _accuracy(model, held.images, held.labels) if held is not None else None,
            "mnist": evaluation.accuracy if evaluation is not None else None}


def fine_tune(source=None, digits: LoadedDigits | None = None, epochs: int = 1, weight: float = DEFAULT_WEIGHT,
              run_dir: str | Path | None = None, mnist_images: int = MNIST_IMAGES, seed: int = 0) -> FineTuneResult:
    """:func:`fine_tune_events` to the end; its result."""
    result = None
    for event in fine_tune_events(source, digits, epochs, weight, run_dir, mnist_images, seed):
        if event["type"] == "fine_tuned":
            result = {k: v for k, v in event.items() if k != "type"}
        elif event["type"] == "error":
            raise MyDigitsError(event.get("message", "the fine-tune failed"))
    return FineTuneResult(**result)
