"""File > Open, File > Open Recent and File > Open Model with bad files: each shows a message that
names the file and says what is wrong, returns False, raises nothing (pytest-qt fails a test on an
exception in a slot, which is how the menus and shortcuts call these), and changes nothing: the
design, its undo history, the canvas's model and the weights the next training starts from."""

from __future__ import annotations

import json
import os
import pickle
import random
import threading
import tracemalloc
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import MODEL_FORMAT, MODEL_FORMAT_VERSION, save_model_file

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def window(active_window):
    """The window with an edit made, so that there is an undo history and unsaved work to keep."""
    active_window.document.insert_layer(0, "BatchNorm")
    assert active_window.document.undo_stack.count() == 1 and active_window.isWindowModified()
    return active_window


def state_of(window) -> dict:
    doc = window.document
    stack = doc.undo_stack
    return {"spec": doc.spec, "path": doc.path, "modified": window.isWindowModified(),
            "undo": [stack.text(i) for i in range(stack.count())], "undo_index": stack.index(),
            "classifier": window.draw_area.classifier, "model_box": window.draw_area.model_box.currentText(),
            "initial_weights": getattr(window.train_area, "_initial", None), "title": window.windowTitle()}


def choose_in_dialog(monkeypatch, path: Path) -> list:
    """File dialogs answer ``path``; the list records each dialog asked."""
    asked = []

    def answer(*args, **kwargs):
        asked.append(args)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    return asked


def check_refused(window, path: Path, title: str, errors_before: int, says: str | None) -> None:
    assert len(window.errors) == errors_before + 1, "one message box, shown once"
    shown_title, message = window.errors[-1]
    assert shown_title == title
    assert str(path) in message, f"the message does not name the file: {message!r}"
    reason = message.replace(str(path), "").strip(" :.\n")
    assert len(reason) > 10, f"the message does not say what is wrong: {message!r}"
    if says is not None:
        assert says in message


# -- design files ------------------------------------------------------------------------------------


def _layers(*layers) -> bytes:
    return json.dumps({"format_version": 1, "name": "bad", "layers": list(layers)}).encode()


DESIGNS = {
    # name: (file contents, or a function that makes the file at the path; a phrase the message says)
    "empty file": (b"", None),
    "random bytes": (random.Random(12).randbytes(4096), None),
    "5 MB of zeros": (bytes(5_000_000), "too large for a design"),
    "a list as a layer's type": (_layers({"type": ["Linear"], "params": {}}), None),
    "out_features as text": (_layers({"type": "Flatten", "params": {}},
                                     {"type": "Linear", "params": {"out_features": "10", "bias": True}}), None),
    "layers as an object": (json.dumps({"format_version": 1, "layers": {}}).encode(), None),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, None),
    "a folder": (lambda path: path.mkdir(), "folder"),
}


@pytest.mark.parametrize("case", list(DESIGNS))
def test_a_bad_design_file_is_refused_and_nothing_changes(window, press, monkeypatch, tmp_path, case):
    contents, says = DESIGNS[case]
    path = tmp_path / "design.json"
    if callable(contents):
        contents(path)
    else:
        path.write_bytes(contents)
    before = state_of(window)
    errors = len(window.errors)
    asked = choose_in_dialog(monkeypatch, path)
    press(Qt.Key.Key_O, CTRL)  # File > Open, as the user does it
    assert asked, "Ctrl+O did not open the file dialog"
    check_refused(window, path, "Cannot open design", errors, says)
    assert state_of(window) == before
    assert window.open_file(path) is False  # the same through the method the other paths call
    check_refused(window, path, "Cannot open design", errors + 1, says)
    assert state_of(window) == before


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root reads any file; Windows has no chmod 000")
def test_a_design_without_read_permission_is_refused(window, tmp_path):
    path = tmp_path / "locked.json"
    PRESETS["mlp-300"].spec.save(path)
    os.chmod(path, 0)
    before, errors = state_of(window), len(window.errors)
    try:
        assert window.open_file(path) is False
    finally:
        os.chmod(path, 0o644)
    check_refused(window, path, "Cannot open design", errors, None)
    assert state_of(window) == before


