"""``playground serve``'s web service: a FastAPI app that classifies images with one
:class:`~playground.core.predict.Classifier`, answering exactly as ``playground predict --json`` does
(both go through :meth:`Classifier.answer_of`).

Inference runs off the event loop with micro-batching: each request's prepared 28x28 input joins a
queue, and a single worker thread runs one forward pass over whatever is queued when it is free (up
to ``max_batch``), then resolves each request's future. Decoding and preprocessing an upload
(Pillow, numpy) runs in a small thread pool, which also bounds how many images are in memory at once;
/predict/batch decodes in a pool of its own, so that batches cannot hold up single images.

Uploads come from strangers: bodies are bounded before they are read (Content-Length, then counted
while streaming), all bodies in memory together stay within one budget, a body that stops arriving
gets a 408, at most ``max_requests`` are worked on at once (a 503 beyond: connections and clients
still sending do not count), only the app's image formats are opened, the pixel limit (lower than
the command line's) is checked from the header before decoding, and every error is
``{"detail": "<what is wrong and how to fix it>"}``. A client that leaves is dropped quietly.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from playground.core.predict import Classifier, PredictionError
from playground.core.preprocess import (FORMATS_TEXT, ImageTooLargeError, load_image_bytes)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/tiff", "image/webp",
               "application/octet-stream")  # an octet stream is sniffed like the others, by Pillow
MB = 1_000_000


SERVER_MAX_PIXELS = 16_000_000  # a server's default: a 12-megapixel phone photo, not a 40 MP bomb


@dataclass(frozen=True)
class Limits:
    """What requests may send and hold (``max_pixels``, ``formats``: what :func:`load_image_bytes`
    reads). ``max_bodies_bytes``: all request bodies in memory at once, together;
    ``max_requests``: requests being worked on at once (their bodies read); ``batch_pixels``:
    the images of one /predict/batch request together; ``read_timeout``: seconds a body may go
    without a byte arriving."""

    max_body_bytes: int = 4 * MB
    max_batch_body_bytes: int = 16 * MB
    max_bodies_bytes: int = 64 * MB
    max_batch_items: int = 256
    max_requests: int = 64
    max_pixels: int = SERVER_MAX_PIXELS
    batch_pixels: int = 4 * SERVER_MAX_PIXELS
    read_timeout: float = 30.0
    formats: str = FORMATS_TEXT


class InputError(Exception):
    """A request the service refuses: ``status`` and a message saying what is wrong and how to fix it."""

    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, dict(headers or {})
        self.close = False  # close the connection after answering (a body left unread)


# -- micro-batching --------------------------------------------------------------------------------


class BatchRunner:
    """One worker thread that runs the model over every input queued while it was busy, in one
    forward pass of at most ``max_batch``. ``gate`` (set by default) lets a test hold the worker
    once it has an input, so that others queue up behind it; ``batches`` and ``batch_sizes``
    count the forward passes."""

    def __init__(self, classifier: Classifier, max_batch: int = 256):
        self.classifier, self.max_batch = classifier, max_batch
        self.gate = threading.Event()
        self.gate.set()
        self.submitted = self.batches = 0
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="playground-serve-batches", daemon=True)
        self._thread.start()

    def submit(self, image: np.ndarray, name: str) -> concurrent.futures.Future:
        """A future of ``predict --json``'s answer for a prepared 28x28 input (``PredictionError``
        when the model's output is not a number)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the service is shutting down")
            self._items.append((image, name, future))
            self.submitted += 1
            self._cond.notify_all()
        return future

    def wait_submitted(self, count: int, timeout: float | None = None) -> bool:
        """Whether ``count`` inputs have been submitted in all, waiting up to ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self.submitted >= count, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.gate.set()
        self._thread.join()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            sizes = dict(sorted(self.batch_sizes.items()))
            return {"batches": self.batches, "inputs": sum(n * c for n, c in sizes.items()),
                    "batch_sizes": {str(n): c for n, c in sizes.items()}}

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
            self.gate.wait()
            with self._cond:
                batch = [self._items.popleft() for _ in range(min(len(self._items), self.max_batch))]
            self._run(batch)

    def _run(self, batch: list) -> None:
        try:
            probabilities = self.classifier.batch_probabilities(np.stack([image for image, _, _ in batch]))
        except Exception as exc:  # noqa: BLE001 - each request answers with it; the worker goes on
            for _, _, future in batch:
                future.set_exception(exc)
            return
        with self._cond:
            self.batches += 1
            self.batch_sizes[len(batch)] += 1
        for (_, name, future), row in zip(batch, probabilities):
            try:
                future.set_result(self.classifier.answer_of(row, name))
            except PredictionError as exc:
                future.set_exception(exc)


# -- reading a request -----------------------------------------------------------------------------


def content_kind(content_type: str | None) -> str:
    """"image" or "json" for a request's Content-Type; ``InputError`` 415 otherwise."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in IMAGE_TYPES:
        return "image"
    if kind == "application/json":
        return "json"
    raise InputError(415, f"unsupported Content-Type {kind or '(none)'!r}: send an image file's bytes as "
                          f"{', '.join(IMAGE_TYPES[:-1])} or application/octet-stream ({FORMATS_TEXT}), or "
                          f"application/json {{\"pixels\": 28 rows of 28 numbers in [0, 1]}} "
                          f"(with curl: --data-binary @digit.png -H 'Content-Type: image/png')")


