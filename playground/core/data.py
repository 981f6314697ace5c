"""The image data sets: MNIST from the app's own copy, torchvision's look-alikes (online, or from a
local folder of their IDX files), and folder data sets (one subfolder of images per class).

MNIST ships gzip'd in ``assets/mnist``. On first use the files are extracted (checked against the
published MD5 sums) into the user cache folder in torchvision's layout, then read through
torchvision's ``MNIST`` class. Every set comes back as uint8 images ``(N, 28, 28)`` and int64
labels, with a validation set split off the training set by a seeded permutation.

A folder data set (:func:`load_folder_dataset`) is a folder with one subfolder per class, named
after the class; its images (any size, PNG, JPEG, BMP, GIF, TIFF or WebP, colour or grey, either
polarity) go through the same MNIST-style preprocessing as a drawing (or a plain resize) to 28x28.
Its ``train/`` and ``test/`` subfolders are used when present (each with one subfolder per class),
otherwise a seeded share of each class is kept aside as the test set. Files that cannot be used are
listed in ``DataSplits.skipped`` with the reason, never a crash. :func:`scan_folder_dataset` lists
a folder's classes and files without decoding anything (for a preview).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from playground.core.atomic import atomic_path
from playground.core.paths import assets_dir, cache_dir
from playground.core.text import printable

MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

# name -> (torchvision class name, bundled with the app)
DATASETS = {
    "mnist": ("MNIST", True),
    "fashion-mnist": ("FashionMNIST", False),
    "kmnist": ("KMNIST", False),
}
FOLDER = "folder"  # the data set name of a folder data set (not in DATASETS: it has no fixed classes)

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


def default_class_names(count: int = 10, dataset: str = "mnist") -> list[str]:
    """The class names of a run or model that recorded none: the data set's usual names when it has
    ``count`` classes, else "0", "1", ... (MNIST's, for every run from before class names)."""
    names = CLASS_NAMES.get(dataset)
    return list(names) if names is not None and len(names) == count else [str(i) for i in range(count)]


MAX_CLASS_NAME_CHARS = 200


def check_class_names(value, count: int) -> list[str] | None:
    """``value`` if it is a list of ``count`` class names (text, 1 to ``MAX_CLASS_NAME_CHARS``
    characters each; made printable), else None: for names read from a stranger's file."""
    if (not isinstance(value, list) or len(value) != count
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_CLASS_NAME_CHARS for v in value)):
        return None
    return [printable(v) for v in value]


class DataError(RuntimeError):
    """A data set cannot be had; the message says why and what to do."""


@dataclass(frozen=True)
class Split:
    images: "torch.Tensor"  # uint8 (N, 28, 28)  # noqa: F821
    labels: "torch.Tensor"  # int64 (N,)  # noqa: F821

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        return Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class DataSplits:
    """A data set's three splits. ``classes`` names the classes (label i is ``classes[i]``; None: the
    named data set's usual names). A folder data set also says how its test set was made
    (``layout``: ``"train/test folders"`` or ``"seeded split"``), where it came from (``folder``) and
    which files it skipped and why (``skipped``: (path, reason) pairs)."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...] | None = None
    folder: str = ""
    layout: str = ""
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def class_names(self) -> list[str]:
        return list(self.classes) if self.classes is not None else list(CLASS_NAMES[self.name])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def dataset_root() -> Path:
    return cache_dir() / "datasets"


def ensure_bundled_mnist(root: Path | None = None) -> Path:
    """Extract the bundled MNIST into ``root`` (the cache) unless already there; return ``root``."""
    root = root or dataset_root()
    raw = root / "MNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data cache folder {raw} ({exc.strerror or exc}); set "
                        f"PLAYGROUND_CACHE_DIR to a folder you can write") from None
    source = assets_dir() / "mnist"
    for name, md5 in MNIST_FILES.items():
        target = raw / name
        if target.exists() and target.stat().st_size > 0:
            continue
        gz = source / f"{name}.gz"
        try:
            data = gzip.decompress(gz.read_bytes())
        except (OSError, EOFError) as exc:
            raise DataError(f"the bundled MNIST file {gz} cannot be read ({exc}); "
                            "reinstall the app") from None
        if hashlib.md5(data).hexdigest() != md5:
            raise DataError(f"the bundled MNIST file {gz} is damaged (checksum mismatch); reinstall the app")
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        except OSError as exc:  # a full disk, say: the partial file is gone, the message says where
            raise DataError(f"cannot extract MNIST into the data cache folder {raw} ({exc.strerror or exc}); "
                            f"free some space there (it needs about 55 MB) or set PLAYGROUND_CACHE_DIR to "
                            f"another folder") from None
    return root


def _torchvision_set(name: str, train: bool, root: Path, download: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, DATASETS[name][0])
    return cls(str(root), train=train, download=download)


@lru_cache(maxsize=4)
def load_raw(name: str = "mnist") -> tuple[Split, Split]:
    """The full training and test sets of ``name`` as uint8 tensors (cached in memory)."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    bundled = DATASETS[name][1]
    root = ensure_bundled_mnist() if bundled else dataset_root()
    try:
        sets = [_torchvision_set(name, train, root, download=not bundled) for train in (True, False)]
    except Exception as exc:  # torchvision raises URLError, RuntimeError, HTTPError... when offline
        if bundled:
            raise DataError(f"the MNIST copy in {root} cannot be read ({exc}); delete that folder "
                            f"and start again to re-extract it") from None
        raise DataError(
            f"{name} is not bundled with the app and could not be downloaded ({exc.__class__.__name__}: "
            f"{exc}). Connect to the internet once so torchvision can fetch it into {root}, "
            f"or use 'mnist', which ships with the app."
        ) from None
    return tuple(Split(s.data, s.targets) for s in sets)  # type: ignore[return-value]


