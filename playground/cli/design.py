"""``playground summary`` and ``playground presets``: designs on the command line."""

from __future__ import annotations

import argparse
import json

from playground.cli.common import UsageError, add_design_source, resolve_design
from playground.core.gan_spec import GAN_PRESETS, STACKS, GanSpec, infer_gan_shapes
from playground.core.presets import PRESETS
from playground.core.shapes import infer_shapes
from playground.core.summary import DEFAULT_BATCH_SIZE, format_report, report_dict


def add_commands(sub) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, parameters and multiply-adds of a design",
                       description="Print each layer's output shape, parameters and multiply-adds, "
                                   "the totals and any problems. Exits 1 if the design is invalid.")
    add_design_source(p, gan=True)
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
        preset = PRESETS.get(args.preset) or GAN_PRESETS.get(args.preset)
        batch_size = preset.train.get("batch_size", DEFAULT_BATCH_SIZE) if preset else DEFAULT_BATCH_SIZE
    if not 1 <= batch_size <= 65536:
        raise UsageError(f"--batch-size must be 1 to 65536; got {batch_size}")
    spec = resolve_design(args)
    if isinstance(spec, GanSpec):
        return _gan_summary(spec, batch_size, args.json)
    report = infer_shapes(spec)
    if args.json:
        print(json.dumps(report_dict(spec, report, batch_size)))
    else:
        print(format_report(spec, report, batch_size))
    return 0 if report.valid else 1


def _gan_summary(spec: GanSpec, batch_size: int, as_json: bool) -> int:
    """Both stacks of a GAN, each as a classifier's summary, with the GAN end rules as problems."""
    shapes = infer_gan_shapes(spec)
    if as_json:
        print(json.dumps({"kind": "gan", "name": spec.name, "latent_size": spec.latent_size,
                          "conditional": spec.conditional, "valid": shapes.valid,
                          **{which: report_dict(spec.stack(which), report, batch_size)
                             for which, report in zip(STACKS, shapes)}}))
    else:
        print(f"{spec.name}: a {'conditional ' if spec.conditional else ''}GAN, latent size {spec.latent_size}")
        for which, report in zip(STACKS, shapes):
            print(f"\n{which.capitalize()}\n{format_report(spec.stack(which), report, batch_size)}")
    return 0 if shapes.valid else 1


def _all_presets() -> list[tuple[str, str, str, int, dict]]:
    """Every built-in design: kind, name, summary, parameters, settings."""
    rows = [("classifier", p.name, p.summary, infer_shapes(p.spec).total_parameters, p.train)
            for p in PRESETS.values()]
    rows += [("gan", p.name, p.summary, sum(r.total_parameters for r in infer_gan_shapes(p.spec)), p.train)
             for p in GAN_PRESETS.values()]
    return rows


def cmd_presets(args: argparse.Namespace) -> int:
    rows = _all_presets()
    if args.json:
        print(json.dumps([{"name": name, "kind": kind, "summary": summary, "parameters": params, "train": train}
                          for kind, name, summary, params, train in rows]))
        return 0
    width = max(len(name) for _, name, *_ in rows)
    for kind, name, summary, params, _ in rows:
        print(f"{name.ljust(width)}  {params:>9,} parameters  {'GAN: ' if kind == 'gan' else ''}{summary}")
    return 0
