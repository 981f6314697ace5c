"""The image data sets: MNIST from the app's own copy, and torchvision's look-alikes when online.

MNIST ships gzip'd in ``assets/mnist``. On first use the files are extracted (checked against the
published MD5 sums) into the user cache folder in torchvision's layout, then read through
torchvision's ``MNIST`` class. Every set comes back as uint8 images ``(N, 28, 28)`` and int64
labels, with a validation set split off the training set by a seeded permutation.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from playground.core.atomic import atomic_path
from playground.core.paths import assets_dir, cache_dir

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

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


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
    name: str
    train: Split
    val: Split
    test: Split

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]


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
    return load_dataset(config.dataset, config.val_fraction, config.seed, config.limit, config.test_limit)
