"""File > Open Model: an exported model comes back with the same design and outputs; bad files
change nothing."""

from __future__ import annotations

import pickle

import numpy as np
import torch

from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import export
from playground.core.preprocess import preprocess_strokes


def test_open_an_exported_model(ready_window, qtbot, tmp_path, mnist):
    torch.manual_seed(3)
    spec = PRESETS["lenet5"].spec
    model = build_model(spec).eval()
    path = tmp_path / "mine.pgmodel.safetensors"
    export("model", path, spec, model.state_dict(), 0.99)
    window = ready_window
    assert window.document.spec != spec
    assert window.open_model_file(path)
    assert window.document.spec == spec  # the design is in the designer
    draw = window.draw_area
    assert draw.model_box.currentText() == "Opened: mine.pgmodel.safetensors"
    image = preprocess_strokes([[(0, 0), (10, 0), (4, 16)]])
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(image).reshape(1, 1, 28, 28)), 1)[0].numpy()
    assert np.allclose(draw.classifier.probabilities(image), expected, atol=1e-6)  # the same outputs
    draw.refresh_models()  # the chooser is rebuilt: the opened model stays
    assert draw.model_box.findText("Opened: mine.pgmodel.safetensors") >= 0
    assert "from the weights of mine.pgmodel.safetensors" in window.train_area.snapshot_label.text()


def test_training_continues_from_the_opened_weights(ready_window, qtbot, tmp_path):
    from playground.core.config import TrainConfig
    from playground.core.train import train

    spec = PRESETS["mlp-300"].spec
    _, trainer = train(spec, TrainConfig(epochs=2, limit=2000, test_limit=2000, device="cpu", lr=0.003))
    path = tmp_path / "trained.pgmodel.safetensors"
    export("model", path, spec, trainer.model.state_dict())
    window = ready_window
    assert window.open_model_file(path)
    area = window.train_area
    area.form.set_config(TrainConfig(epochs=1, limit=1000, test_limit=1000, batch_size=16, device="cpu", lr=0.001))
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        area.start()
    first = next(e for e in blocker.args[0].events if e["type"] == "progress")
    assert first["train_loss"] < 0.8  # trained weights, not a fresh start (about 2.3)


def test_a_matching_state_dict_and_refused_files(ready_window, tmp_path):
    window = ready_window
    before = window.document.spec
    model = build_model(before)
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    assert window.open_model_file(tmp_path / "ok.pt")
    assert window.document.spec == before

    wrong = build_model(PRESETS["mlp-300"].spec)
    torch.save(wrong.state_dict(), tmp_path / "wrong.pt")
    assert not window.open_model_file(tmp_path / "wrong.pt")
    assert window.errors[-1][0] == "Cannot open model" and "do not fit this design" in window.errors[-1][1]

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"x": Payload()}, f)
    assert not window.open_model_file(tmp_path / "evil.pt")
    assert not marker.exists() and window.document.spec == before
    assert "refused" in window.errors[-1][1]
