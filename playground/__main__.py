"""``playground`` and ``python -m playground``: the window, or a subcommand run headless."""

import sys


def main() -> int:
    import os

    if os.environ.get("LOCAL_RANK") is not None and os.environ.get("WORLD_SIZE", "1") != "1":
        # A rank of a torchrun / --nproc job: until it trains, a stop signal from torch's agent kills it
        # at once and quietly (no KeyboardInterrupt traceback from the imports; core/distributed.py).
        import signal

        for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
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
