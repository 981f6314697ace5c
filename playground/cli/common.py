"""What every subcommand shares: the usage error, the design source options, safe messages."""

from __future__ import annotations

import argparse

from playground.core.presets import PRESETS, get_preset
from playground.core.spec import DesignError, NetworkSpec, load_design
from playground.core.text import printable


class UsageError(Exception):
    """Bad command-line input; printed as ``playground: error: ...`` with exit code 2."""


def add_design_source(parser: argparse.ArgumentParser) -> None:
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


def printable_lines(exc: BaseException) -> str:
    """A message that may quote a file: its lines kept, any control character in them escaped."""
    return "\n".join(printable(line) for line in str(exc).splitlines())


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0][:300]) if text else "unexpected failure"
