"""``NetworkSpec``: a design as an immutable value, saved as versioned JSON.

A spec is an ordered list of catalog layers applied to a 1x28x28 image. Edits return new specs,
which keeps undo simple (store the before and after) and lets a training run hold a snapshot.
Loading checks everything and raises :class:`DesignError`, whose message names the file, the layer
(1-based, as the designer numbers them) and the field.

Design files may come from strangers, so loading trusts nothing: the file is a regular file (never
a pipe or a device) of at most :data:`MAX_DESIGN_BYTES` (checked before it is read), any JSON value
of any type in any field gives a ``DesignError`` (never another exception), nesting and numbers are
bounded, and a name or description is bounded in length. Control characters, bidi overrides and
lone surrogates in a name or description are replaced by U+FFFD (the replacement character) when
the spec is made, so the spec can always be shown and saved as UTF-8; tabs and line breaks in a name
become spaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from playground.core.atomic import atomic_write_text
from playground.core.files import FileTooLargeError, NotRegularFileError, read_regular
from playground.core.layers import CATALOG, Fix, LayerSpec, Shape
from playground.core.text import clean_text, printable, short_repr

FORMAT_VERSION = 1
INPUT_SHAPE: Shape = (1, 28, 28)
NUM_CLASSES = 10  # MNIST's digits: the default
MAX_CLASSES = 1_000  # a folder data set has at most this many classes

MAX_DESIGN_BYTES = 1_000_000  # the largest preset is under 2 kB
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_LAYERS = 1_000


class DesignError(ValueError):
    """A design file or design data is malformed; the message says what and where."""


@dataclass(frozen=True)
class NetworkSpec:
    layers: tuple[LayerSpec, ...] = ()
    name: str = "untitled"
    description: str = ""
    input_shape: Shape = INPUT_SHAPE
    num_classes: int = NUM_CLASSES

    def __post_init__(self):
        # Whatever made this spec (a file, the designer, code), its text can be shown and saved.
        name = clean_text(str(self.name))[:MAX_NAME_CHARS]
        description = clean_text(str(self.description), multiline=True)[:MAX_DESCRIPTION_CHARS]
        if name != self.name:
            object.__setattr__(self, "name", name)
        if description != self.description:
            object.__setattr__(self, "description", description)

    # -- edits (each returns a new spec) -----------------------------------------------------------

    def insert(self, index: int, layer: LayerSpec) -> "NetworkSpec":
        layers = list(self.layers)
        layers.insert(index, layer)
        return replace(self, layers=tuple(layers))

    def remove(self, index: int) -> "NetworkSpec":
        layers = list(self.layers)
        del layers[index]
        return replace(self, layers=tuple(layers))

    def move(self, source: int, destination: int) -> "NetworkSpec":
        """Move the layer at ``source`` so that it ends up at index ``destination``."""
        layers = list(self.layers)
        layer = layers.pop(source)
        layers.insert(destination, layer)
        return replace(self, layers=tuple(layers))

    def replace_layer(self, index: int, layer: LayerSpec) -> "NetworkSpec":
        layers = list(self.layers)
        layers[index] = layer
        return replace(self, layers=tuple(layers))

    def set_param(self, index: int, name: str, value: Any) -> "NetworkSpec":
        """Set one parameter, checked against the catalog (``ValueError`` if out of range)."""
        layer = self.layers[index]
        value = CATALOG[layer.type].param(name).check(value)
        return self.replace_layer(index, layer.with_param(name, value))

    def renamed(self, name: str) -> "NetworkSpec":
        return replace(self, name=name)

    # -- JSON --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "layers": [
                {"type": layer.type,
                 "params": {p.name: layer.params[p.name] for p in CATALOG[layer.type].params}}
                for layer in self.layers
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "design") -> "NetworkSpec":
        return _parse(data, source)

    @classmethod
    def from_json(cls, text: str, source: str = "design") -> "NetworkSpec":
        return _parse(json_data(text, source), source)

    def save(self, path: str | Path) -> None:
        """Write the design atomically: a failed write leaves any previous file intact."""
        atomic_write_text(Path(path), self.to_json())


def load_design(path: str | Path) -> NetworkSpec:
    """Read a design file, raising :class:`DesignError` for anything wrong with it."""
    return NetworkSpec.from_json(read_design_text(path), str(path))


def read_design_text(path: str | Path) -> str:
    """A design file's text, raising :class:`DesignError` for anything wrong with the file.

    Only a regular file is read (a pipe, a device such as /dev/zero or a folder is refused before
    anything is read, so loading never hangs), and at most :data:`MAX_DESIGN_BYTES` of it."""
    path = Path(path)
    shown = printable(path)
    try:
        return read_regular(path, MAX_DESIGN_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise DesignError(f"{shown}: no such file (it may have been moved or deleted)") from None
    except FileTooLargeError as exc:
        size = f"{exc.size:,} bytes, " if exc.size is not None else ""
        raise DesignError(f"{shown}: {size}larger than {MAX_DESIGN_BYTES // 1_000_000} MB, too large "
                          f"for a design (a design file is a few kB); is this a design file?") from None
    except NotRegularFileError as exc:
        raise DesignError(f"{shown}: {exc.strerror}; choose a .json design file") from None
    except UnicodeDecodeError:
        raise DesignError(f"{shown}: not a text file (a design is a JSON file)") from None
    except OSError as exc:
        raise DesignError(f"{shown}: cannot be read ({exc.strerror or exc})") from None


def json_data(text: str, source: str = "design") -> Any:
    """The JSON value of a design file's text, with its size and nesting bounded; any fault is a
    :class:`DesignError` naming ``source``."""
    source = printable(source)
    if not isinstance(text, str):
        raise DesignError(f"{source}: a design is JSON text, not {type(text).__name__}")
    if len(text) > MAX_DESIGN_BYTES:
        raise DesignError(f"{source}: {len(text):,} characters is too large for a design "
                          f"(at most {MAX_DESIGN_BYTES:,}); is this a design file?")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DesignError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise DesignError(f"{source}: the JSON is nested too deeply to be a design") from None
    except ValueError as exc:  # e.g. an integer past Python's 4300-digit limit
        raise DesignError(f"{source}: not a valid design ({printable(str(exc))[:120]})") from None
    return data


def _parse(data: Any, source: str) -> NetworkSpec:
    source = printable(source)
    if not isinstance(data, dict):
        raise DesignError(f"{source}: a design is a JSON object, not {type(data).__name__}")
    if "format_version" not in data:
        raise DesignError(f"{source}: missing 'format_version' (is this a design file?)")
    if data.get("kind", "classifier") != "classifier":
        kind = short_repr(data["kind"])
        advice = ("; make images with a GAN's generator with `playground generate` or in the GAN tab"
                  if data["kind"] == "gan" else "")
        raise DesignError(f"{source}: a design of kind {kind} (a GAN has a generator and a discriminator), not "
                          f"a classifier; this part of the app opens classifier designs only{advice}")
    version = data["format_version"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise DesignError(
            f"{source}: unknown format_version {short_repr(version)}; this version of the app reads "
            f"format_version {FORMAT_VERSION} (a newer app may have written it)"
        )
    name = text_field(data, "name", "untitled", MAX_NAME_CHARS, source)
    description = text_field(data, "description", "", MAX_DESCRIPTION_CHARS, source)
    input_shape = data.get("input_shape", list(INPUT_SHAPE))
    if input_shape != list(INPUT_SHAPE):
        raise DesignError(f"{source}: input_shape must be {list(INPUT_SHAPE)} (MNIST images); "
                          f"got {short_repr(input_shape)}")
    num_classes = data.get("num_classes", NUM_CLASSES)
    if type(num_classes) is not int or not 2 <= num_classes <= MAX_CLASSES:
        raise DesignError(f"{source}: num_classes must be a whole number from 2 to {MAX_CLASSES} (10 for "
                          f"MNIST); got {short_repr(num_classes)}")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list):
        raise DesignError(f"{source}: 'layers' must be a list of layers")
    if len(raw_layers) > MAX_LAYERS:
        raise DesignError(f"{source}: {len(raw_layers):,} layers; a design has at most {MAX_LAYERS:,}")
    layers = tuple(parse_layer(raw, i, source) for i, raw in enumerate(raw_layers))
    return NetworkSpec(layers, name, description, num_classes=num_classes)


def text_field(data: dict, key: str, default: str, limit: int, source: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise DesignError(f"{source}: '{key}' must be text, not {short_repr(value)}")
    if len(value) > limit:
        raise DesignError(f"{source}: '{key}' is {len(value):,} characters long; at most {limit:,} "
                          f"are allowed")
    return value


def parse_layer(raw: Any, index: int, source: str) -> LayerSpec:
    where = f"{source}: layer {index + 1}"
    if not isinstance(raw, dict):
        raise DesignError(f"{where}: must be an object with 'type' and 'params', not {short_repr(raw)}")
    type_name = raw.get("type")
    if not isinstance(type_name, str) or type_name not in CATALOG:
        known = ", ".join(CATALOG)
        raise DesignError(f"{where}: unknown layer type {short_repr(type_name)}; known types: {known}")
    layer_type = CATALOG[type_name]
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise DesignError(f"{where} ({type_name}): 'params' must be an object, not {short_repr(params)}")
    names = [p.name for p in layer_type.params]
    unknown = [key for key in params if key not in names]
    if unknown:
        raise DesignError(f"{where} ({type_name}): unknown parameter {short_repr(unknown[0])}; "
                          f"{type_name} takes {', '.join(names) or 'none'}")
    checked = {}
    for p in layer_type.params:
        if p.name not in params:
            raise DesignError(f"{where} ({type_name}), field '{p.name}': missing "
                              f"(for example {json.dumps(p.default)})")
        try:
            checked[p.name] = p.check(params[p.name])
        except ValueError as exc:
            raise DesignError(f"{where} ({type_name}), field '{p.name}': {exc}") from None
    return LayerSpec(type_name, checked)


def apply_fix(spec: NetworkSpec, fix: Fix) -> NetworkSpec:
    """Return the spec with a suggested fix applied."""
    if fix.action == "insert":
        assert fix.layer is not None
        return spec.insert(fix.index, fix.layer)
    if fix.action == "remove":
        return spec.remove(fix.index)
    if fix.action == "set":
        assert fix.param is not None
        return spec.set_param(fix.index, fix.param, fix.value)
    raise ValueError(f"unknown fix action {fix.action!r}")
