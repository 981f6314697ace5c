"""A design file from a stranger: any JSON of any type in any field is a ``DesignError`` or a valid
spec, never another exception; sizes are bounded before reading; names cannot carry control
characters into a terminal or break saving."""

from __future__ import annotations

import copy
import json
import math
import tracemalloc

import pytest

from playground.core import PRESETS, DesignError, NetworkSpec, infer_shapes, load_design
from playground.core.spec import MAX_DESIGN_BYTES
from playground.core.summary import format_report, report_dict
from playground.core.text import clean_text, is_unsafe, printable, short_repr

DEEP = 100_000

# Every JSON type (and then some), each wrong somewhere.
WRONG_VALUES = [
    None, True, False, 0, -1, 1.5, 65537, 10**4000, -(10**300), 1e308, math.inf, -math.inf, math.nan,
    "", "Linear", "\x1b[2J", "\ud800", "\u202e", "x" * 20_000,
    [], [1, 28, 28], ["Linear"], [[[]]], {}, {"type": "Linear"}, {"0": 1}, {"out_features": 10},
]


def _paths(value, path=()):
    """Every path into a JSON value: the keys of objects and the indexes of lists, recursively."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _replaced(data, path, new):
    data = copy.deepcopy(data)
    if not path:
        return new
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return data


def _deleted(data, path):
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _check_outcome(load):
    """``load()`` gives a spec that can be shown and saved, or a short, printable ``DesignError``."""
    try:
        spec = load()
    except DesignError as exc:
        message = str(exc)
        assert len(message) < 600, message[:200]
        assert not any(is_unsafe(ch) for ch in message), repr(message[:200])
        return "refused"
    assert isinstance(spec, NetworkSpec)
    report = infer_shapes(spec)
    format_report(spec, report)
    json.dumps(report_dict(spec, report))
    spec.to_json().encode("utf-8")  # would raise for a lone surrogate
    assert NetworkSpec.from_json(spec.to_json()) == spec
    return "loaded"


@pytest.mark.parametrize("preset", ["lenet5", "lstm-rows"])
def test_fuzz_every_field_with_every_wrong_type(preset):
    base = PRESETS[preset].spec.to_dict()
    outcomes = {"loaded": 0, "refused": 0}
    for path in list(_paths(base)):
        variants = [_replaced(base, path, value) for value in WRONG_VALUES]
        if path:
            variants.append(_deleted(base, path))
        for data in variants:
            outcomes[_check_outcome(lambda d=data: NetworkSpec.from_dict(d, "fuzz"))] += 1
            try:
                text = json.dumps(data)
            except ValueError:  # an int past Python's digit limit cannot be written (parsed: below)
                continue
            outcomes[_check_outcome(lambda t=text: NetworkSpec.from_json(t, "fuzz.json"))] += 1
        # Keys that are not text (possible in data given to from_dict, e.g. by a worker job).
        target = base
        for key in path:
            target = target[key]
        if isinstance(target, dict):
            odd = _replaced(base, path, {**target, 1: 2, (3,): "x"})
            outcomes[_check_outcome(lambda d=odd: NetworkSpec.from_dict(d, "fuzz"))] += 1
    # Both outcomes happen: some wrong values are harmless (a name that is any text), most are not.
    assert outcomes["refused"] > 500 and outcomes["loaded"] > 10, outcomes


def test_a_layer_type_that_is_a_list_or_params_with_keys_that_are_not_text():
    data = PRESETS["lenet5"].spec.to_dict()
    data["layers"][2]["type"] = ["Linear"]
    with pytest.raises(DesignError, match=r"layer 3: unknown layer type \['Linear'\]"):
        NetworkSpec.from_dict(data, "d.json")
    data = PRESETS["lenet5"].spec.to_dict()
    data["layers"][0]["params"] = {3: 1, "kernel_size": 5}
    with pytest.raises(DesignError, match="layer 1 \\(Conv2d\\): unknown parameter 3"):
        NetworkSpec.from_dict(data, "d.json")


def test_absurd_nesting_and_numbers():
    with pytest.raises(DesignError, match="nested too deeply"):
        NetworkSpec.from_json("[" * DEEP + "]" * DEEP, "deep.json")
    text = PRESETS["lenet5"].spec.to_json()
    with pytest.raises(DesignError, match="not a valid design"):
        NetworkSpec.from_json(text.replace('"out_channels": 6', '"out_channels": ' + "9" * 5000), "big.json")
    # Under the digit limit, but far too large for a float or for torch: refused, and said briefly.
    with pytest.raises(DesignError, match=r"layer 1 \(Conv2d\), field 'out_channels': must be at most 4096; "
                                          r"got a whole number of about 4,000 digits"):
        NetworkSpec.from_json(text.replace('"out_channels": 6', '"out_channels": 1' + "0" * 3999))
    design = {"format_version": 1, "layers": [{"type": "Flatten"}, {"type": "Dropout", "params": {"p": 0.5}},
                                              {"type": "Linear", "params": {"out_features": 10, "bias": True}}]}
    for value in ("1e400", "NaN", "-Infinity", "1" + "0" * 400):
        text = json.dumps(design).replace('"p": 0.5', f'"p": {value}')
        with pytest.raises(DesignError, match=r"layer 2 \(Dropout\), field 'p': must be a finite number"):
            NetworkSpec.from_json(text, "f.json")
    with pytest.raises(DesignError, match="'out_features'.*must be a whole number, not inf"):
        NetworkSpec.from_json(PRESETS["mlp-300"].spec.to_json().replace('"out_features": 300', '"out_features": 1e400'))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.write(b'{"format_version": 1, "name": "')
        f.truncate(100_000_000)  # a 100 MB file (sparse: no need to write it)
    tracemalloc.start()
    try:
        with pytest.raises(DesignError, match="larger than 1 MB, too large for a design"):
            load_design(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * MAX_DESIGN_BYTES  # today's read_text() held all 100 MB


def test_name_and_description_are_bounded(tmp_path):
    data = PRESETS["lenet5"].spec.to_dict()
    with pytest.raises(DesignError, match="'name' is 201 characters long; at most 200"):
        NetworkSpec.from_dict({**data, "name": "n" * 201}, "d.json")
    with pytest.raises(DesignError, match="'description' is 10,001 characters long; at most 10,000"):
        NetworkSpec.from_dict({**data, "description": "d" * 10_001}, "d.json")
    with pytest.raises(DesignError, match="'name' must be text, not \\['a'\\]"):
        NetworkSpec.from_dict({**data, "name": ["a"]}, "d.json")
    with pytest.raises(DesignError, match="1,001 layers; a design has at most 1,000"):
        NetworkSpec.from_dict({**data, "layers": [{"type": "ReLU", "params": {}}] * 1001}, "d.json")


@pytest.mark.parametrize("raw", ["\ud800", "\udfff tail", "\x1b[2J", "a\rb", "nul\x00", "\u202egnp.exe",
                                 "bell\x07", "del\x7f", "c1\x9b"])
def test_control_characters_and_lone_surrogates_are_replaced_and_save_works(raw, tmp_path):
    """Chosen behaviour: replaced by U+FFFD (a design still opens), never stored or printed raw."""
    data = {**PRESETS["lenet5"].spec.to_dict(), "name": raw, "description": f"line 1\r\n{raw}\nline 3"}
    spec = NetworkSpec.from_json(json.dumps(data), "d.json")  # json.dumps writes "\ud800" as an escape
    assert not any(is_unsafe(ch) for ch in spec.name)
    assert "\ufffd" in spec.name or " " in spec.name
    assert spec.description.startswith("line 1\n") and spec.description.endswith("\nline 3")
    spec.save(tmp_path / "d.json")  # today: UnicodeEncodeError for a lone surrogate
    assert load_design(tmp_path / "d.json") == spec
    # A spec made in code is cleaned the same way.
    made = NetworkSpec(PRESETS["lenet5"].spec.layers, name=raw)
    made.save(tmp_path / "made.json")
    assert load_design(tmp_path / "made.json").name == made.name == clean_text(raw)


def test_printable_and_short_repr():
    assert printable("\x1b[2J\x1b]0;pwned\x07evil") == "\\x1b[2J\\x1b]0;pwned\\x07evil"
    assert printable("a\u202eb\ud800\x9b\x7f") == "a\\u202eb\\ud800\\x9b\\x7f"
    assert printable("ordinary ünïcode ✔ 数字") == "ordinary ünïcode ✔ 数字"
    assert short_repr(list(range(10**6))) == "a list of 1,000,000 items"
    assert short_repr(10**5000) == "a whole number of about 5,001 digits"
    assert short_repr("\x1b" * 100).startswith("'\\x1b") and len(short_repr("\x1b" * 100)) == 60
    nested: list = []
    for _ in range(DEEP):
        nested = [nested]
    assert short_repr(nested) == "a deeply nested list"
