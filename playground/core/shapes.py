"""Shape inference over a whole design, without torch.

For each layer: its input and output shape, parameter count and multiply-adds; the totals; the
memory the design needs; and the problems that would stop training, each tied to a layer and, where
one exists, a suggested :class:`~playground.core.layers.Fix` with an absolute layer index.

The memory budget. Every layer's parameters are range-checked, but a design of in-range layers can
still need hundreds of gigabytes, so the whole design is budgeted too, before torch allocates
anything (:func:`~playground.core.build.build_model` refuses a design with a problem):

- parameter memory: parameters x 4 bytes (float32);
- activation memory for one image: the input plus every layer's output, x 4 bytes (a recurrent
  layer counts the states it keeps for every row, layer and gate);
- training memory at batch size B (:func:`training_bytes`): 4 copies of the parameters (weights,
  gradients and the two moment buffers of Adam, the most any optimizer here keeps) plus the
  activations x B x 2 (kept for the backward pass, and their gradients). This errs high: it is meant
  to refuse what cannot fit, not to predict usage to the byte.

A design whose parameters exceed :data:`MAX_PARAMETER_BYTES` (2 GB), or that could not train even
one image at a time in this machine's physical memory, has a budget problem like a shape problem.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from playground.core.layers import (CATALOG, Fix, LayerProblem, LayerSpec, NeedsImage, Shape, format_shape,
                                    make_layer)
from playground.core.spec import NetworkSpec
from playground.core.text import format_bytes

BYTES_PER_VALUE = 4  # float32
MAX_PARAMETER_BYTES = 2_000_000_000  # 500 million parameters; the presets need under 1 MB
FALLBACK_MACHINE_BYTES = 16_000_000_000  # where the physical memory cannot be read


def machine_memory_bytes() -> int:
    """This machine's physical memory (POSIX ``sysconf``), or 16 GB where that cannot be read."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MACHINE_BYTES
    return pages * page_size if pages > 0 and page_size > 0 else FALLBACK_MACHINE_BYTES


@dataclass(frozen=True)
class Problem:
    """Something that stops a design from training. ``layer`` is 0-based; -1 means the whole design."""

    layer: int
    message: str
    fix: Fix | None = None


@dataclass(frozen=True)
class LayerRow:
    index: int
    type: str
    in_shape: Shape | None
    out_shape: Shape | None  # None once an earlier layer has a problem
    parameters: int
    macs: int
    problem: Problem | None = None
    activations: int = 0  # values kept for one image's backward pass (its output, states)


@dataclass(frozen=True)
class ShapeReport:
    rows: tuple[LayerRow, ...]
    problems: tuple[Problem, ...]
    output_shape: Shape | None
    input_values: int = 784  # values in one input image

    @property
    def total_parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def parameter_bytes(self) -> int:
        """Memory of the weights as float32."""
        return self.total_parameters * BYTES_PER_VALUE

    @property
    def activation_bytes(self) -> int:
        """Memory of one image's activations: the input and every layer's output, as float32."""
        return (self.input_values + sum(r.activations for r in self.rows)) * BYTES_PER_VALUE

    @property
    def valid(self) -> bool:
        return not self.problems


def fix_label(spec: NetworkSpec, fix: Fix) -> str:
    n = fix.index + 1
    if fix.action == "insert":
        if fix.index >= len(spec.layers):
            return f"Append {fix.layer.describe()}"
        return f"Insert {fix.layer.describe()} before layer {n}"
    if fix.action == "remove":
        return f"Remove layer {n} ({spec.layers[fix.index].type})"
    layer_type = CATALOG[spec.layers[fix.index].type]
    return f"Set {layer_type.param(fix.param).title.lower()} of layer {n} to {fix.value}"


def _resolve(spec: NetworkSpec, index: int, exc: LayerProblem) -> Problem:
    fix = exc.fix
    if fix is not None:
        fix = replace(fix, index=index + fix.index)
    elif isinstance(exc, NeedsImage) and index > 0 and spec.layers[index - 1].type == "Flatten":
        fix = Fix("", "remove", index - 1)
    if fix is not None:
        fix = replace(fix, label=fix_label(spec, fix))
    layer = spec.layers[index]
    return Problem(index, f"Layer {index + 1} ({layer.type}): {exc.message}", fix)


def training_bytes(report: ShapeReport, batch_size: int) -> int:
    """Estimated memory to train at ``batch_size``: 4 copies of the parameters (weights, gradients,
    Adam's two moments) + activations x batch x 2 (forward values kept, and their gradients)."""
    return 4 * report.parameter_bytes + 2 * report.activation_bytes * max(1, int(batch_size))


def memory_line(report: ShapeReport, batch_size: int | None = None) -> str:
    """``"parameters 1.7 MB · training at batch size 128 about 25.1 MB"`` for a summary or a window."""
    text = f"parameters {format_bytes(report.parameter_bytes)}"
    if batch_size is not None:
        text += f" · training at batch size {batch_size} about {format_bytes(training_bytes(report, batch_size))}"
    return text


def _activations(layer: LayerSpec, in_shape: Shape, out_shape: Shape) -> int:
    """Values one image leaves in memory for the backward pass through this layer."""
    layer_type = CATALOG[layer.type]
    gates = getattr(layer_type, "gates", 0)
    if gates:  # recurrent: every row, stacked layer and direction keeps its gates, cell and hidden state
        steps = in_shape[1] if len(in_shape) == 3 else 1
        dirs = 2 if layer.params["bidirectional"] else 1
        return steps * layer.params["num_layers"] * dirs * layer.params["hidden_size"] * (gates + 2)
    return math.prod(out_shape)


