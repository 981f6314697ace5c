"""The command-line tool: ``playground SUBCOMMAND ...``, headless, on the same core as the window.

Exit codes: 0 success, 1 the work itself failed (an invalid design, a failed run), 2 bad arguments
or unreadable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from playground import APP_NAME, __version__
import playground.cli.design
import playground.cli.explain
import playground.cli.export
import playground.cli.generate
import playground.cli.predict
import playground.cli.serve
import playground.cli.sweep
import playground.cli.train
from playground.cli.common import UsageError, first_line, printable_lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="playground",
        description=f"{APP_NAME}: design, train and test neural networks on MNIST. "
                    "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for commands in (playground.cli.design, playground.cli.train, playground.cli.predict, playground.cli.export,
                     playground.cli.generate, playground.cli.explain, playground.cli.sweep, playground.cli.serve):
        commands.add_commands(sub)

    p = sub.add_parser("gui", help="open the window (the same as no subcommand)")
    p.add_argument("--smoke-test", action="store_true",
                   help="check that the app starts (PyTorch, the default model, a training worker, the window "
                        "offscreen), print one line per check, and exit: 0 when all pass")
    p.set_defaults(func=cmd_gui)
    return parser


def cmd_gui(args: argparse.Namespace) -> int:
    if getattr(args, "smoke_test", False):
        from playground.ui.smoke import run_smoke_test

        return run_smoke_test()
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
        print(f"playground: error: {printable_lines(exc)}", file=sys.stderr)
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
        print(f"playground: error: {first_line(exc)} ({type(exc).__name__}). This is a bug in the app, not "
              f"in your input; set PLAYGROUND_DEBUG=1 to see where it happened, and please report it.",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
