"""The layer catalog: every layer type a design can use, described without torch.

Each entry declares its parameters (type, default, range, help text) and, for a given input shape,
computes its output shape, trainable-parameter count and multiply-adds, and names its torch module as
a constructor call (:class:`TorchCall`), from which both the module is built and its PyTorch code is
written for an exported script, so the two cannot differ. Only building imports torch, lazily, so the
designer and shape inference work before torch has loaded. A new layer type is one class here, added
to :data:`CATALOG`.

Shapes are tuples of ints without the batch dimension: ``(C, H, W)`` for images and ``(F,)`` for
flat vectors. Multiply-adds (MACs) count the weight products of Linear, Conv2d and recurrent layers
for one sample's forward pass, the figure ``torch.utils.flop_counter`` reports halved; element-wise
layers (activations, pooling, normalisation, dropout) count zero.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.core.text import short_repr

Shape = tuple[int, ...]


def format_shape(shape: Shape | None) -> str:
    """``(20, 12, 12)`` -> ``"20x12x12"``; ``None`` (unknown) -> ``"?"``."""
    if shape is None:
        return "?"
    return "x".join(str(s) for s in shape)


@dataclass(frozen=True)
class ParamSpec:
    """One editable parameter of a layer type."""

    name: str
    kind: str  # "int", "float", "bool" or "choice"
    default: Any
    help: str
    label: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def check(self, value: Any) -> Any:
        """Return ``value`` in canonical form, or raise ``ValueError`` saying what is allowed.

        Any value at all may come in (a design file is untrusted JSON): a list, a dict, an int with
        thousands of digits, NaN; the message quotes it shortly and printably."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {short_repr(value)}")
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}; got {short_repr(value)}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ValueError(f"must be a whole number, not {short_repr(value)}")
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, not {short_repr(value)}")
            try:
                value = float(value)
            except OverflowError:  # an int too large for a float
                raise ValueError(f"must be a finite number, not {short_repr(value)}") from None
            if not math.isfinite(value):
                raise ValueError(f"must be a finite number, not {short_repr(value)}")
        else:  # pragma: no cover - catalog definition error
            raise AssertionError(f"unknown parameter kind {self.kind}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}; got {_number(value)}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}; got {_number(value)}")
        return value


def _number(value: int | float) -> str:
    """A number for a message; one too long to print whole is described by its size."""
    return short_repr(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True)
class Fix:
    """A suggested repair of a design, as plain data so that any front end can apply it.

    ``action`` is ``"insert"`` (put ``layer`` at ``index``), ``"remove"`` (delete the layer at
    ``index``) or ``"set"`` (set parameter ``param`` of the layer at ``index`` to ``value``).
    Apply it with :func:`playground.core.spec.apply_fix`.
    """

    label: str
    action: str
    index: int
    layer: "LayerSpec | None" = None
    param: str | None = None
    value: Any = None


