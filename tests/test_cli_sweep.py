"""``playground sweep`` and ``playground lr-find``: JSON lines, the final object, the table, Ctrl+C, and
bad lists or ranges refused with exit code 2 and a clear message."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from playground.cli.main import main

SMALL = ["--epochs", "1", "--limit", "600", "--test-limit", "300"]


def test_sweep_json_prints_a_line_per_run_then_the_results_and_the_best(tmp_path, capsys):
    rc = main(["sweep", "--preset", "mlp-300", "--lr", "0.1,0.01", "--batch-size", "32,128", *SMALL,
               "--out", str(tmp_path), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0
    runs, final = lines[:-1], lines[-1]
    assert [r["type"] for r in runs] == ["sweep_run"] * 4
    assert final["type"] == "sweep_finished" and final["status"] == "completed"
    assert [(r["lr"], r["batch_size"]) for r in final["results"]] == [(0.1, 32), (0.1, 128), (0.01, 32), (0.01, 128)]
    for result in final["results"]:
        assert {"lr", "batch_size", "val_accuracy", "test_accuracy", "train_seconds", "run_dir"} <= set(result)
        config = json.loads((Path(result["run_dir"]) / "config.json").read_text())
        assert (config["lr"], config["batch_size"], config["optimizer"]) == (result["lr"], result["batch_size"], "sgd")
    assert final["best"] == max(final["results"], key=lambda r: r["val_accuracy"])


def test_sweep_prints_a_table_best_first(tmp_path, capsys):
    rc = main(["sweep", "--preset", "mlp-300", "--lr", "0.001..0.1 x3", *SMALL, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0
    rows = out.splitlines()
    assert rows[0].split()[:3] == ["lr", "val", "acc"]
    assert rows[1].startswith("*") and len(rows) == 4
    assert {row.split()[1 if row.startswith("*") else 0] for row in rows[1:]} == {"0.001", "0.01", "0.1"}
    assert "run 3/3  lr 0.1: completed" in err


@pytest.mark.parametrize("args, message", [
    (["--lr", "1e-4..1e-1"], "a range is written FROM..TO xN"),
    (["--lr", "1e-1..1e-4x40"], "2 to 32 values"),
    (["--lr", "0.1,fast"], "'fast' is not a number"),
    (["--batch-size", "16..20x10"], "repeated whole numbers"),
    (["--optimizer", "adam,sgdd"], "optimizer must be one of"),
    (["--epochs", "1"], "nothing to sweep"),
    (["--lr", "1,2", "--epochs", "1,2", "--seed", "1,2", "--momentum", "0.1,0.2", "--batch-size", "8,9"],
     "at most 4 settings"),
])
def test_bad_lists_and_ranges_exit_2_with_a_clear_message(args, message, tmp_path, capsys):
    assert main(["sweep", "--preset", "mlp-300", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_lr_find_json(capsys):
    assert main(["lr-find", "--preset", "mlp-300", "--limit", "3000", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["lrs"]) == len(found["losses"]) > 20
    assert found["lrs"][0] <= found["suggested_lr"] <= found["lrs"][-1]


def test_lr_find_bad_range_exits_2(capsys):
    assert main(["lr-find", "--preset", "mlp-300", "--start-lr", "1", "--end-lr", "0.01"]) == 2
    assert "start_lr (1) must be below end_lr (0.01)" in capsys.readouterr().err


def test_ctrl_c_stops_after_the_current_run_and_still_prints_the_results(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "playground", "sweep", "--preset", "mlp-300", "--lr",
                             "0.1,0.05,0.01,0.005", "--epochs", "1", "--limit", "3000", "--out", str(tmp_path),
                             "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["type"] == "sweep_run"
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    final = json.loads(rest.splitlines()[-1])
    assert final["type"] == "sweep_finished" and final["status"] == "stopped"
    assert 1 <= len(final["results"]) < 4 and final["results"][0] == {k: v for k, v in first.items()
                                                                     if k not in ("type", "index", "runs", "settings")}
    assert len(final["results"]) + len(final["not_run"]) == 4


@pytest.fixture
def shapes(tmp_path):
    """A folder data set of 3 classes (bars, boxes, dots), 8 small images each."""
    from PIL import Image, ImageDraw

    for name, box in (("bar", (12, 2, 16, 26)), ("box", (4, 4, 24, 24)), ("dot", (10, 10, 18, 18))):
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(8):
            image = Image.new("L", (28, 28), 0)
            ImageDraw.Draw(image).rectangle([box[0] + i % 3, box[1], box[2] + i % 3, box[3]], fill=255)
            image.save(tmp_path / "shapes" / name / f"{i}.png")
    return tmp_path / "shapes"


def test_sweep_and_lr_find_take_data_as_train_does(shapes, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["sweep", "--preset", "mlp-300", "--data", str(shapes), "--lr", "0.1,0.01", "--epochs", "1",
                 "--out", str(out), "--json"]) == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [r["status"] for r in final["results"]] == ["completed", "completed"]
    design = json.loads((Path(final["results"][0]["run_dir"]) / "design.json").read_text())
    assert design["layers"][-1]["params"]["out_features"] == 3
    assert main(["lr-find", "--preset", "mlp-300", "--data", str(shapes), "--steps", "10", "--json"]) == 0
    assert "3 classes" in capsys.readouterr().err


def test_switches_sweep_on_off_and_a_folder_name_is_not_split(shapes, tmp_path, capsys):
    assert main(["sweep", "--preset", "mlp-300", "--augment", "on,off", "--limit", "300", "--epochs", "1",
                 "--test-limit", "100", "--out", str(tmp_path / "runs"), "--json"]) == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [r["augment"] for r in final["results"]] == [True, False]
    comma = shapes.rename(tmp_path / "sha,pes")
    assert main(["sweep", "--preset", "mlp-300", "--dataset", "folder", "--data-folder", str(comma),
                 "--lr", "0.1,0.01", "--epochs", "1", "--out", str(tmp_path / "runs2"), "--json"]) == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [r["status"] for r in final["results"]] == ["completed", "completed"]
    assert main(["sweep", "--preset", "mlp-300", "--data", str(comma), "--dataset", "mnist",
                 "--lr", "0.1,0.01"]) == 2
    assert "--data FOLDER sets --dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "--augment", "design.json", "--lr", "0.1,0.01"])
    assert "a design file goes before --augment" in capsys.readouterr().err
