"""A run trained with ``--preprocess resize`` is served the same way: the run folder, its model file
and its standalone script all prepare image files with the run's choice (issue 17, bug 1)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.config import TrainConfig
from playground.core.export import export, load_model_file, model_file_preprocess
from playground.core.predict import Classifier
from playground.core.preprocess import prepare


def small_digit():
    """A bar in a corner of a big white page: "mnist" crops and centres it, "resize" keeps the page."""
    a = np.ones((100, 100), np.float32)
    a[5:30, 5:10] = 0.0
    return a


def test_prepare_differs_by_choice():
    grey = small_digit()
    mnist, resize = prepare(grey, "mnist"), prepare(grey, "resize")
    assert mnist.shape == resize.shape == (28, 28)
    assert resize[:9, :4].mean() > 0.2 and mnist[:9, :4].max() == 0  # resize keeps the corner
    with pytest.raises(ValueError, match="unknown preprocessing"):
        prepare(grey, "zoom")


@pytest.fixture
def resize_run(tmp_path):
    spec = PRESETS["fast-cnn"].spec
    run = tmp_path / "run"
    run.mkdir()
    spec.save(run / "design.json")
    TrainConfig(dataset="folder", data_folder=str(tmp_path), preprocess="resize").save(run / "config.json")
    from safetensors.torch import save_file
    save_file(build_model(spec).state_dict(), str(run / "weights_best.safetensors"))
    return run


def test_a_resize_run_is_served_resized(resize_run, tmp_path):
    classifier = Classifier.from_path(resize_run)
    assert classifier.preprocess == "resize"
    np.testing.assert_array_equal(classifier.prepare(small_digit()), prepare(small_digit(), "resize"))
    model = tmp_path / "m.pgmodel.safetensors"
    export("model", model, classifier.spec, classifier.model.state_dict(), preprocess=classifier.preprocess)
    assert model_file_preprocess(load_model_file(model)[2]) == "resize"
    assert Classifier.from_path(model).preprocess == "resize"


def test_old_runs_and_files_stay_mnist(resize_run):
    (resize_run / "config.json").unlink()
    assert Classifier.from_path(resize_run).preprocess == "mnist"
    assert model_file_preprocess({}) == "mnist"
    assert model_file_preprocess({"preprocessing": json.dumps({"values": "x"})}) == "mnist"


def test_the_script_and_predict_use_the_runs_choice(resize_run, tmp_path):
    image = tmp_path / "bar.png"
    Image.fromarray((small_digit() * 255).astype(np.uint8)).save(image)
    classifier = Classifier.from_path(resize_run)
    expected = classifier.probabilities(prepare(small_digit(), "resize"))
    script = tmp_path / "net.py"
    export("script", script, classifier.spec, classifier.model.state_dict(), preprocess="resize")
    assert "PREPROCESS = 'resize'" in script.read_text()
    for command in ([sys.executable, str(script), str(image), "--json"],
                    [sys.executable, "-m", "playground", "predict", str(image), "--model", str(resize_run),
                     "--json"]):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        probs = json.loads(out.splitlines()[0])["probabilities"]
        np.testing.assert_allclose(probs, expected, atol=1e-4)