def split_validation(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Split off a random ``fraction`` of ``split`` (seeded) as the validation set."""
    import torch

    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1); got {fraction}")
    n_val = int(round(len(split) * fraction))
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    return (Split(split.images[train_idx], split.labels[train_idx]),
            Split(split.images[val_idx], split.labels[val_idx]))


def load_dataset(name: str = "mnist", val_fraction: float = 0.1, seed: int = 0,
                 limit: int = 0, test_limit: int = 0) -> DataSplits:
    """Training, validation and test splits of ``name``.

    ``limit`` > 0 keeps only the first ``limit`` training images (before the validation split);
    ``test_limit`` > 0 keeps only the first ``test_limit`` test images. Each cuts only its own set,
    so a run on few training images is still evaluated on the whole test set.
    """
    train, test = load_raw(name)
    if limit:
        train = train.head(limit)
    if test_limit:
        test = test.head(test_limit)
    train, val = split_validation(train, val_fraction, seed)
    return DataSplits(name, train, val, test)


def load_config_dataset(config) -> DataSplits:
    """The splits a ``TrainConfig`` asks for: every caller that trains or evaluates a run uses this,
    so that a new data setting reaches all of them."""
    if config.dataset == FOLDER:
        if not config.data_folder.strip():
            raise DataError("the folder data set needs its folder: set data_folder (playground train --data "
                            "FOLDER; in the Train area, Add a folder...)")
        return load_folder_dataset(config.data_folder, config.val_fraction, config.seed, config.limit,
                                   config.test_limit, config.preprocess)
    if config.data_folder:  # Fashion-MNIST or KMNIST from a local folder of their IDX files
        train, test = load_idx_folder(config.data_folder, config.dataset)
        return _splits(config.dataset, train, test, config.val_fraction, config.seed, config.limit,
                       config.test_limit)
    return load_dataset(config.dataset, config.val_fraction, config.seed, config.limit, config.test_limit)


def _splits(name: str, train: Split, test: Split, val_fraction: float, seed: int, limit: int,
            test_limit: int) -> DataSplits:
    if limit:
        train = train.head(limit)
    if test_limit:
        test = test.head(test_limit)
    train, val = split_validation(train, val_fraction, seed)
    return DataSplits(name, train, val, test)


# -- Fashion-MNIST and KMNIST from a local folder of IDX files ---------------------------------------

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MAX_IDX_IMAGES = 1_000_000  # Fashion-MNIST and KMNIST have 60,000 + 10,000


def _read_idx(folder: Path, name: str, limit: int) -> bytes:
    """An IDX file of ``folder`` (plain or ``.gz``; also in a ``raw/`` subfolder, torchvision's
    layout), read up to ``limit`` bytes; ``DataError`` if missing or too large."""
    from playground.core.files import open_regular, read_regular

    for place in (folder, folder / "raw"):
        for file, packed in ((place / name, False), (place / f"{name}.gz", True)):
            if not os.path.lexists(file):
                continue
            try:
                if not packed:
                    return read_regular(file, limit)
                with open_regular(file, limit) as raw, gzip.open(raw, "rb") as stream:
                    data = stream.read(limit + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise DataError(f"{printable(file)} cannot be read ({getattr(exc, 'strerror', None) or exc})") \
                    from None
            if len(data) > limit:
                raise DataError(f"{printable(file)}: larger than an IDX file of {MAX_IDX_IMAGES:,} images can be")
            return data
    raise DataError(f"{printable(folder)} has no {name} (or {name}.gz); give the folder that holds the "
                    f"four IDX files of the data set (train-images, train-labels, t10k-images, t10k-labels)")


def _idx_array(data: bytes, dims: int, source: str):
    import numpy as np

    if len(data) < 4 + 4 * dims or data[:4] != bytes([0, 0, 8, dims]):
        raise DataError(f"{source}: not an IDX file of unsigned bytes with {dims} dimension(s)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    if dims == 3 and shape[1:] != (28, 28):
        raise DataError(f"{source}: images of {shape[1]}x{shape[2]} pixels; this app reads 28x28")
    count = 1
    for n in shape:
        count *= n
    body = data[4 + 4 * dims:]
    if shape[0] > MAX_IDX_IMAGES or len(body) != count:
        raise DataError(f"{source}: its header says {shape} but it holds {len(body):,} bytes (damaged?)")
    return np.frombuffer(body, np.uint8).reshape(shape).copy()


def load_idx_folder(folder: str | os.PathLike, name: str = "fashion-mnist") -> tuple[Split, Split]:
    """The training and test sets of an MNIST-format data set (Fashion-MNIST, KMNIST) from a local
    folder of its IDX files (plain or gzip'd), without any download; ``DataError`` says what is
    missing or wrong."""
    import torch

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{printable(folder)}: not a folder; give the folder with the IDX files of {name}")
    sets = []
    for part in ("train", "test"):
        images_name, labels_name = IDX_FILES[part]
        images = _idx_array(_read_idx(folder, images_name, 16 + MAX_IDX_IMAGES * 784), 3, images_name)
        labels = _idx_array(_read_idx(folder, labels_name, 8 + MAX_IDX_IMAGES), 1, labels_name)
        if len(images) != len(labels):
            raise DataError(f"{printable(folder)}: {len(images):,} {part} images but {len(labels):,} labels")
        if len(labels) and int(labels.max()) >= len(CLASS_NAMES.get(name, range(10))):
            raise DataError(f"{printable(folder)}: {labels_name} has labels above 9; not {name}")
        sets.append(Split(torch.from_numpy(images), torch.from_numpy(labels.astype("int64"))))
    return sets[0], sets[1]


# -- folder data sets ------------------------------------------------------------------------------

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".tif", ".tiff",
                            ".webp"})
PREPROCESSING = ("mnist", "resize")  # described in config.PREPROCESS; preprocess.PREPARATIONS
MAX_FOLDER_IMAGES = 200_000  # images in one folder data set (each is decoded: minutes at this size)
MAX_FOLDER_CLASSES = 1_000
TEST_FRACTION = 0.2  # of each class, kept aside as the test set when there is no test/ folder
TEST_SPLIT_SEED = 0  # the same test set whatever the run's seed, so runs compare
TRAIN_FOLDER, TEST_FOLDER = "train", "test"
LAYOUT_FOLDERS = "train/test folders"
LAYOUT_SPLIT = "seeded split"


@dataclass(frozen=True)
class FolderScan:
    """What a folder data set holds, found without decoding any image: the class names (sorted),
    each part's image files by class (``parts["train"]``, and ``parts["test"]`` with a test/
    folder), how it is laid out, and the entries that are not images of a class (path, reason)."""

    folder: str
    class_names: tuple[str, ...]
    parts: dict[str, tuple[tuple[str, ...], ...]]
    layout: str
    skipped: tuple[tuple[str, str], ...]

    def counts(self, part: str = "train") -> list[int]:
        """Image files per class in ``part`` (before decoding: some may still be skipped)."""
        return [len(files) for files in self.parts[part]]


def natural_key(name: str) -> list:
    """Sort key putting "2" before "10" and "img9" before "img10"."""
    return [(0, int(p), p) if p.isdigit() else (1, 0, p.casefold()) for p in re.split(r"(\d+)", name) if p]


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            entries = []
            for entry in it:
                entries.append(entry)
                if len(entries) > MAX_FOLDER_IMAGES:
                    raise DataError(f"{printable(folder)} holds more than {MAX_FOLDER_IMAGES:,} entries; "
                                    f"a folder data set has at most {MAX_FOLDER_IMAGES:,} images")
    except OSError as exc:
        raise DataError(f"{printable(folder)} cannot be read ({exc.strerror or exc})") from None
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: natural_key(e.name))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link; a link loop is not a folder
    except OSError:
        return False


def _scan_classes(folder: Path, skipped: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Class name -> image files of the class folders in ``folder``; other entries go to ``skipped``."""
    classes: dict[str, list[str]] = {}
    for entry in _entries(folder):
        if not _is_dir(entry):
            skipped.append((entry.path, "a file beside the class folders (images go in one folder per class)"))
            continue
        files = classes.setdefault(printable(entry.name), [])
        for item in _entries(Path(entry.path)):
            if _is_dir(item):
                skipped.append((item.path, "a folder inside a class folder (not read)"))
            elif Path(item.name).suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((item.path, "not an image file by its name (this app reads PNG, JPEG, BMP, "
                                           "GIF, TIFF and WebP)"))
            else:
                files.append(item.path)
        if len(classes) > MAX_FOLDER_CLASSES:
            raise DataError(f"{printable(folder)} has more than {MAX_FOLDER_CLASSES:,} class folders")
    return classes


def scan_folder_dataset(folder: str | os.PathLike) -> FolderScan:
    """The classes and image files of a folder data set, without decoding anything (fast: for the
    preview and the class counts). ``DataError`` if it is not a folder, has fewer than 2 classes, a
    class without image files, more than ``MAX_FOLDER_IMAGES`` images, or train/ and test/ folders
    whose classes differ."""
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"{printable(folder)}: not a folder; give a folder with one subfolder of images per class")
    skipped: list[tuple[str, str]] = []
    has_train, has_test = (path / TRAIN_FOLDER).is_dir(), (path / TEST_FOLDER).is_dir()
    if has_train and has_test:
        layout, found = LAYOUT_FOLDERS, {part: _scan_classes(path / part, skipped) for part in ("train", "test")}
        others = [e for e in _entries(path) if e.name not in (TRAIN_FOLDER, TEST_FOLDER)]
        skipped += [(e.path, "beside train/ and test/ (not read)") for e in others]
        if set(found["train"]) != set(found["test"]):
            differ = sorted(set(found["train"]) ^ set(found["test"]), key=natural_key)
            raise DataError(f"{printable(folder)}: train/ and test/ must have the same class folders; "
                            f"only one of them has {', '.join(differ[:5])}")
    else:
        layout, found = LAYOUT_SPLIT, {"train": _scan_classes(path, skipped)}
    names = sorted(found["train"], key=natural_key)
    if len(names) < 2:
        raise DataError(f"{printable(folder)} has {len(names)} class folder{'s' if len(names) != 1 else ''}; a "
                        f"data set needs at least 2 (one subfolder of images per class, named after the class)")
    long = [n for n in names if len(n) > MAX_CLASS_NAME_CHARS]
    if long:
        raise DataError(f"{printable(folder)}: the class folder name {long[0][:40]!r}... has {len(long[0])} "
                        f"characters; a class name has at most {MAX_CLASS_NAME_CHARS}: rename the folder")
    for part, classes in found.items():
        empty = [n for n in names if not classes[n]]
        if empty:
            where = f"{part}/" if layout == LAYOUT_FOLDERS else "the folder"
            nested = any(reason.startswith("a folder inside") and Path(p).parent.name == empty[0]
                         for p, reason in skipped)
            hint = (f"; it holds folders: is {printable(Path(folder) / empty[0])} the data set?" if nested
                    else "; add some or remove the folder")
            raise DataError(f"{printable(folder)}: the class {empty[0]!r} in {where} has no images "
                            f"(PNG, JPEG, BMP, GIF, TIFF or WebP){hint}")
    total = sum(len(files) for classes in found.values() for files in classes.values())
    if total > MAX_FOLDER_IMAGES:
        raise DataError(f"{printable(folder)} holds {total:,} images; a folder data set has at most "
                        f"{MAX_FOLDER_IMAGES:,}")
    parts = {part: tuple(tuple(classes[n]) for n in names) for part, classes in found.items()}
    return FolderScan(str(folder), tuple(names), parts, layout, tuple(skipped))


