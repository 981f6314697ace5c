"""Turn a valid :class:`NetworkSpec` into a ``torch.nn.Module``."""

from __future__ import annotations

from playground.core.layers import CATALOG
from playground.core.shapes import infer_shapes
from playground.core.spec import DesignError, NetworkSpec


def build_model(spec: NetworkSpec):
    """An ``nn.Sequential`` of the spec's layers; raises :class:`DesignError` if the design has a
    problem (shape inference says which). Its parameter count equals the inferred one."""
    from torch import nn

    report = infer_shapes(spec)
    if not report.valid:
        raise DesignError("the design cannot be built: " + "; ".join(p.message for p in report.problems))
    modules = [CATALOG[layer.type].build(layer.params, row.in_shape)
               for layer, row in zip(spec.layers, report.rows)]
    return nn.Sequential(*modules)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
