"""What the Train area shows of a folder data set before training: its classes and how many images
each has in the training and test sets, how the test set is made (in words), the entries skipped,
and a few images of each class as the network will see them (after the chosen preprocessing).

Qt-free, so that the window computes it off the GUI thread and tests check it headless. Only a few
images per class are decoded: a folder of thousands of images previews in well under a second.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from playground.core.data import (LAYOUT_FOLDERS, TEST_FRACTION, DataError, FolderScan, folder_image,
                                  scan_folder_dataset)
from playground.core.text import counted, printable

SAMPLES_PER_CLASS = 8  # images decoded for each class shown
MAX_CLASSES_SHOWN = 40  # classes with sample images; the counts of every class are listed


@dataclass(frozen=True)
class FolderPreview:
    """A folder data set seen from the window. ``samples[i]`` are uint8 28x28 arrays of class i
    (only for the first ``MAX_CLASSES_SHOWN`` classes); ``unreadable`` the sample files that could
    not be decoded (path, reason), which training will skip too."""

    folder: str
    class_names: tuple[str, ...]
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    layout: str
    skipped: tuple[tuple[str, str], ...]
    samples: tuple[tuple, ...]
    unreadable: tuple[tuple[str, str], ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def total(self) -> int:
        return sum(self.train_counts) + sum(self.test_counts)

    def split_text(self, val_fraction: float = 0.1) -> str:
        """How the images are used, in words."""
        train, test = sum(self.train_counts), sum(self.test_counts)
        where = ("from its train/ and test/ folders" if self.layout == LAYOUT_FOLDERS else
                 f"a seeded {TEST_FRACTION:.0%} of each class kept aside to test, the same for every run")
        return (f"{counted(self.total, 'image')} in {self.num_classes} classes: {train:,} to train "
                f"({val_fraction:.0%} of them to validate), {test:,} to test ({where}).")

    def skipped_lines(self) -> list[str]:
        """Each entry that will not be used, with why (the folder's own part of the path left out)."""
        lines = []
        for path, reason in (*self.skipped, *self.unreadable):
            try:
                shown = os.path.relpath(path, self.folder)
            except ValueError:  # another drive on Windows
                shown = path
            lines.append(f"{printable(shown)}: {printable(reason)}")
        return lines


def _test_counts(scan: FolderScan) -> tuple[int, ...]:
    if scan.layout == LAYOUT_FOLDERS:
        return tuple(scan.counts("test"))
    # as data._test_split keeps aside: a share of each class, at least 1 of a class with 2 or more
    return tuple(max(1, round(n * TEST_FRACTION)) if n >= 2 else 0 for n in scan.counts("train"))


def _samples(files: tuple[str, ...], preprocess: str, unreadable: list, should_stop) -> tuple:
    """Up to ``SAMPLES_PER_CLASS`` decoded images of one class, spread over its files."""
    step = max(1, len(files) // SAMPLES_PER_CLASS)
    images = []
    for path in files[::step]:
        if len(images) >= SAMPLES_PER_CLASS or (should_stop is not None and should_stop()):
            break
        try:
            images.append(folder_image(path, preprocess))
        except ValueError as exc:
            unreadable.append((path, str(exc).removeprefix(f"{path}: ")))
        except Exception as exc:  # whatever a damaged file makes a decoder raise  # noqa: BLE001
            unreadable.append((path, f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})"))
    return tuple(images)


def preview_folder(folder: str | os.PathLike, preprocess: str = "mnist", should_stop=None) -> FolderPreview:
    """Scan ``folder`` and decode a few images of each class; ``DataError`` (its message for the
    window) if it cannot be a data set. ``should_stop()`` returning True cuts the decoding short."""
    scan = scan_folder_dataset(folder)
    unreadable: list[tuple[str, str]] = []
    samples = []
    for files in scan.parts["train"][:MAX_CLASSES_SHOWN]:
        samples.append(_samples(files, preprocess, unreadable, should_stop))
    if samples and not any(samples) and not (should_stop is not None and should_stop()):
        raise DataError(f"{printable(folder)}: none of the images tried could be read (the first: "
                        f"{printable(unreadable[0][0])}: {unreadable[0][1]})")
    test = _test_counts(scan)
    train = tuple(n - t for n, t in zip(scan.counts("train"), test)) if scan.layout != LAYOUT_FOLDERS \
        else tuple(scan.counts("train"))
    return FolderPreview(str(folder), scan.class_names, train, test, scan.layout, scan.skipped, tuple(samples),
                         tuple(unreadable))
