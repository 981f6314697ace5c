"""What every subcommand shares: the usage error, the design source options, safe messages."""

from __future__ import annotations

import argparse

from playground.core.gan_spec import GAN_PRESETS, GanSpec, load_any_design
from playground.core.presets import PRESETS, get_preset
from playground.core.spec import DesignError, NetworkSpec, load_design
from playground.core.text import printable


class UsageError(Exception):
    """Bad command-line input; printed as ``playground: error: ...`` with exit code 2."""


def add_design_source(parser: argparse.ArgumentParser, gan: bool = False) -> None:
    """The design argument: a file or ``--preset``; with ``gan``, GAN designs and presets too."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("design", nargs="?", metavar="DESIGN.json",
                     help="a design file" + (" (a classifier or a GAN)" if gan else ""))
    names = [*PRESETS, *GAN_PRESETS] if gan else list(PRESETS)
    src.add_argument("--preset", choices=names, metavar="NAME", help=f"a built-in design: {', '.join(names)}")
    parser.set_defaults(gan_allowed=gan)


def resolve_design(args: argparse.Namespace) -> NetworkSpec | GanSpec:
    """The design of ``--preset`` or of the file given (a GanSpec only where the command takes GAN
    designs); a bad file is a ``UsageError`` (exit 2) whose message has no control characters from
    the file or its name."""
    gan = getattr(args, "gan_allowed", False)
    if args.preset:
        return GAN_PRESETS[args.preset].spec if gan and args.preset in GAN_PRESETS else get_preset(args.preset).spec
    try:
        return load_any_design(args.design) if gan else load_design(args.design)
    except DesignError as exc:
        raise UsageError(printable(exc)) from None


def printable_lines(exc: BaseException) -> str:
    """A message that may quote a file: its lines kept, any control character in them escaped."""
    return "\n".join(printable(line) for line in str(exc).splitlines())


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0][:300]) if text else "unexpected failure"
