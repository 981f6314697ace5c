"""``playground serve``: classify images over HTTP (FastAPI + uvicorn, imported only when it runs)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
from pathlib import Path

from playground.cli.common import UsageError

HEADER_TIMEOUT = 10.0  # seconds a connection may take to send a request's headers (idle ones: closed)


def add_commands(sub) -> None:
    p = sub.add_parser(
        "serve", help="classify images over HTTP (a small web service with OpenAPI docs)",
        description="Serve a model over HTTP: POST an image to /predict and get the same answer as "
                    "`playground predict --json` ({\"digit\", \"label\", \"probabilities\"}); POST "
                    "{\"images\": [...]} to /predict/batch; GET /health and /model. The docs are at /docs. "
                    "There is no authentication: it binds to this machine only (127.0.0.1) unless --host "
                    "says otherwise.",
        epilog="Exit code: 2 if the model cannot be read or the address cannot be used (port in use, "
               "out of range); 0 when stopped with Ctrl+C or SIGTERM.")
    p.add_argument("model", nargs="?", type=Path, metavar="MODEL_OR_RUN",
                   help="a run folder, a model folder or a model file (.pgmodel.safetensors; default: the model "
                        "that ships with the app)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
                        "network this machine is on, with no authentication)")
    p.add_argument("--port", type=_port, default=8000,
                   help="the TCP port (default 8000; 0: any free port, printed at start)")
    p.add_argument("--max-body-mb", type=_megabytes, default=4.0, metavar="MB",
                   help="the largest body /predict accepts (default 4 MB; /predict/batch: 4 times as much)")
    p.add_argument("--max-bodies-mb", type=_megabytes, default=64.0, metavar="MB",
                   help="all request bodies held in memory at once, together (default 64 MB); beyond, "
                        "requests get a 503 and may retry")
    p.add_argument("--max-requests", type=_requests, default=64, metavar="N",
                   help="requests worked on at once (default 64); beyond, a 503 and Retry-After")
    p.add_argument("--max-pixels", type=_megapixels, default=16.0, metavar="MP",
                   help="the largest image, in megapixels, checked before decoding (default 16; one "
                        "/predict/batch request: 4 times as much for all its images together)")
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


def _requests(text: str) -> int:
    return _number(text, int, "a number of requests", 1, 100_000)


def _megapixels(text: str) -> float:
    return _number(text, float, "a number of megapixels", 0.001, 40)


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


def urls_to_open(address: str, port: int) -> list[str]:
    """URLs that open a server bound to ``address`` (0.0.0.0 is not one, in some browsers): this
    machine's loopback and its host name for an "every network" address, else the address itself."""
    try:
        unspecified = ipaddress.ip_address(address.split("%")[0]).is_unspecified
    except ValueError:
        unspecified = False
    if not unspecified:
        return [f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"]
    loopback = "http://[::1]" if ":" in address else "http://127.0.0.1"
    return [f"{loopback}:{port}", f"http://{socket.gethostname()}:{port}"]


def protocol_class(header_timeout: float = HEADER_TIMEOUT):
    """uvicorn's HTTP protocol, with a limit on how long a connection may take to send a request's
    headers: an idle connection is closed then, a half-sent request gets a JSON 408 first. uvicorn
    has none (its keep-alive timeout starts only after a first answer), so otherwise idle sockets
    would stay open for ever."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # httptools: a dependency

    class Protocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._partial = False
            self._header_timer = self.loop.call_later(header_timeout, self._header_timeout)

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self._partial = True  # the start of a request: its headers are coming
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._partial = False
            self._header_timer.cancel()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout, self._header_timeout)

        def connection_lost(self, exc) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:  # malformed HTTP: JSON like every other error
            body = json.dumps({"detail": f"a malformed HTTP request ({msg.rstrip('.')}): check its "
                                         f"Content-Length and Transfer-Encoding headers"}).encode()
            self._send_and_close(400, "Bad Request", body)

        def _send_and_close(self, status: int, reason: str, body: bytes) -> None:
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body))
            self.transport.close()

        def _header_timeout(self) -> None:
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return  # a request is being answered (its body has its own timeout)
            if self._partial:
                self._send_and_close(408, "Request Timeout", json.dumps(
                    {"detail": f"the request's headers did not arrive within {header_timeout:g} s; send the "
                               f"request again"}).encode())
            self.transport.close()

    return Protocol


def _limits(args: argparse.Namespace):
    from playground.core.service import MB, Limits

    pixels = int(args.max_pixels * 1_000_000)
    return Limits(max_body_bytes=int(args.max_body_mb * MB), max_batch_body_bytes=int(4 * args.max_body_mb * MB),
                  max_bodies_bytes=int(args.max_bodies_mb * MB), max_batch_items=args.max_batch,
                  max_requests=args.max_requests, max_pixels=pixels, batch_pixels=4 * pixels)


def _stop_on_sigterm():
    """SIGTERM (``docker stop``, systemd) stops the server as Ctrl+C does (exit 0, "Stopped"):
    uvicorn shuts down gracefully, then raises the signal again, which lands here. The old handler."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the model, bind the address, serve until Ctrl+C or SIGTERM."""
    import signal

    import torch
    import uvicorn

    from playground.core.predict import Classifier
    from playground.core.runs import RunError
    from playground.core.service import Service, create_app, quiet_image_warnings

    try:
        classifier = Classifier.from_path(args.model)
    except RunError as exc:
        raise UsageError(str(exc)) from None
    torch.set_num_threads(args.threads)
    sock = bind(args.host, args.port)
    service = Service(classifier, _limits(args), max_batch=args.max_batch)
    quiet_image_warnings()
    old = _stop_on_sigterm()  # before the address is printed: a script may stop it once it reads that
    try:
        address, port = sock.getsockname()[:2]
        warning = exposure_warning(address)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        url = url_of(sock)
        opens = urls_to_open(address, port)
        where = f" (open {' or '.join(opens)})" if opens != [url] else ""
        print(f"Serving {classifier.source} at {url}{where} (docs: {opens[0]}/docs); Ctrl+C to stop", flush=True)
        # No limit_concurrency: uvicorn would count idle connections; the app limits requests in progress.
        config = uvicorn.Config(create_app(service), log_level="warning", access_log=args.access_log,
                                http=protocol_class(), timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl+C or SIGTERM, then raises it again
        pass
    finally:
        signal.signal(signal.SIGTERM, old)
        service.close()
        sock.close()
    print("Stopped", flush=True)
    return 0
