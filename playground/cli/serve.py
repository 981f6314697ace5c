"""``playground serve``: classify images over HTTP (FastAPI + uvicorn, imported only when it runs)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from pathlib import Path

from playground.cli.common import UsageError

CONNECTIONS = 256  # requests in progress at once; beyond, uvicorn answers 503 (memory stays bounded)


def add_commands(sub) -> None:
    p = sub.add_parser(
        "serve", help="classify images over HTTP (a small web service with OpenAPI docs)",
        description="Serve a model over HTTP: POST an image to /predict and get the same answer as "
                    "`playground predict --json` ({\"digit\", \"label\", \"probabilities\"}); POST "
                    "{\"images\": [...]} to /predict/batch; GET /health and /model. The docs are at /docs. "
                    "There is no authentication: it binds to this machine only (127.0.0.1) unless --host "
                    "says otherwise.",
        epilog="Exit code: 2 if the model cannot be read or the address cannot be used (port in use, "
               "out of range); 0 when stopped with Ctrl+C.")
    p.add_argument("model", nargs="?", type=Path, metavar="MODEL_OR_RUN",
                   help="a run folder, a model folder or a model file (.pgmodel.safetensors; default: the model "
                        "that ships with the app)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
                        "network this machine is on, with no authentication)")
    p.add_argument("--port", type=_port, default=8000,
                   help="the TCP port (default 8000; 0: any free port, printed at start)")
    p.add_argument("--max-body-mb", type=_megabytes, default=4.0, metavar="MB",
                   help="the largest body /predict accepts (default 4 MB; /predict/batch: 8 times as much)")
    p.add_argument("--max-batch", type=_batch, default=256, metavar="N",
                   help="the most images in one forward pass, and in one /predict/batch request (default 256)")
    p.add_argument("--threads", type=_threads, default=1, metavar="N",
                   help="torch's threads for the forward pass (default 1: on a small machine the "
                        "decoding threads need the other cores)")
    p.add_argument("--access-log", action="store_true", help="log every request on stderr")
    p.set_defaults(func=cmd_serve)


def _number(text: str, kind: type, what: str, low: float, high: float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} is out of range: give {what} from {low:g} to {high:g}")
    return value


def _port(text: str) -> int:
    return _number(text, int, "a port number", 0, 65535)


def _megabytes(text: str) -> float:
    return _number(text, float, "a size in MB", 0.001, 1000)


def _batch(text: str) -> int:
    return _number(text, int, "a number of images", 1, 4096)


def _threads(text: str) -> int:
    return _number(text, int, "a number of threads", 1, 256)


def exposure_warning(address: str) -> str | None:
    """The warning for a server bound to ``address`` (the bound socket's IP) when machines other than
    this one can reach it; None for a loopback address."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback:
        return None
    where = "every network this machine is on" if ip is not None and ip.is_unspecified else address
    return (f"playground: warning: listening on {where}: other machines can reach this server, and it has "
            f"no authentication; use --host 127.0.0.1 to keep it to this machine")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; ``UsageError`` saying why not (in use, no such address)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host}: not an address of this machine ({exc}); use 127.0.0.1 (this "
                         f"machine only) or 0.0.0.0 (every network)") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart finds the port free
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        import errno

        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is in use: stop what uses it, or choose another "
                             f"with --port (0: any free port)") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"port {port}: not allowed (ports below 1024 need administrator rights); choose "
                             f"another with --port, e.g. 8000") from None
        raise UsageError(f"cannot listen on {host} port {port} ({exc.strerror or exc}); check --host "
                         f"and --port") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the model, bind the address, serve until Ctrl+C."""
    import torch
    import uvicorn

    from playground.core.predict import Classifier
    from playground.core.runs import RunError
    from playground.core.service import MB, Limits, Service, create_app

    try:
        classifier = Classifier.from_path(args.model)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    torch.set_num_threads(args.threads)
    sock = bind(args.host, args.port)
    limits = Limits(max_body_bytes=int(args.max_body_mb * MB), max_batch_body_bytes=int(8 * args.max_body_mb * MB),
                    max_batch_items=args.max_batch)
    service = Service(classifier, limits, max_batch=args.max_batch)
    warning = exposure_warning(sock.getsockname()[0])
    if warning:
        print(warning, file=sys.stderr, flush=True)
    url = url_of(sock)
    print(f"Serving {classifier.source} at {url} (docs: {url}/docs); Ctrl+C to stop", flush=True)
    # At most CONNECTIONS at once (more get a 503): each may hold a body of up to --max-body-mb.
    config = uvicorn.Config(create_app(service), log_level="warning", access_log=args.access_log,
                            limit_concurrency=CONNECTIONS, timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl+C, then raises it again
        pass
    finally:
        service.close()
        sock.close()
    print("Stopped", flush=True)
    return 0
