"""``playground summary`` and ``playground presets``: designs on the command line."""

from __future__ import annotations

import argparse
import json

from playground.cli.common import UsageError, add_design_source, resolve_design
from playground.core.presets import PRESETS, get_preset
from playground.core.shapes import infer_shapes
from playground.core.summary import DEFAULT_BATCH_SIZE, format_report, report_dict


def add_commands(sub) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, parameters and multiply-adds of a design",
                       description="Print each layer's output shape, parameters and multiply-adds, "
                                   "the totals and any problems. Exits 1 if the design is invalid.")
    add_design_source(p)
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="estimate training memory at this batch size (default: the preset's, else "
                        f"{DEFAULT_BATCH_SIZE})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("presets", help="list the built-in designs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_presets)



def cmd_summary(args: argparse.Namespace) -> int:
    batch_size = args.batch_size
    if batch_size is None:
        batch_size = get_preset(args.preset).train.get("batch_size", DEFAULT_BATCH_SIZE) if args.preset \
            else DEFAULT_BATCH_SIZE
    if not 1 <= batch_size <= 65536:
        raise UsageError(f"--batch-size must be 1 to 65536; got {batch_size}")
    spec = resolve_design(args)
    report = infer_shapes(spec)
    if args.json:
        print(json.dumps(report_dict(spec, report, batch_size)))
    else:
        print(format_report(spec, report, batch_size))
    return 0 if report.valid else 1


def cmd_presets(args: argparse.Namespace) -> int:
    if args.json:
        data = [{"name": p.name, "summary": p.summary,
                 "parameters": infer_shapes(p.spec).total_parameters, "train": p.train}
                for p in PRESETS.values()]
        print(json.dumps(data))
        return 0
    width = max(len(n) for n in PRESETS)
    for p in PRESETS.values():
        params = infer_shapes(p.spec).total_parameters
        print(f"{p.name.ljust(width)}  {params:>9,} parameters  {p.summary}")
    return 0
