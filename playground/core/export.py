"""Exporting trained models, and checking every export against the model it came from.

The formats are listed once, in :mod:`playground.core.export_formats`: the app's own model file
(the weights, with the design, the preprocessing the model expects and its test accuracy in the
file's metadata; safetensors only, so loading it never unpickles anything), TorchScript (traced),
ONNX (a dynamic batch dimension, every weight inside one file) and a standalone PyTorch script with
its weights beside it. The script's layers are written by the layer catalog, and it reads image files
with a copy of :mod:`playground.core.preprocess`'s own functions (:func:`preprocessing_source`), so it
classifies a file as ``playground predict`` does. The design's name and description go only into its
docstring, escaped, and each script is proven with ``ast`` before it is written or run.

After every export, :func:`check_export` runs test images through the exported file (TorchScript
and the script with torch, ONNX with ONNX Runtime) and compares labels and outputs with the model.
Every file is built in memory and written atomically: a failed write leaves no temporary file and
any earlier file unchanged.

Model files come from strangers: :func:`load_model_file` checks what kind of file it is, the
safetensors header against the file's size (:mod:`playground.core.weights`), the design, and each
weight's dtype and shape against a model of that design built on the ``meta`` device, before reading
any weight, and never unpickles or runs anything.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import math
import os
import secrets
import time
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from playground.core import preprocess
from playground.core.atomic import atomic_write_bytes, atomic_write_text
from playground.core.export_formats import FORMATS
from playground.core.files import open_regular
from playground.core.gan_spec import GAN_KIND
from playground.core.layers import CATALOG, format_shape
from playground.core.shapes import infer_shapes
from playground.core.spec import DesignError, NetworkSpec
from playground.core.text import safe_file_stem
from playground.core.weights import (OPENS, STATE_DICT_FILE_LIMIT, WeightsError, check_finite, check_fit,
                                     expected_weights, foreign_kind, layout, load_weights, safetensors_header,
                                     save_weights)


MODEL_FORMAT = "nn-playground-model"
MODEL_FORMAT_VERSION = "1"
PREPROCESSING = {
    "input_shape": [1, 28, 28],
    "values": "float32 in [0, 1]: white ink (1) on black (0), as MNIST stores it (pixel / 255)",
    "normalisation": "none",
    "digit_box": "the digit scaled so that its longer side is 20 pixels, centred by its centre of mass",
}
RESIZE_BOX = "the whole image scaled to 28x28 (dark on light inverted to white on black)"


def preprocessing_metadata(how: str = "mnist") -> dict:
    """What a model file records of its input: :data:`PREPROCESSING`, with ``method`` the run's
    preprocessing (``playground.core.preprocess.prepare``'s ``how``)."""
    _check_preprocess(how)
    return {**PREPROCESSING, "method": how, **({"digit_box": RESIZE_BOX} if how == "resize" else {})}


def _check_preprocess(how: str) -> None:
    if how not in preprocess.PREPARATIONS:
        raise ExportError(f"unknown preprocessing {how!r}; choose one of: {', '.join(preprocess.PREPARATIONS)}")


def model_file_preprocess(meta: dict[str, str]) -> str:
    """The preprocessing a model file's metadata records; "mnist" for files from before the choice."""
    try:
        how = json.loads(meta.get("preprocessing", "{}")).get("method", "mnist")
    except (ValueError, AttributeError, RecursionError):
        return "mnist"
    return how if how in preprocess.PREPARATIONS else "mnist"


class ExportError(RuntimeError):
    """An export or a model file failed; the message says why."""


class ExportWriteError(ExportError):
    """The exported file could not be written (no permission, disk full); earlier files are intact."""


# -- the app's own model file ----------------------------------------------------------------------


def save_model_file(path: str | Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
                    test_accuracy: float | None = None, classes: list[str] | None = None,
                    preprocess: str = "mnist") -> Path:
    """The app's model file: weights, with the design, preprocessing (``preprocess``: the run's
    choice), test accuracy and the class names (``classes``, a JSON list; "0".."n-1" when not given)
    in its metadata."""
    path = Path(path)
    metadata = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "design": spec.to_json(),
                "preprocessing": json.dumps(preprocessing_metadata(preprocess)),
                "test_accuracy": "" if _finite_accuracy(test_accuracy) is None else repr(float(test_accuracy)),
                "classes": json.dumps(_classes(spec, classes), ensure_ascii=False),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    save_weights(path, state, metadata)
    return path


def _classes(spec: NetworkSpec, classes: list[str] | None) -> list[str]:
    if classes is not None and len(classes) == spec.num_classes:
        return [str(c) for c in classes]
    return [str(i) for i in range(spec.num_classes)]


def model_file_classes(meta: dict[str, str], spec: NetworkSpec) -> list[str]:
    """The class names a model file's metadata records; "0".."n-1" for a file without them (or with
    a list that does not fit its design)."""
    from playground.core.data import check_class_names

    try:
        names = check_class_names(json.loads(meta.get("classes", "null")), spec.num_classes)
    except (ValueError, RecursionError):
        names = None
    return names if names is not None else [str(i) for i in range(spec.num_classes)]


def load_model_file(path: str | Path) -> tuple[NetworkSpec, dict[str, torch.Tensor], dict[str, str]]:
    """The design, weights and metadata of a model file; ``ExportError`` if it is not one.

    Everything is checked before any weight is read: what kind of file it is, the safetensors header
    (sizes within the file), the metadata and design, and each weight's name, dtype and shape against
    the design; then the weights are read and must be finite."""
    path = Path(path)
    _, meta = read_safetensors_header(path)
    if meta.get("format") != MODEL_FORMAT:
        raise ExportError(f"{path}: a safetensors file, but not a model file of this app (no design in it); "
                          f"open a run folder or a .pgmodel.safetensors file")
    if meta.get("format_version") != MODEL_FORMAT_VERSION:
        raise ExportError(f"{path}: model file version {meta.get('format_version')!r}; this app reads "
                          f"{MODEL_FORMAT_VERSION}")
    if meta.get("kind") == GAN_KIND:
        raise ExportError(f"{path}: a GAN generator's model file: it makes images of digits, it does not classify "
                          f"them; `playground generate {path.name} --count N --out FOLDER` samples from it")
    if "design" not in meta:
        raise ExportError(f"{path}: a model file without a design in its metadata (damaged, or not written by "
                          f"this app); export the model again from its run folder")
    try:
        spec = NetworkSpec.from_json(meta["design"], f"{path} (its design)")
        report = infer_shapes(spec)
        if report.valid:
            needed = expected_weights(spec)  # on the meta device: nothing allocated
    except (DesignError, ValueError, TypeError, RecursionError) as exc:
        raise ExportError(f"{path}: the design in this model file is malformed: {exc}") from None
    if not report.valid:  # a shape or memory-budget problem: say that, not "does not fit the file"
        raise ExportError(f"{path}: the design in this model file cannot be used: "
                          + "; ".join(p.message for p in report.problems))
    try:
        state = load_weights(path, needed)  # the header is checked against the design before any weight is read
    except WeightsError as exc:
        raise ExportError(str(exc)) from None
    return spec, state, meta


# -- reading a safetensors file's header without trusting it ----------------------------------------

def read_safetensors_header(path: str | Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """A safetensors file's tensors (name -> dtype name, shape) and metadata, without reading any
    tensor; ``ExportError`` naming the file and what is wrong (a TorchScript, pickle, ONNX or zip file
    is named as such)."""
    path = Path(path)
    try:
        return safetensors_header(path)
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_state_dict_file(path: str | Path, spec: NetworkSpec | None = None) -> dict[str, torch.Tensor]:
    """A PyTorch state dict (``.pt``/``.pth``), loaded only with ``weights_only=True``: a file that
    needs anything else unpickled is refused, and none of its code runs. A file larger than any
    design's weights could be (:data:`~playground.core.weights.STATE_DICT_FILE_LIMIT`) is refused
    before it is read; given ``spec``, the tensors must fit that design. The values must be finite."""
    import pickle

    path = Path(path)
    try:
        with open_regular(path) as f:  # a pipe or a device is refused, never waited on
            size = os.fstat(f.fileno()).st_size
            kind = foreign_kind(path, f.read(8), size)
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if kind is not None and kind.startswith(("a TorchScript", "an ONNX")):
        raise ExportError(f"{path}: this is {kind}, not a state dict; a .pt/.pth file opens here only as a "
                          f"state dict (torch.save(model.state_dict())) for the current design; {OPENS}")
    if size > STATE_DICT_FILE_LIMIT:
        raise ExportError(f"{path}: {size:,} bytes, more than the weights of any design can take (at most "
                          f"{STATE_DICT_FILE_LIMIT:,} bytes); it was not read")
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
    try:
        if spec is not None:
            check_fit(path, layout(state), expected_weights(spec))
        check_finite(path, state)
    except (WeightsError, DesignError) as exc:
        raise ExportError(str(exc)) from None
    return state


# -- the other formats ------------------------------------------------------------------------------


def _example() -> torch.Tensor:
    return torch.zeros(2, 1, 28, 28)


def export_torchscript(path: Path, model: torch.nn.Module) -> None:
    """Traced, serialized in memory, then written atomically (torch's own file writer would abort the
    process on a write error and leave its file behind)."""
    with torch.no_grad():
        traced = torch.jit.trace(model.eval(), _example())
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())


ONNX_SIZE_LIMIT = 2**31 - 1  # bytes: protobuf's limit for one message, so for a self-contained .onnx


def onnx_bytes(model_proto, limit: int = ONNX_SIZE_LIMIT) -> bytes:
    """An ONNX model with every weight inside it, as the bytes of one file."""
    try:
        size = model_proto.ByteSize()
        data = model_proto.SerializeToString() if size <= limit else None
    except ValueError:  # protobuf refuses to serialize a message over 2 GB
        size, data = None, None
    if data is None:
        shown = f"{size / 2**30:.2f} GiB" if size is not None else "over 2 GiB"
        raise ExportError(f"the model is too large for a single ONNX file ({shown}; protobuf allows "
                          f"{limit / 2**30:.2f} GiB); export it as TorchScript or the app's model file")
    return data


def export_onnx(path: Path, model: torch.nn.Module) -> None:
    """One self-contained ``.onnx`` (weights inside), exported in memory and written atomically: nothing
    else is written beside it or anywhere else."""
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(model.eval(), (_example(),), None, dynamo=True, input_names=["image"],
                                    output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
    atomic_write_bytes(path, onnx_bytes(program.model_proto))


_NEUTRAL_NAME = "network"


def _finite_accuracy(test_accuracy: Any) -> float | None:
    try:
        value = float(test_accuracy)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def script_docstring(spec: NetworkSpec, test_accuracy: float | None = None, preprocess: str = "mnist") -> str:
    """The text of the exported script's docstring: the design's name (on one line) and description."""
    name = " ".join(spec.name.split()) or "untitled"  # the spec already cut it and replaced unsafe characters
    description = spec.description or "A network for 28x28 images of handwritten digits."
    accuracy = _finite_accuracy(test_accuracy)
    accuracy_text = f" Test accuracy on MNIST: {accuracy:.2%}." if accuracy is not None else ""
    return (f"{name}: a network trained with the Neural Network Playground, as plain PyTorch.\n\n"
            f"{description}{accuracy_text}\n"
            f"{infer_shapes(spec).total_parameters:,} parameters. Needs torch, safetensors and numpy (and Pillow to "
            "read image files):\n\n"
            "    python {this file} image.png [--json]   # or: from this_module import load, predict\n\n"
            f"Image files are preprocessed as the Playground does (load_image, prepare below: {preprocess!r}).\n"
            "Input: float32 (N, 1, 28, 28) in [0, 1], white ink on black (MNIST's pixel / 255), "
            + ("the whole image\nscaled to 28x28" if preprocess == "resize" else
               "the digit scaled\nso that its longer side is 20 pixels and centred by its centre of mass")
            + f". Output: {spec.num_classes} class scores.\n")


def _string_literal(text: str) -> str:
    """``text`` as a triple-quoted Python literal that reads back exactly: backslashes and quotes
    escaped, and every character that is not printable (except newline and tab) as an escape, so no
    text can end the literal, and NUL, CR, bidi controls or surrogates never reach the file raw."""
    out = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c in "\n\t" or c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"""' + "".join(out) + '"""'


# What the script needs to read an image file as ``playground predict`` does.
_PREPROCESSING_ROOTS = ("load_image", "prepare")


def _names_defined(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return []


def _imports_the_app(node: ast.stmt) -> bool:
    """Whether ``node`` imports ``playground`` anywhere, inside functions too (or relatively)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and (sub.level or (sub.module or "").split(".")[0] == "playground"):
            return True
        if isinstance(sub, ast.Import) and any(alias.name.split(".")[0] == "playground" for alias in sub.names):
            return True
    return False


def preprocessing_source() -> str:
    """The source of :func:`~playground.core.preprocess.load_image` and
    :func:`~playground.core.preprocess.preprocess_image` with every top-level definition, constant and
    import of that module they use, in the module's order: the exported script's copy is taken from
    the one definition, so the two cannot drift apart. ``OSError`` if the source is not installed or
    would need the app itself."""
    imports, definitions = preprocessing_parts()
    return f"{imports}\n\n\n{definitions}"


def preprocessing_parts() -> tuple[str, str]:
    """:func:`preprocessing_source` as its imports and the rest, for the top and the body of a script."""
    source = inspect.getsource(preprocess)
    body = [node for node in ast.parse(source).body
            if not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    defined = {name: node for node in body for name in _names_defined(node)}
    wanted: set[int] = set()
    todo = list(_PREPROCESSING_ROOTS)
    while todo:
        node = defined.get(todo.pop())
        if node is None or id(node) in wanted:
            continue
        wanted.add(id(node))
        todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    parts = [node for node in body if id(node) in wanted]
    if any(_imports_the_app(node) for node in parts):
        raise OSError("the preprocessing imports the app itself; the script could not run alone")
    imports = [node for node in parts if isinstance(node, (ast.Import, ast.ImportFrom))]
    rest = [node for node in parts if node not in imports]
    text = ""
    for before, node in zip([None, *rest], rest):
        separate = isinstance(node, ast.FunctionDef) or isinstance(before, ast.FunctionDef)
        text += ("\n\n\n" if separate else "\n") if text else ""
        text += ast.get_source_segment(source, node)
    return "\n".join(ast.get_source_segment(source, node) for node in imports), text


def _network_code(spec: NetworkSpec, check_output: bool = True) -> tuple[list[str], str]:
    """The layers' lines of ``Net`` and the source of the app's own classes they use (written by the
    catalog: :meth:`~playground.core.layers.LayerType.torch_call`). ``check_output=False`` for a stack
    with end rules of its own (a GAN's generator)."""
    from playground.core.modules import class_source

    report = infer_shapes(spec, check_output=check_output)
    if not report.valid:
        raise ExportError("the design cannot be written as code: " + "; ".join(p.message for p in report.problems))
    lines, own = [], set()
    for layer, row in zip(spec.layers, report.rows):
        call = CATALOG[layer.type].torch_call(layer.params, row.in_shape)
        try:
            code = call.code()
        except ValueError as exc:
            raise ExportError(f"layer {layer.type}: {exc}") from None
        lines.append(f"            {code},  # -> {format_shape(row.out_shape)}, {int(row.parameters):,} parameters")
        if call.own:
            own.add(call.name)
    try:
        classes = "".join(f"\n\n{class_source(name)}" for name in sorted(own))
    except (OSError, TypeError) as exc:
        raise ExportError(f"the design cannot be written as code: this installation lacks the source of its "
                          f"layers ({exc}); export it as TorchScript or ONNX") from None
    return lines, classes


# The script's command line: the same output as ``playground predict`` (with --json, the same objects).
_SCRIPT_COMMAND_LINE = '''\
# -- the command line ------------------------------------------------------------------------------

def main(argv=None):
    """Classify image files; exit 2 if the weights or any image could not be read, else 1 if any was
    blank, else 0."""
    import argparse

    parser = argparse.ArgumentParser(description="Classify images of a digit (PNG, JPEG, BMP, GIF, TIFF "
                                     "or WebP), preprocessed like MNIST, as the Playground does.")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    args = parser.parse_args(argv)
    if not WEIGHTS.is_file():  # a script copied without its weights
        print(f"{WEIGHTS.name} not found next to the script: copy it along", file=sys.stderr)
        return 2
    net, names = load(), class_names()
    unreadable = blank = 0
    for name in args.images:
        try:
            image = prepare(load_image(name), PREPROCESS)
        except ValueError as exc:  # missing, not an image, another format, too big
            unreadable += 1
            error = str(exc)
        else:
            blank += image is None
            error = f"{name}: no digit found (the image is blank)" if image is None else None
        if error is not None:
            if args.json:
                print(json.dumps({"path": name, "error": error}), flush=True)
            else:
                print(error, file=sys.stderr, flush=True)
            continue
        probs = [float(p) for p in predict(net, image.reshape(1, 1, 28, 28))[0]]
        digit = max(range(len(probs)), key=probs.__getitem__)
        labels = names if len(names) == len(probs) else [str(d) for d in range(len(probs))]
        if args.json:
            print(json.dumps({"path": name, "digit": digit, "label": labels[digit],
                              "probabilities": [round(p, 6) for p in probs]}), flush=True)
        else:
            table = "  ".join(f"{labels[d]}:{p:.3f}" for d, p in enumerate(probs))
            print(f"{name}: {labels[digit]} ({probs[digit]:.1%})   {table}", flush=True)
    return 2 if unreadable else 1 if blank else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _render_script(spec: NetworkSpec, weights_name: str, test_accuracy: float | None,
                   preprocess: str = "mnist") -> str:
    lines, classes = _network_code(spec)
    try:
        reading_imports, reading = preprocessing_parts()
    except (OSError, TypeError) as exc:
        raise ExportError(f"the script cannot be written: this installation lacks the source of its image "
                          f"preprocessing ({exc}); export it as TorchScript or ONNX") from None
    _check_preprocess(preprocess)
    return _string_literal(script_docstring(spec, test_accuracy, preprocess)) + f"""

import json
import sys
from pathlib import Path

{reading_imports}
import torch
from safetensors.torch import load_file
from torch import nn

WEIGHTS = Path(__file__).with_name({weights_name!r})
PREPROCESS = {preprocess!r}  # how the model was trained: "mnist" (crop, 20-pixel box) or "resize"
{classes}

class Net(nn.Sequential):
    def __init__(self):
        super().__init__(
{chr(10).join(lines)}
        )


def load(weights=WEIGHTS):
    \"\"\"The network with its trained weights, in eval mode.\"\"\"
    net = Net()
    net.load_state_dict(load_file(str(weights)))
    return net.eval()


def class_names(weights=WEIGHTS):
    \"\"\"The classes' names (output i is names[i]), as the weights file records them; [] if it does not.\"\"\"
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        meta = f.metadata() or {{}}
    try:
        names = json.loads(meta.get("classes", "[]"))
    except ValueError:
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def predict(net, images):
    \"\"\"Class probabilities (N, classes) of float images (N, 1, 28, 28) in [0, 1]. One image runs as a
    batch of two, as in the Playground: torch rounds a single row differently in the last bit.\"\"\"
    x = torch.as_tensor(images, dtype=torch.float32)
    with torch.no_grad():
        return torch.softmax(net(torch.cat([x, x]) if len(x) == 1 else x), dim=1)[:len(x)]


# -- reading an image file: the Playground's own preprocessing, copied from it ----------------------

{reading}


{_SCRIPT_COMMAND_LINE}"""


def _code_without_docstring(tree: ast.Module) -> str:
    return ast.dump(ast.Module(body=tree.body[1:], type_ignores=[]))


def script_source(spec: NetworkSpec, weights_name: str, test_accuracy: float | None = None,
                  preprocess: str = "mnist") -> str:
    """The standalone script, proven before it is returned: it parses, its docstring is exactly the
    intended text, and its code is the same as that generated for a neutral name and description,
    so nothing from the design's text became code. ``ExportError`` otherwise."""
    source = _render_script(spec, weights_name, test_accuracy, preprocess)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise ExportError(f"the generated script does not parse ({exc}); nothing was written") from None
    if ast.get_docstring(tree, clean=False) != script_docstring(spec, test_accuracy, preprocess):
        raise ExportError("the generated script's docstring is not the design's text; nothing was written")
    neutral = replace(spec, name=_NEUTRAL_NAME, description="")
    if _code_without_docstring(tree) != _code_without_docstring(ast.parse(_render_script(neutral, weights_name,
                                                                                            None, preprocess))):
        raise ExportError("the generated script holds code that came from the design's text; nothing was "
                          "written")
    return source


@contextlib.contextmanager
def _restored_on_failure(path: Path) -> Iterator[None]:
    """On an error in the block, put ``path`` back as it was (or remove it if it did not exist).

    The earlier file is kept under a hidden name beside it (a hard link, else a rename: neither
    needs disk space), so that putting it back cannot fail for a full disk."""
    backup = None
    if path.exists():
        for _ in range(100):
            candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old.tmp")
            try:
                os.link(path, candidate)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system
                os.replace(path, candidate)
            backup = candidate
            break
    try:
        yield
    except BaseException:
        if backup is None:
            path.unlink(missing_ok=True)
        elif not (path.exists() and os.path.samefile(path, backup)):  # (renaming a link onto itself does nothing)
            os.replace(backup, path)
            backup = None
        raise
    finally:
        if backup is not None:
            backup.unlink(missing_ok=True)


def export_script(path: Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
                  test_accuracy: float | None = None, classes: list[str] | None = None,
                  preprocess: str = "mnist") -> Path:
    """Writes ``path`` (.py) and its weights beside it (``path`` with ``.safetensors``).

    The weights are written first, then the script; if the script cannot be written, the earlier
    weights are put back (or the new ones removed), so a script never sits beside weights that are
    not its own."""
    weights = path.with_suffix(".safetensors")
    if weights == path:
        raise ExportError(f"{path}: a script export needs a .py name (its weights go beside it as .safetensors)")
    if weights.is_dir():
        raise ExportError(f"{weights} is a folder; the script's weights go there: choose another name")
    source = script_source(spec, weights.name, test_accuracy, preprocess)
    with _restored_on_failure(weights):
        save_weights(weights, state, {"classes": json.dumps(_classes(spec, classes), ensure_ascii=False)})
        atomic_write_text(path, source)
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


def load_script_module(path: Path, source: str) -> types.ModuleType:
    """The exported script as a module: only if the file holds exactly ``source``, which passed its
    proof (:func:`script_source`), and by compiling that proven text, never text read back from the file."""
    expected = source.encode("utf-8")
    if path.stat().st_size != len(expected) or path.read_bytes() != expected:
        raise ExportError(f"{path}: the file is not the script just generated (was it changed?); it was not run")
    module = types.ModuleType(f"exported_{path.stem}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - proven above
    return module


def _run_script(path: Path, x: torch.Tensor, source: str) -> np.ndarray:
    module = load_script_module(path, source)
    with torch.no_grad():
        return module.load()(x).numpy()


def _run_exported(fmt: str, path: Path, x: torch.Tensor, spec: NetworkSpec | None,
                  test_accuracy: float | None, preprocess: str = "mnist") -> np.ndarray:
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
        if spec is None:
            raise ExportError("checking an exported script needs its design")
        source = script_source(spec, path.with_suffix(".safetensors").name, test_accuracy, preprocess)
        return _run_script(path, x, source)
    raise ExportError(f"unknown format {fmt!r}")


def check_export(fmt: str, path: Path, model: torch.nn.Module, images: torch.Tensor,
                 spec: NetworkSpec | None = None, test_accuracy: float | None = None,
                 preprocess: str = "mnist") -> ExportCheck:
    """Compare the exported file with ``model`` on uint8 ``images`` (N, 28, 28). A script is run only
    if it is exactly the one generated from ``spec`` and ``test_accuracy`` (so it needs them)."""
    start = time.perf_counter()
    x = images.unsqueeze(1).float().div(255)
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    got = _run_exported(fmt, Path(path), x, spec, test_accuracy, preprocess)
    agreement = float((expected.argmax(1) == got.argmax(1)).mean())
    difference = float(np.abs(expected - got).max()) if got.shape == expected.shape else math.inf
    return ExportCheck(fmt, str(path), len(x), agreement, difference, time.perf_counter() - start)


def file_stem(name: str) -> str:
    """A design's name as a file name stem for a suggested export path (see ``safe_file_stem``), so a
    name such as ``../../.bashrc`` picks no other folder."""
    return safe_file_stem(name)


def check_target(path: str | Path, fmt: str | None = None) -> Path:
    """``path`` if a file can be exported there; ``ExportError`` saying why not (nothing is written)."""
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the name of the file to write")
    if not parent.exists():
        raise ExportError(f"{parent}: no such folder; create it first or choose another place")
    if not parent.is_dir():
        raise ExportError(f"{parent} is a file, not a folder; choose a place inside a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{parent}: no permission to write in this folder; choose another place")
    if fmt == "script" and path.with_suffix(".safetensors") == path:
        raise ExportError(f"{path}: a script export needs a .py name (its weights go beside it as .safetensors)")
    return path


def export(fmt: str, path: str | Path, spec: NetworkSpec, state: dict[str, torch.Tensor],
           test_accuracy: float | None = None, check_images: torch.Tensor | None = None,
           classes: list[str] | None = None, preprocess: str = "mnist") -> ExportCheck | None:
    """Export in ``fmt`` to ``path`` and, given test images, check the result.

    The file is built in memory and written atomically: a failed write (no permission, a full disk)
    is an ``ExportError``, leaves no temporary file, and leaves any earlier file unchanged."""
    from playground.core.build import build_model

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = check_target(path, fmt)
    _check_preprocess(preprocess)
    model = build_model(spec).eval()
    model.load_state_dict(state)
    try:
        if fmt == "model":
            save_model_file(path, spec, state, test_accuracy, classes, preprocess)
        elif fmt == "torchscript":
            export_torchscript(path, model)
        elif fmt == "onnx":
            export_onnx(path, model)
        else:
            export_script(path, spec, state, test_accuracy, classes, preprocess)
    except OSError as exc:
        earlier = "any earlier files are" if fmt == "script" else "any earlier file is"
        raise ExportWriteError(f"{path}: cannot be written ({exc.strerror or exc}); {earlier} unchanged") \
            from None
    if check_images is None:
        return None
    return check_export(fmt, path, model, check_images, spec, test_accuracy, preprocess)
