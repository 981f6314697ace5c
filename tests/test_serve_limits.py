"""``playground serve`` under hostile or careless clients: idle and slow connections, clients that leave,
many large bodies, huge images, odd base64, HEAD requests, SIGTERM; and its messages."""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from playground.cli.serve import bind, protocol_class, urls_to_open
from playground.core.launch import self_command
from playground.core.predict import Classifier
from playground.core.runs import RunError
from playground.core.service import Limits, Service, create_app

from pngs import one_colour_png
from test_serve import png

TIMEOUT = 1.0  # the test server's header and body timeouts, in seconds


@pytest.fixture(scope="module")
def classifier():
    return Classifier.from_path()


@pytest.fixture(scope="module")
def digit():
    """A real MNIST test digit as PNG bytes, and `playground predict`'s answer for it."""
    from playground.core.data import load_raw
    from playground.core.preprocess import load_image_bytes

    image = load_raw("mnist")[1].images[0].numpy()
    data = png(image)
    c = Classifier.from_path()
    return data, c.answer(load_image_bytes(data), "image")


def wait_until(condition, timeout: float = 30.0) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds (checked every few ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Running:
    """A real uvicorn server (the serve command's protocol and app) in a thread on a free port."""

    def __init__(self, service: Service):
        import uvicorn

        self.service = service
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(create_app(service), log_level="warning", http=protocol_class(TIMEOUT))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()  # connections made before it accepts wait in the socket's backlog

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(60)
        return s

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self):
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()
        self.service.close()


@pytest.fixture(scope="module")
def running(classifier):
    server = Running(Service(classifier, Limits(read_timeout=TIMEOUT)))
    yield server
    server.stop()