def folder_image(path: str, preprocess: str = "mnist"):
    """One image file as the uint8 28x28 white-on-black array a folder data set holds;
    ``ValueError`` with the reason if it cannot be used."""
    import numpy as np

    from playground.core.preprocess import load_image, prepare

    # bounded: only ordinary formats, at most MAX_PIXELS, never a pipe
    image = prepare(load_image(path), preprocess)
    if image is None:
        raise ValueError(f"{path}: no ink found (the image is blank)")
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


class _Counter:
    """Counts decoded images across the splits for a ``progress(done, total)`` callback, which
    stops the loading by returning False."""

    def __init__(self, total: int, progress):
        self.done, self.total, self.progress = 0, total, progress

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None and (self.done % 64 == 0 or self.done == self.total):
            if self.progress(self.done, self.total) is False:
                raise DataError("loading the folder was stopped")


def _decode(files: list[tuple[str, int]], preprocess: str, skipped: list[tuple[str, str]],
            counter: _Counter) -> Split:
    """The images of (path, label) pairs; unusable files go to ``skipped``."""
    import numpy as np
    import torch

    images = np.zeros((len(files), 28, 28), np.uint8)
    labels, n = [], 0
    for path, label in files:
        counter.tick()
        try:
            images[n] = folder_image(path, preprocess)
        except ValueError as exc:
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        except Exception as exc:  # whatever a damaged file makes a decoder raise  # noqa: BLE001
            skipped.append((path, f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})"))
            continue
        labels.append(label)
        n += 1
    return Split(torch.from_numpy(images[:n].copy()), torch.tensor(labels, dtype=torch.int64))


