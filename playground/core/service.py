"""``playground serve``'s web service: a FastAPI app that classifies images with one
:class:`~playground.core.predict.Classifier`, answering exactly as ``playground predict --json`` does
(both go through :meth:`Classifier.answer_of`).

Inference runs off the event loop with micro-batching: each request's prepared 28x28 input joins a
queue, and a single worker thread runs one forward pass over whatever is queued when it is free (up
to ``max_batch``), then resolves each request's future. Decoding and preprocessing an upload
(Pillow, numpy) runs in a small thread pool, which also bounds how many images are in memory at once.

Uploads come from strangers: bodies are bounded before they are read (Content-Length, then counted
while streaming), only the app's image formats are opened, the pixel limit is checked from the
header before decoding, and every error is ``{"detail": "<what is wrong and how to fix it>"}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import concurrent.futures
import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from playground.core.predict import Classifier, PredictionError
from playground.core.preprocess import (FORMATS_TEXT, MAX_PIXELS, ImageTooLargeError, load_image_bytes)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/tiff", "image/webp",
               "application/octet-stream")  # an octet stream is sniffed like the others, by Pillow
MB = 1_000_000


@dataclass(frozen=True)
class Limits:
    """What one request may send (``max_pixels``, ``formats``: what :func:`load_image_bytes` reads)."""

    max_body_bytes: int = 4 * MB
    max_batch_body_bytes: int = 32 * MB
    max_batch_items: int = 256
    max_pixels: int = MAX_PIXELS
    formats: str = FORMATS_TEXT


class InputError(Exception):
    """A request the service refuses: ``status`` and a message saying what is wrong and how to fix it."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail
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


