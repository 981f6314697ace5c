"""The playground's core: everything that is not a widget, and none of it imports Qt.

Importing this package (and ``layers``, ``spec``, ``shapes``, ``presets``) does not import torch
either, so a window can show and edit designs while torch loads in the background.
"""

from playground.core.layers import CATALOG, GROUPS, Fix, LayerSpec, ParamSpec, format_shape, make_layer
from playground.core.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset
from playground.core.shapes import LayerRow, Problem, ShapeReport, infer_shapes
from playground.core.spec import DesignError, NetworkSpec, apply_fix, load_design

__all__ = [
    "CATALOG", "GROUPS", "DEFAULT_PRESET", "PRESETS", "DesignError", "Fix", "LayerRow", "LayerSpec",
    "NetworkSpec", "ParamSpec", "Preset", "Problem", "ShapeReport", "apply_fix", "format_shape",
    "get_preset", "infer_shapes", "load_design", "make_layer",
]
