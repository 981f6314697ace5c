"""``playground explain``: what a trained model does with images, as files: what it sees, which pixels
its answer rests on, and every layer's output."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from playground.cli.common import UsageError
from playground.core.explain import SALIENCY_LABELS, SALIENCY_METHODS


def add_commands(sub) -> None:
    p = sub.add_parser(
        "explain", help="write what a model sees, where it looks and each layer's output, per image",
        description="For each image of a digit (read and preprocessed as `playground predict` does), write "
                    "NumPy .npy files into OUT: the 28x28 image the network sees (PREFIX.input.npy), a 28x28 "
                    "saliency map aligned with it (PREFIX.saliency.npy: positive = evidence for the class) and "
                    "one file per layer of the design with that layer's output (PREFIX.layer-NN-TYPE.npy), "
                    "where PREFIX is the image's position (001, 002, ...) and its file name, and NN the layer's "
                    "position in the design's list of layers, counted from 0 (the app counts from 1). Every image gets "
                    "a line (with --json, {\"path\", \"digit\", \"probabilities\", \"target\", \"method\", "
                    "\"input\", \"saliency\", \"layers\": [{\"index\", \"type\", \"shape\", \"file\"}]} or "
                    "{\"path\", \"error\"}; \"index\" is NN, from 0), and a bad image does not stop the others.",
        epilog="OUT is a new folder (its parent must exist) or an empty one; with --force, an existing "
               "folder: an image's files replace those of the same prefix (PREFIX.*.npy), others are kept. "
               "Exit code: 2 if the model, an option or OUT is unusable (nothing is written) or any image "
               "could not be read, even if others were explained; otherwise 1 if any image had no digit "
               "(blank), the model's output was not a number or a file could not be written; otherwise 0.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", type=Path, metavar="RUN_DIR_OR_MODEL",
                   help="a run folder, a model folder or a model file (.pgmodel.safetensors; "
                        "default: the model that ships with the app)")
    p.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="the folder to write the .npy files into")
    p.add_argument("--method", choices=SALIENCY_METHODS, default=SALIENCY_METHODS[0],
                   help="the saliency map: " + ", ".join(f"{m} ({SALIENCY_LABELS[m]})" for m in SALIENCY_METHODS)
                        + "; grad-cam needs a design with a Conv2d layer (default: %(default)s)")
    p.add_argument("--target", metavar="D",
                   help="the class the saliency is for, e.g. 3 (default: each image's guessed digit)")
    p.add_argument("--force", action="store_true", help="write into an existing folder that holds files")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.set_defaults(func=cmd_explain)


def check_out_folder(folder: Path, force: bool) -> None:
    """A ``UsageError`` unless files can be written into ``folder``: a new folder in an existing one, an
    empty folder or (``force``) any folder. Nothing is written."""
    from playground.core.text import printable

    shown = printable(folder)
    if folder.is_symlink() and not folder.exists():
        raise UsageError(f"{shown} is a link to something that does not exist; give a new or empty folder for "
                         f"the files")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{shown} is a file, not a folder; give a new or empty folder for the files")
    if folder.is_dir():
        try:
            held = sum(1 for _ in folder.iterdir())
        except OSError as exc:
            raise UsageError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
        if held and not force:
            raise UsageError(f"{shown} is not empty ({held:,} entries); choose a new or empty folder, or add "
                             f"--force to write into it (files of the same names are replaced, others kept)")
        writable = folder
    elif not folder.parent.is_dir():
        raise UsageError(f"{printable(folder.parent)}: no such folder; create it first or choose another place")
    else:
        writable = folder.parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise UsageError(f"{printable(writable)}: no permission to write in this folder; choose another place")


def _target(text: str | None, classes: int) -> int | None:
    from playground.core.text import short_repr

    if text is None:
        return None
    value = int(text) if re.fullmatch(r"\s*\d{1,6}\s*", text) else -1
    if not 0 <= value < classes:
        raise UsageError(f"--target must be a class from 0 to {classes - 1}; got {short_repr(text)}")
    return value


def _prefix(position: int, width: int, path: str) -> str:
    """``001-seven``: the image's position (so two images of the same name never share files) and its
    file name, kept to letters, digits, ``_`` and ``-``."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem)[:40].strip("_")
    return f"{position:0{width}d}" + (f"-{stem}" if stem else "")


def _save(folder: Path, name: str, array) -> str:
    import numpy as np

    from playground.core.atomic import atomic_path

    target = folder / name
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array, np.float32), allow_pickle=False)
    return str(target)


