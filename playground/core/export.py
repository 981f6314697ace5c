"""Exporting trained models, and checking every export against the model it came from.

Formats:

``model``        the app's own model file (``.pgmodel.safetensors``): the weights, with the design,
                 the preprocessing the model expects and its test accuracy in the file's metadata.
                 One file, safetensors only: loading it never unpickles anything.
``torchscript``  ``.pt``, traced; loads with ``torch.jit.load`` without this app.
``onnx``         ``.onnx`` with a dynamic batch dimension, through torch's exporter.
``script``       ``.py``: the network written out as a readable ``nn.Module`` with a ``predict``
                 function, plus its weights beside it (same name, ``.safetensors``); needs only
                 torch and safetensors.

After every export, :func:`check_export` runs test images through the exported file (TorchScript
and the script with torch, ONNX with ONNX Runtime) and compares labels and outputs with the model.
Every file is written atomically.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground.core.atomic import atomic_path, atomic_write_text
from playground.core.layers import CATALOG, format_shape
from playground.core.shapes import infer_shapes
from playground.core.spec import NetworkSpec

FORMATS = {"model": ".pgmodel.safetensors", "torchscript": ".pt", "onnx": ".onnx", "script": ".py"}
MODEL_FORMAT = "nn-playground-model"
MODEL_FORMAT_VERSION = "1"
PREPROCESSING = {
    "input_shape": [1, 28, 28],
    "values": "float32 in [0, 1]: white ink (1) on black (0), as MNIST stores it (pixel / 255)",
    "normalisation": "none",
    "digit_box": "the digit scaled so that its longer side is 20 pixels, centred by its centre of mass",
}


class ExportError(RuntimeError):
    """An export or a model file failed; the message says why."""


# -- the app's own model file ----------------------------------------------------------------------


def save_model_file(path: str | Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
                    test_accuracy: float | None = None) -> Path:
    from playground.core.runs import save_weights

    path = Path(path)
    metadata = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "design": spec.to_json(),
                "preprocessing": json.dumps(PREPROCESSING),
                "test_accuracy": "" if test_accuracy is None else repr(float(test_accuracy)),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    save_weights(path, state, metadata)
    return path


def load_model_file(path: str | Path) -> tuple[NetworkSpec, dict[str, torch.Tensor], dict[str, str]]:
    """The design, weights and metadata of a model file; ``ExportError`` if it is not one."""
    from safetensors import SafetensorError, safe_open

    from playground.core.runs import RunError, load_weights
    from playground.core.spec import DesignError

    path = Path(path)
    try:
        state = load_weights(path)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (RunError, SafetensorError, OSError) as exc:
        raise ExportError(str(exc)) from None
    if meta.get("format") != MODEL_FORMAT:
        raise ExportError(f"{path}: a safetensors file, but not a model file of this app (no design in it); "
                          f"open a run folder or a .pgmodel.safetensors file")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ExportError(f"{path}: model file version {meta.get('format_version')!r}; this app reads "
                          f"{MODEL_FORMAT_VERSION}")
    try:
        spec = NetworkSpec.from_json(meta["design"], str(path))
    except DesignError as exc:
        raise ExportError(str(exc)) from None
    return spec, state, meta


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A PyTorch state dict (``.pt``/``.pth``), loaded only with ``weights_only=True``: a file that
    needs anything else unpickled is refused, and none of its code runs."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: refused — it is not a plain PyTorch state dict (loading it would need to "
                          f"run code from the file: {first[:160]}). Nothing from it was run.") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"{path}: not a state dict (a mapping of names to tensors)")
    return state


# -- the other formats ------------------------------------------------------------------------------


def _example() -> torch.Tensor:
    return torch.zeros(2, 1, 28, 28)


def export_torchscript(path: Path, model: torch.nn.Module) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(model.eval(), _example())
    with atomic_path(path) as tmp:
        torch.jit.save(traced, str(tmp))


def export_onnx(path: Path, model: torch.nn.Module) -> None:
    import contextlib
    import io

    with atomic_path(path) as tmp, contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model.eval(), (_example(),), str(tmp), dynamo=True, input_names=["image"],
                          output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))


_RECURRENT_CLASS = '''

class RecurrentLastStep(nn.Module):
    """Reads an image (N, C, H, W) as H time steps of C*W features; returns the last step's output."""

    def __init__(self, kind, input_size, hidden_size, num_layers=1, bidirectional=False):
        super().__init__()
        cell = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.rnn = cell(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                        bidirectional=bidirectional)

    def forward(self, x):
        n, c, h, w = x.shape
        out, _ = self.rnn(x.permute(0, 2, 1, 3).reshape(n, h, c * w))
        if not self.bidirectional:
            return out[:, -1]
        return torch.cat((out[:, -1, : self.hidden_size], out[:, 0, self.hidden_size :]), dim=1)
