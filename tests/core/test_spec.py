"""Designs as JSON: round trips, edits, and a named error for every kind of malformed file."""

from __future__ import annotations

import json

import pytest

from playground.core import PRESETS, DesignError, NetworkSpec, load_design, make_layer


@pytest.mark.parametrize("name", list(PRESETS))
def test_round_trip_is_byte_identical(name, tmp_path):
    path = tmp_path / "a.json"
    PRESETS[name].spec.save(path)
    first = path.read_bytes()
    loaded = load_design(path)
    assert loaded == PRESETS[name].spec
    loaded.save(tmp_path / "b.json")
    assert (tmp_path / "b.json").read_bytes() == first


def test_edits_return_new_specs():
    spec = PRESETS["mlp-300"].spec
    assert spec.insert(1, make_layer("Dropout")).layers[1].type == "Dropout"
    assert len(spec.remove(0).layers) == len(spec.layers) - 1
    moved = spec.move(0, 2)
    assert [l.type for l in moved.layers] == ["Linear", "ReLU", "Flatten", "Linear"]
    assert spec.set_param(1, "out_features", 128).layers[1].params["out_features"] == 128
    with pytest.raises(ValueError, match="at least 1"):
        spec.set_param(1, "out_features", 0)
    assert spec.layers[1].params["out_features"] == 300  # the original is untouched


def _design(**overrides):
    data = PRESETS["tutorial-cnn"].spec.to_dict()
    data.update(overrides)
    return data


def _write(tmp_path, content) -> str:
    path = tmp_path / "design.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _layers_with(index, layer):
    data = _design()
    data["layers"][index] = layer
    return data


@pytest.mark.parametrize("content,fragments", [
    ("{not json", ["design.json", "not valid JSON", "line 1"]),
    ("[1, 2]", ["design.json", "JSON object"]),
    ({"name": "x", "layers": []}, ["missing 'format_version'"]),
    (_design(format_version=99), ["unknown format_version 99", "reads format_version 1"]),
    (_design(layers="nope"), ["'layers' must be a list"]),
    (_design(input_shape=[3, 32, 32]), ["input_shape must be [1, 28, 28]"]),
    (_layers_with(2, {"type": "Conv3d", "params": {}}),
     ["layer 3", "unknown layer type 'Conv3d'", "known types"]),
    (_layers_with(0, {"type": "Conv2d", "params": {"out_channels": 20, "kernel_size": 5, "stride": 1,
                                                   "bias": True}}),
     ["layer 1 (Conv2d), field 'padding': missing"]),
    (_layers_with(0, {"type": "Conv2d", "params": {"out_channels": 0, "kernel_size": 5, "stride": 1,
                                                   "padding": 0, "bias": True}}),
     ["layer 1 (Conv2d), field 'out_channels': must be at least 1; got 0"]),
    (_layers_with(7, {"type": "Linear", "params": {"out_features": "500", "bias": True}}),
     ["layer 8 (Linear), field 'out_features': must be a whole number"]),
    (_layers_with(1, {"type": "ReLU", "params": {"inplace": True}}),
     ["layer 2 (ReLU): unknown parameter 'inplace'"]),
    (_layers_with(1, "ReLU"), ["layer 2: must be an object"]),
])
def test_malformed_files_raise_design_error(tmp_path, content, fragments):
    with pytest.raises(DesignError) as info:
        load_design(_write(tmp_path, content))
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(DesignError, match="no such file"):
        load_design(tmp_path / "missing.json")
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\xff\xfe\x00\x80" * 10)
    with pytest.raises(DesignError, match="not a text file"):
        load_design(binary)


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "d.json"
    PRESETS["mlp-300"].spec.save(path)
    before = path.read_bytes()

    import playground.core.atomic as atomic

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError):
        PRESETS["lenet5"].spec.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]  # no temporary file left behind


def test_from_json_checks_like_load():
    text = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=10))).to_json()
    assert NetworkSpec.from_json(text).layers[1].params == {"out_features": 10, "bias": True}


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "d.json"
    PRESETS["mlp-300"].spec.save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    os.chmod(path, 0o640)
    PRESETS["lenet5"].spec.save(path)  # replacing keeps the file's mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
