"""``playground predict``: classify images with a trained model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playground.cli.common import UsageError


def add_commands(sub) -> None:
    p = sub.add_parser(
        "predict", help="classify images of handwritten digits",
        description="Classify images of a digit (PNG, JPEG, BMP, GIF, TIFF or WebP, up to 40 megapixels; "
                    "dark on light, light on dark, or dark ink on a transparent background), preprocessed "
                    "like MNIST. The model loads once; every image gets a line: its class and "
                    "probabilities, or an error (with --json, {\"path\", \"digit\", \"label\", "
                    "\"probabilities\"} or {\"path\", \"error\"}: digit is the class's index, label its "
                    "name, which for a model trained on a folder of images is the class folder's name), and a "
                    "bad image does not stop the others.",
        epilog="Exit code: 2 if the model or any image could not be read (missing, not an image, another "
               "format, too big), even if other images were classified; otherwise 1 if any image had no "
               "digit (blank) or the model's output was not a number; otherwise 0.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", type=Path, metavar="RUN_DIR_OR_MODEL",
                   help="a run folder, a model folder or a model file (.pgmodel.safetensors; "
                        "default: the model that ships with the app)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify each image; exit 2 if any was unreadable, else 1 if any failed, else 0."""
    from playground.core.predict import Classifier, PredictionError
    from playground.core.preprocess import load_image
    from playground.core.runs import RunError
    from playground.core.text import printable

    try:
        classifier = Classifier.from_path(args.model)
    except RunError as exc:
        raise UsageError(str(exc)) from None

    def report_error(path: str, message: str) -> None:
        if args.json:
            print(json.dumps({"path": str(path), "error": message}, allow_nan=False), flush=True)
        else:
            print(f"playground: {printable(message)}", file=sys.stderr, flush=True)  # names from a folder

    unreadable = failed = 0
    for path in args.images:
        try:
            image = load_image(path)
        except ValueError as exc:  # missing, not an image, another format, too big: bad input
            unreadable += 1
            report_error(path, str(exc))
            continue
        try:  # prepared as the model was trained (its run's preprocessing), then classified
            probs = classifier.probabilities(classifier.prepared(image, path))
            answer = classifier.answer_of(probs, path)
        except PredictionError as exc:  # blank, or the model's output is not a number
            failed += 1
            report_error(path, str(exc))
            continue
        if args.json:
            print(json.dumps({"path": str(path), **answer}, allow_nan=False), flush=True)
        else:
            names = classifier.classes
            digit, label = answer["digit"], answer["label"]
            table = "  ".join(f"{printable(names[d])}:{p:.3f}" for d, p in enumerate(probs))
            print(f"{printable(path)}: {printable(label)} ({probs[digit]:.1%})   {table}", flush=True)
    return 2 if unreadable else 1 if failed else 0