def _own_files(folder: Path, prefix: str) -> list[Path]:
    """The files of ``prefix`` that an earlier run may have left in ``folder`` (only names this
    command makes: PREFIX.input.npy, PREFIX.saliency.npy, PREFIX.layer-NN-TYPE.npy)."""
    pattern = re.compile(re.escape(prefix) + r"\.(input|saliency|layer-\d{2,}-[A-Za-z0-9]+)\.npy")
    try:
        return [p for p in folder.iterdir() if pattern.fullmatch(p.name) and p.is_file()]
    except OSError:
        return []


def _write_files(folder: Path, prefix: str, image, explanation) -> tuple[str, str, list[dict]]:
    """The input, saliency and layer files of one image, in place of any an earlier run left under
    the same prefix (another model's layers would not all be replaced); ``OSError`` if one cannot be
    written, and then none of this image's files are left."""
    folder.mkdir(exist_ok=True)
    for old in _own_files(folder, prefix):
        old.unlink()
    try:
        input_file = _save(folder, f"{prefix}.input.npy", image)
        saliency_file = _save(folder, f"{prefix}.saliency.npy", explanation.saliency)
        layers = [{"index": out.index, "type": out.type, "shape": list(out.shape),
                   "file": _save(folder, f"{prefix}.layer-{out.index:02d}-{out.type}.npy", out.values)}
                  for out in explanation.outputs]
    except OSError:
        for written in _own_files(folder, prefix):
            written.unlink(missing_ok=True)
        raise
    return input_file, saliency_file, layers


def _write_error(exc: OSError) -> str:
    """Why a file could not be written, in words (NumPy's own message for a short write is
    "12544 requested and 5088 written")."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or exc.errno is None:
        return "the disk is full or a file size limit was hit"
    return exc.strerror or str(exc)


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain each image; exit 2 if any was unreadable, else 1 if any failed, else 0."""
    import numpy as np

    from playground.core.explain import explain, grad_cam_available
    from playground.core.predict import Classifier
    from playground.core.preprocess import load_image
    from playground.core.runs import RunError
    from playground.core.text import printable

    check_out_folder(args.out, args.force)  # before the model loads: a bad OUT costs nothing
    try:
        classifier = Classifier.from_path(args.model)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    spec = classifier.spec
    target = _target(args.target, spec.num_classes)
    if args.method == "grad-cam" and not grad_cam_available(spec):
        raise UsageError("--method grad-cam needs a design with a Conv2d layer; this model has none: use "
                         "--method gradient-x-input")

    def report_error(path: str, message: str) -> None:
        if args.json:
            print(json.dumps({"path": str(path), "error": message}, allow_nan=False), flush=True)
        else:
            print(f"playground: {printable(message)}", file=sys.stderr, flush=True)

    unreadable = failed = 0
    width = max(3, len(str(len(args.images))))
    for position, path in enumerate(args.images, 1):
        try:
            image = classifier.prepare(load_image(path))  # as the model was trained
        except ValueError as exc:  # missing, not an image, another format, too big: bad input
            unreadable += 1
            report_error(path, str(exc))
            continue
        if image is None:
            failed += 1
            report_error(path, f"{path}: no digit found (the image is blank)")
            continue
        result = explain(classifier.model, spec, image, target, args.method)
        probs = result.probabilities
        if not (np.isfinite(probs).all() and np.isfinite(result.saliency).all()):
            failed += 1
            report_error(path, f"{path}: the model's output is not a number (NaN): the model is broken; "
                               f"retrain it or use another model")
            continue
        try:
            input_file, saliency_file, layers = _write_files(args.out, _prefix(position, width, path), image, result)
        except OSError as exc:
            failed += 1
            report_error(path, f"{path}: could not write its files into {args.out}: {_write_error(exc)}")
            continue
        digit = int(probs.argmax())
        if args.json:
            print(json.dumps({"path": str(path), "digit": digit,
                              "probabilities": [round(float(p), 6) for p in probs],
                              "target": result.target, "method": result.method, "input": input_file,
                              "saliency": saliency_file, "layers": layers}, allow_nan=False), flush=True)
        else:
            print(f"{printable(path)}: {digit} ({probs[digit]:.1%}); {SALIENCY_LABELS[result.method]} for "
                  f"{result.target} in {printable(saliency_file)}, what it sees in {printable(input_file)}, "
                  f"{len(layers)} layer outputs beside them", flush=True)
    return 2 if unreadable else 1 if failed else 0
