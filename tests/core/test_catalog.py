"""Each layer type's inferred output shape, parameters and multiply-adds, checked against torch."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from playground.core.layers import CATALOG, GROUPS, LayerProblem, make_layer

# (type, params, input shape): several shapes and settings per type.
CASES = [
    ("Linear", {"out_features": 10}, (784,)),
    ("Linear", {"out_features": 300, "bias": False}, (50,)),
    ("Flatten", {}, (20, 12, 12)),
    ("Flatten", {}, (7,)),
    ("Conv2d", {"out_channels": 20, "kernel_size": 5}, (1, 28, 28)),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}, (4, 13, 13)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2, "bias": False}, (1, 28, 28)),
    ("MaxPool2d", {"kernel_size": 2}, (20, 24, 24)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (4, 13, 13)),
    ("AvgPool2d", {"kernel_size": 2}, (6, 28, 28)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 1}, (2, 7, 7)),
    ("RNN", {"hidden_size": 32}, (1, 28, 28)),
    ("RNN", {"hidden_size": 16, "num_layers": 2, "bidirectional": True}, (1, 28, 28)),
    ("LSTM", {"hidden_size": 128}, (1, 28, 28)),
    ("LSTM", {"hidden_size": 20, "num_layers": 2}, (3, 14, 14)),
    ("GRU", {"hidden_size": 64, "bidirectional": True}, (1, 28, 28)),
    ("GRU", {"hidden_size": 8, "num_layers": 3}, (1, 28, 28)),
    ("BatchNorm", {}, (16, 14, 14)),
    ("BatchNorm", {}, (300,)),
    ("Dropout", {"p": 0.25}, (300,)),
    ("ReLU", {}, (20, 24, 24)),
    ("LeakyReLU", {"negative_slope": 0.1}, (300,)),
    ("Sigmoid", {}, (10,)),
    ("Tanh", {}, (6, 28, 28)),
    ("GELU", {}, (120,)),
    ("Unflatten", {}, (784,)),
    ("Unflatten", {"channels": 128, "height": 7, "width": 7}, (6272,)),
    ("ConvTranspose2d", {"out_channels": 64, "kernel_size": 4, "stride": 2, "padding": 1}, (128, 7, 7)),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1,
                         "bias": False}, (5, 7, 9)),
]


def test_every_type_is_covered_and_grouped():
    assert {c[0] for c in CASES} == set(CATALOG)
    for layer_type in CATALOG.values():
        assert layer_type.group in GROUPS
        assert layer_type.summary and layer_type.glyph
        for p in layer_type.params:
            assert p.help, f"{layer_type.name}.{p.name} has no help text"
            assert p.check(p.default) == p.default


@pytest.mark.parametrize("type_name,params,in_shape", CASES,
                         ids=[f"{c[0]}-{'x'.join(map(str, c[2]))}-{i}" for i, c in enumerate(CASES)])
def test_inference_matches_torch(type_name, params, in_shape):
    layer = make_layer(type_name, **params)
    layer_type = CATALOG[type_name]
    info = layer_type.infer(layer.params, in_shape)
    module = layer_type.build(layer.params, in_shape).eval()

    x = torch.randn(3, *in_shape)
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    assert tuple(y.shape) == (3, *info.out_shape)
    assert info.parameters == sum(p.numel() for p in module.parameters() if p.requires_grad)
    flops = counter.get_total_flops()
    if layer_type.group == "recurrent":
        # CPU's fused LSTM/GRU kernels are invisible to the counter: unroll with the same weights.
        flops = unrolled_recurrent_flops(module.rnn, x)
    assert info.macs * 3 * 2 == flops


def unrolled_recurrent_flops(rnn: torch.nn.RNNBase, x: torch.Tensor) -> int:
    """FLOPs of the input and hidden matrix products of ``rnn`` run step by step on image ``x``."""
    n, c, h, w = x.shape
    seq = x.permute(0, 2, 1, 3).reshape(n, h, c * w)
    dirs = 2 if rnn.bidirectional else 1
    with FlopCounterMode(display=False) as counter:
        layer_in = seq
        for layer in range(rnn.num_layers):
            outs = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
                state = torch.zeros(n, rnn.hidden_size)
                steps = []
                for t in range(h):
                    gates = torch.nn.functional.linear(layer_in[:, t], w_ih) + \
                        torch.nn.functional.linear(state, w_hh)
                    state = torch.tanh(gates[:, : rnn.hidden_size])
                    steps.append(state)
                outs.append(torch.stack(steps, 1))
            layer_in = torch.cat(outs, dim=2)
    return counter.get_total_flops()


def test_params_are_checked():
    conv = CATALOG["Conv2d"]
    with pytest.raises(ValueError, match="at least 1"):
        conv.param("kernel_size").check(0)
    with pytest.raises(ValueError, match="whole number"):
        conv.param("kernel_size").check(2.5)
    with pytest.raises(ValueError, match="true or false"):
        conv.param("bias").check(1)
    with pytest.raises(ValueError, match="at most 0.95"):
        CATALOG["Dropout"].param("p").check(1.0)
    with pytest.raises(ValueError, match="finite"):
        CATALOG["LeakyReLU"].param("negative_slope").check(float("nan"))
    assert CATALOG["Dropout"].param("p").check(0) == 0.0


@pytest.mark.parametrize("type_name,in_shape,fragment", [
    ("Linear", (20, 12, 12), "needs a flat vector but gets 20x12x12"),
    ("Conv2d", (800,), "needs an image"),
    ("MaxPool2d", (800,), "needs an image"),
    ("LSTM", (784,), "reads an image row by row"),
])
def test_wrong_rank_is_a_problem(type_name, in_shape, fragment):
    layer = make_layer(type_name)
    with pytest.raises(LayerProblem, match=fragment):
        CATALOG[type_name].infer(layer.params, in_shape)
