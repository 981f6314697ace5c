"""Issue 17's review: ties on validation accuracy go to the lower loss (bug 6), and a run's config.json
keeps its data folder as an absolute path (bug 4)."""

from __future__ import annotations

import json
import math

from playground.core.config import TrainConfig
from playground.core.train import _better


def test_a_tie_on_accuracy_goes_to_the_lower_loss():
    assert _better((0.5, 1.0), 1.0, 0.9)  # as accurate, lower loss: the later epoch is kept
    assert not _better((0.95, 1.0), 1.0, 0.9)  # as accurate, higher loss
    assert not _better((0.9, 1.0), 1.0, 0.9)  # the very same: the earlier stays (deterministic)
    assert _better((2.0, 0.8), 0.7, 0.1)  # more accurate wins whatever the loss
    assert not _better((0.01, 0.6), 0.7, 0.9)
    assert not _better((math.nan, 1.0), 1.0, 0.9)
    assert _better((0.3, 0.0), -1.0, math.inf)  # the first epoch


def test_a_runs_config_keeps_the_data_folder_absolute(tmp_path, monkeypatch):
    from playground.core import PRESETS
    from playground.core.runs import RunWriter

    (tmp_path / "ds").mkdir()
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(dataset="folder", data_folder="ds")
    writer = RunWriter(tmp_path / "run", PRESETS["fast-cnn"].spec, config)
    try:
        stored = json.loads((tmp_path / "run" / "config.json").read_text())
    finally:
        writer.close()
    assert stored["data_folder"] == str((tmp_path / "ds").resolve())
    assert config.data_folder == "ds"  # the caller's config is unchanged


def test_a_class_folder_name_too_long_is_refused_when_scanning(tmp_path):
    import pytest

    from playground.core.data import MAX_CLASS_NAME_CHARS, DataError, scan_folder_dataset

    for name in ("a", "b" * (MAX_CLASS_NAME_CHARS + 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=f"at most {MAX_CLASS_NAME_CHARS}: rename the folder"):
        scan_folder_dataset(tmp_path)
