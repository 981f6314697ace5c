"""Weights files: safetensors written atomically, and read from strangers only after their header
was checked against the file and against the design.

A safetensors file starts with an 8-byte header length and a JSON header naming each tensor's dtype,
shape and place in the file. :func:`safetensors_header` reads and checks that header without
reading any tensor: its size (at most :data:`SAFETENSORS_HEADER_LIMIT`), each dtype (a known name),
each shape (at most :data:`MAX_DIMENSIONS` dimensions, each below :data:`DIMENSION_LIMIT`, checked
before any product) and each tensor's bytes within the file. :func:`expected_weights` gives the
names, dtypes and shapes a design needs from a model built on PyTorch's ``meta`` device (nothing is
allocated), and :func:`check_fit` compares the two, so a file that does not fit its design is refused
before a weight is read. Weights are checked to be finite once, when they are read.

This module imports neither ``runs`` nor ``export``: both import it.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from playground.core.atomic import atomic_path
from playground.core.files import open_regular
from playground.core.shapes import MAX_PARAMETER_BYTES
from playground.core.spec import NetworkSpec

SAFETENSORS_HEADER_LIMIT = 16_000_000  # bytes; a 1,000-layer model's header is well under 1 MB
MAX_DIMENSIONS = 8  # per tensor; the app's layers use at most 4
DIMENSION_LIMIT = 2**48  # each dimension is below this
STATE_DICT_FILE_LIMIT = MAX_PARAMETER_BYTES + 1_000_000  # a .pt/.pth state dict: the parameter budget + 1 MB

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
                "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E5M2": 1, "F8_E4M3": 1}
_DTYPE_NAMES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                "I32": "int32", "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16",
                "U8": "uint8", "BOOL": "bool", "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3fn"}
OPENS = ("the app opens .pgmodel.safetensors model files or run folders (make one from a run folder with "
         "`playground export RUN_DIR --format model`, or File > Export Model)")

Layout = dict[str, tuple[str, tuple[int, ...]]]  # tensor name -> (dtype name, shape)


class WeightsError(ValueError):
    """A weights file or state cannot be used; the message names the source and says why."""


def dtype_name(dtype: Any) -> str:
    """A torch dtype's name as the messages show it: ``float32``, ``int64``."""
    return str(dtype).removeprefix("torch.")


def layout(state: dict[str, Any]) -> Layout:
    """The names, dtypes and shapes of a state dict's tensors (no value is read)."""
    return {k: (dtype_name(v.dtype), tuple(v.shape)) for k, v in state.items()}


def expected_weights(spec: NetworkSpec) -> Layout:
    """The weights a design needs, from a model built on the ``meta`` device: nothing is allocated,
    however large the design. ``DesignError`` if the design cannot be built."""
    import torch

    from playground.core.build import build_model

    with torch.device("meta"):
        model = build_model(spec)
    return layout(model.state_dict())


def _values(found: Layout) -> int:
    return sum(math.prod(shape) for _, shape in found.values())


def check_fit(source: Path | str, found: Layout, needed: Layout) -> None:
    """Each weight's name, dtype and shape as the design needs them; ``WeightsError`` saying which
    does not fit. ``found`` comes from a header or a loaded state: no value is read."""
    missing = sorted(set(needed) - set(found))
    extra = sorted(set(found) - set(needed))
    if missing or extra:
        held, total = _values(found), _values(needed)
        counts = (f"the file holds {held:,} values but the design needs {total:,}; " if held != total else "")
        raise WeightsError(f"{source}: the weights do not fit this design ({counts}"
                           f"missing {missing[:3]}, unexpected {extra[:3]})")
    for key, (dtype, shape) in found.items():
        if shape != needed[key][1]:
            raise WeightsError(f"{source}: weight {key!r} has shape {shape} but the design needs {needed[key][1]}")
        if dtype != needed[key][0]:  # load_state_dict would convert silently
            raise WeightsError(f"{source}: weight {key!r} is {dtype}; the model needs {needed[key][0]}")


def check_finite(source: Path | str, state: dict[str, Any]) -> None:
    """``WeightsError`` if a floating-point weight holds NaN or infinite values."""
    import torch

    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"{source}: weight {key!r} holds NaN or infinite values; these weights cannot be used")


# -- reading a safetensors file's header without trusting it ----------------------------------------