def test_a_lone_surrogate_in_the_name_never_makes_a_design_that_cannot_be_saved(window, tmp_path):
    """``"\\ud800"`` in the JSON text decodes to a str that UTF-8 cannot encode: today the design
    opened and the next Save raised UnicodeEncodeError. It is refused (or, if the core cleans such
    names, opened with a name that saves)."""
    path = tmp_path / "surrogate.json"
    path.write_text('{"format_version": 1, "name": "evil\\ud800name", "layers": []}', encoding="ascii")
    before, errors = state_of(window), len(window.errors)
    if window.open_file(path):
        again = tmp_path / "saved.json"
        assert window.save_to(again)
        again.read_bytes().decode("utf-8")
        assert not window.errors[errors:]
    else:
        check_refused(window, path, "Cannot open design", errors, None)
        assert state_of(window) == before


def test_a_huge_design_file_is_not_read(window, tmp_path):
    """A 200 MB file (sparse: no disk used) is refused from its size, without reading it."""
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(200_000_000)
    before, errors = state_of(window), len(window.errors)
    tracemalloc.start()
    try:
        assert window.open_file(path) is False
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # today: the whole file as bytes, then as text (400 MB)
    check_refused(window, path, "Cannot open design", errors, "200,000,000 bytes")
    assert state_of(window) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_does_not_hang_the_window(window, tmp_path):
    """Reading a pipe waits for a writer forever: the window refuses anything but a regular file."""
    path = tmp_path / "pipe.json"
    os.mkfifo(path)

    def unblock():  # only if Open got stuck on the pipe: let the test fail instead of hanging
        with open(path, "wb"):
            pass

    rescue = threading.Timer(60, unblock)
    rescue.daemon = True
    rescue.start()
    before, errors = state_of(window), len(window.errors)
    try:
        assert window.open_file(path) is False
    finally:
        rescue.cancel()
    check_refused(window, path, "Cannot open design", errors, "not a regular file")
    assert state_of(window) == before


def test_open_recent_with_a_file_since_deleted_or_changed(window, tmp_path):
    doc = window.document
    path = tmp_path / "mine.json"
    PRESETS["lenet5"].spec.save(path)
    assert window.open_file(path)
    doc.insert_layer(0, "Dropout")
    before = state_of(window)

    def click_recent(target: Path) -> None:
        window.recent_menu.aboutToShow.emit()  # what opening the menu does: it is filled then
        (action,) = [a for a in window.recent_menu.actions() if a.text() == str(target.resolve())]
        action.trigger()  # a click on the menu item

    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)  # changed into something that is not a design
    errors = len(window.errors)
    click_recent(path)
    check_refused(window, path, "Cannot open design", errors, None)
    assert state_of(window) == before

    path.unlink()  # deleted
    click_recent(path)
    check_refused(window, path, "Cannot open design", errors + 1, "no such file")
    assert state_of(window) == before


# -- model files -----------------------------------------------------------------------------------