def _shuffled(files_by_class, seed: int) -> list[tuple[str, int]]:
    """(path, label) of every file, in a seeded order that mixes the classes (so a limit keeps some
    of each)."""
    import torch

    pairs = [(path, label) for label, files in enumerate(files_by_class) for path in files]
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
    return [pairs[i] for i in order]


def _test_split(files_by_class) -> tuple[list[list[str]], list[list[str]]]:
    """A fixed share of each class (``TEST_FRACTION``, at least 1 of a class with 2 or more) kept
    aside as the test set, the same whatever the run's seed."""
    import torch

    train, test = [], []
    generator = torch.Generator().manual_seed(TEST_SPLIT_SEED)
    for files in files_by_class:
        order = torch.randperm(len(files), generator=generator).tolist()
        n_test = max(1, round(len(files) * TEST_FRACTION)) if len(files) >= 2 else 0
        test.append(sorted((files[i] for i in order[:n_test]), key=natural_key))
        train.append(sorted((files[i] for i in order[n_test:]), key=natural_key))
    return train, test


def load_folder_dataset(folder: str | os.PathLike, val_fraction: float = 0.1, seed: int = 0, limit: int = 0,
                        test_limit: int = 0, preprocess: str = "mnist", progress=None) -> DataSplits:
    """A folder data set (see the module's docstring) as 28x28 uint8 splits, with its class names,
    layout and skipped files. ``limit`` / ``test_limit`` > 0 decode only that many training / test
    images (a seeded mix of the classes). ``progress(done, total)``, if given, is called every 64
    images (and at the end); returning False stops the loading (``DataError``). ``DataError`` for a
    folder that cannot be a data set."""
    if preprocess not in PREPROCESSING:
        raise DataError(f"unknown preprocessing {preprocess!r}; choose one of: {', '.join(PREPROCESSING)}")
    scan = scan_folder_dataset(folder)
    if scan.layout == LAYOUT_FOLDERS:
        train_files, test_files = scan.parts["train"], scan.parts["test"]
    else:
        train_files, test_files = _test_split(scan.parts["train"])
    skipped = list(scan.skipped)
    train_pairs, test_pairs = _shuffled(train_files, seed), _shuffled(test_files, TEST_SPLIT_SEED)
    train_pairs = train_pairs[:limit] if limit else train_pairs
    test_pairs = test_pairs[:test_limit] if test_limit else test_pairs
    counter = _Counter(len(train_pairs) + len(test_pairs), progress)
    train = _decode(train_pairs, preprocess, skipped, counter)
    test = _decode(test_pairs, preprocess, skipped, counter)
    if not len(train):
        raise DataError(f"{printable(folder)}: none of its training images could be read "
                        f"(the first: {printable(skipped[0][0])}: {skipped[0][1]})")
    train, val = split_validation(train, val_fraction, seed)
    return DataSplits(FOLDER, train, val, test, classes=scan.class_names, folder=str(folder), layout=scan.layout,
                      skipped=tuple(skipped))
