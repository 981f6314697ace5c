"""The layer types a generator needs (ConvTranspose2d, Unflatten): their problems and fixes, their
generated code with settings other than the defaults, and a design using them exported and checked."""

from __future__ import annotations

import pytest
import torch
from test_layer_codegen import assert_same_module

from playground.core import NetworkSpec, apply_fix, infer_shapes
from playground.core import make_layer as L
from playground.core.build import build_model
from playground.core.export import export
from playground.core.layers import CATALOG, LayerProblem, TorchCall


def spec(*layers) -> NetworkSpec:
    return NetworkSpec(tuple(layers))


@pytest.fixture(scope="module")
def images(mnist):
    return mnist.test.images[:64].unsqueeze(1).float() / 255


def test_the_new_types_are_in_their_palette_groups():
    assert CATALOG["ConvTranspose2d"].group == "convolution"
    assert CATALOG["Unflatten"].group == "core"
    assert CATALOG["Tanh"].group == CATALOG["Sigmoid"].group == "activation"  # a generator's last layer


@pytest.mark.parametrize("params, in_shape, out_shape", [
    ({"out_channels": 64, "kernel_size": 4, "stride": 2, "padding": 1}, (128, 7, 7), (64, 14, 14)),
    ({"out_channels": 1, "kernel_size": 4, "stride": 2, "padding": 1}, (64, 14, 14), (1, 28, 28)),
    ({"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, (4, 14, 14),
     (8, 28, 28)),
    ({"out_channels": 2, "kernel_size": 7, "stride": 1, "padding": 0}, (3, 1, 1), (2, 7, 7)),
])
def test_conv_transpose_output_size(params, in_shape, out_shape):
    """(in - 1) x stride - 2 x padding + kernel + output padding, as torch computes it."""
    layer = L("ConvTranspose2d", **params)
    info = CATALOG["ConvTranspose2d"].infer(layer.params, in_shape)
    assert info.out_shape == out_shape
    module = CATALOG["ConvTranspose2d"].build(layer.params, in_shape)
    assert tuple(module(torch.zeros(2, *in_shape)).shape) == (2, *out_shape)


def test_conv_transpose_after_a_flat_vector_suggests_unflatten():
    design = spec(L("Flatten"), L("Linear", out_features=6272),
                  L("ConvTranspose2d", out_channels=1), L("Flatten"), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert "Layer 3 (ConvTranspose2d)" in problem.message and "flat vector of 6272" in problem.message
    assert problem.fix.label == "Insert Unflatten 128x7x7 before layer 3"
    fixed = apply_fix(design, problem.fix)
    assert infer_shapes(fixed).valid
    assert infer_shapes(fixed).rows[3].out_shape == (1, 14, 14)


def test_conv_transpose_output_padding_must_be_below_the_stride():
    design = spec(L("ConvTranspose2d", out_channels=2, stride=2, output_padding=2), L("Flatten"),
                  L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert "output padding 2 must be less than its stride 2" in problem.message
    assert problem.fix.label == "Set output padding of layer 1 to 1"
    assert infer_shapes(apply_fix(design, problem.fix)).valid


def test_conv_transpose_that_crops_everything_is_a_problem():
    layer = L("ConvTranspose2d", kernel_size=1, stride=1, padding=3)
    with pytest.raises(LayerProblem, match="crops its 1x1 output to nothing") as err:
        CATALOG["ConvTranspose2d"].infer(layer.params, (4, 1, 1))
    assert (err.value.fix.param, err.value.fix.value) == ("padding", 0)


def test_unflatten_sizes_that_do_not_multiply_to_the_input():
    design = spec(L("Flatten"), L("Linear", out_features=196), L("Unflatten", channels=1, height=7, width=7),
                  L("Flatten"), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert "Unflatten makes 1x7x7 = 49 values but gets 196" in problem.message
    assert problem.fix.label == "Set channels of layer 3 to 4"
    fixed = apply_fix(design, problem.fix)
    assert infer_shapes(fixed).valid and infer_shapes(fixed).rows[2].out_shape == (4, 7, 7)

    not_divisible = spec(L("Flatten"), L("Linear", out_features=100), L("Unflatten", height=7, width=7))
    (problem,) = infer_shapes(not_divisible).problems
    assert "100 is not a whole number of 7x7 images" in problem.message and problem.fix is None


def test_unflatten_of_an_image_suggests_flatten():
    design = spec(L("Unflatten"), L("Flatten"), L("Linear", out_features=10))
    (problem,) = infer_shapes(design).problems
    assert "Unflatten needs a flat vector but gets 1x28x28" in problem.message
    assert problem.fix.label == "Insert Flatten before layer 1"
    assert infer_shapes(apply_fix(design, problem.fix)).valid


@pytest.mark.parametrize("name, params", [
    ("ConvTranspose2d", {"out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1,
                         "bias": False}),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 5, "stride": 1, "padding": 2}),
    ("Unflatten", {"channels": 4, "height": 14, "width": 14}),
    ("Unflatten", {"channels": 16, "height": 7, "width": 7}),
])
def test_generated_code_builds_the_same_module_with_other_settings(name, params, images):
    layer = L(name, **params)
    shape = (784,) if name == "Unflatten" else (1, 28, 28)
    assert_same_module(CATALOG[name], layer.params, shape, images)


def test_a_shape_is_written_as_a_tuple_of_numbers():
    assert TorchCall("Unflatten", (1, (128, 7, 7))).code() == "nn.Unflatten(1, (128, 7, 7))"
    assert TorchCall("Unflatten", (1, (784,))).code() == "nn.Unflatten(1, (784,))"
    with pytest.raises(ValueError, match="is not a number"):
        TorchCall("Unflatten", (1, (1, "x y", 28))).code()


def test_a_design_with_both_exports_as_a_script_that_agrees(tmp_path, mnist):
    design = spec(L("Flatten"), L("Linear", out_features=196), L("ReLU"),
                  L("Unflatten", channels=4, height=7, width=7),
                  L("ConvTranspose2d", out_channels=8, kernel_size=4, stride=2, padding=1), L("ReLU"),
                  L("Flatten"), L("Linear", out_features=10))
    assert infer_shapes(design).valid
    torch.manual_seed(0)
    state = build_model(design).state_dict()
    check = export("script", tmp_path / "net.py", design, state, check_images=mnist.test.images[:300])
    source = (tmp_path / "net.py").read_text()
    assert "nn.Unflatten(1, (4, 7, 7))" in source and "nn.ConvTranspose2d(4, 8, kernel_size=4" in source
    assert check.passed and check.images == 300