DRAIN_LIMIT = 64 * MB  # the most of a refused body read (and thrown away) so that its sender gets the answer


class Budget:
    """Bytes of request bodies held in memory, all requests together, up to ``limit``. Used from the
    event loop only (no lock)."""

    def __init__(self, limit: int):
        self.limit, self.held = limit, 0

    def take(self, n: int) -> bool:
        if self.held + n > self.limit:
            return False
        self.held += n
        return True

    def give(self, n: int) -> None:
        self.held -= n


def _busy_bodies(budget: Budget) -> InputError:
    return InputError(503, f"busy: the request bodies being received take up the server's "
                           f"{budget.limit / MB:g} MB for them (--max-bodies-mb); retry shortly",
                      {"Retry-After": "1"})


async def read_body(request: Request, limit: int, budget: Budget, held: list[int],
                    timeout: float) -> bytearray:
    """The request's body, refused (413) as soon as it is known to be over ``limit`` bytes: from
    its Content-Length before anything is read, else while it streams in. The body's bytes count in
    ``budget`` (its Content-Length reserved up front, else the bytes as they come; ``held[0]``: what
    the caller gives back when the request is done), and a body that does not fit gets a 503. The
    rest of a refused body is read and thrown away, up to :data:`DRAIN_LIMIT` (so that a client
    still sending it sees the answer rather than a reset connection); beyond that the connection
    is closed. A body that stops arriving for ``timeout`` seconds gets a 408."""
    too_large = InputError(413, f"the body is over the {limit / MB:g} MB limit of {request.url.path}: send a "
                                f"smaller image (a digit needs a few kB), or start the server with a larger "
                                f"--max-body-mb")
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise InputError(400, f"the Content-Length header {length[:40]!r} is not a number of bytes")
        if int(length) > DRAIN_LIMIT:  # not worth reading: answer now, and close the connection
            too_large.close = True
            raise too_large
        if int(length) > limit:
            await _drain(request, too_large, 0, timeout)
        if not budget.take(int(length)):  # reserved as a whole: concurrent bodies cannot all stall halfway
            await _drain(request, _busy_bodies(budget), 0, timeout)
        held[0] = int(length)
    body = bytearray()
    more = True
    while more:
        message = await _message(request, timeout)
        chunk, more = message.get("body", b""), message.get("more_body", False)
        if len(body) + len(chunk) > limit:
            size = len(body) + len(chunk)
            del body
            await _drain(request, too_large, size, timeout, more)
        if len(body) + len(chunk) > held[0] and not budget.take(len(chunk)):
            size = len(body) + len(chunk)
            del body
            await _drain(request, _busy_bodies(budget), size, timeout, more)
        held[0] = max(held[0], len(body) + len(chunk))
        body += chunk
    return body  # not copied to bytes: json.loads and Pillow read a bytearray


