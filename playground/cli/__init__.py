"""The command-line tool: ``playground SUBCOMMAND ...``, headless, on the same core as the window."""

from playground.cli.common import UsageError
from playground.cli.main import build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
