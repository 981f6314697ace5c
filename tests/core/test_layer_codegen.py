"""Each layer type of the catalog writes itself as PyTorch code that builds the module ``build()`` builds."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from playground.core import NetworkSpec
from playground.core.build import build_model
from playground.core.export import ExportError, ExportWriteError, export, script_source
from playground.core.layers import CATALOG, LayerInfo, LayerProblem, LayerSpec, LayerType, TorchCall, make_layer
from playground.core.modules import RecurrentLastStep, class_source

INPUTS = [(1, 28, 28), (784,)]  # an MNIST image, and the same image flattened


def valid_inputs(layer_type: LayerType, params) -> list[tuple[int, ...]]:
    shapes = []
    for shape in INPUTS:
        try:
            layer_type.infer(params, shape)
        except LayerProblem:
            continue
        shapes.append(shape)
    return shapes


def generated_module(layer_type: LayerType, params, shape) -> nn.Module:
    """The module that the layer's generated code builds: only our own generated code is run, with
    torch, nn and the source of any of the app's own classes it uses (as an exported script has them)."""
    namespace = {"torch": torch, "nn": nn}
    call = layer_type.torch_call(params, shape)
    if call.own:
        exec(compile(class_source(call.name), "<class source>", "exec"), namespace)  # noqa: S102
    exec(compile(f"module = {layer_type.torch_call(params, shape).code()}", "<layer code>", "exec"), namespace)  # noqa: S102
    return namespace["module"]


def assert_same_module(layer_type: LayerType, params, shape, images: torch.Tensor) -> None:
    torch.manual_seed(0)
    built = layer_type.build(params, shape)
    with torch.no_grad():  # statistics away from their defaults, so that they matter in eval mode
        for name, buffer in built.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buffer.uniform_(0.5, 1.5)
    generated = generated_module(layer_type, params, shape)
    state = built.state_dict()
    assert {k: v.shape for k, v in generated.state_dict().items()} == {k: v.shape for k, v in state.items()}
    generated.load_state_dict(state)
    x = images if len(shape) == 3 else images.flatten(1)
    with torch.no_grad():
        expected, got = built.eval()(x), generated.eval()(x)
    assert got.shape == expected.shape
    assert torch.equal(got, expected)


@pytest.fixture(scope="module")
def images(mnist):
    return mnist.test.images[:64].unsqueeze(1).float() / 255


@pytest.mark.parametrize("name", list(CATALOG))
def test_generated_code_builds_the_same_module_with_defaults(name, images):
    layer_type = CATALOG[name]
    params = make_layer(name).params
    shapes = valid_inputs(layer_type, params)
    assert shapes, f"{name} takes neither an image nor a flat vector with its defaults"
    for shape in shapes:
        assert_same_module(layer_type, params, shape, images)


@pytest.mark.parametrize("name, params", [
    ("Conv2d", {"out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 2, "bias": False}),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("AvgPool2d", {"kernel_size": 4, "stride": 0, "padding": 2}),
    ("LSTM", {"hidden_size": 12, "num_layers": 2, "bidirectional": True}),
    ("GRU", {"hidden_size": 9, "bidirectional": True}),
    ("Linear", {"out_features": 33, "bias": False}),
    ("Dropout", {"p": 0.25}),
    ("LeakyReLU", {"negative_slope": 0.3}),
])
def test_generated_code_builds_the_same_module_with_other_settings(name, params, images):
    layer = make_layer(name, **params)
    for shape in valid_inputs(CATALOG[name], layer.params):
        assert_same_module(CATALOG[name], layer.params, shape, images)


def test_no_layer_type_lacks_code_generation():
    for name, layer_type in CATALOG.items():
        assert type(layer_type).torch_call is not LayerType.torch_call, f"{name} cannot be written as code"
        params = make_layer(name).params
        for shape in valid_inputs(layer_type, params):
            code = layer_type.torch_call(params, shape).code()
            call = layer_type.torch_call(params, shape)
            assert code.startswith(call.name if call.own else f"nn.{call.name}("), code


def test_the_script_holds_the_one_definition_of_the_recurrent_module():
    spec = NetworkSpec((make_layer("GRU", hidden_size=8), make_layer("Linear", out_features=10)))
    source = script_source(spec, "w.safetensors")
    assert inspect.getsource(RecurrentLastStep) in source
    assert source.count("class RecurrentLastStep(") == 1
    without = script_source(NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=10))), "w")
    assert "RecurrentLastStep" not in without


@pytest.mark.parametrize("value", ["0.5)\nimport os  #", float("nan"), [0.5], b"0.5"])
def test_a_parameter_that_is_not_a_number_is_never_written_as_code(value):
    spec = NetworkSpec((make_layer("Flatten"), LayerSpec("Dropout", {"p": value}),
                        make_layer("Linear", out_features=10)))
    with pytest.raises(ExportError, match="layer Dropout: .* is not a number"):
        script_source(spec, "w.safetensors")
    with pytest.raises(ValueError, match="is not a number"):
        TorchCall("Linear", (784, value)).code()


def test_without_the_source_of_its_classes_a_recurrent_script_is_refused(monkeypatch, tmp_path):
    import playground.core.modules as modules

    def no_source(obj):
        raise OSError("could not get source code")

    monkeypatch.setattr(modules.inspect, "getsource", no_source)
    spec = NetworkSpec((make_layer("LSTM", hidden_size=8), make_layer("Linear", out_features=10)))
    torch.manual_seed(0)
    with pytest.raises(ExportError, match="lacks the source of its layers") as err:
        export("script", tmp_path / "net.py", spec, build_model(spec).state_dict())
    assert not isinstance(err.value, ExportWriteError)
    assert list(tmp_path.iterdir()) == []


class Softplus(LayerType):
    """A layer type defined in one place, as a new one would be in layers.py."""

    name, group, glyph = "Softplus", "activation", "~"
    summary = "Softplus: a smooth ReLU."

    def infer(self, p, in_shape):
        return LayerInfo(in_shape, 0, 0)

    def torch_call(self, p, in_shape):
        return TorchCall("Softplus", (), {"beta": 2.0})


def test_a_new_layer_type_is_one_class_and_exports(monkeypatch, tmp_path, mnist):
    monkeypatch.setitem(CATALOG, "Softplus", Softplus())
    spec = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=32), make_layer("Softplus"),
                        make_layer("Linear", out_features=10)))
    torch.manual_seed(3)
    state = build_model(spec).state_dict()
    check = export("script", tmp_path / "net.py", spec, state, check_images=mnist.test.images[:300])
    assert "nn.Softplus(beta=2.0)" in (tmp_path / "net.py").read_text()
    assert check.passed and check.images == 300
