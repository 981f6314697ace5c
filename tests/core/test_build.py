"""Building torch modules from designs."""

from __future__ import annotations

import pytest
import torch

from playground.core import PRESETS, DesignError, NetworkSpec, infer_shapes
from playground.core import make_layer as L
from playground.core.build import build_model, count_parameters


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_build_and_classify_a_batch(name, mnist):
    spec = PRESETS[name].spec
    model = build_model(spec).eval()
    assert count_parameters(model) == infer_shapes(spec).total_parameters
    x = mnist.test.images[:32].unsqueeze(1).float() / 255
    with torch.no_grad():
        out = model(x)
    assert out.shape == (32, 10)
    assert torch.isfinite(out).all()


def test_invalid_design_is_refused_with_the_problem():
    spec = NetworkSpec((L("Conv2d"), L("Linear", out_features=10)))
    with pytest.raises(DesignError, match="Layer 2 \\(Linear\\).*Insert Flatten|needs a flat vector"):
        build_model(spec)
