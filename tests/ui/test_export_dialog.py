"""File > Export in the window: export a trained run and show the check's figures."""

from __future__ import annotations

import os

import pytest

from playground.core.config import TrainConfig


@pytest.fixture
def no_runs_on_disk(monkeypatch, tmp_path):
    """A data folder of this test's own, so that no earlier test's runs are listed."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def window(no_runs_on_disk, ready_window):
    return ready_window


def trained(window, qtbot):
    area = window.train_area
    window.new_from_preset("fast-cnn")
    area.form.set_config(TrainConfig(epochs=1, limit=600, test_limit=600, batch_size=32, device="cpu"))
    assert window.exportable_runs() == [] and not window.export_action.isEnabled()  # nothing to export yet
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as finished:
        area.start()
    assert window.exportable_runs() == [finished.args[0]]
    assert window.export_action.isEnabled()
    return window


def test_export_dialog_writes_and_checks(window, qtbot, tmp_path):
    window = trained(window, qtbot)
    dialog = window.show_export_dialog(modal=False)
    qtbot.addWidget(dialog)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("onnx"))
    out = tmp_path / "mine.onnx"
    dialog.path_edit.setText(str(out))
    dialog.start_export()
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=240_000)
    assert out.is_file() and dialog.check.passed
    assert "check PASSED: 300 test images, labels agree on 100.00%" in dialog.result.text()
    dialog.show()
    dialog.grab().save(str(tmp_path / "dialog.png"))


def test_export_into_a_read_only_folder_keeps_the_old_file(window, qtbot, tmp_path, monkeypatch):
    import playground.core.atomic as atomic

    window = trained(window, qtbot)
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "model.pt"
    target.write_bytes(b"the previous export")
    os.chmod(folder, 0o555)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    if os.access(folder, os.W_OK):  # root writes anywhere: refuse the way the OS does for a user
        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    dialog = window.show_export_dialog(modal=False)
    qtbot.addWidget(dialog)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("torchscript"))
    dialog.path_edit.setText(str(target))
    try:
        dialog.start_export()
        qtbot.waitUntil(lambda: "Export failed" in dialog.result.text(), timeout=240_000)
    finally:
        os.chmod(folder, 0o755)
    assert "Permission denied" in dialog.result.text() and "unchanged" in dialog.result.text()
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt"]
    assert dialog.export_button.isEnabled()
