"""``playground train --data FOLDER`` on a small folder of photographed-style digits, then
``playground predict --json`` names the unseen ones with the class folders' names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.cli import main


@pytest.fixture(scope="module")
def digits(tmp_path_factory, app_folders):
    """FOLDER/train: 100 photographed-style images of each of the digits 0-4; FOLDER/unseen: 12 of
    each, from MNIST's test digits."""
    from playground.core.synthetic_digits import make_photographed_digits

    return make_photographed_digits(tmp_path_factory.mktemp("photos"), train_per_class=100, unseen_per_class=12)


def test_train_on_a_folder_then_predict_its_labels(digits, tmp_path, capsys):
    run = tmp_path / "run"
    (digits / "train" / "3" / "notes.txt").write_text("taken on my desk")
    code = main(["train", "--preset", "fast-cnn", "--data", str(digits / "train"), "--epochs", "4",
                 "--out", str(run), "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    notes = err.strip().splitlines()
    assert notes[0] == ("playground: note: the data set has 5 classes: the last layer (layer 10, Linear) now has 5 "
                        "outputs instead of 10")
    assert notes[1].startswith("playground: note: 1 file of the data folder skipped (the first: ")
    assert notes[1].endswith("notes.txt: not an image file by its name (this app reads PNG, JPEG, BMP, GIF, TIFF "
                             "and WebP)); the run folder's run.json lists them all (\"skipped_files\", the first "
                             "1,000)")
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "start" and events[0]["classes"] == ["0", "1", "2", "3", "4"]
    assert events[-1]["status"] == "completed"
    # The run records the adapted design and the class names.
    design = json.loads((run / "design.json").read_text())
    assert design["num_classes"] == 5 and design["layers"][-1]["params"]["out_features"] == 5
    summary = json.loads((run / "run.json").read_text())
    assert summary["classes"] == ["0", "1", "2", "3", "4"]
    assert summary["skipped_count"] == 1 and len(summary["skipped_files"]) == 1
    assert summary["skipped_files"][0]["path"].endswith("notes.txt")
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "folder" and config["data_folder"] == str((digits / "train").resolve())

    unseen = sorted(str(p) for p in (digits / "unseen").glob("*/*"))
    main(["predict", "--model", str(run), "--json", *unseen])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == 60
    assert all(r["label"] == str(r["digit"]) and len(r["probabilities"]) == 5 for r in results)
    right = sum(r["label"] == Path(r["path"]).parent.name for r in results) / len(results)
    assert right >= 0.8, right  # 500 images and 4 epochs; the benchmark's few thousand reach 95%

    assert main(["evaluate", str(run)]) == 0
    table = capsys.readouterr().out
    assert "confusion matrix" in table and table.splitlines()[-1].startswith("4 ")


def test_train_on_a_folder_that_is_no_data_set_exits_2(tmp_path, capsys):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "x.png").write_bytes(b"")
    assert main(["train", "--preset", "mlp-300", "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "has 1 class folder; a data set needs at least 2" in err
    assert not (tmp_path / "run").exists()
