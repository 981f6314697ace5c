"""Files from strangers: a crafted pickle is refused by every load path, and none of its code runs."""

from __future__ import annotations

import pickle

import pytest
import torch

from playground.core import PRESETS
from playground.core.build import build_model
from playground.core.export import ExportError, load_model_file, load_state_dict_file
from playground.core.predict import Classifier
from playground.core.runs import RunError, load_weights


class Payload:
    """Unpickling this creates a file: the classic __reduce__ attack."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"0.weight": Payload(marker)}, f)
    # The same bytes under the names the other loaders look for.
    for name in ("evil.safetensors", "evil.pgmodel.safetensors"):
        (tmp_path / name).write_bytes(path.read_bytes())
    run = tmp_path / "run"
    run.mkdir()
    PRESETS["mlp-300"].spec.save(run / "design.json")
    (run / "weights_best.safetensors").write_bytes(path.read_bytes())
    return tmp_path, marker


def test_every_load_path_refuses_and_runs_nothing(crafted):
    folder, marker = crafted
    with pytest.raises(ExportError, match="refused"):
        load_state_dict_file(folder / "evil.pt")
    with pytest.raises(RunError, match="not a readable safetensors"):
        load_weights(folder / "evil.safetensors")
    with pytest.raises(ExportError):
        load_model_file(folder / "evil.pgmodel.safetensors")
    with pytest.raises(RunError):
        Classifier.from_path(folder / "evil.pgmodel.safetensors")
    with pytest.raises(RunError):
        Classifier.from_path(folder / "run")
    # torch.load with its default settings WOULD have created the file; ours never did.
    assert not marker.exists()


def test_a_plain_state_dict_loads(tmp_path):
    model = build_model(PRESETS["mlp-300"].spec)
    torch.save(model.state_dict(), tmp_path / "ok.pth")
    state = load_state_dict_file(tmp_path / "ok.pth")
    assert set(state) == set(model.state_dict())
    fresh = build_model(PRESETS["mlp-300"].spec)
    fresh.load_state_dict(state)


def test_the_payload_really_works_when_unpickled_naively(tmp_path):
    marker = tmp_path / "created-by-unpickling"
    data = pickle.dumps({"0.weight": Payload(marker)})
    pickle.loads(data)  # what an unsafe loader would do
    assert marker.exists()
