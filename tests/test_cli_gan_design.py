"""`playground summary` and `playground presets` know GAN designs."""

from __future__ import annotations

import json
import subprocess
import sys

from playground.core.gan_spec import GAN_PRESETS


def run(*args):
    return subprocess.run([sys.executable, "-m", "playground", *args], capture_output=True, text=True, timeout=120)


def test_summary_of_a_gan_shows_both_stacks_and_the_end_rules(tmp_path):
    done = run("summary", "--preset", "cgan", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["kind"] == "gan" and data["conditional"] and data["valid"]
    assert data["generator"]["input_shape"] == [74] and data["generator"]["output_shape"] == [1, 28, 28]
    assert data["discriminator"]["input_shape"] == [11, 28, 28] and data["discriminator"]["output_shape"] == [1]
    spec = GAN_PRESETS["gan-mlp"].spec
    broken = spec.with_stack("generator", spec.generator[:-1])  # no Unflatten: ends at 784 values
    path = tmp_path / "broken.json"
    broken.save(path)
    done = run("summary", str(path))
    assert done.returncode == 1
    assert "Generator" in done.stdout and "must end at a 1x28x28 image" in done.stdout


def test_presets_lists_the_gans_with_their_kind():
    done = run("presets", "--json")
    kinds = {p["name"]: p["kind"] for p in json.loads(done.stdout)}
    assert kinds["dcgan"] == "gan" and kinds["cgan"] == "gan" and kinds["fast-cnn"] == "classifier"
    assert "GAN: A small DCGAN" in run("presets").stdout
