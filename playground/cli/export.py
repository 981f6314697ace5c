"""``playground export``: write a trained model in another format and check the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from playground.cli.common import UsageError


def add_commands(sub) -> None:
    p = sub.add_parser("export", help="export a trained model and check the export",
                       description="Export a run's (best) model, or a model file, as the app's model file, "
                                   "TorchScript, ONNX or a standalone PyTorch script; then run 300 test "
                                   "images through the exported file and compare with the model. Exit 1 if "
                                   "the check fails.")
    p.add_argument("source", type=Path, metavar="RUN_DIR_OR_MODEL")
    p.add_argument("--format", required=True, choices=["model", "torchscript", "onnx", "script"])
    p.add_argument("--out", required=True, type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the check as one JSON object")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from playground.core.data import load_raw
    from playground.core.export import ExportError, ExportWriteError, check_target, export
    from playground.core.predict import Classifier
    from playground.core.runs import RunError, read_evaluation
    from playground.core.text import printable

    try:
        check_target(args.out, args.format)  # before anything is loaded: a bad --out fails at once
        classifier = Classifier.from_path(args.source)
        # Only the run's evaluation.json, for the accuracy (None if it is missing or unusable: the
        # export then does not mention it).
        evaluation = read_evaluation(args.source) if args.source.is_dir() else None
        accuracy = evaluation.accuracy if evaluation is not None else None
        _, test = load_raw("mnist")
        check = export(args.format, args.out, classifier.spec, classifier.model.state_dict(), accuracy,
                       check_images=test.images[:300])
    except ExportWriteError as exc:  # the input was fine; writing the result failed
        print(f"playground: error: {printable(exc)}", file=sys.stderr)
        return 1
    except (RunError, ExportError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(check.to_dict()))
    else:
        print(f"exported {args.format} to {args.out}")
        print(check.format_text())
    return 0 if check.passed else 1
