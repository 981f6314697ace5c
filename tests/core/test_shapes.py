"""Shape inference over designs: totals, problems found before training, and their fixes."""

from __future__ import annotations

import pytest

from playground.core import PRESETS, NetworkSpec, apply_fix, infer_shapes
from playground.core import make_layer as L


def spec(*layers) -> NetworkSpec:
    return NetworkSpec(tuple(layers))


def test_tutorial_cnn_rows():
    report = infer_shapes(PRESETS["tutorial-cnn"].spec)
    assert report.valid
    assert [r.out_shape for r in report.rows][:4] == [(20, 24, 24), (20, 24, 24), (20, 12, 12), (50, 8, 8)]
    assert report.total_parameters == 431_080
    assert report.rows[0].macs == 20 * 24 * 24 * 25


@pytest.mark.parametrize("name,params", [("tutorial-cnn", 431_080), ("lenet5", 61_706), ("mlp-300", 238_510)])
def test_published_parameter_counts(name, params):
    assert infer_shapes(PRESETS[name].spec).total_parameters == params


def test_linear_fed_an_image_suggests_flatten():
    design = spec(L("Conv2d", out_channels=20, kernel_size=5), L("MaxPool2d"), L("Linear", out_features=10))
    report = infer_shapes(design)
    (problem,) = report.problems
    assert problem.layer == 2
    assert "Layer 3 (Linear)" in problem.message and "20x12x12" in problem.message
    assert problem.fix.label == "Insert Flatten before layer 3"
    fixed = apply_fix(design, problem.fix)
    assert [l.type for l in fixed.layers] == ["Conv2d", "MaxPool2d", "Flatten", "Linear"]
    assert infer_shapes(fixed).valid
    # Layers after a problem have no known shape.
    assert report.rows[2].out_shape is None and report.output_shape is None


def test_kernel_larger_than_input():
    design = spec(L("MaxPool2d", kernel_size=4), L("MaxPool2d", kernel_size=4),
                  L("Conv2d", out_channels=4, kernel_size=5), L("Flatten"), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert problem.layer == 2
    assert "kernel 5x5 is larger than its input 1x1" in problem.message
    assert problem.fix.label == "Set padding of layer 3 to 2"
    assert infer_shapes(apply_fix(design, problem.fix)).valid


def test_pooling_that_shrinks_to_nothing():
    design = spec(L("Conv2d", out_channels=4, kernel_size=5, stride=4), L("MaxPool2d", kernel_size=8),
                  L("Flatten"), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert "window 8x8 shrinks its 6x6 input to nothing" in problem.message
    assert problem.fix.label == "Set window of layer 2 to 6"
    assert infer_shapes(apply_fix(design, problem.fix)).valid


def test_recurrent_fed_a_flat_vector_suggests_removing_flatten():
    design = spec(L("Flatten"), L("GRU", hidden_size=32), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert problem.layer == 1
    assert "GRU reads an image row by row" in problem.message and "784" in problem.message
    assert problem.fix.label == "Remove layer 1 (Flatten)"
    assert infer_shapes(apply_fix(design, problem.fix)).valid


def test_last_layer_must_give_ten_classes():
    design = spec(L("Flatten"), L("Linear", out_features=100))
    (problem,) = infer_shapes(design).problems
    assert "must end with 10 class scores but its output is 100" in problem.message
    assert problem.fix.label == "Set outputs of layer 2 to 10"
    assert infer_shapes(apply_fix(design, problem.fix)).valid

    design = spec(L("Flatten"), L("Linear", out_features=100), L("ReLU"))
    (problem,) = infer_shapes(design).problems
    assert problem.fix.label == "Append Linear 10"
    assert infer_shapes(apply_fix(design, problem.fix)).valid

    design = spec(L("Conv2d", out_channels=4))
    (problem,) = infer_shapes(design).problems
    assert "4x26x26" in problem.message and problem.fix.label == "Append Flatten"


def test_empty_design_can_be_repaired_by_fixes():
    design = spec()
    for _ in range(3):
        report = infer_shapes(design)
        if report.valid:
            break
        design = apply_fix(design, report.problems[0].fix)
    assert infer_shapes(design).valid
    assert [l.type for l in design.layers] == ["Flatten", "Linear"]


def test_core_import_does_not_need_torch():
    import subprocess
    import sys

    code = ("import sys, playground.core as c; "
            "r = c.infer_shapes(c.PRESETS['lenet5'].spec); assert r.total_parameters == 61706; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
