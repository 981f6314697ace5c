"""File > Export with a GAN run: listed as its generator, exported and checked on fixed latents.

The run folder is written as the GAN trainer writes it; until the run library reads GAN runs from
disk, the test puts the run's record into the library's list itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from playground.core.config import TrainConfig
from playground.core.gan_spec import GAN_PRESETS, build_gan
from playground.core.runs import RunRecord
from playground.core.weights import save_weights


@pytest.fixture
def no_runs_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))


def gan_run(folder: Path, weights: str) -> RunRecord:
    folder.mkdir(parents=True)
    spec = GAN_PRESETS["cgan"].spec
    spec.save(folder / "design.json")
    TrainConfig().save(folder / "config.json")
    summary = {"status": "completed", "design": spec.name, "started": "2026-12-01T20:00:00"}
    (folder / "run.json").write_text(json.dumps(summary))
    torch.manual_seed(0)
    generator, discriminator = build_gan(spec)
    save_weights(folder / weights, {**{f"generator.{k}": v for k, v in generator.state_dict().items()},
                                    **{f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}})
    return RunRecord(folder, spec, TrainConfig(), summary)


def test_a_gan_run_exports_its_generator(no_runs_on_disk, ready_window, qtbot, tmp_path):
    window = ready_window
    run = gan_run(tmp_path / "runs" / "cgan", "weights_last.safetensors")  # a GAN may have only its last weights
    window.library.runs.append(run)
    assert window.exportable_runs() == [run]
    dialog = window.show_export_dialog(modal=False)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.run_box.currentText() == f"{run.label} (generator) 2026-12-01 20:00:00"
    assert "64 fixed latent vectors" in dialog.result.text()
    assert "playground generate" in dialog.format_help.text()  # the generator's model file, not a classifier's
    out = tmp_path / "cgan-generator.pt"
    dialog.format_box.setFocus()
    qtbot.keyClick(dialog.format_box, Qt.Key.Key_Down)  # App model file -> TorchScript
    assert dialog.fmt == "torchscript" and "digit_onehot" in dialog.format_help.text()
    dialog.path_edit.setFocus()
    dialog.path_edit.selectAll()
    qtbot.keyClicks(dialog.path_edit, str(out))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=120_000)
    assert out.is_file() and dialog.check.passed
    assert "check PASSED: 64 fixed latent vectors (seed 0)" in dialog.result.text()
