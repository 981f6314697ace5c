"""Folder data sets (one subfolder of images per class), IDX folders, and n classes through the core."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from playground.core import data
from playground.core.config import ConfigError, TrainConfig
from playground.core.data import DataError, load_config_dataset, load_folder_dataset, scan_folder_dataset
from playground.core.metrics import evaluate
from playground.core.presets import get_preset
from playground.core.shapes import adapt_to_classes, infer_shapes
from playground.core.spec import DesignError, NetworkSpec, apply_fix
from pngs import png_claiming

SHAPES = ("circle", "cross", "square")


def shape_image(kind: str, rng: np.random.Generator, dark_on_light: bool = True, size=None) -> Image.Image:
    """A shape drawn at a random place and size, in either polarity, with a little noise."""
    w, h = size or (int(rng.integers(40, 90)), int(rng.integers(40, 90)))
    paper, ink = (225, 30) if dark_on_light else (20, 235)
    image = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(image)
    s = int(min(w, h) * rng.uniform(0.4, 0.7))
    x, y = int(rng.integers(2, w - s - 1)), int(rng.integers(2, h - s - 1))
    if kind == "circle":
        draw.ellipse([x, y, x + s, y + s], outline=ink, width=3)
    elif kind == "cross":
        draw.line([x, y, x + s, y + s], fill=ink, width=3)
        draw.line([x, y + s, x + s, y], fill=ink, width=3)
    else:
        draw.rectangle([x, y, x + s, y + s], outline=ink, width=3)
    noisy = np.asarray(image, np.float32) + rng.normal(0, 4, (h, w))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def write_shapes(folder, per_class: int, seed: int = 0, classes=SHAPES):
    rng = np.random.default_rng(seed)
    for kind in classes:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = shape_image(kind, rng, dark_on_light=bool(i % 3))
            if i % 2:
                image.save(folder / kind / f"{i}.png")
            else:
                image.convert("RGB").save(folder / kind / f"{i}.jpg", quality=80)
    return folder


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"), 40)


def test_a_folder_is_a_data_set_with_its_class_names(shapes):
    splits = load_folder_dataset(shapes, val_fraction=0.1, seed=0)
    assert splits.class_names == list(SHAPES) and splits.num_classes == 3
    assert splits.layout == data.LAYOUT_SPLIT and splits.skipped == ()
    # A fifth of each class (8 of 40) is kept aside as the test set; a tenth of the rest validates.
    assert len(splits.test) == 24 and torch.bincount(splits.test.labels).tolist() == [8, 8, 8]
    assert len(splits.train) + len(splits.val) == 96 and len(splits.val) == 10
    for split in (splits.train, splits.val, splits.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
    # The test set is the same whatever the run's seed (so runs compare); the validation set is not.
    other = load_folder_dataset(shapes, val_fraction=0.1, seed=5)
    assert torch.equal(other.test.images, splits.test.images)
    assert not torch.equal(other.val.images, splits.val.images)
    # scan: the classes and the files, without decoding
    scan = scan_folder_dataset(shapes)
    assert scan.class_names == SHAPES and scan.counts() == [40, 40, 40]


def test_train_and_test_folders_are_used_when_present(tmp_path):
    write_shapes(tmp_path / "train", 12, seed=1, classes=("10", "2", "1"))
    write_shapes(tmp_path / "test", 5, seed=2, classes=("10", "2", "1"))
    (tmp_path / "notes.txt").write_text("about the images")
    splits = load_folder_dataset(tmp_path, val_fraction=0.0)
    assert splits.layout == data.LAYOUT_FOLDERS
    assert splits.class_names == ["1", "2", "10"]  # digit names sort as numbers
    assert len(splits.train) == 36 and len(splits.test) == 15 and len(splits.val) == 0
    skipped = [(os.path.basename(p), r) for p, r in splits.skipped]
    assert skipped == [("notes.txt", "beside train/ and test/ (not read)")]


def test_limits_decode_only_what_is_asked_for(shapes):
    calls = []
    splits = load_folder_dataset(shapes, val_fraction=0.0, limit=100, test_limit=6,
                                 progress=lambda done, total: calls.append((done, total)))
    assert len(splits.train) == 96 and len(splits.test) == 6  # the training part has 96 images
    assert calls == [(64, 102), (102, 102)]
    splits = load_folder_dataset(shapes, val_fraction=0.0, limit=30)
    assert len(splits.train) == 30
    assert len(set(splits.train.labels.tolist())) == 3  # a seeded mix of the classes, not the first class
    with pytest.raises(DataError, match="loading the folder was stopped"):
        load_folder_dataset(shapes, progress=lambda done, total: False)


@pytest.mark.parametrize("preprocess", ["mnist", "resize"])
def test_either_polarity_gives_white_ink_on_black(tmp_path, preprocess):
    rng = np.random.default_rng(3)
    dark = shape_image("cross", rng, dark_on_light=True, size=(60, 60))
    light = Image.fromarray(255 - np.asarray(dark))
    dark.save(tmp_path / "dark.png")
    light.convert("RGB").save(tmp_path / "light.png")
    a, b = (data.folder_image(str(tmp_path / name), preprocess).astype(int) for name in ("dark.png", "light.png"))
    assert abs(a - b).max() <= 12  # the same image, whichever way round it was
    assert a[0].max() < 40 and a.max() > 200  # a dark border, bright ink
    assert a.shape == (28, 28)


def test_odd_files_are_listed_and_skipped(tmp_path):
    folder = write_shapes(tmp_path / "set", 6)
    odd = folder / "circle"
    (odd / "notes.txt").write_text("not an image")
    (odd / "fake.png").write_text("not an image either")
    good = (odd / "0.jpg").read_bytes()
    (odd / "cut.jpg").write_bytes(good[: len(good) // 3])
    (odd / "huge.png").write_bytes(png_claiming(50_000, 50_000))
    (odd / "blank.png").write_bytes(b"")
    (odd / "nested").mkdir()
    (odd / "nested" / "0.png").write_bytes((odd / "1.png").read_bytes())
    (odd / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored without a word
    (folder / "README.png").write_bytes((odd / "1.png").read_bytes())
    if hasattr(os, "mkfifo"):
        os.mkfifo(odd / "pipe.png")
    os.symlink("loop2.png", odd / "loop1.png")
    os.symlink("loop1.png", odd / "loop2.png")
    splits = load_folder_dataset(folder, val_fraction=0.0)
    reasons = {os.path.basename(p): r for p, r in splits.skipped}
    assert "not an image file by its name" in reasons["notes.txt"]
    assert "not a readable image" in reasons["fake.png"]
    assert "damaged or truncated" in reasons["cut.jpg"] or "cannot be read" in reasons["cut.jpg"]
    assert "megapixels" in reasons["huge.png"]
    assert "empty" in reasons["blank.png"]
    assert "folder inside a class folder" in reasons["nested"]
    assert "beside the class folders" in reasons["README.png"]
    assert "loop1.png" in reasons and "loop2.png" in reasons
    if hasattr(os, "mkfifo"):
        assert "not a regular file" in reasons["pipe.png"]
    assert ".DS_Store" not in reasons
    # Every good image is still there: 6 a class, a fifth of each kept aside for the test set.
    assert len(splits.train) + len(splits.test) == 18


def test_folders_that_are_not_data_sets_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_folder_dataset(tmp_path / "missing")
    write_shapes(tmp_path / "one", 3, classes=("circle",))
    with pytest.raises(DataError, match="has 1 class folder; a data set needs at least 2"):
        load_folder_dataset(tmp_path / "one")
    write_shapes(tmp_path / "gap", 3, classes=("circle", "cross"))
    (tmp_path / "gap" / "square").mkdir()
    (tmp_path / "gap" / "square" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="the class 'square' in the folder has no images"):
        load_folder_dataset(tmp_path / "gap")
    write_shapes(tmp_path / "split" / "train", 3, classes=("a", "b"))
    write_shapes(tmp_path / "split" / "test", 3, classes=("a", "c"))
    with pytest.raises(DataError, match="train/ and test/ must have the same class folders; only one of them has b, c"):
        load_folder_dataset(tmp_path / "split")
    for kind in ("a", "b"):
        (tmp_path / "junk" / kind).mkdir(parents=True)
        (tmp_path / "junk" / kind / "x.png").write_text("not a png")
    with pytest.raises(DataError, match="none of its training images could be read"):
        load_folder_dataset(tmp_path / "junk")
    with pytest.raises(DataError, match="needs its folder"):
        load_config_dataset(TrainConfig(dataset="folder"))


def test_the_config_names_the_folder_and_its_preprocessing(shapes):
    config = TrainConfig(dataset="folder", data_folder=str(shapes), preprocess="resize", limit=20, test_limit=5,
                         val_fraction=0.0)
    splits = load_config_dataset(config)
    assert splits.name == "folder" and splits.class_names == list(SHAPES) and len(splits.train) == 20
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError, match="preprocess must be one of mnist, resize"):
        TrainConfig(preprocess="sharpen")


def _idx(path, array: np.ndarray, packed: bool):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    body = header + array.astype(np.uint8).tobytes()
    if packed:
        path = path.with_name(path.name + ".gz")
        body = gzip.compress(body)
    path.write_bytes(body)


def test_fashion_mnist_loads_from_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for part, n, packed in (("train", 50, True), ("t10k", 20, False)):
        _idx(tmp_path / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), packed)
        _idx(tmp_path / f"{part}-labels-idx1-ubyte", np.arange(n) % 10, packed)
    splits = load_config_dataset(TrainConfig(dataset="fashion-mnist", data_folder=str(tmp_path), val_fraction=0.2))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40, 10, 20)
    assert splits.class_names[:2] == ["T-shirt/top", "Trouser"]
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x05abc")  # says 5, holds 3
    with pytest.raises(DataError, match="holds 3 bytes"):
        data.load_idx_folder(tmp_path, "fashion-mnist")
    with pytest.raises(DataError, match="has no train-images-idx3-ubyte"):
        data.load_idx_folder(tmp_path / "..", "kmnist")


def test_a_design_is_made_for_the_class_count():
    spec = get_preset("mlp-300").spec
    assert spec.num_classes == 10 and infer_shapes(spec).valid  # the default: everything as before
    five = NetworkSpec(spec.layers, spec.name, num_classes=5)
    problem = infer_shapes(five).problems[0]
    assert "must end with 5 class scores" in problem.message
    assert problem.fix.label == f"Set outputs of layer {len(spec.layers)} to 5"
    assert infer_shapes(apply_fix(five, problem.fix)).valid
    adapted, message = adapt_to_classes(spec, 5)
    assert adapted.num_classes == 5 and adapted.layers[-1].params["out_features"] == 5 and infer_shapes(adapted).valid
    assert message == f"the data set has 5 classes: the last layer (layer {len(spec.layers)}, Linear) now has 5 " \
                      f"outputs instead of 10"
    assert adapt_to_classes(adapted, 5) == (adapted, None)
    # The class count is saved with the design and checked when read.
    assert NetworkSpec.from_json(adapted.to_json()) == adapted
    with pytest.raises(DesignError, match="num_classes must be a whole number from 2 to 1000"):
        NetworkSpec.from_dict({**adapted.to_dict(), "num_classes": 1})


def test_metrics_have_one_row_and_column_per_class():
    from playground.core.build import build_model

    spec, _ = adapt_to_classes(get_preset("mlp-300").spec, 3)
    torch.manual_seed(0)
    model = build_model(spec)
    images = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8)
    labels = torch.arange(30) % 3
    result = evaluate(model, images, labels)
    assert len(result.confusion) == 3 and all(len(row) == 3 for row in result.confusion)
    assert len(result.per_class) == 3 and sum(sum(r) for r in result.confusion) == 30
    table = result.format(list(SHAPES))
    assert "circle" in table and "square" in table.splitlines()[-1]


def test_a_run_and_its_model_file_carry_the_class_names(shapes, tmp_path):
    from playground.core.export import export, load_model_file, model_file_classes
    from playground.core.predict import Classifier
    from playground.core.runs import load_run
    from playground.core.train import Trainer

    config = TrainConfig(dataset="folder", data_folder=str(shapes), epochs=1, batch_size=16, val_fraction=0.1)
    splits = load_config_dataset(config)
    spec, _ = adapt_to_classes(get_preset("mlp-300").spec, splits.num_classes)
    events = list(Trainer(spec, config, data=splits, run_dir=tmp_path / "run").run())
    assert events[0]["classes"] == list(SHAPES) and events[-1]["status"] == "completed"
    run = load_run(tmp_path / "run")
    assert run.classes == list(SHAPES) and run.spec.num_classes == 3 and len(run.evaluation.confusion) == 3
    classifier = Classifier.from_path(tmp_path / "run")
    assert classifier.classes == list(SHAPES)
    assert classifier.probabilities(splits.test.images[0].numpy() / 255.0).shape == (3,)
    export("model", tmp_path / "shapes.pgmodel.safetensors", spec, classifier.model.state_dict(),
           classes=classifier.classes)
    assert Classifier.from_path(tmp_path / "shapes.pgmodel.safetensors").classes == list(SHAPES)
    # A run from before class names: numbered, as MNIST's digits were.
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    del summary["classes"]
    (tmp_path / "run" / "run.json").write_text(json.dumps(summary))
    assert load_run(tmp_path / "run").classes == ["0", "1", "2"]
    _, _, meta = load_model_file(tmp_path / "shapes.pgmodel.safetensors")
    assert model_file_classes({**meta, "classes": "[1, 2]"}, spec) == ["0", "1", "2"]  # a stranger's junk
    # The other formats take 3 classes as they take 10; the standalone script names them too.
    for fmt, name in (("torchscript", "shapes.pt"), ("script", "shapes.py")):
        check = export(fmt, tmp_path / name, spec, classifier.model.state_dict(), classes=classifier.classes,
                       check_images=splits.test.images)
        assert check.passed and check.label_agreement == 1.0
    image = next((shapes / "cross").glob("*.png"))
    done = subprocess.run([sys.executable, str(tmp_path / "shapes.py"), str(image), "--json"], capture_output=True,
                          text=True, check=False)
    result = json.loads(done.stdout)
    assert result["label"] == SHAPES[result["digit"]] and len(result["probabilities"]) == 3


def test_a_design_for_other_classes_is_refused_with_the_fix(shapes):
    from playground.core.train import Trainer

    config = TrainConfig(dataset="folder", data_folder=str(shapes), epochs=1, limit=20, val_fraction=0.0)
    with pytest.raises(ConfigError, match="the data set has 3 classes but the design is made for 10; make its last "
                                          "layer Linear 3"):
        list(Trainer(get_preset("mlp-300").spec, config).run())