def foreign_kind(path: Path, head: bytes, size: int) -> str | None:
    """What a file that is not safetensors is, from its first bytes (and a zip's directory, bounded)."""
    if head.startswith(b"PK\x03\x04"):
        with open_regular(path) as f:
            f.seek(max(0, size - 65_557))  # the end-of-directory record and the longest zip comment
            tail = f.read()
            at = tail.rfind(b"PK\x05\x06")
            names = b""
            if at >= 0 and at + 20 <= len(tail):
                cd_size, cd_offset = struct.unpack_from("<II", tail, at + 12)
                if cd_size <= 16_000_000 and cd_offset + cd_size <= size:
                    f.seek(cd_offset)
                    names = f.read(cd_size)
        if b"/code/__torch__" in names or b"/constants.pkl" in names:
            return "a TorchScript file (torch.jit.save)"
        if b"/data.pkl" in names:
            return "a PyTorch checkpoint (torch.save), which holds pickled data and is never unpickled here"
        return "a zip archive"
    if head[:1] == b"\x80":
        return "a pickle file (for example an old torch.save checkpoint), which is never unpickled here"
    if path.suffix.lower() == ".onnx" and head[:1] == b"\x08":
        return "an ONNX file"
    return None


def _entry(name: str, entry: Any, data_size: int) -> tuple[str, tuple[int, ...]]:
    """One tensor's (dtype name, shape) from its header entry, checked without any large arithmetic."""
    if not isinstance(entry, dict):
        raise ValueError(f"damaged safetensors file: the entry of tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _DTYPE_BYTES:
        raise ValueError(f"damaged safetensors file: tensor {name!r} has an unknown dtype "
                         f"(known: {', '.join(_DTYPE_BYTES)})")
    if not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS:
        raise ValueError(f"damaged safetensors file: tensor {name!r} has a shape that is not a list of at most "
                         f"{MAX_DIMENSIONS} dimensions")
    if not all(type(n) is int and 0 <= n < DIMENSION_LIMIT for n in shape):
        raise ValueError(f"damaged safetensors file: tensor {name!r} has a dimension that is not a whole number "
                         f"from 0 to 2**48")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int and 0 <= n < 2**64
                                                                     for n in offsets):
        raise ValueError(f"damaged safetensors file: tensor {name!r} has data offsets that are not two whole "
                         f"numbers from 0 to 2**64")
    needed = math.prod(shape) * _DTYPE_BYTES[dtype]  # at most 8 factors below 2**48: cheap
    begin, end = offsets
    if end > data_size or begin > end or end - begin != needed:
        raise ValueError(f"truncated or damaged safetensors file: tensor {name!r} "
                         f"({_DTYPE_NAMES[dtype]} {tuple(shape)}) needs {needed:,} bytes at {begin:,}, but "
                         f"the file holds {data_size:,} bytes of data")
    return _DTYPE_NAMES[dtype], tuple(shape)


def safetensors_header(path: Path) -> tuple[Layout, dict[str, str]]:
    """Tensors (name -> dtype, shape) and metadata of a safetensors file, checked against the file's size
    before anything is allocated. ``ValueError`` says what is wrong (without the path)."""
    with open_regular(path) as f:  # a pipe or a device is refused, never waited on
        size = os.fstat(f.fileno()).st_size
        head = f.read(9)
        length = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else None
        # Shaped like safetensors (a header length that fits, then "{"), it is one; only otherwise are the
        # first bytes a sign of another kind (a header length can start with 0x80, like a pickle).
        if length is None or length > size - 8 or head[8:9] != b"{":
            kind = foreign_kind(path, head, size)
            if kind is not None:
                raise ValueError(f"this is {kind}, not a model file; {OPENS}")
        if length is None:
            raise ValueError(f"{size} bytes: too short to be a safetensors file")
        f.seek(8)
        if length > SAFETENSORS_HEADER_LIMIT:
            raise ValueError(f"not a safetensors file, or a damaged one: its header claims {length:,} bytes "
                             f"(the limit is {SAFETENSORS_HEADER_LIMIT:,})")
        if length > size - 8:
            raise ValueError(f"truncated or not a safetensors file: its header claims {length:,} bytes but the "
                             f"file holds only {size:,}")
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("not a safetensors file, or a damaged one: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file, or a damaged one: its header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("damaged safetensors file: its metadata is not a mapping of text to text")
    data_size = size - 8 - length
    return {name: _entry(name, entry, data_size) for name, entry in header.items()}, meta


# -- writing and reading weights ---------------------------------------------------------------------


def save_weights(path: Path, state_dict: dict[str, Any], metadata: dict[str, str] | None = None) -> None:
    """Serialized in memory, then written atomically: a failed write (a full disk) is an ``OSError`` and
    leaves any earlier file as it was."""
    from safetensors.torch import save

    data = save({k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}, metadata=metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_weights(path: str | Path, needed: Layout | None = None) -> dict[str, Any]:
    """A state dict from a safetensors file (never unpickles). The header is checked first (what the
    file is, its sizes, and, given ``needed``, that the weights fit the design); only then are the
    weights read, and they must be finite. ``WeightsError`` says what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        found, _ = safetensors_header(path)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such weights file") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors weights file: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    if needed is not None:
        check_fit(path, found, needed)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors weights file: {exc}") from None
    check_finite(path, state)
    return state