class LayerProblem(Exception):
    """Raised by a layer type when it cannot take its input shape.

    ``fix`` uses an index relative to the failing layer (0 = the layer itself, -1 = the one before),
    which shape inference turns into an absolute index.
    """

    def __init__(self, message: str, fix: Fix | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class LayerSpec:
    """A layer in a design: a catalog type name and a full set of checked parameters."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def with_param(self, name: str, value: Any) -> "LayerSpec":
        params = dict(self.params)
        params[name] = value
        return LayerSpec(self.type, params)

    def describe(self) -> str:
        """A short human label, e.g. ``Conv2d 20@5x5``."""
        return CATALOG[self.type].describe(self.params) if self.type in CATALOG else self.type


def make_layer(type_name: str, **params: Any) -> LayerSpec:
    """A layer of a catalog type with defaults filled in and the given parameters checked."""
    layer_type = CATALOG[type_name]
    full = {p.name: p.default for p in layer_type.params}
    for name, value in params.items():
        full[name] = layer_type.param(name).check(value)
    return LayerSpec(type_name, full)


def _literal(value: Any) -> str:
    """A constructor argument as Python source. Design values are checked numbers and bools; they go
    in through bool/int/float and repr, never as text, so nothing from a design can become code."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return repr(float(value))
    if isinstance(value, str) and value.isascii() and value.isidentifier():  # a catalog name such as "LSTM"
        return repr(str(value))
    if isinstance(value, tuple):  # a shape such as Unflatten's (C, H, W)
        items = [_literal(v) for v in value]
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    raise ValueError(f"{short_repr(value)} is not a number; the design cannot be written as code")


@dataclass(frozen=True)
class TorchCall:
    """A layer's torch module as a constructor call: ``nn.<name>(*args, **kwargs)``, or a class of
    :mod:`playground.core.modules` when ``own`` (an exported script then holds that class's source)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    own: bool = False

    def build(self):
        """The ``torch.nn.Module`` (imports torch)."""
        if self.own:
            from playground.core.modules import own_class

            cls = own_class(self.name)
        else:
            from torch import nn

            cls = getattr(nn, self.name)
        return cls(*self.args, **self.kwargs)

    def code(self) -> str:
        """The same call as PyTorch source, with ``nn`` (and any own class) in scope."""
        parts = [_literal(a) for a in self.args] + [f"{k}={_literal(v)}" for k, v in self.kwargs.items()]
        return f"{'' if self.own else 'nn.'}{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class LayerInfo:
    out_shape: Shape
    parameters: int
    macs: int


class LayerType:
    """Base of the catalog entries; subclasses fill the class attributes and ``infer``."""

    name: str = ""
    group: str = ""  # core, convolution, recurrent, regularization, activation
    glyph: str = ""  # a short symbol the palette draws
    summary: str = ""  # a tooltip sentence: what the layer does
    params: tuple[ParamSpec, ...] = ()

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def describe(self, params: Mapping[str, Any]) -> str:
        return self.name

    def infer(self, params: Mapping[str, Any], in_shape: Shape) -> LayerInfo:
        raise NotImplementedError

    def torch_call(self, params: Mapping[str, Any], in_shape: Shape) -> TorchCall:
        """The torch module for this layer, as a constructor call (does not import torch)."""
        raise NotImplementedError

    def build(self, params: Mapping[str, Any], in_shape: Shape):
        """Return the ``torch.nn.Module`` for this layer (imports torch)."""
        return self.torch_call(params, in_shape).build()


class NeedsImage(LayerProblem):
    """A layer that works on images was given a flat vector (typically: it sits after Flatten)."""


def _need_image(layer: str, in_shape: Shape) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise NeedsImage(
            f"{layer} needs an image (channels x height x width) but gets a flat vector of "
            f"{format_shape(in_shape)}; place it before Flatten"
        )
    return in_shape  # type: ignore[return-value]


def _need_vector(layer: str, in_shape: Shape) -> int:
    if len(in_shape) != 1:
        raise LayerProblem(
            f"{layer} needs a flat vector but gets {format_shape(in_shape)}; insert Flatten before it",
            Fix("Insert Flatten", "insert", 0, layer=make_layer("Flatten")),
        )
    return in_shape[0]


# -- core ---------------------------------------------------------------------------------------


class Linear(LayerType):
    name, group, glyph = "Linear", "core", "⊗"
    summary = "Fully connected layer: every output is a weighted sum of every input, plus a bias."
    params = (
        ParamSpec("out_features", "int", 128, "Number of outputs (neurons).", "Outputs", 1, 65536),
        ParamSpec("bias", "bool", True, "Add a learned bias to each output.", "Bias"),
    )

    def describe(self, p):
        return f"Linear {p['out_features']}"

    def infer(self, p, in_shape):
        n_in = _need_vector("Linear", in_shape)
        n_out = p["out_features"]
        return LayerInfo((n_out,), n_in * n_out + (n_out if p["bias"] else 0), n_in * n_out)

    def torch_call(self, p, in_shape):
        return TorchCall("Linear", (in_shape[0], p["out_features"]), {"bias": p["bias"]})


class Flatten(LayerType):
    name, group, glyph = "Flatten", "core", "▭"
    summary = "Turns an image (channels x height x width) into one flat vector for Linear layers."

    def infer(self, p, in_shape):
        return LayerInfo((math.prod(in_shape),), 0, 0)

    def torch_call(self, p, in_shape):
        return TorchCall("Flatten")


class Unflatten(LayerType):
    name, group, glyph = "Unflatten", "core", "▤"
    summary = ("Turns a flat vector back into an image (channels x height x width), e.g. a "
               "generator's 784 outputs into a 1x28x28 digit or 6272 into 128 maps of 7x7.")
    params = (
        ParamSpec("channels", "int", 1, "Channels of the image made; channels x height x width must "
                  "equal the input's length.", "Channels", 1, 65536),
        ParamSpec("height", "int", 28, "Height of the image made, in pixels.", "Height", 1, 256),
        ParamSpec("width", "int", 28, "Width of the image made, in pixels.", "Width", 1, 256),
    )

    def describe(self, p):
        return f"Unflatten {p['channels']}x{p['height']}x{p['width']}"

    def infer(self, p, in_shape):
        if len(in_shape) != 1:
            raise LayerProblem(
                f"Unflatten needs a flat vector but gets {format_shape(in_shape)}; insert Flatten before it",
                Fix("Insert Flatten", "insert", 0, layer=make_layer("Flatten")),
            )
        n, c, h, w = in_shape[0], p["channels"], p["height"], p["width"]
        if c * h * w != n:
            fits = n % (h * w) == 0 and n // (h * w) <= self.param("channels").maximum
            raise LayerProblem(
                f"Unflatten makes {c}x{h}x{w} = {c * h * w:,} values but gets {n:,}"
                + (f"; {n:,} is {n // (h * w)} channels of {h}x{w}" if fits else
                   f"; {n:,} is not a whole number of {h}x{w} images"),
                Fix(f"Set channels to {n // (h * w)}", "set", 0, param="channels", value=n // (h * w)) if fits
                else None,
            )
        return LayerInfo((c, h, w), 0, 0)

    def torch_call(self, p, in_shape):
        return TorchCall("Unflatten", (1, (p["channels"], p["height"], p["width"])))


# -- convolution --------------------------------------------------------------------------------


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class Conv2d(LayerType):
    name, group, glyph = "Conv2d", "convolution", "▦"
    summary = (
        "2-D convolution: slides learned filters over the image; each filter makes one output "
        "channel that responds to a local pattern (edges, strokes, corners)."
    )
    params = (
        ParamSpec("out_channels", "int", 16, "Number of filters (output channels).", "Filters", 1, 4096),
        ParamSpec("kernel_size", "int", 3, "Width and height of each filter, in pixels.", "Kernel", 1, 28),
        ParamSpec("stride", "int", 1, "Step between filter positions; 2 halves the size.", "Stride", 1, 28),
        ParamSpec("padding", "int", 0, "Zeros added around the border; (kernel-1)/2 keeps the size.",
                  "Padding", 0, 14),
        ParamSpec("bias", "bool", True, "Add a learned bias to each output channel.", "Bias"),
    )

    def describe(self, p):
        return f"Conv2d {p['out_channels']}@{p['kernel_size']}x{p['kernel_size']}"

    def infer(self, p, in_shape):
        c, h, w = _need_image("Conv2d", in_shape)
        k, s, pad = p["kernel_size"], p["stride"], p["padding"]
        if k > min(h, w) + 2 * pad:
            fit_pad = math.ceil((k - min(h, w)) / 2)
            fix = (
                Fix(f"Set padding to {fit_pad}", "set", 0, param="padding", value=fit_pad)
                if fit_pad <= self.param("padding").maximum
                else Fix(f"Set kernel to {min(h, w)}", "set", 0, param="kernel_size", value=min(h, w))
            )
            raise LayerProblem(
                f"Conv2d kernel {k}x{k} is larger than its input {h}x{w}"
                + (f" with padding {pad}" if pad else ""),
                fix,
            )
        ho, wo = _conv_out(h, k, s, pad), _conv_out(w, k, s, pad)
        out = p["out_channels"]
        weights = c * out * k * k
        return LayerInfo((out, ho, wo), weights + (out if p["bias"] else 0), weights * ho * wo)

    def torch_call(self, p, in_shape):
        return TorchCall("Conv2d", (in_shape[0], p["out_channels"]),
                         {"kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
                          "bias": p["bias"]})


def _image_from_vector(n: int) -> LayerSpec:
    """An Unflatten that makes an image of ``n`` values: 7x7 or 14x14 maps (what a generator grows
    to 28x28) where ``n`` divides, else ``n`` channels of 1x1."""
    for side in (7, 14, 28):
        if n % (side * side) == 0:
            return make_layer("Unflatten", channels=n // (side * side), height=side, width=side)
    return make_layer("Unflatten", channels=min(n, 65536), height=1, width=1)


class ConvTranspose2d(LayerType):
    name, group, glyph = "ConvTranspose2d", "convolution", "▩"
    summary = (
        "Transposed convolution: the reverse of Conv2d's shape change; each input pixel stamps a "
        "learned filter onto a larger output, so stride 2 doubles the size (how generators grow "
        "an image)."
    )
    params = (
        ParamSpec("out_channels", "int", 16, "Number of filters (output channels).", "Filters", 1, 4096),
        ParamSpec("kernel_size", "int", 4, "Width and height of each filter, in pixels.", "Kernel", 1, 28),
        ParamSpec("stride", "int", 2, "Spacing of the stamps in the output; 2 doubles the size.",
                  "Stride", 1, 28),
        ParamSpec("padding", "int", 1, "Pixels cropped from each border of the output; kernel 4, "
                  "stride 2, padding 1 doubles the size exactly.", "Padding", 0, 14),
        ParamSpec("output_padding", "int", 0, "Extra pixels added at the bottom and right "
                  "(less than the stride), to reach an odd size.", "Output padding", 0, 27),
        ParamSpec("bias", "bool", True, "Add a learned bias to each output channel.", "Bias"),
    )

    def describe(self, p):
        return f"ConvTranspose2d {p['out_channels']}@{p['kernel_size']}x{p['kernel_size']} /{p['stride']}"

    def infer(self, p, in_shape):
        if len(in_shape) != 3:
            raise NeedsImage(
                f"ConvTranspose2d needs an image (channels x height x width) but gets a flat vector of "
                f"{format_shape(in_shape)}; insert Unflatten before it",
                Fix("Insert Unflatten", "insert", 0, layer=_image_from_vector(in_shape[0])),
            )
        c, h, w = in_shape
        k, s, pad, extra = p["kernel_size"], p["stride"], p["padding"], p["output_padding"]
        if extra >= s:
            raise LayerProblem(f"ConvTranspose2d output padding {extra} must be less than its stride {s}",
                               Fix(f"Set output padding to {s - 1}", "set", 0,
                                   param="output_padding", value=s - 1))
        ho, wo = ((size - 1) * s - 2 * pad + k + extra for size in (h, w))
        if ho < 1 or wo < 1:
            raise LayerProblem(f"ConvTranspose2d padding {pad} crops its {ho + 2 * pad}x{wo + 2 * pad} "
                               f"output to nothing", Fix("Set padding to 0", "set", 0, param="padding", value=0))
        out = p["out_channels"]
        weights = c * out * k * k
        return LayerInfo((out, ho, wo), weights + (out if p["bias"] else 0), weights * h * w)

    def torch_call(self, p, in_shape):
        return TorchCall("ConvTranspose2d", (in_shape[0], p["out_channels"]),
                         {"kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
                          "output_padding": p["output_padding"], "bias": p["bias"]})


class _Pool(LayerType):
    group = "convolution"
    params = (
        ParamSpec("kernel_size", "int", 2, "Size of the window that is pooled.", "Window", 1, 28),
        ParamSpec("stride", "int", 0, "Step between windows; 0 means the same as the window.",
                  "Stride", 0, 28),
        ParamSpec("padding", "int", 0, "Zeros added around the border (at most half the window).",
                  "Padding", 0, 14),
    )

    def describe(self, p):
        return f"{self.name} {p['kernel_size']}x{p['kernel_size']}"

    def infer(self, p, in_shape):
        c, h, w = _need_image(self.name, in_shape)
        k, pad = p["kernel_size"], p["padding"]
        s = p["stride"] or k
        if pad * 2 > k:
            raise LayerProblem(
                f"{self.name} padding {pad} is more than half its window {k}",
                Fix(f"Set padding to {k // 2}", "set", 0, param="padding", value=k // 2),
            )
        ho, wo = _conv_out(h, k, s, pad), _conv_out(w, k, s, pad)
        if ho < 1 or wo < 1:
            fit = min(h, w) + 2 * pad
            raise LayerProblem(
                f"{self.name} window {k}x{k} shrinks its {h}x{w} input to nothing",
                Fix(f"Set window to {fit}", "set", 0, param="kernel_size", value=fit),
            )
        return LayerInfo((c, ho, wo), 0, 0)

    def torch_call(self, p, in_shape):
        # The class is named after the layer type (nn.MaxPool2d, nn.AvgPool2d); stride 0 is torch's None.
        return TorchCall(self.name, (p["kernel_size"],), {"stride": p["stride"] or None, "padding": p["padding"]})


class MaxPool2d(_Pool):
    name, glyph = "MaxPool2d", "▼"
    summary = "Max pooling: keeps the largest value in each window, shrinking the image."


class AvgPool2d(_Pool):
    name, glyph = "AvgPool2d", "▽"
    summary = "Average pooling: replaces each window by its mean, shrinking the image."


# -- recurrent ----------------------------------------------------------------------------------


class _Recurrent(LayerType):
    group = "recurrent"
    gates = 1
    params = (
        ParamSpec("hidden_size", "int", 64, "Size of the hidden state carried between steps.",
                  "Hidden size", 1, 4096),
        ParamSpec("num_layers", "int", 1, "Recurrent layers stacked on each other.", "Layers", 1, 8),
        ParamSpec("bidirectional", "bool", False,
                  "Also read the rows bottom to top and join both final states.", "Bidirectional"),
    )

    def describe(self, p):
        return f"{self.name} {p['hidden_size']}" + (" ×2" if p["bidirectional"] else "")

    def sequence_shape(self, in_shape: Shape) -> tuple[int, int]:
        if len(in_shape) != 3:
            raise NeedsImage(
                f"{self.name} reads an image row by row (rows are time steps) but gets a flat "
                f"vector of {format_shape(in_shape)}; place it before Flatten",
            )
        c, h, w = in_shape
        return h, c * w

    def infer(self, p, in_shape):
        steps, features = self.sequence_shape(in_shape)
        hidden, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        params = macs = 0
        layer_in = features
        for _ in range(p["num_layers"]):
            per_dir = self.gates * hidden * (layer_in + hidden)
            params += dirs * (per_dir + 2 * self.gates * hidden)
            macs += dirs * per_dir * steps
            layer_in = hidden * dirs
        return LayerInfo((hidden * dirs,), params, macs)

    def torch_call(self, p, in_shape):
        steps, features = self.sequence_shape(in_shape)
        return TorchCall("RecurrentLastStep", (self.name, features, p["hidden_size"]),
                         {"num_layers": p["num_layers"], "bidirectional": p["bidirectional"]}, own=True)


class RNN(_Recurrent):
    name, glyph, gates = "RNN", "↻", 1
    summary = ("Simple recurrent layer (tanh): reads the image as 28 time steps of 28 pixels and "
               "passes on its state after the last row.")


class LSTM(_Recurrent):
    name, glyph, gates = "LSTM", "⟳", 4
    summary = ("Long short-term memory: a recurrent layer with gates that decide what to keep; "
               "reads the image row by row and passes on the last row's output.")


class GRU(_Recurrent):
    name, glyph, gates = "GRU", "⥁", 3
    summary = ("Gated recurrent unit: a lighter LSTM with two gates; reads the image row by row "
               "and passes on the last row's output.")


# -- regularization -----------------------------------------------------------------------------


class BatchNorm(LayerType):
    name, group, glyph = "BatchNorm", "regularization", "≈"
    summary = ("Batch normalisation: rescales each channel (or feature) to zero mean and unit "
               "variance over the batch, then applies a learned scale and shift. 2-d after images, "
               "1-d after flat vectors.")

    def infer(self, p, in_shape):
        return LayerInfo(in_shape, 2 * in_shape[0], 0)

    def torch_call(self, p, in_shape):
        return TorchCall("BatchNorm2d" if len(in_shape) == 3 else "BatchNorm1d", (in_shape[0],))


class Dropout(LayerType):
    name, group, glyph = "Dropout", "regularization", "⁙"
    summary = ("Dropout: while training, zeroes a random fraction of its inputs so that the network "
               "cannot rely on any one.")
    params = (
        ParamSpec("p", "float", 0.5, "Fraction of inputs set to zero during training.",
                  "Drop probability", 0.0, 0.95),
    )

    def describe(self, p):
        return f"Dropout {p['p']:g}"

    def infer(self, p, in_shape):
        return LayerInfo(in_shape, 0, 0)

    def torch_call(self, p, in_shape):
        return TorchCall("Dropout", (p["p"],))


# -- activation ---------------------------------------------------------------------------------


class _Activation(LayerType):
    group = "activation"
    torch_name = ""

    def infer(self, p, in_shape):
        return LayerInfo(in_shape, 0, 0)

    def torch_call(self, p, in_shape):
        return TorchCall(self.torch_name, (), dict(p))


class ReLU(_Activation):
    name, glyph, torch_name = "ReLU", "⌐", "ReLU"
    summary = "Rectified linear unit: max(0, x). The usual choice between layers."


class LeakyReLU(_Activation):
    name, glyph, torch_name = "LeakyReLU", "⌙", "LeakyReLU"
    summary = "Leaky ReLU: x for positive inputs, a small slope times x for negative ones."
    params = (
        ParamSpec("negative_slope", "float", 0.01, "Slope for negative inputs.", "Negative slope",
                  0.0, 1.0),
    )


class Sigmoid(_Activation):
    name, glyph, torch_name = "Sigmoid", "∫", "Sigmoid"
    summary = "Logistic sigmoid: squashes each value into (0, 1)."


class Tanh(_Activation):
    name, glyph, torch_name = "Tanh", "∿", "Tanh"
    summary = "Hyperbolic tangent: squashes each value into (-1, 1); LeCun's classic choice."


class GELU(_Activation):
    name, glyph, torch_name = "GELU", "≀", "GELU"
    summary = "Gaussian error linear unit: a smooth ReLU, common in transformers."


GROUPS = ("core", "convolution", "recurrent", "regularization", "activation")

CATALOG: dict[str, LayerType] = {
    t.name: t
    for t in (
        Linear(), Flatten(), Conv2d(), MaxPool2d(), AvgPool2d(), RNN(), LSTM(), GRU(),
        BatchNorm(), Dropout(), ReLU(), LeakyReLU(), Sigmoid(), Tanh(), GELU(), Unflatten(), ConvTranspose2d(),
    )
}
