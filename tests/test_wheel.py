"""The app works from an installed wheel, not only from a checkout: the bundled MNIST ships inside."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True)
    (path,) = out.glob("*.whl")
    return path


def test_wheel_contains_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "README.md"):
        assert f"playground/assets/mnist/{f}" in names
    assert "playground/core/spec.py" in names
    for f in ("design.json", "weights.safetensors", "config.json", "README.md"):
        assert f"playground/assets/default_model/{f}" in names


def test_installed_wheel_loads_mnist(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True)
    code = ("import playground.core.paths as p, playground.core.data as d; "
            f"a = p.assets_dir(); assert str(a).startswith({str(target)!r}), a; "
            "s = d.load_dataset(limit=100); print(len(s.train), s.test.labels[:3].tolist()); "
            "from playground.core.predict import Classifier; c = Classifier.from_path(); "
            "assert str(c.source).startswith(%r)" % str(target))
    env = {**os.environ, "PYTHONPATH": str(target), "PLAYGROUND_CACHE_DIR": str(tmp_path / "cache")}
    # Run from an empty folder so the checkout cannot be imported by accident.
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["90", "[7,", "2,", "1]"]
