"""``playground`` and ``python -m playground``: the window, or a subcommand run headless."""

import sys


def main() -> int:
    from playground.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