'''


def _layer_code(layer, in_shape) -> str:
    p = layer.params
    t = layer.type
    if t == "Linear":
        return f"nn.Linear({in_shape[0]}, {p['out_features']}, bias={p['bias']})"
    if t == "Conv2d":
        return (f"nn.Conv2d({in_shape[0]}, {p['out_channels']}, kernel_size={p['kernel_size']}, "
                f"stride={p['stride']}, padding={p['padding']}, bias={p['bias']})")
    if t in ("MaxPool2d", "AvgPool2d"):
        return f"nn.{t}({p['kernel_size']}, stride={p['stride'] or None}, padding={p['padding']})"
    if t == "BatchNorm":
        return f"nn.BatchNorm{'2d' if len(in_shape) == 3 else '1d'}({in_shape[0]})"
    if t == "Dropout":
        return f"nn.Dropout({p['p']!r})"
    if t == "Flatten":
        return "nn.Flatten()"
    if t == "LeakyReLU":
        return f"nn.LeakyReLU({p['negative_slope']!r})"
    if t in ("ReLU", "Sigmoid", "Tanh", "GELU"):
        return f"nn.{t}()"
    if t in ("RNN", "LSTM", "GRU"):
        c, h, w = in_shape
        return (f"RecurrentLastStep({t!r}, {c * w}, {p['hidden_size']}, num_layers={p['num_layers']}, "
                f"bidirectional={p['bidirectional']})")
    raise ExportError(f"no code for layer type {t}")


def script_source(spec: NetworkSpec, weights_name: str, test_accuracy: float | None = None) -> str:
    report = infer_shapes(spec)
    lines = []
    for layer, row in zip(spec.layers, report.rows):
        lines.append(f"            {_layer_code(layer, row.in_shape)},  # -> {format_shape(row.out_shape)}, "
                     f"{row.parameters:,} parameters")
    recurrent = any(CATALOG[layer.type].group == "recurrent" for layer in spec.layers)
    accuracy = f" Test accuracy on MNIST: {test_accuracy:.2%}." if test_accuracy is not None else ""
    return f'''"""{spec.name}: a network trained with the Neural Network Playground, as plain PyTorch.

{spec.description or "A network for 28x28 images of handwritten digits."}{accuracy}
{report.total_parameters:,} parameters. Needs only torch and safetensors:

    python {{this file}} image.png            # or: from this_module import load, predict

Input: float32 (N, 1, 28, 28) in [0, 1], white ink on black (MNIST's pixel / 255), the digit scaled
so that its longer side is 20 pixels and centred by its centre of mass. Output: 10 class scores.
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

WEIGHTS = Path(__file__).with_name({weights_name!r})
{_RECURRENT_CLASS if recurrent else ""}

class Net(nn.Sequential):
    def __init__(self):
        super().__init__(
{chr(10).join(lines)}
        )


def load(weights=WEIGHTS):
    """The network with its trained weights, in eval mode."""
    net = Net()
    net.load_state_dict(load_file(str(weights)))
    return net.eval()


def predict(net, images):
    """Class probabilities (N, 10) of float images (N, 1, 28, 28) in [0, 1]."""
    with torch.no_grad():
        return torch.softmax(net(torch.as_tensor(images, dtype=torch.float32)), dim=1)


if __name__ == "__main__":
    import numpy as np
    from PIL import Image

    net = load()
    for name in sys.argv[1:]:
        image = np.asarray(Image.open(name).convert("L").resize((28, 28)), dtype=np.float32) / 255.0
        probs = predict(net, image.reshape(1, 1, 28, 28))[0]
        print(f"{{name}}: {{int(probs.argmax())}} ({{float(probs.max()):.1%}})")
'''


def export_script(path: Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
                  test_accuracy: float | None = None) -> Path:
    """Writes ``path`` (.py) and its weights beside it (``path`` with ``.safetensors``)."""
    from playground.core.runs import save_weights

    weights = path.with_suffix(".safetensors")
    save_weights(weights, state)
    atomic_write_text(path, script_source(spec, weights.name, test_accuracy))
    return weights


# -- export and check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportCheck:
    """How the exported file's outputs compare with the model's on the same test images."""

    format: str
    path: str
    images: int
    label_agreement: float  # share of images with the same predicted label
    max_abs_difference: float  # largest difference of any output (class score)
    seconds: float

    @property
    def passed(self) -> bool:
        return self.label_agreement == 1.0 and self.max_abs_difference < 1e-4

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def format_text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"check {verdict}: {self.images} test images, labels agree on {self.label_agreement:.2%}, "
                f"largest output difference {self.max_abs_difference:.2e}")


def _run_exported(fmt: str, path: Path, x: torch.Tensor) -> np.ndarray:
    if fmt == "model":
        from playground.core.build import build_model

        spec, state, _ = load_model_file(path)
        model = build_model(spec).eval()
        model.load_state_dict(state)
        with torch.no_grad():
            return model(x).numpy()
    if fmt == "torchscript":
        module = torch.jit.load(str(path))
        with torch.no_grad():
            return module(x).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if fmt == "script":
        spec_ = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
        net = module.load()
        with torch.no_grad():
            return net(x).numpy()
    raise ExportError(f"unknown format {fmt!r}")


def check_export(fmt: str, path: Path, model: torch.nn.Module, images: torch.Tensor) -> ExportCheck:
    """Compare the exported file with ``model`` on uint8 ``images`` (N, 28, 28)."""
    start = time.perf_counter()
    x = images.unsqueeze(1).float().div(255)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = _run_exported(fmt, path, x)
    agreement = float((expected.argmax(1) == got.argmax(1)).mean())
    difference = float(np.abs(expected - got).max()) if got.shape == expected.shape else math.inf
    return ExportCheck(fmt, str(path), len(x), agreement, difference, time.perf_counter() - start)


def export(fmt: str, path: str | Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
           test_accuracy: float | None = None, check_images: torch.Tensor | None = None) -> ExportCheck | None:
    """Export in ``fmt`` to ``path`` and, given test images, check the result."""
    from playground.core.build import build_model

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent}: no such folder")
    model = build_model(spec).eval()
    model.load_state_dict(state)
    try:
        if fmt == "model":
            save_model_file(path, spec, state, test_accuracy)
        elif fmt == "torchscript":
            export_torchscript(path, model)
        elif fmt == "onnx":
            export_onnx(path, model)
        else:
            export_script(path, spec, state, test_accuracy)
    except OSError as exc:
        raise ExportError(f"{path}: cannot be written ({exc.strerror or exc}); any earlier file is unchanged") \
            from None
    return check_export(fmt, path, model, check_images) if check_images is not None else None
