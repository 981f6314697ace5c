"""The whole design is budgeted: a design of in-range layers that needs tens of gigabytes is a
problem in its report, is refused by build_model, the classifier and training before anything is
allocated, and a tiny model file that declares such a design costs nothing to refuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core import PRESETS, DesignError, NetworkSpec, infer_shapes, make_layer
from playground.core import shapes as shapes_module
from playground.core.build import build_model
from playground.core.config import ConfigError, TrainConfig
from playground.core.shapes import MAX_PARAMETER_BYTES, machine_memory_bytes, training_bytes
from playground.core.text import format_bytes
from playground.core.objective import check_compatible

ROOT = Path(__file__).resolve().parents[2]

# Every layer in range (Linear allows 65536 outputs), yet 4.35 billion parameters: 17.4 GB of float32.
HUGE = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=65536),
                    make_layer("Linear", out_features=65536), make_layer("Linear", out_features=10)),
                   name="huge")
HUGE_PARAMETERS = 784 * 65536 + 65536 + 65536 * 65536 + 65536 + 65536 * 10 + 10


# The peak resident memory of this process alone: VmHWM starts afresh at exec, where ru_maxrss keeps the
# forking parent's (a large pytest process) on Linux.
PEAK_KB = ("(int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) "
           "if __import__('os').path.exists('/proc/self/status') "
           "else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def test_memory_figures_of_a_preset():
    report = infer_shapes(PRESETS["lenet5"].spec)
    assert report.parameter_bytes == 61_706 * 4
    # input 1x28x28, conv 6x28x28, tanh, pool 6x14x14, conv 16x10x10, tanh, pool 16x5x5, flatten, 120,
    # tanh, 84, tanh, 10 values per image
    values = 784 + 2 * 4704 + 1176 + 2 * 1600 + 2 * 400 + 2 * 120 + 2 * 84 + 10
    assert report.activation_bytes == values * 4
    assert training_bytes(report, 128) == 4 * 61_706 * 4 + 2 * values * 4 * 128


def test_recurrent_layers_count_their_states():
    report = infer_shapes(PRESETS["lstm-rows"].spec)
    lstm = next(r for r in report.rows if r.type == "LSTM")
    layer = PRESETS["lstm-rows"].spec.layers[lstm.index]
    dirs = 2 if layer.params["bidirectional"] else 1
    # 28 rows x layers x directions x hidden x (4 gates + cell + hidden)
    assert lstm.activations == 28 * layer.params["num_layers"] * dirs * layer.params["hidden_size"] * 6


def test_parameters_over_2_gb_are_a_problem_tied_to_the_largest_layer():
    report = infer_shapes(HUGE)
    assert report.total_parameters == HUGE_PARAMETERS
    assert report.parameter_bytes > MAX_PARAMETER_BYTES
    assert not report.valid and len(report.problems) == 1
    problem = report.problems[0]
    assert problem.layer == 2 and report.rows[2].problem == problem
    assert problem.message == (
        f"The design has {HUGE_PARAMETERS:,} parameters, 17.4 GB as float32, over the limit of 2 GB; "
        f"layer 3 (Linear 65536) alone has {65536 * 65536 + 65536:,}: give it fewer outputs")


def test_build_model_refuses_before_constructing_any_layer(monkeypatch):
    from playground.core import layers

    built = []
    monkeypatch.setattr(layers.Linear, "build", lambda self, p, s: built.append(p))
    with pytest.raises(DesignError, match="17.4 GB as float32, over the limit of 2 GB"):
        build_model(HUGE)
    assert built == []


def test_machine_memory_is_read():
    assert machine_memory_bytes() > 100_000_000  # any machine that runs the tests has 100 MB


def test_a_design_that_cannot_train_one_image_on_this_machine(monkeypatch):
    spec = NetworkSpec((make_layer("Conv2d", out_channels=4096, kernel_size=3, padding=1),
                        make_layer("ReLU"), make_layer("Flatten"), make_layer("Linear", out_features=10)))
    report = infer_shapes(spec)
    assert report.valid
    need = training_bytes(report, 1)
    monkeypatch.setattr(shapes_module, "machine_memory_bytes", lambda: need - 1)
    report = infer_shapes(spec)
    assert not report.valid
    assert report.problems[0].layer == 3  # Linear: 4096x28x28 inputs x 10 outputs, the costliest
    assert "to train even one image at a time; this machine has" in report.problems[0].message
    with pytest.raises(DesignError, match="this machine has"):
        build_model(spec)


def test_check_compatible_refuses_a_batch_size_the_machine_cannot_hold(monkeypatch):
    spec = PRESETS["tutorial-cnn"].spec
    report = infer_shapes(spec)
    check_compatible(spec, TrainConfig(batch_size=128))
    machine = training_bytes(report, 64)
    monkeypatch.setattr(shapes_module, "machine_memory_bytes", lambda: machine)
    check_compatible(spec, TrainConfig(batch_size=64))  # exactly fits
    need = training_bytes(report, 128)
    with pytest.raises(ConfigError) as info:
        check_compatible(spec, TrainConfig(batch_size=128))
    assert str(info.value) == (f"this design needs about {format_bytes(need)} to train at batch size 128; "
                               f"this machine has {format_bytes(machine)}: use a smaller batch size or fewer "
                               f"channels")


def test_format_bytes():
    assert format_bytes(37_500_000_000) == "37.5 GB"
    assert format_bytes(24_000_000_000) == "24 GB"
    assert format_bytes(1_720_000) == "1.72 MB"
    assert format_bytes(512) == "512 bytes"


def test_check_compatible_message_in_gigabytes(monkeypatch):
    spec = NetworkSpec((make_layer("Conv2d", out_channels=4096, kernel_size=3, padding=1),
                        make_layer("ReLU"), make_layer("Flatten"), make_layer("Linear", out_features=10)))
    monkeypatch.setattr(shapes_module, "machine_memory_bytes", lambda: 24_000_000_000)
    need = training_bytes(infer_shapes(spec), 1024)
    assert need > 24e9
    with pytest.raises(ConfigError, match=rf"needs about {need / 1e9:.3g} GB to train at batch size 1024; "
                                          r"this machine has 24 GB: use a smaller batch size"):
        check_compatible(spec, TrainConfig(batch_size=1024))


# Under the budget (1.78 GB), but a file holding 4 values cannot be its weights.
LARGE = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=65536),
                     make_layer("Linear", out_features=6000), make_layer("Linear", out_features=10)),
                    name="large")


def _model_file(tmp_path: Path, spec: NetworkSpec) -> Path:
    """A model file of a few hundred bytes whose design declares gigabytes of weights."""
    import torch

    from playground.core.export import save_model_file

    path = tmp_path / f"{spec.name}.pgmodel.safetensors"
    save_model_file(path, spec, {"1.bias": torch.zeros(4)})
    assert path.stat().st_size < 10_000
    return path


def test_classifier_refuses_a_tiny_model_file_with_a_huge_design(tmp_path):
    from playground.core.predict import Classifier
    from playground.core.runs import RunError

    with pytest.raises(RunError, match="17.4 GB as float32, over the limit of 2 GB"):
        Classifier.from_path(_model_file(tmp_path, HUGE))
    assert infer_shapes(LARGE).valid
    # An in-budget design whose weights cannot be in the file: refused from the file's header...
    with pytest.raises(RunError, match=r"the weights do not fit this design \(the file holds 4 values but the "
                                       r"design needs 444,727,770;"):
        Classifier.from_path(_model_file(tmp_path, LARGE))
    # ...and by the classifier itself, for weights from elsewhere (a state dict opened in the window).
    import torch

    with pytest.raises(RunError, match=r"the weights do not fit this design \(the file holds 4 values but "
                                       r"the design needs 444,727,770;"):
        Classifier(LARGE, {"1.weight": torch.zeros(2, 2)}, "state.pt")


def test_the_refusals_allocate_nothing(tmp_path):
    """In a fresh process, so the peak resident memory is these refusals' alone (today: 17 GB)."""
    paths = [_model_file(tmp_path, HUGE), _model_file(tmp_path, LARGE)]
    code = (
        "import resource, sys\n"
        "from playground.core.predict import Classifier\n"
        "from playground.core.runs import RunError\n"
        f"for path in {[str(p) for p in paths]!r}:\n"
        "    try:\n"
        "        Classifier.from_path(path)\n"
        "    except RunError as exc:\n"
        "        print('refused:', exc)\n"
        f"print('maxrss_kb', {PEAK_KB})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("refused:") == 2 and "17.4 GB" in done.stdout, done.stdout
    maxrss_kb = int(done.stdout.split("maxrss_kb")[1])
    assert maxrss_kb < 1_000_000  # under 1 GB: torch itself, no weights
