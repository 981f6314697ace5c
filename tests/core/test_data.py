"""The bundled MNIST and the downloadable look-alikes."""

from __future__ import annotations

import hashlib
import socket

import pytest
import torch

from playground.core import data


def test_bundled_mnist_loads_as_uint8(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (54_000, 6_000, 10_000)
    for split in (mnist.train, mnist.val, mnist.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == torch.int64
    # The first test labels of the original release.
    assert mnist.test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # Every class is present in a validation split, in roughly its share.
    counts = torch.bincount(mnist.val.labels, minlength=10)
    assert counts.min() > 450 and counts.max() < 750


def test_extracted_files_match_published_checksums(app_folders, mnist):
    raw = app_folders["cache"] / "datasets" / "MNIST" / "raw"
    for name, md5 in data.MNIST_FILES.items():
        assert hashlib.md5((raw / name).read_bytes()).hexdigest() == md5


def test_validation_split_is_seeded_and_disjoint(mnist):
    train, test = data.load_raw("mnist")
    a_train, a_val = data.split_validation(train.head(1000), 0.2, seed=3)
    b_train, b_val = data.split_validation(train.head(1000), 0.2, seed=3)
    c_train, c_val = data.split_validation(train.head(1000), 0.2, seed=4)
    assert len(a_val) == 200 and len(a_train) == 800
    assert torch.equal(a_val.images, b_val.images)
    assert not torch.equal(a_val.images, c_val.images)
    # Train and validation images are different images (compare as rows of bytes).
    train_rows = {bytes(x.flatten().tolist()) for x in a_train.images}
    assert not any(bytes(x.flatten().tolist()) in train_rows for x in a_val.images)


def test_limit_keeps_few_training_images():
    splits = data.load_dataset(limit=600, val_fraction=0.1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (540, 60, 10_000)


def test_damaged_bundle_is_reported(tmp_path, monkeypatch):
    fake_assets = tmp_path / "assets"
    (fake_assets / "mnist").mkdir(parents=True)
    for name in data.MNIST_FILES:
        (fake_assets / "mnist" / f"{name}.gz").write_bytes(b"not gzip at all")
    monkeypatch.setattr(data, "assets_dir", lambda: fake_assets)
    with pytest.raises(data.DataError, match="cannot be read.*reinstall"):
        data.ensure_bundled_mnist(tmp_path / "cache")


def test_offline_download_gives_a_clear_message(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    data.load_raw.cache_clear()
    with pytest.raises(data.DataError) as info:
        data.load_dataset("fashion-mnist")
    message = str(info.value)
    assert "fashion-mnist is not bundled" in message and "use 'mnist'" in message
    with pytest.raises(data.DataError, match="unknown data set 'cifar'"):
        data.load_dataset("cifar")


def test_a_cache_that_cannot_be_written_is_a_clear_data_error(tmp_path):
    """MNIST extracted into a cache whose files may not grow past 1 MB (as on a full disk): a message
    that says where and what to do, and no partial file left."""
    import signal
    import subprocess
    import sys

    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))\n"
            "from pathlib import Path\n"
            "from playground.core.data import DataError, ensure_bundled_mnist\n"
            "try:\n"
            f"    ensure_bundled_mnist(Path({str(tmp_path)!r}))\n"
            "except DataError as exc:\n"
            "    print(exc)\n")
    assert signal.SIGXFSZ  # POSIX only, like the rest of these file-size tests
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"cannot extract MNIST into the data cache folder {tmp_path / 'MNIST' / 'raw'} "
                                 f"(File too large); free some space there")
    assert [p.name for p in (tmp_path / "MNIST" / "raw").iterdir() if p.stat().st_size > 1_000_000] == []
    assert not [p for p in (tmp_path / "MNIST" / "raw").iterdir() if p.name.endswith(".tmp")]
