"""The command-line tool: ``playground SUBCOMMAND ...``, headless, on the same core as the window.

Exit codes: 0 success, 1 the work itself failed (an invalid design, a failed run), 2 bad arguments
or unreadable input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from playground import APP_NAME, __version__
from playground.core.presets import PRESETS, get_preset
from playground.core.shapes import infer_shapes
from playground.core.spec import DesignError, NetworkSpec, load_design
from playground.core.summary import DEFAULT_BATCH_SIZE, format_report, report_dict
from playground.core.text import printable


class UsageError(Exception):
    """Bad command-line input; printed as ``playground: error: ...`` with exit code 2."""


def _add_design_source(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("design", nargs="?", metavar="DESIGN.json", help="a design file")
    src.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                     help=f"a built-in design: {', '.join(PRESETS)}")


def resolve_design(args: argparse.Namespace) -> NetworkSpec:
    """The design of ``--preset`` or of the file given; a bad file is a ``UsageError`` (exit 2)
    whose message has no control characters from the file or its name."""
    if args.preset:
        return get_preset(args.preset).spec
    try:
        return load_design(args.design)
    except DesignError as exc:
        raise UsageError(printable(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playground",
        description=f"{APP_NAME}: design, train and test neural networks on MNIST. "
                    "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("summary", help="per-layer shapes, parameters and multiply-adds of a design",
                       description="Print each layer's output shape, parameters and multiply-adds, "
                                   "the totals and any problems. Exits 1 if the design is invalid.")
    _add_design_source(p)
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="estimate training memory at this batch size (default: the preset's, else "
                        f"{DEFAULT_BATCH_SIZE})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("presets", help="list the built-in designs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_presets)

    from playground import cli_train

    cli_train.add_commands(sub)

    p = sub.add_parser("gui", help="open the window (the same as no subcommand)")
    p.set_defaults(func=cmd_gui)
    return parser


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


def cmd_gui(args: argparse.Namespace) -> int:
    from playground.ui.app import run

    return run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        return cmd_gui(args)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"playground: error: {_printable_lines(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("playground: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `playground presets | head -1`
        sys.stderr.close()
        return 0
    except MemoryError:
        print("playground: error: out of memory; the input is too large for this machine", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        if os.environ.get("PLAYGROUND_DEBUG"):
            raise
        print(f"playground: error: {_first_line(exc)} ({type(exc).__name__}). This is a bug in the app, not "
              f"in your input; set PLAYGROUND_DEBUG=1 to see where it happened, and please report it.",
              file=sys.stderr)
        return 1


def _printable_lines(exc: BaseException) -> str:
    """A message that may quote a file: its lines kept, any control character in them escaped."""
    from playground.core.text import printable

    return "\n".join(printable(line) for line in str(exc).splitlines())


def _first_line(exc: BaseException) -> str:
    from playground.core.text import printable

    text = str(exc).strip().splitlines()
    return printable(text[0][:300]) if text else "unexpected failure"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