DRAIN_LIMIT = 64 * MB  # the most of a refused body read (and thrown away) so that its sender gets the 413


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it is known to be over ``limit`` bytes: from
    its Content-Length before anything is read, else while it streams in. The rest of a refused
    body is read and thrown away, up to :data:`DRAIN_LIMIT` (so that a client still sending it
    sees the answer rather than a reset connection); beyond that the connection is closed."""
    too_large = InputError(413, f"the body is over the {limit / MB:g} MB limit of {request.url.path}: send a "
                                f"smaller image (a digit needs a few kB), or start the server with a larger "
                                f"--max-body-mb")
    length = request.headers.get("content-length")
    chunks = request.stream()
    if length is not None:
        if not length.strip().isdigit():
            raise InputError(400, f"the Content-Length header {length[:40]!r} is not a number of bytes")
        if int(length) > limit:
            await _drain(chunks, too_large, 0)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            size = len(body)
            del body
            await _drain(chunks, too_large, size)
    return bytes(body)


async def _drain(chunks, error: InputError, received: int) -> None:
    """Raise ``error`` once the rest of the body is read and dropped (or after DRAIN_LIMIT bytes, with
    the connection to be closed)."""
    from starlette.requests import ClientDisconnect

    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > DRAIN_LIMIT:
                error.close = True
                break
    except ClientDisconnect:
        pass
    raise error


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise InputError(400, "the body is not text (UTF-8) JSON; send an image with an image Content-Type, "
                              "or JSON text") from None
    except RecursionError:
        raise InputError(400, "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise InputError(400, f"the body is not valid JSON ({str(exc)[:120]})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pixels_input(value: Any, name: str = "pixels") -> np.ndarray:
    """The 28x28 float32 input of JSON pixels: 28 rows of 28 numbers, or 784 numbers row by row, each
    finite and in [0, 1], white ink on black as MNIST stores it (the network's input as it is: no
    preprocessing). ``InputError`` 422 saying what is wrong."""
    how = "give 28 rows of 28 numbers in [0, 1] (or 784 numbers, row by row), white ink (1) on black (0)"
    if not isinstance(value, list):
        raise InputError(422, f"{name}: a {type(value).__name__}, not a list; {how}")
    if len(value) == 28 and all(isinstance(row, list) for row in value):
        bad = next((i for i, row in enumerate(value) if len(row) != 28), None)
        if bad is not None:
            raise InputError(422, f"{name}: row {bad} has {len(value[bad])} numbers, not 28; {how}")
        flat = [v for row in value for v in row]
    elif len(value) == 784:
        flat = value
    else:
        raise InputError(422, f"{name}: {len(value)} items, neither 28 rows nor 784 numbers; {how}")
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
        raise InputError(422, f"{name}: item {i} (row {i // 28}, column {i % 28}) is {flat[i]!r}, outside "
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
    batches: int = Field(description="forward passes run")
    inputs: int = Field(description="images classified")
    batch_sizes: dict[str, int] = Field(description="forward passes by number of images")


_ERRORS = {status: {"model": ErrorDetail, "description": text} for status, text in (
    (400, "not an image, damaged, or not valid JSON"), (413, "body or image over the limits"),
    (415, "unsupported Content-Type"), (422, "blank image, or pixels of the wrong shape or range"))}
_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


class Service:
    """The state behind the app: the classifier, the batch worker, the decoding pool, the counts."""

    def __init__(self, classifier: Classifier, limits: Limits = Limits(), max_batch: int = 256,
                 decode_threads: int = 2):
        self.classifier, self.limits = classifier, limits
        self.runner = BatchRunner(classifier, max_batch)
        self.decoder = concurrent.futures.ThreadPoolExecutor(decode_threads, "playground-serve-decode")
        self.started = time.monotonic()
        self.requests = self.errors = 0

    def close(self) -> None:
        self.runner.close()
        self.decoder.shutdown(wait=True, cancel_futures=True)

    def prepare(self, data: bytes, name: str) -> np.ndarray:
        """An upload's 28x28 input, as ``playground predict`` prepares a file (ValueError if not)."""
        return self.classifier.prepared(load_image_bytes(data, name), name)

    async def classify(self, image: np.ndarray, name: str) -> dict:
        return await asyncio.wrap_future(self.runner.submit(image, name))

    def health(self) -> dict:
        return {"status": "ok", "model": self.classifier.source,
                "uptime_seconds": round(time.monotonic() - self.started, 3), "requests": self.requests,
                "errors": self.errors, **self.runner.stats()}

    def model_info(self) -> dict:
        from playground.core.build import count_parameters
        from playground.core.export import preprocessing_metadata

        c = self.classifier
        return {"source": c.source, "design": c.spec.to_dict(), "classes": c.classes,
                "test_accuracy": c.test_accuracy, "preprocessing": preprocessing_metadata(c.preprocess),
                "parameters": count_parameters(c.model), "input_shape": [1, 28, 28],
                "limits": asdict(self.limits)}

    async def answer_upload(self, request: Request) -> dict:
        kind = content_kind(request.headers.get("content-type"))
        body = await read_body(request, self.limits.max_body_bytes)
        loop = asyncio.get_running_loop()
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
                image = await loop.run_in_executor(self.decoder, self.prepare, body, name)
            except ValueError as exc:
                raise InputError(_error_status(exc), str(exc)) from None
        try:
            return await self.classify(image, name)
        except PredictionError as exc:
            raise InputError(500, str(exc)) from None

    def _batch_inputs(self, body: bytes) -> list[np.ndarray | str]:
        """Each item's 28x28 input, or the message saying why it has none (in the decoding pool)."""
        data = parse_json(body)
        items = data.get("images") if isinstance(data, dict) else None
        most = self.limits.max_batch_items
        if not isinstance(items, list) or not 1 <= len(items) <= most:
            raise InputError(422, f'send {{"images": [...]}} with 1 to {most} items, each an image file '
                                  f'base64-encoded or 28 rows of 28 numbers in [0, 1]')
        inputs: list[np.ndarray | str] = []
        for i, item in enumerate(items):
            name = f"images[{i}]"
            try:
                if isinstance(item, str):
                    try:
                        data = base64.b64decode(item, validate=True)
                    except (binascii.Error, ValueError):
                        raise ValueError(f"{name}: not base64 text; encode the image file's bytes as base64 "
                                         f"(standard alphabet)") from None
                    inputs.append(self.prepare(data, name))
                else:
                    inputs.append(pixels_input(item, name))
            except InputError as exc:
                inputs.append(exc.detail)
            except ValueError as exc:
                inputs.append(str(exc))
        return inputs

    async def answer_batch(self, request: Request) -> dict:
        if content_kind(request.headers.get("content-type")) != "json":
            raise InputError(415, 'send the batch as application/json: {"images": [base64 image files or '
                                  'pixels, ...]}')
        body = await read_body(request, self.limits.max_batch_body_bytes)
        inputs = await asyncio.get_running_loop().run_in_executor(self.decoder, self._batch_inputs, body)
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


def create_app(service: Service) -> FastAPI:
    """The app over ``service``; its OpenAPI docs are at /docs."""
    app = FastAPI(title="Neural Network Playground: prediction service",
                  description="Classifies images of handwritten digits with one model, answering as "
                              "`playground predict --json` does. Errors are `{\"detail\": ...}`.",
                  version="1", docs_url=None, redoc_url=None)
    app.state.service = service
    _add_offline_docs(app)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        service.errors += 1
        # An unread body (a refused upload) would otherwise be read as the next request's start.
        return _json({"detail": exc.detail}, exc.status, {"Connection": "close"} if exc.close else None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        service.errors += 1
        detail = exc.detail
        if exc.status_code == 404:
            detail = f"no such endpoint {request.url.path!r}: see /docs for GET /health, GET /model, " \
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

    @app.get("/health", response_model=Health, summary="Whether the service is up, with its counts")
    async def health() -> Response:
        return _json(service.health())

    @app.get("/model", summary="The model: design, classes, test accuracy, preprocessing, limits")
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