async def _message(request: Request, timeout: float) -> dict:
    """The next ``http.request`` message; ``ClientDisconnect`` if the client left, 408 (the connection
    to be closed) if nothing came for ``timeout`` seconds."""
    try:
        message = await asyncio.wait_for(request.receive(), timeout)
    except TimeoutError:
        error = InputError(408, f"the body stopped arriving (nothing for {timeout:g} s); send the request again")
        error.close = True
        raise error from None
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    return message


async def _drain(request: Request, error: InputError, received: int, timeout: float, more: bool = True) -> None:
    """Raise ``error`` once the rest of the body is read and dropped (or after DRAIN_LIMIT bytes, or
    when it stalls, with the connection to be closed)."""
    try:
        while more:
            message = await _message(request, timeout)
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
            if received > DRAIN_LIMIT:
                error.close = True
                break
    except InputError:
        error.close = True
    raise error


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise InputError(400, "the body is not text (UTF-8) JSON; send an image with an image Content-Type, "
                              "or JSON text") from None
    except RecursionError:
        raise InputError(400, "the JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InputError(400, f"the body is not valid JSON ({str(exc)[:120]})") from None
    except ValueError:  # Python's limit on an integer's digits
        raise InputError(400, "the body is not usable JSON: a number with too many digits; pixels are numbers "
                              "from 0 to 1") from None


def json_type(value: Any) -> str:
    """What ``value`` is, in JSON's words: "null", "true", "an object", "an array", "a string", ..."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if _is_number(value):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), type(value).__name__)


def _counted(items: list) -> str:
    """A list's items counted by kind: "27 rows and 1 number", "an empty array"."""
    if not items:
        return "an empty array"
    rows = sum(isinstance(v, list) for v in items)
    numbers = sum(_is_number(v) for v in items)
    other = len(items) - rows - numbers
    parts = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in ((rows, "row"), (numbers, "number"),
                                                                  (other, "other item")) if n]
    return " and ".join(parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pixels_input(value: Any, name: str = "pixels") -> np.ndarray:
    """The 28x28 float32 input of JSON pixels: 28 rows of 28 numbers, or 784 numbers row by row, each
    finite and in [0, 1], white ink on black as MNIST stores it (the network's input as it is: no
    preprocessing). ``InputError`` 422 saying what is wrong."""
    how = "give 28 rows of 28 numbers in [0, 1] (or 784 numbers, row by row), white ink (1) on black (0)"
    if not isinstance(value, list):
        raise InputError(422, f"{name}: {json_type(value)}, not an array; {how}")
    if len(value) == 28 and all(isinstance(row, list) for row in value):
        bad = next((i for i, row in enumerate(value) if len(row) != 28), None)
        if bad is not None:
            raise InputError(422, f"{name}: row {bad} has {len(value[bad])} numbers, not 28; {how}")
        flat = [v for row in value for v in row]
    elif len(value) == 784:
        flat = value
    else:
        raise InputError(422, f"{name}: {_counted(value)}; give 28 rows of 28 numbers or 784 numbers in "
                              f"[0, 1], white ink (1) on black (0)")
    bad = next((i for i, v in enumerate(flat) if not _is_number(v)), None)
    if bad is not None:
        raise InputError(422, f"{name}: item {bad} (row {bad // 28}, column {bad % 28}) is "
                              f"{json.dumps(flat[bad])[:40]}, not a number; {how}")
    try:
        pixels = np.array(flat, np.float64)
    except OverflowError:  # an integer too large for a float
        raise InputError(422, f"{name}: a number out of range; {how}") from None
    outside = np.flatnonzero(~(np.isfinite(pixels) & (pixels >= 0) & (pixels <= 1)))
    if len(outside):
        i = int(outside[0])
        raise InputError(422, f"{name}: item {i} (row {i // 28}, column {i % 28}) is {json.dumps(flat[i])}, outside "
                              f"[0, 1]; {how} (divide 0-255 values by 255)")
    if not pixels.any():
        raise InputError(422, f"{name}: no digit found (all pixels are 0)")
    return pixels.astype(np.float32).reshape(28, 28)


def _error_status(exc: ValueError) -> int:
    if isinstance(exc, ImageTooLargeError):
        return 413
    return 422 if isinstance(exc, PredictionError) else 400


# -- the app ---------------------------------------------------------------------------------------


class Prediction(BaseModel):
    """``playground predict --json``'s answer, without the path."""

    digit: int = Field(description="the class's index")
    label: str = Field(description="the class's name (\"0\"..\"9\" for MNIST digits)")
    probabilities: list[float] = Field(description="each class's probability, rounded to 6 places")


class ItemError(BaseModel):
    error: str = Field(description="why this item got no answer, and how to fix it")


class BatchAnswer(BaseModel):
    predictions: list[Prediction | ItemError] = Field(description="one per item, in order")


class PixelsRequest(BaseModel):
    pixels: list[list[float]] | list[float] = Field(
        description="28 rows of 28 numbers in [0, 1] (or 784 row by row), white ink on black like MNIST: "
                    "the network's input, not preprocessed")


class BatchRequest(BaseModel):
    images: list[str | list[list[float]] | list[float]] = Field(
        description="up to max_batch_items items, each an image file base64-encoded (PNG, JPEG, ...) or "
                    "pixels as in /predict's JSON")


class ErrorDetail(BaseModel):
    detail: str = Field(description="what is wrong and how to fix it")


class Health(BaseModel):
    status: str
    model: str
    uptime_seconds: float
    requests: int = Field(description="requests answered with a prediction (a batch counts once)")
    errors: int = Field(description="requests refused or failed")
    disconnects: int = Field(description="requests whose client left before the answer")
    in_progress: int = Field(description="requests being worked on now")
    batches: int = Field(description="forward passes run")
    inputs: int = Field(description="images classified")
    batch_sizes: dict[str, int] = Field(description="forward passes by number of images")


_ERRORS = {status: {"model": ErrorDetail, "description": text} for status, text in (
    (400, "not an image, damaged, or not valid JSON"), (408, "the body stopped arriving"),
    (413, "body or image over the limits"), (415, "unsupported Content-Type"),
    (422, "blank image, or pixels of the wrong shape or range"),
    (503, "busy: too many requests or bodies at once; retry after Retry-After seconds"))}
_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


def quiet_image_warnings() -> None:
    """Pillow's warnings off for the whole process (``Corrupt EXIF data`` and the like: expected on
    damaged uploads, which get a 400): ``load_image``'s own ``warnings.catch_warnings`` is not
    thread-safe, and the server decodes in several threads."""
    import warnings

    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    warnings.filterwarnings("ignore", module=r"playground\.core\.preprocess$")


def model_name(source: str) -> str:
    """The model's name as the service shows it: a model file's name, or a folder's name and the
    weights file's (not its absolute path, which tells strangers about this machine)."""
    path = Path(source)
    return path.name if path.name.endswith(".pgmodel.safetensors") else f"{path.parent.name}/{path.name}"


class Service:
    """The state behind the app: the classifier, the batch worker, the decoding pools (one for single
    images, one for batches, so that batches cannot hold up single requests), the counts."""

    def __init__(self, classifier: Classifier, limits: Limits = Limits(), max_batch: int = 256,
                 decode_threads: int = 2):
        self.classifier, self.limits = classifier, limits
        self.runner = BatchRunner(classifier, max_batch)
        self.decoder = concurrent.futures.ThreadPoolExecutor(decode_threads, "playground-serve-decode")
        self.batch_decoder = concurrent.futures.ThreadPoolExecutor(1, "playground-serve-batch")
        self.bodies = Budget(limits.max_bodies_bytes)
        self.started = time.monotonic()
        self.requests = self.errors = self.disconnects = self.in_progress = 0
        self.decoded = 0  # batch items decoded (a test checks that a batch stops when its client leaves)

    def close(self) -> None:
        self.runner.close()
        self.decoder.shutdown(wait=True, cancel_futures=True)
        self.batch_decoder.shutdown(wait=True, cancel_futures=True)

    def prepare(self, data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
        """An upload's 28x28 input, as ``playground predict`` prepares a file (ValueError if not)."""
        image = load_image_bytes(data, name, max_pixels or self.limits.max_pixels)
        return self.classifier.prepared(image, name)

    async def classify(self, image: np.ndarray, name: str) -> dict:
        return await asyncio.wrap_future(self.runner.submit(image, name))

    def health(self) -> dict:
        return {"status": "ok", "model": model_name(self.classifier.source),
                "uptime_seconds": round(time.monotonic() - self.started, 3), "requests": self.requests,
                "errors": self.errors, "disconnects": self.disconnects, "in_progress": self.in_progress,
                **self.runner.stats()}

    def model_info(self) -> dict:
        from playground.core.build import count_parameters
        from playground.core.export import preprocessing_metadata

        c = self.classifier
        return {"source": model_name(c.source), "design": c.spec.to_dict(), "classes": c.classes,
                "test_accuracy": c.test_accuracy, "preprocessing": preprocessing_metadata(c.preprocess),
                "parameters": count_parameters(c.model), "input_shape": [1, 28, 28],
                "limits": asdict(self.limits)}

    async def answer(self, request: Request, limit: int, work) -> dict:
        """``await work(body)`` for the request's body (at most ``limit`` bytes, counted in the
        bodies' budget until the answer is ready), if fewer than ``max_requests`` are being worked on;
        503 otherwise. A request waiting for its body does not count: slow clients hold no slot."""
        held = [0]
        try:
            body = await read_body(request, limit, self.bodies, held, self.limits.read_timeout)
            if self.in_progress >= self.limits.max_requests:
                raise InputError(503, f"busy: {self.in_progress} requests in progress; retry shortly",
                                 {"Retry-After": "1"})
            self.in_progress += 1
            try:
                return await work(body)
            finally:
                self.in_progress -= 1
        finally:
            self.bodies.give(held[0])

    async def answer_upload(self, request: Request) -> dict:
        kind = content_kind(request.headers.get("content-type"))
        return await self.answer(request, self.limits.max_body_bytes,
                                 lambda body: self._answer_upload(kind, body))

    async def _answer_upload(self, kind: str, body: bytes) -> dict:
        if kind == "json":
            data = parse_json(body)
            if not isinstance(data, dict) or "pixels" not in data:
                raise InputError(422, 'the JSON body has no "pixels": send {"pixels": 28 rows of 28 numbers '
                                      'in [0, 1]}, or the image file itself with an image Content-Type')
            image = pixels_input(data["pixels"])
            name = "pixels"
        else:
            name = "image"
            try:
                image = await asyncio.get_running_loop().run_in_executor(self.decoder, self.prepare, body, name)
            except ValueError as exc:
                raise InputError(_error_status(exc), str(exc)) from None
        try:
            return await self.classify(image, name)
        except PredictionError as exc:
            raise InputError(500, str(exc)) from None

    def batch_inputs(self, body: bytes, gone: threading.Event | None = None) -> list[np.ndarray | str]:
        """Each item's 28x28 input, or the message saying why it has none (in the batch pool); the
        images together at most ``batch_pixels``. Stops early once ``gone`` is set (the client left)."""
        data = parse_json(body)
        del body
        items = data.get("images") if isinstance(data, dict) else None
        most = self.limits.max_batch_items
        if not isinstance(items, list) or not 1 <= len(items) <= most:
            raise InputError(422, f'send {{"images": [...]}} with 1 to {most} items, each an image file '
                                  f'base64-encoded or 28 rows of 28 numbers in [0, 1]')
        inputs: list[np.ndarray | str] = []
        pixels = self.limits.batch_pixels  # left for this request's images
        for i, item in enumerate(items):
            if gone is not None and gone.is_set():
                break
            name = f"images[{i}]"
            try:
                if isinstance(item, str):
                    image, size = self._batch_image(item, name, pixels)
                    pixels -= size
                    inputs.append(image)
                else:
                    inputs.append(pixels_input(item, name))
            except InputError as exc:
                inputs.append(exc.detail)
            except ValueError as exc:
                inputs.append(str(exc))
        return inputs

    def _batch_image(self, item: str, name: str, pixels_left: int) -> tuple[np.ndarray, int]:
        """A base64 item's 28x28 input and its image's pixel count; ValueError saying why not."""
        data = decode_base64(item, name)
        limit = self.limits.max_pixels
        try:
            image = load_image_bytes(data, name, min(limit, max(pixels_left, 0)))
        except ImageTooLargeError as exc:
            if exc.pixels is not None and exc.pixels <= limit:  # over what is left of the batch's budget
                raise ImageTooLargeError(
                    f"{name}: skipped: this batch's images come to more than {self.limits.batch_pixels / 1e6:g} "
                    f"megapixels together, the limit of one request; send the rest in another request") from None
            raise
        finally:
            self.decoded += 1
        return self.classifier.prepared(image, name), image.shape[0] * image.shape[1]

    async def answer_batch(self, request: Request) -> dict:
        if content_kind(request.headers.get("content-type")) != "json":
            raise InputError(415, 'send the batch as application/json: {"images": [base64 image files or '
                                  'pixels, ...]}')
        return await self.answer(request, self.limits.max_batch_body_bytes,
                                 lambda body: self._answer_batch(request, body))

    async def _answer_batch(self, request: Request, body: bytes) -> dict:
        gone = threading.Event()
        watch = asyncio.ensure_future(_watch_disconnect(request, gone))
        try:
            inputs = await asyncio.get_running_loop().run_in_executor(self.batch_decoder, self.batch_inputs,
                                                                      body, gone)
        finally:
            watch.cancel()
        if gone.is_set():
            raise ClientDisconnect()
        futures = [None if isinstance(x, str) else self.runner.submit(x, f"images[{i}]")
                   for i, x in enumerate(inputs)]
        answers = []
        for x, future in zip(inputs, futures):
            if future is None:
                answers.append({"error": x})
                continue
            try:
                answers.append(await asyncio.wrap_future(future))
            except PredictionError as exc:
                answers.append({"error": str(exc)})
        return {"predictions": answers}


async def _watch_disconnect(request: Request, gone: threading.Event) -> None:
    """Set ``gone`` when the client of a request whose body has been read disconnects."""
    while True:
        if (await request.receive())["type"] == "http.disconnect":
            gone.set()
            return


_DATA_URL = re.compile(r"^\s*data:[^,]*;base64,", re.IGNORECASE)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


def decode_base64(text: str, name: str) -> bytes:
    """An item's bytes from base64 as people send it: standard or URL-safe alphabet, with or without
    padding, line breaks and spaces (``base64``'s output), or a ``data:image/...;base64,`` URL.
    ValueError saying what is wrong otherwise."""
    text = _DATA_URL.sub("", text, count=1)
    text = "".join(text.split()).translate(_URL_SAFE)
    bad = _NOT_BASE64.search(text)
    text = text.rstrip("=")
    if bad is not None or len(text) % 4 == 1 or "=" in text:
        where = f" ({json.dumps(bad[0])} at character {bad.start()})" if bad is not None else ""
        raise ValueError(f"{name}: not base64 text{where}; encode the image file's bytes as base64 (standard or "
                         f"URL-safe; line breaks and a data:image/...;base64, prefix are fine)")
    return base64.b64decode(text + "=" * (-len(text) % 4))


_URL_SAFE = str.maketrans("-_", "+/")


_ENDPOINTS = ("/health", "/model", "/predict", "/predict/batch", "/docs")


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, allow_nan=False), status, headers, media_type="application/json")


