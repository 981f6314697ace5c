"""``playground serve``: the web service answers exactly as ``playground predict --json`` does, refuses
bad uploads with a JSON message (and keeps serving), and batches concurrent requests."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

# fastapi is a dependency of the app and httpx of the tests: missing, they fail here (never skip).
from fastapi.testclient import TestClient

from playground.cli import main
from playground.cli.common import UsageError
from playground.cli.serve import bind, exposure_warning
from playground.core.predict import Classifier
from playground.core.service import Limits, Service, create_app
from pngs import one_colour_png

COUNT = 2000  # real MNIST test images, each answered by the server and by `playground predict`


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def digits(tmp_path_factory, app_folders):
    """COUNT MNIST test digits as PNG files, the same bytes the server gets, and the 28x28 pixels."""
    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    images = test.images[:COUNT].numpy()
    folder = tmp_path_factory.mktemp("serve")
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"{i}.png")
        paths[-1].write_bytes(png(image))
    return {"paths": paths, "pixels": images.astype(np.float32) / 255}


@pytest.fixture(scope="module")
def expected(digits, capfd_module):
    """`playground predict --json`'s answers for the files, from its own code (in-process)."""
    return capfd_module(["predict", "--json", *map(str, digits["paths"])])


@pytest.fixture(scope="module")
def capfd_module():
    def run(argv):
        import torch

        out, threads = io.StringIO(), torch.get_num_threads()
        old, sys.stdout = sys.stdout, out
        torch.set_num_threads(1)  # the same numbers (checked), far faster on a busy 2-core machine
        try:
            assert main(argv) == 0
        finally:
            sys.stdout = old
            torch.set_num_threads(threads)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return [{k: v for k, v in line.items() if k != "path"} for line in lines]
    return run


@pytest.fixture(scope="module")
def service():
    service = Service(Classifier.from_path(), Limits(max_body_bytes=4_000_000, max_batch_body_bytes=32_000_000))
    yield service
    service.close()


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(service)) as client:
        yield client


def healthy(client) -> dict:
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    return response.json()


def test_health_and_model(client):
    health = healthy(client)
    assert health["model"].endswith("weights.safetensors") and health["uptime_seconds"] >= 0
    model = client.get("/model").json()
    assert model["classes"] == [str(d) for d in range(10)]
    assert model["design"]["name"] == "fast-cnn" and model["input_shape"] == [1, 28, 28]
    assert model["parameters"] > 1000 and model["preprocessing"]["method"] == "mnist"
    assert model["test_accuracy"] == 0.9949  # the bundled model's run.json (tests/core/test_default_model.py)
    assert model["limits"]["max_body_bytes"] == 4_000_000 and model["limits"]["max_pixels"] == 16_000_000
    assert health["model"] == "default_model/weights.safetensors" == model["source"]  # not the absolute path
    page = client.get("/docs")  # Swagger UI from the app's own files: the docs work offline
    assert page.status_code == 200 and "/docs-files/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    script = client.get("/docs-files/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    docs = client.get("/openapi.json").json()
    assert {"/health", "/model", "/predict", "/predict/batch"} <= set(docs["paths"])
    assert "image/png" in docs["paths"]["/predict"]["post"]["requestBody"]["content"]


def test_a_run_folder_knows_its_test_accuracy(tmp_path):
    import shutil

    from playground.core.paths import assets_dir

    shutil.copytree(assets_dir() / "default_model", tmp_path / "run")
    (tmp_path / "run" / "run.json").write_text(json.dumps({"status": "completed", "test_accuracy": 0.9949}))
    assert Classifier.from_path(tmp_path / "run").test_accuracy == 0.9949


def test_a_model_file_knows_its_test_accuracy(tmp_path, service):
    from playground.core.export import save_model_file

    c = service.classifier
    save_model_file(tmp_path / "m.pgmodel.safetensors", c.spec, c.model.state_dict(), test_accuracy=0.9949)
    model = Classifier.from_path(tmp_path / "m.pgmodel.safetensors")
    assert model.test_accuracy == 0.9949
    with TestClient(create_app(Service(model))) as other:
        assert other.get("/model").json()["test_accuracy"] == 0.9949
        other.app.state.service.close()


def test_predict_answers_as_playground_predict(client, digits, expected):
    for path, answer in zip(digits["paths"][:20], expected):
        response = client.post("/predict", content=path.read_bytes(), headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        assert response.json() == answer
    # An octet stream is sniffed by Pillow like any image.
    response = client.post("/predict", content=digits["paths"][0].read_bytes(),
                           headers={"Content-Type": "application/octet-stream"})
    assert response.json() == expected[0]


def test_batches_answer_all_2000_as_playground_predict(client, service, digits, expected):
    """Every image in batches of 250 (forward passes over many rows) == predict's answer, one by one."""
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in digits["paths"]]
    answers = []
    for start in range(0, COUNT, 250):
        response = client.post("/predict/batch", json={"images": encoded[start:start + 250]})
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    assert answers == expected
    assert max(int(n) for n in service.runner.stats()["batch_sizes"]) > 1
    accuracy = np.mean([a["digit"] for a in answers] == np.asarray(_labels()[:COUNT]))
    assert accuracy > 0.98


def _labels():
    from playground.core.data import load_raw

    return load_raw("mnist")[1].labels.numpy()


