"""``playground export``: write a trained model in another format and check the result."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from playground.cli.common import UsageError


def add_commands(sub) -> None:
    from playground.core.export_formats import EXPORT_FORMATS

    p = sub.add_parser("export", help="export a trained model (or a GAN's generator) and check the export",
                       description="Export a run's (best) model, or a model file, as the app's model file, "
                                   "TorchScript, ONNX or a standalone PyTorch script; then run 300 test "
                                   "images through the exported file and compare with the model. A GAN run "
                                   "(or a generator model file) exports its generator, checked on 64 fixed "
                                   "latent vectors. Exit 1 if the check fails.")
    p.add_argument("source", type=Path, metavar="RUN_DIR_OR_MODEL")
    p.add_argument("--format", required=True, choices=list(EXPORT_FORMATS),
                   help="; ".join(f"{f.name}: {f.label}, {f.help}" for f in EXPORT_FORMATS.values()))
    p.add_argument("--out", required=True, type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="print the check as one JSON object")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from playground.core.checked_export import export_checked
    from playground.core.export import ExportError, ExportWriteError
    from playground.core.runs import RunError
    from playground.core.text import printable

    try:
        with warnings.catch_warnings():
            # torch deprecates torch.jit (FutureWarning on trace, save and load): not the user's concern
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
            check = export_checked(args.source, args.format, args.out)
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