def _add_offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI's files from the swagger-ui-bundle package, not FastAPI's default CDN: the
    app works offline, and so do its docs."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-files", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-files")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: API docs",
                                   swagger_js_url="/docs-files/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-files/swagger-ui.css",
                                   swagger_favicon_url="/docs-files/favicon-32x32.png")


def _add_error_handlers(app: FastAPI, service: Service) -> None:
    """Every error as ``{"detail": ...}`` (counted in ``errors``); a client that left, quietly."""

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        service.errors += 1
        # An unread body (a refused upload) would otherwise be read as the next request's start.
        return _json({"detail": exc.detail}, exc.status, {**exc.headers, **({"Connection": "close"} if exc.close
                                                                            else {})})

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        service.disconnects += 1  # nobody to answer: no traceback, no error counted
        return Response(status_code=400)  # never sent: uvicorn drops it

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        service.errors += 1
        detail = exc.detail
        path = request.url.path
        if exc.status_code == 404 and path.rstrip("/") in _ENDPOINTS:
            detail = f"no such endpoint {path!r}: leave out the trailing slash ({path.rstrip('/')})"
        elif exc.status_code == 404:
            detail = f"no such endpoint {path!r}: see /docs for GET /health, GET /model, " \
                     f"POST /predict and POST /predict/batch"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}: see /docs"
        return _json({"detail": str(detail)}, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        service.errors += 1
        return _json({"detail": "; ".join(str(e.get("msg", e)) for e in exc.errors())}, 422)

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Response:
        service.errors += 1
        return _json({"detail": f"the server failed ({type(exc).__name__}: {str(exc)[:200]}); this is a bug "
                                f"in the app, not in your request; please report it"}, 500)


def create_app(service: Service) -> FastAPI:
    """The app over ``service``; its OpenAPI docs are at /docs."""
    app = FastAPI(title="Neural Network Playground: prediction service",
                  description="Classifies images of handwritten digits with one model, answering as "
                              "`playground predict --json` does. Errors are `{\"detail\": ...}`.",
                  version="1", docs_url=None, redoc_url=None, redirect_slashes=False)
    app.state.service = service
    _add_offline_docs(app)

    _add_error_handlers(app, service)

    @app.get("/health", response_model=Health, summary="Whether the service is up, with its counts")
    @app.head("/health", include_in_schema=False)  # monitoring tools and `curl -I` ask with HEAD
    async def health() -> Response:
        return _json(service.health())

    @app.get("/model", summary="The model: design, classes, test accuracy, preprocessing, limits")
    @app.head("/model", include_in_schema=False)
    async def model() -> Response:
        return _json(service.model_info())

    @app.post("/predict", response_model=Prediction, responses=_ERRORS, summary="Classify one image",
              description="The body: an image file (PNG, JPEG, BMP, GIF, TIFF or WebP; Content-Type "
                          "image/... or application/octet-stream), preprocessed as `playground predict` "
                          "does, or JSON `{\"pixels\": 28x28 numbers in [0, 1]}` (or 784 row by row), "
                          "white ink on black, given to the network as it is.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  **{t: _IMAGE_BODY for t in IMAGE_TYPES},
                  "application/json": {"schema": PixelsRequest.model_json_schema()}}}})
    async def predict(request: Request) -> Response:
        answer = await service.answer_upload(request)
        service.requests += 1
        return _json(answer)

    @app.post("/predict/batch", response_model=BatchAnswer, responses=_ERRORS, summary="Classify several images",
              description="JSON `{\"images\": [...]}`: each item a base64-encoded image file or pixels as in "
                          "/predict. The answers come in order; an item that cannot be classified gets "
                          "`{\"error\": ...}` and the others are answered.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": BatchRequest.model_json_schema()}}}})
    async def predict_batch(request: Request) -> Response:
        answer = await service.answer_batch(request)
        service.requests += 1
        return _json(answer)

    return app

