"""Shape inference over a whole design, without torch.

For each layer: its input and output shape, parameter count and multiply-adds; the totals; and the
problems that would stop training, each tied to a layer and, where one exists, a suggested
:class:`~playground.core.layers.Fix` with an absolute layer index.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from playground.core.layers import CATALOG, Fix, LayerProblem, NeedsImage, Shape, format_shape, make_layer
from playground.core.spec import NetworkSpec


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


@dataclass(frozen=True)
class ShapeReport:
    rows: tuple[LayerRow, ...]
    problems: tuple[Problem, ...]
    output_shape: Shape | None

    @property
    def total_parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def valid(self) -> bool:
        return not self.problems

    def problem_for(self, index: int) -> Problem | None:
        return next((p for p in self.problems if p.layer == index), None)


def _fix_label(spec: NetworkSpec, fix: Fix) -> str:
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
        fix = replace(fix, label=_fix_label(spec, fix))
    layer = spec.layers[index]
    return Problem(index, f"Layer {index + 1} ({layer.type}): {exc.message}", fix)


def infer_shapes(spec: NetworkSpec) -> ShapeReport:
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
        rows.append(LayerRow(i, layer.type, in_shape, shape, info.parameters, info.macs))

    if not spec.layers:
        fix = Fix("", "insert", 0, layer=make_layer("Flatten"))
        problems.append(Problem(-1, "The design has no layers; add Flatten and Linear 10 to start",
                                replace(fix, label=_fix_label(spec, fix))))
    elif shape is not None and shape != (spec.num_classes,):
        problems.append(_output_problem(spec, shape))
    return ShapeReport(tuple(rows), tuple(problems), shape)


def _output_problem(spec: NetworkSpec, shape: Shape) -> Problem:
    last = len(spec.layers) - 1
    classes = spec.num_classes
    if spec.layers[last].type == "Linear":
        fix = Fix("", "set", last, param="out_features", value=classes)
    elif len(shape) == 1:
        fix = Fix("", "insert", last + 1, layer=make_layer("Linear", out_features=classes))
    else:
        fix = Fix("", "insert", last + 1, layer=make_layer("Flatten"))
    fix = replace(fix, label=_fix_label(spec, fix))
    return Problem(
        last,
        f"Layer {last + 1} ({spec.layers[last].type}): the network must end with {classes} class "
        f"scores but its output is {format_shape(shape)}",
        fix,
    )