def test_json_pixels(client, service, digits):
    pixels = digits["pixels"][0]
    single = client.post("/predict", json={"pixels": pixels.tolist()}).json()
    flat = client.post("/predict", json={"pixels": pixels.reshape(-1).tolist()}).json()
    probabilities = service.classifier.probabilities(pixels)  # the network's input as it is
    assert single == flat == service.classifier.answer_of(probabilities, "pixels")
    assert single["digit"] == int(_labels()[0])
    bad = {"a 27-row image": pixels[:27].tolist(), "a row of 27": [*pixels.tolist()[:27], [0.0] * 27],
           "text": [["x"] * 28] * 28, "over 1": (pixels * 255).tolist(), "a string": "0.5",
           "all zero": np.zeros((28, 28)).tolist()}
    for what, value in bad.items():
        response = client.post("/predict", json={"pixels": value})
        assert response.status_code == 422, what
        assert isinstance(response.json()["detail"], str) and "pixels" in response.json()["detail"], what
    nan = client.post("/predict", content=b'{"pixels": [' + b",".join([b"NaN"] * 784) + b"]}",
                      headers={"Content-Type": "application/json"})
    assert nan.status_code == 422 and "outside [0, 1]" in nan.json()["detail"]
    for body, status in ((b"{", 400), (b'{"image": 1}', 422), (b"\xff\xfe", 400)):
        response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status and isinstance(response.json()["detail"], str)


def test_a_bad_item_in_a_batch_gets_its_own_error(client, digits, expected):
    good = base64.b64encode(digits["paths"][1].read_bytes()).decode()
    items = [good, "not base64!", base64.b64encode(b"junk").decode(), digits["pixels"][0].tolist(),
             [[2.0] * 28] * 28, base64.b64encode(png(np.zeros((28, 28), np.uint8))).decode(), good]
    response = client.post("/predict/batch", json={"images": items})
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert len(answers) == len(items) and answers[0] == answers[-1] == expected[1]
    assert "not base64" in answers[1]["error"] and "not a readable image" in answers[2]["error"]
    assert answers[3]["digit"] == int(_labels()[0]) and "outside [0, 1]" in answers[4]["error"]
    assert answers[5] == {"error": "images[5]: no digit found (the image is blank)"}
    for body in ({"images": []}, {"images": [good] * 257}, {"pictures": [good]}, [good]):
        response = client.post("/predict/batch", json=body)
        assert response.status_code == 422 and "1 to 256 items" in response.json()["detail"]
    response = client.post("/predict/batch", content=digits["paths"][0].read_bytes(),
                           headers={"Content-Type": "image/png"})
    assert response.status_code == 415


def test_bad_uploads_are_refused_and_the_server_goes_on(client, service):
    junk = bytes(range(256)) * (5_000_000 // 256)  # 5 MB
    refusals = [
        (client.post("/predict", content=junk, headers={"Content-Type": "image/png"}), 413, "4 MB limit"),
        # Without a Content-Length (chunked): counted while it streams in.
        (client.post("/predict", content=iter([junk[:1_000_000]] * 5), headers={"Content-Type": "image/png"}),
         413, "4 MB limit"),
        (client.post("/predict", content=one_colour_png(20_000, 20_000), headers={"Content-Type": "image/png"}),
         413, "the limit is 16 megapixels: scale it down"),
        (client.post("/predict", content=b"GIF89a" + junk[:100], headers={"Content-Type": "image/gif"}),
         400, "image: "),
        (client.post("/predict", content=b"%!PS-Adobe-3.0 EPSF-3.0\n", headers={"Content-Type": "image/png"}),
         400, "not a readable image"),
        (client.post("/predict", content=png(np.full((64, 64), 255, np.uint8)),
                     headers={"Content-Type": "image/png"}), 422, "image: no digit found (the image is blank)"),
        (client.post("/predict", content=b"x", headers={"Content-Type": "text/plain"}), 415, "Content-Type"),
        (client.post("/predict", content=b"x"), 415, "Content-Type"),
        (client.get("/predict"), 405, "GET"),
        (client.get("/nothing"), 404, "no such endpoint"),
    ]
    for response, status, text in refusals:
        assert response.status_code == status, (status, response.text)
        assert set(response.json()) == {"detail"} and text in response.json()["detail"], response.text
        healthy(client)
    assert service.errors >= len(refusals)


def test_concurrent_requests_share_forward_passes(digits, expected):
    """N requests submitted while the worker is held at its gate run in one forward pass."""
    import httpx

    n = 12
    service = Service(Classifier.from_path())
    service.runner.gate.clear()
    bodies = [p.read_bytes() for p in digits["paths"][:n]]

    async def run():
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            posts = [asyncio.ensure_future(http.post("/predict", content=body, headers={"Content-Type": "image/png"}))
                     for body in bodies]
            queued = await asyncio.get_running_loop().run_in_executor(None, service.runner.wait_submitted, n, 60)
            service.runner.gate.set()
            return queued, await asyncio.gather(*posts)

    try:
        queued, responses = asyncio.run(run())
        assert queued
        assert [r.json() for r in responses] == expected[:n]
        assert service.runner.stats() == {"batches": 1, "inputs": n, "batch_sizes": {str(n): 1}}
    finally:
        service.close()


def test_command_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--help"])
    assert exit.value.code == 0 and "/predict" in capsys.readouterr().out
    assert main(["serve", "/no/such/model"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    for port in ("70000", "-1", "http"):
        with pytest.raises(SystemExit) as exit:
            main(["serve", "--port", port])
        assert exit.value.code == 2 and "--port" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error():
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(UsageError, match="is in use"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    with pytest.raises(UsageError, match="not an address"):
        bind("no-such-host.invalid", 0)


def test_only_loopback_goes_without_a_warning():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("::1") is None
    assert "every network" in exposure_warning("0.0.0.0") and "every network" in exposure_warning("::")
    assert "no authentication" in exposure_warning("192.168.1.20")


def test_the_command_line_does_not_load_the_web_stack():
    code = ("import sys, importlib; importlib.import_module('playground.cli.main').build_parser(); "
            "bad = [m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
