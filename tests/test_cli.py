"""The command line, run as a user runs it (a subprocess through ``python -m playground``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
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
    assert names == ["mlp-300", "tutorial-cnn", "lenet5", "fast-cnn", "lstm-rows", "gan-mlp", "dcgan", "cgan"]


def test_train_json_and_evaluate(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--preset", "fast-cnn", "--epochs", "1", "--limit", "600", "--test-limit", "600",
                 "--seed", "3",
                 "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and "progress" in kinds and kinds[-2:] == ["epoch", "finished"]
    final = events[-1]
    for key in ("test_accuracy", "train_seconds", "samples_per_second", "epochs", "run_dir"):
        assert final[key] is not None, key
    assert final["epochs"] == 1 and final["run_dir"] == str(out) and final["test_accuracy"] > 0.6
    for name in ("design.json", "config.json", "run.json", "metrics.jsonl", "weights_best.safetensors",
                 "weights_last.safetensors", "optimizer.safetensors", "evaluation.json"):
        assert (out / name).is_file(), name

    evaluated = run("evaluate", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    data = json.loads(evaluated.stdout)
    assert data["accuracy"] == final["test_accuracy"] and data["count"] == 600
    assert len(data["per_class"]) == 10 and len(data["confusion"]) == 10
    text = run("evaluate", str(out)).stdout
    assert "precision  recall" in text and "confusion matrix" in text

    again = run("train", "--preset", "fast-cnn", "--out", str(out))
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_train_human_output(tmp_path):
    result = run("train", "--preset", "mlp-300", "--epochs", "1", "--limit", "500", "--test-limit", "500", "--out",
                 str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "training on cpu: 450 images, 50 for validation" in result.stderr
    assert "epoch 1/1" in result.stderr
    assert "completed: Training finished." in result.stdout and "test accuracy" in result.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--lr", "-1"], "learning rate must be above 0"),
    (["--epochs", "0"], "epochs must be 1 to 10000"),
    (["--batch-size", "many"], "invalid int value: 'many'"),
    (["--device", "cuda:7"], "device 'cuda:7' is not available here"),
    (["--optimizer", "sgd", "--nesterov", "--momentum", "0"], "Nesterov momentum needs"),
])
def test_train_bad_arguments_exit_2(args, fragment, tmp_path):
    result = run("train", "--preset", "mlp-300", "--out", str(tmp_path / "r"), *args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_a_folder_that_is_not_a_run(tmp_path):
    result = run("evaluate", str(tmp_path))
    assert result.returncode == 2 and "not a run folder" in result.stderr


def test_ctrl_c_stops_and_keeps_the_weights(tmp_path):
    import signal

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "playground", "train", "--preset", "fast-cnn",
                             "--epochs", "20", "--limit", "2000", "--test-limit", "2000", "--out", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kinds = []
    for line in proc.stdout:
        kinds.append(json.loads(line)["type"])
        if kinds[-1] == "epoch":
            proc.send_signal(signal.SIGINT)
            break
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=120) == 0, proc.stderr.read()  # bounds a hang only
    assert [e["type"] for e in rest][-2:] == ["stopped", "finished"]
    assert rest[-1]["status"] == "stopped" and rest[-1]["test_accuracy"] > 0.5
    assert (out / "weights_last.safetensors").is_file()


def test_unavailable_data_set_writes_nothing(tmp_path, monkeypatch):
    import playground.core.train  # noqa: F401 - imported now, so it does not bind the stub below for good
    from playground.cli import main
    from playground.core import data

    def offline(*args, **kwargs):
        raise data.DataError("fashion-mnist is not bundled with the app and could not be downloaded")

    monkeypatch.setattr(data, "load_dataset", offline)
    assert main(["train", "--preset", "mlp-300", "--dataset", "fashion-mnist", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_progress_bar_on_a_terminal():
    import io

    from playground.cli.train import ProgressPrinter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    show = ProgressPrinter(out)
    show({"type": "start", "epochs": 2, "device": "cpu", "train_size": 100, "val_size": 10, "parameters": 5})
    show({"type": "progress", "epoch": 1, "step": 30, "total_steps": 60, "samples_per_second": 1234.0,
          "eta_seconds": 75.0, "train_loss": 0.5, "train_accuracy": 0.9})
    text = out.getvalue()
    assert "\repoch 1/2 [###############               ]  50%" in text
    assert "1,234 img/s  ETA 1:15  loss 0.5000  acc 90.00%" in text


def test_predict_images(tmp_path):
    from PIL import Image

    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    paths = []
    for i in range(3):  # light on dark as in MNIST, and dark on light, enlarged
        img = test.images[i].numpy()
        if i == 1:
            img = 255 - np.asarray(Image.fromarray(img).resize((140, 140)))
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    result = run("predict", paths[0], str(tmp_path / "broken.png"), paths[1], paths[2], "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("digit") for line in lines] == [7, None, 2, 1]
    assert "not a readable image" in lines[1]["error"]
    assert all(abs(sum(line["probabilities"]) - 1) < 1e-3 for line in lines if "digit" in line)
    assert result.returncode == 2  # one image was unreadable; the others were still classified
    text = run("predict", paths[0])
    assert text.returncode == 0 and text.stdout.startswith(f"{paths[0]}: 7 (")


def test_predict_with_a_bad_model_folder(tmp_path):
    result = run("predict", "x.png", "--model", str(tmp_path))
    assert result.returncode == 2 and "not a run folder or a model folder (no design.json in it)" in result.stderr


def test_export_command_checks_the_export(tmp_path):
    out = tmp_path / "default.onnx"
    result = run("export", str(_default_model()), "--format", "onnx",
                 "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    check = json.loads(result.stdout.splitlines()[-1])
    assert check["passed"] and check["images"] == 300 and check["label_agreement"] == 1.0
    assert out.is_file()
    text = run("export", str(_default_model()), "--format", "script", "--out", str(tmp_path / "net.py"))
    assert text.returncode == 0 and "check PASSED: 300 test images, labels agree on 100.00%" in text.stdout
    bad = run("export", str(tmp_path / "nothing"), "--format", "onnx", "--out", str(out))
    assert bad.returncode == 2 and "no such file or folder" in bad.stderr


def _default_model():
    from playground.core.predict import default_model_dir

    return default_model_dir()