class Payload:
    """Unpickling this would create the marker file: code from the file running."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def tiny_onnx() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 784])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def make_model_file(case: str, folder: Path, spec) -> Path:
    """The bad model file for ``case``, made for the window's current design ``spec``."""
    own = {k: v.contiguous() for k, v in build_model(spec).state_dict().items()}
    if case == "empty file":
        path = folder / "empty.pgmodel.safetensors"
        path.write_bytes(b"")
    elif case == "random bytes":
        path = folder / "random.pgmodel.safetensors"
        path.write_bytes(random.Random(5).randbytes(4096))
    elif case == "random bytes as .pt":
        path = folder / "random.pt"
        path.write_bytes(random.Random(6).randbytes(4096))
    elif case == "5 MB of zeros":
        path = folder / "zeros.pgmodel.safetensors"
        path.write_bytes(bytes(5_000_000))
    elif case == "a folder":
        path = folder / "folder.pgmodel.safetensors"
        path.mkdir()
    elif case == "a model file without its design":
        from safetensors.torch import save_file

        path = folder / "nodesign.pgmodel.safetensors"
        save_file(own, str(path), metadata={"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION})
    elif case == "int weights":
        path = folder / "int.pgmodel.safetensors"
        save_model_file(path, spec, {k: (v * 100).to(torch.int64) for k, v in own.items()})
    elif case == "NaN weights":
        path = folder / "nan.pgmodel.safetensors"
        weights = dict(own)
        name = next(k for k, v in own.items() if v.is_floating_point())
        weights[name] = own[name].clone()
        weights[name].view(-1)[0] = float("nan")
        save_model_file(path, spec, weights)
    elif case == "NaN weights in a state dict":
        path = folder / "nan.pt"
        torch.save({k: torch.full_like(v, float("inf")) if v.is_floating_point() else v for k, v in own.items()},
                   path)
    elif case == "TorchScript":
        path = folder / "scripted.pt"
        tiny = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
        torch.jit.save(torch.jit.trace(tiny, torch.zeros(1, 1, 28, 28)), str(path))
    elif case == "a pickle that runs code":
        path = folder / "evil.pt"
        Payload.marker = folder / "PWNED"
        with open(path, "wb") as f:
            pickle.dump({"weight": Payload()}, f)
    elif case == "ONNX renamed":
        path = folder / "model.pgmodel.safetensors"
        path.write_bytes(tiny_onnx())
    elif case == "a state dict for another design":
        path = folder / "other.pt"
        torch.save(build_model(PRESETS["mlp-300"].spec).state_dict(), path)
    else:
        raise AssertionError(case)
    return path


MODELS = {  # case: a phrase the message must say (None: the file's name and a reason are enough)
    "empty file": None, "random bytes": None, "random bytes as .pt": None, "5 MB of zeros": None,
    "a folder": "folder", "a model file without its design": None, "int weights": "int64",
    "NaN weights": "NaN", "NaN weights in a state dict": "infinite", "TorchScript": None,
    "a pickle that runs code": "refused", "ONNX renamed": None, "a state dict for another design": "do not fit",
}


@pytest.mark.parametrize("case", list(MODELS))
def test_a_bad_model_file_is_refused_and_nothing_changes(window, press, monkeypatch, tmp_path, case):
    path = make_model_file(case, tmp_path, window.document.spec)
    before = state_of(window)
    assert before["classifier"] is not None  # the canvas has a model (the default one) to keep
    errors = len(window.errors)
    asked = choose_in_dialog(monkeypatch, path)
    press(Qt.Key.Key_O, CTRL_SHIFT)  # File > Open Model
    assert asked, "Ctrl+Shift+O did not open the file dialog"
    check_refused(window, path, "Cannot open model", errors, MODELS[case])
    assert state_of(window) == before
    assert window.open_model_file(path) is False
    check_refused(window, path, "Cannot open model", errors + 1, MODELS[case])
    assert state_of(window) == before
    assert not (tmp_path / "PWNED").exists()  # nothing from the file ran


def test_a_good_model_file_still_opens_after_a_bad_one(window, tmp_path):
    """The refusals are not a wall: the next good file opens."""
    bad = make_model_file("a model file without its design", tmp_path, window.document.spec)
    assert not window.open_model_file(bad)
    spec = PRESETS["mlp-300"].spec
    good = save_model_file(tmp_path / "good.pgmodel.safetensors", spec, build_model(spec).state_dict())
    errors = len(window.errors)
    assert window.open_model_file(good)
    assert window.errors[errors:] == []
    assert window.document.spec == spec
    assert window.draw_area.model_box.currentText() == "Opened: good.pgmodel.safetensors"
