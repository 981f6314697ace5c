"""``playground`` and ``python -m playground``: the window, or a subcommand run headless."""

import sys


def main() -> int:
    # Before anything else: a frozen bundle's child processes (multiprocessing, which torch's data
    # loaders may use) come back through here and must not start the app.
    import multiprocessing

    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["_worker"]:  # playground.core.worker.WORKER_ARG: a training worker
        from playground.core.worker import main as worker_main

        return worker_main()
    from playground.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
