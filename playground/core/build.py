"""Turn a valid :class:`NetworkSpec` into a ``torch.nn.Module``."""

from __future__ import annotations

from playground.core.layers import CATALOG
from playground.core.shapes import infer_shapes
from playground.core.spec import DesignError, NetworkSpec


def build_model(spec: NetworkSpec):
    """An ``nn.Sequential`` of the spec's layers; raises :class:`DesignError` if the design has a
    problem (shape inference says which). Its parameter count equals the inferred one.

    This is the one place torch memory is allocated for a design (the classifier, training, export
    and model files all come through here), so the memory budget is enforced here: a design over it
    has a problem in its report and is refused before any layer is constructed."""
    report = infer_shapes(spec)
    if not report.valid:
        raise DesignError("the design cannot be built: " + "; ".join(p.message for p in report.problems))
    from torch import nn

    modules = [CATALOG[layer.type].build(layer.params, row.in_shape)
               for layer, row in zip(spec.layers, report.rows)]
    return nn.Sequential(*modules)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