def infer_shapes(spec: NetworkSpec, *, check_output: bool = True) -> ShapeReport:
    """Shapes from ``spec.input_shape`` through every layer. ``check_output=False`` leaves out the
    classifier's rules on the whole stack (some layers, ending at ``num_classes`` scores), for a stack
    whose owner has rules of its own (a GAN's generator and discriminator)."""
    rows: list[LayerRow] = []
    problems: list[Problem] = []
    shape: Shape | None = spec.input_shape
    for i, layer in enumerate(spec.layers):
        in_shape = shape
        if shape is None:
            rows.append(LayerRow(i, layer.type, None, None, 0, 0))
            continue
        try:
            info = CATALOG[layer.type].infer(layer.params, shape)
        except LayerProblem as exc:
            problem = _resolve(spec, i, exc)
            problems.append(problem)
            rows.append(LayerRow(i, layer.type, in_shape, None, 0, 0, problem))
            shape = None
            continue
        shape = info.out_shape
        rows.append(LayerRow(i, layer.type, in_shape, shape, info.parameters, info.macs,
                             activations=_activations(layer, in_shape, shape)))

    if check_output and not spec.layers:
        fix = Fix("", "insert", 0, layer=make_layer("Flatten"))
        problems.append(Problem(-1, "The design has no layers; add Flatten and Linear 10 to start",
                                replace(fix, label=fix_label(spec, fix))))
    elif check_output and shape is not None and shape != (spec.num_classes,):
        problems.append(_output_problem(spec, shape))
    report = ShapeReport(tuple(rows), tuple(problems), shape, math.prod(spec.input_shape))
    budget = _budget_problem(spec, report)
    if budget is not None:
        if budget.layer >= 0 and rows[budget.layer].problem is None:
            rows[budget.layer] = replace(rows[budget.layer], problem=budget)
        report = replace(report, rows=tuple(rows), problems=(*problems, budget))
    return report


def _budget_problem(spec: NetworkSpec, report: ShapeReport) -> Problem | None:
    """A problem when the whole design is too large: its weights over the 2 GB limit, or its training
    over this machine's memory even at batch size 1. It is tied to the layer that costs the most."""
    if not report.rows:
        return None
    if report.parameter_bytes > MAX_PARAMETER_BYTES:
        big = max(report.rows, key=lambda r: r.parameters)
        return Problem(
            big.index,
            f"The design has {report.total_parameters:,} parameters, {format_bytes(report.parameter_bytes)} "
            f"as float32, over the limit of {format_bytes(MAX_PARAMETER_BYTES)}; layer {big.index + 1} "
            f"({spec.layers[big.index].describe()}) alone has {big.parameters:,}: give it fewer "
            f"{_size_word(spec.layers[big.index])}",
        )
    need, machine = training_bytes(report, 1), machine_memory_bytes()
    if need > machine:
        big = max(report.rows, key=lambda r: 4 * r.parameters + 2 * r.activations)
        return Problem(
            big.index,
            f"The design needs about {format_bytes(need)} to train even one image at a time; this "
            f"machine has {format_bytes(machine)}; layer {big.index + 1} "
            f"({spec.layers[big.index].describe()}) costs the most: give it fewer "
            f"{_size_word(spec.layers[big.index])}",
        )
    return None


def _size_word(layer: LayerSpec) -> str:
    return {"Linear": "outputs", "Conv2d": "filters"}.get(layer.type, "units" if "hidden_size" in layer.params
                                                          else "channels")


def _output_problem(spec: NetworkSpec, shape: Shape) -> Problem:
    last = len(spec.layers) - 1
    classes = spec.num_classes
    if spec.layers[last].type == "Linear":
        fix = Fix("", "set", last, param="out_features", value=classes)
    elif len(shape) == 1:
        fix = Fix("", "insert", last + 1, layer=make_layer("Linear", out_features=classes))
    else:
        fix = Fix("", "insert", last + 1, layer=make_layer("Flatten"))
    fix = replace(fix, label=fix_label(spec, fix))
    return Problem(
        last,
        f"Layer {last + 1} ({spec.layers[last].type}): the network must end with {classes} class "
        f"scores but its output is {format_shape(shape)}",
        fix,
    )


def adapt_to_classes(spec: NetworkSpec, num_classes: int) -> tuple[NetworkSpec, str | None]:
    """``spec`` made for ``num_classes`` classes: its ``num_classes`` set and, when it ends with a
    Linear layer of another width, that layer's ``out_features`` set to match; with a sentence
    saying what changed (None when nothing did). A design that does not end with a Linear layer
    only gets the new class count: its shape report then shows the problem and its fix."""
    message = None
    if spec.num_classes != num_classes:
        spec = replace(spec, num_classes=num_classes)
    if spec.layers and spec.layers[-1].type == "Linear":
        last = len(spec.layers) - 1
        width = spec.layers[last].params["out_features"]
        if width != num_classes:
            spec = spec.set_param(last, "out_features", num_classes)
            message = (f"the data set has {num_classes} classes: the last layer (layer {last + 1}, Linear) "
                       f"now has {num_classes} outputs instead of {width}")
    return spec, message