def read_all(s: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def json_body(answer: bytes) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    return json.loads(body)


# -- connections: idle, slow, gone ------------------------------------------------------------------


def test_idle_connections_do_not_lock_anyone_out(running):
    sockets = [running.connect() for _ in range(300)]
    try:
        status, _, body = running.request("GET", "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        for s in sockets:
            s.close()


def test_a_connection_that_sends_nothing_is_closed(running):
    with running.connect() as s:
        assert read_all(s) == b""  # closed after the header timeout, without an answer


def test_headers_that_never_finish_get_a_408(running):
    with running.connect() as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 ") and "headers did not arrive" in json_body(answer)["detail"]


def test_a_body_that_stops_arriving_gets_a_408_and_the_connection_closes(running):
    with running.connect() as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nabc")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 ") and "stopped arriving" in json_body(answer)["detail"]
    assert running.service.bodies.held == 0 and running.request("GET", "/health")[0] == 200


def test_a_client_that_leaves_mid_upload_is_no_error_and_no_traceback(running, capfd):
    before = running.service.health()
    with running.connect() as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nabc")
        assert wait_until(lambda: running.service.bodies.held == 1000)  # reading it (its length reserved)
    assert wait_until(lambda: running.service.disconnects == before["disconnects"] + 1)
    health = json.loads(running.request("GET", "/health")[2])
    assert health["errors"] == before["errors"] and health["disconnects"] == before["disconnects"] + 1
    assert running.service.bodies.held == 0
    assert "Traceback" not in capfd.readouterr().err


def test_malformed_http_and_absurd_lengths_get_json(running):
    for request in (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                    b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with running.connect() as s:
            s.sendall(request)
            answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 400 ") and "malformed HTTP request" in json_body(answer)["detail"]
    with running.connect() as s:  # a body claimed to be 100 TB: refused at once, not waited for
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                  b"Content-Length: 99999999999999\r\n\r\nabc")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 413 ") and "4 MB limit" in json_body(answer)["detail"]


def test_head_requests_over_http(running):
    for path in ("/health", "/model"):
        status, headers, body = running.request("HEAD", path)
        assert status == 200 and body == b"" and headers["content-type"] == "application/json"


# -- limits on work and memory ---------------------------------------------------------------------


def test_requests_beyond_the_cap_get_a_json_503(classifier, digit):
    import httpx

    data, answer = digit
    service = Service(classifier, Limits(max_requests=1))
    service.runner.gate.clear()  # the first request waits for its forward pass: it stays in progress

    async def run():
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.ensure_future(client.post("/predict", content=data, headers={"Content-Type": "image/png"}))
            assert await asyncio.get_running_loop().run_in_executor(None, service.runner.wait_submitted, 1, 60)
            second = await client.post("/predict", content=data, headers={"Content-Type": "image/png"})
            health = await client.get("/health")  # never capped
            service.runner.gate.set()
            return await first, second, health

    try:
        first, second, health = asyncio.run(run())
        assert first.status_code == 200 and first.json() == answer
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert second.json() == {"detail": "busy: 1 requests in progress; retry shortly"}
        assert health.status_code == 200 and health.json()["in_progress"] == 1
        assert service.in_progress == 0
    finally:
        service.close()


def test_bodies_in_memory_share_one_budget(classifier):
    """A body streaming in holds its bytes in the budget; another that does not fit gets a 503."""
    import httpx

    service = Service(classifier, Limits(max_bodies_bytes=1_000_000))
    half = b"\0" * 600_000
    more = asyncio.Event()

    async def slow_body():
        yield half
        await more.wait()
        yield b"junk"

    async def streamed_body():  # no Content-Length: counted as it comes
        yield half

    async def run():
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.ensure_future(client.post("/predict", content=slow_body(),
                                                      headers={"Content-Type": "image/png"}))
            while service.bodies.held < len(half):
                await asyncio.sleep(0)  # until the first body's 600 kB are in
            by_length = await client.post("/predict", content=half, headers={"Content-Type": "image/png"})
            streamed = await client.post("/predict", content=streamed_body(), headers={"Content-Type": "image/png"})
            more.set()
            return await first, by_length, streamed

    try:
        first, by_length, streamed = asyncio.run(run())
        assert first.status_code == 400 and "not a readable image" in first.json()["detail"]
        for refused in (by_length, streamed):
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "busy" in refused.json()["detail"] and "--max-bodies-mb" in refused.json()["detail"]
        assert service.bodies.held == 0
    finally:
        service.close()


def test_the_server_pixel_limit_and_the_batch_pixel_budget(classifier):
    service = Service(classifier, Limits(max_pixels=1_000_000, batch_pixels=2_000_000))
    ink = np.zeros((900, 900), np.uint8)
    ink[200:700, 400:500] = 255  # a "1", 0.81 megapixels
    item = base64.b64encode(png(ink)).decode()
    try:
        with TestClient(create_app(service)) as client:
            model = client.get("/model").json()
            assert model["limits"]["max_pixels"] == 1_000_000 and model["limits"]["batch_pixels"] == 2_000_000
            big = client.post("/predict", content=one_colour_png(1100, 1000), headers={"Content-Type": "image/png"})
            assert big.status_code == 413 and "the limit is 1 megapixels" in big.json()["detail"]
            answers = client.post("/predict/batch", json={"images": [item] * 3}).json()["predictions"]
        assert answers[0] == answers[1] and "digit" in answers[0]
        assert "skipped" in answers[2]["error"] and "2 megapixels together" in answers[2]["error"]
    finally:
        service.close()


def test_a_batch_stops_decoding_when_its_client_has_gone(classifier, digit):
    service = Service(classifier)
    body = json.dumps({"images": [base64.b64encode(digit[0]).decode()] * 5}).encode()
    gone = threading.Event()
    try:
        assert len(service.batch_inputs(body, gone)) == 5 and service.decoded == 5
        gone.set()
        assert service.batch_inputs(body, gone) == [] and service.decoded == 5
    finally:
        service.close()


def test_a_busy_batch_pool_does_not_hold_up_single_images(classifier, digit):
    service = Service(classifier)
    release = threading.Event()
    blocked = service.batch_decoder.submit(release.wait, 60)  # every batch now waits behind this
    try:
        with TestClient(create_app(service)) as client:
            response = client.post("/predict", content=digit[0], headers={"Content-Type": "image/png"})
            assert response.status_code == 200 and response.json() == digit[1]
    finally:
        release.set()
        blocked.result()
        service.close()


# -- requests people send --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(classifier):
    service = Service(classifier)
    with TestClient(create_app(service)) as client:
        yield client
    service.close()


def test_base64_as_people_send_it(client, digit):
    data, answer = digit
    standard = base64.b64encode(data).decode()
    forms = [base64.encodebytes(data).decode(),  # what `base64 digit.png` prints: lines of 76
             "data:image/png;base64," + standard, base64.urlsafe_b64encode(data).decode().rstrip("="),
             standard.rstrip("="), f"  {standard}\n"]
    answers = client.post("/predict/batch", json={"images": forms + ["abc$def"]}).json()["predictions"]
    assert answers[:-1] == [answer] * len(forms)
    assert answers[-1]["error"].startswith('images[5]: not base64 text ("$" at character 3)')


def test_messages_speak_json(client):
    cases = {"null, not an array": None, "an object, not an array": {"a": 1}, "a string, not an array": "0.5",
             "a number, not an array": 3, "true, not an array": True,
             "pixels: 27 rows and 1 number; give 28 rows of 28 numbers or 784 numbers": [[0.5] * 28] * 27 + [1],
             "pixels: an empty array": []}
    for text, value in cases.items():
        response = client.post("/predict", json={"pixels": value})
        assert response.status_code == 422 and text in response.json()["detail"], (text, response.text)
    digits = b'{"pixels": [' + b"1" * 5000 + b"]}"
    response = client.post("/predict", content=digits, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"] == ("the body is not usable JSON: a number with too many digits; pixels "
                                         "are numbers from 0 to 1")


def test_head_and_trailing_slashes(client):
    for path in ("/health", "/model"):
        response = client.head(path)
        assert response.status_code == 200 and response.content == b""
    for method in ("GET", "POST"):
        response = client.request(method, "/predict/", content=b"x", headers={"Content-Type": "image/png"})
        assert response.status_code == 404
        assert response.json() == {"detail": "no such endpoint '/predict/': leave out the trailing slash (/predict)"}


def test_pillow_warnings_on_damaged_files_stay_quiet():
    from playground.core.preprocess import load_image_bytes

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(  # an EXIF block whose tag points past its end
            out, "JPEG", exif=b"Exif\0\0II*\0\x08\0\0\0\x05\0\x0f\x01\x02\0\xff\xff\0\0\x10\0\0\0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_image_bytes(out.getvalue())
    assert caught == []


# -- the command line and the model path -----------------------------------------------------------


def test_urls_that_open():
    assert urls_to_open("0.0.0.0", 8000) == ["http://127.0.0.1:8000", f"http://{socket.gethostname()}:8000"]
    assert urls_to_open("::", 8000)[0] == "http://[::1]:8000"
    assert urls_to_open("192.168.1.20", 80) == ["http://192.168.1.20:80"]


def test_an_image_or_a_plain_folder_given_as_the_model(tmp_path, digit):
    (tmp_path / "digit.png").write_bytes(digit[0])
    with pytest.raises(RunError, match=r"digit.png is an image \(PNG\), not a model: give a run folder"):
        Classifier.from_path(tmp_path / "digit.png")
    with pytest.raises(RunError, match=r"not a run folder or a model folder \(no design.json in it\)"):
        Classifier.from_path(tmp_path)


def test_sigterm_stops_like_ctrl_c():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([*self_command(), "serve", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()  # printed once it listens
        assert line.startswith("Serving ") and "http://127.0.0.1:" in line, line
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and out.strip() == "Stopped" and "Traceback" not in err, err
