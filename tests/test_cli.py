"""The command line, run as a user runs it (a subprocess through ``python -m playground``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "playground", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_summary_of_a_preset():
    result = run("summary", "--preset", "tutorial-cnn")
    assert result.returncode == 0, result.stderr
    assert "431,080" in result.stdout
    assert "Conv2d 20@5x5  20x24x24" in result.stdout
    assert "No problems" in result.stdout


@pytest.mark.parametrize("name,params", [("lenet5", 61_706), ("mlp-300", 238_510)])
def test_summary_json(name, params):
    result = run("summary", "--preset", name, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["total_parameters"] == params and data["valid"] is True
    assert data["layers"][-1]["output_shape"] == [10]
    assert sum(layer["parameters"] for layer in data["layers"]) == params


def test_invalid_design_exits_1_with_problem_and_fix(tmp_path):
    from playground.core import NetworkSpec
    from playground.core import make_layer as L

    path = tmp_path / "bad.json"
    NetworkSpec((L("Conv2d", out_channels=20, kernel_size=5), L("MaxPool2d"),
                 L("Linear", out_features=10))).save(path)
    result = run("summary", str(path))
    assert result.returncode == 1
    assert "Layer 3 (Linear): Linear needs a flat vector but gets 20x12x12" in result.stdout
    assert "fix: Insert Flatten before layer 3" in result.stdout
    data = json.loads(run("summary", str(path), "--json").stdout)
    assert data["problems"][0] == {"layer": 3, "message": data["problems"][0]["message"],
                                   "fix": "Insert Flatten before layer 3"}


@pytest.mark.parametrize("args,fragment", [
    (["summary"], "one of the arguments DESIGN.json --preset is required"),
    (["summary", "--preset", "nope"], "invalid choice: 'nope'"),
    (["summary", "missing.json"], "missing.json: no such file"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_a_message(args, fragment, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_design_file_exits_2(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format_version": 1, "layers": [{"type": "Linear", "params": {}}]}')
    result = run("summary", str(path))
    assert result.returncode == 2
    assert "layer 1 (Linear), field 'out_features': missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_presets_lists_all():
    result = run("presets", "--json")
    names = [p["name"] for p in json.loads(result.stdout)]
    assert names == ["mlp-300", "tutorial-cnn", "lenet5", "fast-cnn", "lstm-rows"]
