"""``GanSpec``: a generative adversarial network design, two layer stacks saved as one JSON file.

The generator maps a latent vector of ``latent_size`` values to a 1x28x28 image; the discriminator
maps a 1x28x28 image to one score (a logit: real or generated). A conditional GAN is told which
digit to make or judge: the generator's input is the latent vector followed by the digit's one-hot
code (``latent_size + 10`` values), and the discriminator's input is the image followed by the
one-hot code as 10 extra image channels, each constant over the image (11x28x28). Channels rather
than a code joined after Flatten keep both networks plain ``nn.Sequential`` stacks that any layer,
a convolution included, can start.

Each stack is checked with :func:`~playground.core.shapes.infer_shapes` from its own input shape
(:meth:`GanSpec.stack` gives it as a :class:`NetworkSpec`), plus the GAN rules on how each ends.
The file is JSON with ``"kind": "gan"``; loading it is as careful as loading a classifier design
(:mod:`playground.core.spec`), with the same bounds and the same :class:`DesignError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from playground.core.atomic import atomic_write_text
from playground.core.layers import CATALOG, Fix, LayerSpec, Shape, format_shape
from playground.core.layers import make_layer as L
from playground.core.shapes import Problem, ShapeReport, fix_label, infer_shapes
from playground.core.spec import (INPUT_SHAPE, MAX_DESCRIPTION_CHARS, MAX_LAYERS, MAX_NAME_CHARS, NUM_CLASSES,
                                  DesignError, NetworkSpec, apply_fix, json_data, parse_layer, read_design_text,
                                  text_field)
from playground.core.text import clean_text, printable, short_repr

GAN_KIND = "gan"
GAN_FORMAT_VERSION = 1
MIN_LATENT, MAX_LATENT = 1, 1024
STACKS = ("generator", "discriminator")
IMAGE_SHAPE: Shape = INPUT_SHAPE  # what the generator makes and the discriminator judges


@dataclass(frozen=True)
class GanSpec:
    name: str = "untitled GAN"
    description: str = ""
    latent_size: int = 64
    conditional: bool = False
    generator: tuple[LayerSpec, ...] = ()
    discriminator: tuple[LayerSpec, ...] = ()

    def __post_init__(self):
        if isinstance(self.latent_size, bool) or not isinstance(self.latent_size, int) or \
                not MIN_LATENT <= self.latent_size <= MAX_LATENT:
            raise ValueError(f"latent size must be a whole number from {MIN_LATENT} to {MAX_LATENT}; "
                             f"got {short_repr(self.latent_size)}")
        name = clean_text(str(self.name))[:MAX_NAME_CHARS]
        description = clean_text(str(self.description), multiline=True)[:MAX_DESCRIPTION_CHARS]
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "conditional", bool(self.conditional))
        object.__setattr__(self, "generator", tuple(self.generator))
        object.__setattr__(self, "discriminator", tuple(self.discriminator))

    # -- the two stacks ----------------------------------------------------------------------------

    @property
    def generator_input(self) -> Shape:
        """The latent vector, followed by the digit's one-hot code when conditional."""
        return (self.latent_size + (NUM_CLASSES if self.conditional else 0),)

    @property
    def discriminator_input(self) -> Shape:
        """The image, with the digit's one-hot code as 10 constant channels when conditional."""
        channels, height, width = IMAGE_SHAPE
        return (channels + (NUM_CLASSES if self.conditional else 0), height, width)

    def stack(self, which: str) -> NetworkSpec:
        """One stack as a :class:`NetworkSpec` from its own input shape: the designer edits it, fixes
        apply to it, and :meth:`with_stack` puts it back. Its ``num_classes`` is the size of its end."""
        if which == "generator":
            return NetworkSpec(self.generator, f"{self.name} generator", "", self.generator_input,
                               IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2])
        if which == "discriminator":
            return NetworkSpec(self.discriminator, f"{self.name} discriminator", "", self.discriminator_input, 1)
        raise ValueError(f"unknown stack {which!r}; a GAN has {' and '.join(STACKS)}")

    def with_stack(self, which: str, stack: NetworkSpec | tuple[LayerSpec, ...]) -> "GanSpec":
        layers = tuple(stack.layers if isinstance(stack, NetworkSpec) else stack)
        if which not in STACKS:
            raise ValueError(f"unknown stack {which!r}; a GAN has {' and '.join(STACKS)}")
        return replace(self, **{which: layers})

    # -- JSON --------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": GAN_KIND,
            "format_version": GAN_FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "latent_size": self.latent_size,
            "conditional": self.conditional,
            "generator": _layers_dict(self.generator),
            "discriminator": _layers_dict(self.discriminator),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "GAN design") -> "GanSpec":
        return _parse(data, printable(source))

    @classmethod
    def from_json(cls, text: str, source: str = "GAN design") -> "GanSpec":
        return _parse(json_data(text, source), printable(source))

    @classmethod
    def load(cls, path: str | Path) -> "GanSpec":
        """Read a GAN design file; anything wrong with it is a :class:`DesignError`."""
        return cls.from_json(read_design_text(path), str(path))

    def save(self, path: str | Path) -> None:
        """Write the design atomically: a failed write leaves any previous file intact."""
        atomic_write_text(Path(path), self.to_json())


def _layers_dict(layers: tuple[LayerSpec, ...]) -> list[dict[str, Any]]:
    return [{"type": layer.type, "params": {p.name: layer.params[p.name] for p in CATALOG[layer.type].params}}
            for layer in layers]


def _parse(data: Any, source: str) -> GanSpec:
    if not isinstance(data, dict):
        raise DesignError(f"{source}: a GAN design is a JSON object, not {type(data).__name__}")
    kind = data.get("kind")
    if kind != GAN_KIND:
        what = "a classifier design" if kind is None else f"of kind {short_repr(kind)}"
        raise DesignError(f"{source}: {what}, not a GAN design (a GAN design has \"kind\": \"gan\")")
    version = data.get("format_version")
    if type(version) is not int or version != GAN_FORMAT_VERSION:
        raise DesignError(f"{source}: unknown format_version {short_repr(version)}; this version of the app "
                          f"reads GAN designs of format_version {GAN_FORMAT_VERSION} (a newer app may have "
                          f"written it)")
    latent = data.get("latent_size")
    if type(latent) is not int or not MIN_LATENT <= latent <= MAX_LATENT:
        raise DesignError(f"{source}: 'latent_size' must be a whole number from {MIN_LATENT} to "
                          f"{MAX_LATENT}; got {short_repr(latent)}")
    conditional = data.get("conditional", False)
    if not isinstance(conditional, bool):
        raise DesignError(f"{source}: 'conditional' must be true or false, not {short_repr(conditional)}")
    return GanSpec(
        text_field(data, "name", "untitled GAN", MAX_NAME_CHARS, source),
        text_field(data, "description", "", MAX_DESCRIPTION_CHARS, source),
        latent, conditional,
        _parse_stack(data, "generator", source),
        _parse_stack(data, "discriminator", source),
    )


def _parse_stack(data: dict, which: str, source: str) -> tuple[LayerSpec, ...]:
    raw = data.get(which)
    if not isinstance(raw, list):
        state = "missing" if raw is None else f"not a list ({short_repr(raw)})"
        raise DesignError(f"{source}: '{which}' is {state}; it must be a list of layers")
    if len(raw) > MAX_LAYERS:
        raise DesignError(f"{source}: the {which} has {len(raw):,} layers; a stack has at most {MAX_LAYERS:,}")
    return tuple(parse_layer(layer, i, f"{source}: {which}") for i, layer in enumerate(raw))


# -- shapes and the GAN rules -------------------------------------------------------------------


class GanShapes(NamedTuple):
    """The two stacks' reports; each holds its own stack's problems, the GAN rules included, with
    fixes whose indices are that stack's (apply one with :func:`apply_gan_fix`)."""

    generator: ShapeReport
    discriminator: ShapeReport

    @property
    def valid(self) -> bool:
        return self.generator.valid and self.discriminator.valid

    def all_problems(self) -> list[tuple[str, Problem]]:
        """Every problem with the stack it belongs to, the generator's first."""
        return [(which, p) for which, report in zip(STACKS, self) for p in report.problems]


def infer_gan_shapes(spec: GanSpec) -> GanShapes:
    """Shapes of both stacks from their own inputs, with the GAN rules: the generator ends at a
    1x28x28 image and the discriminator at one score."""
    reports = []
    for which, rule in (("generator", _generator_end), ("discriminator", _discriminator_end)):
        stack = spec.stack(which)
        report = infer_shapes(stack, check_output=False)
        problem = rule(stack, report) if not report.problems else None
        if problem is not None:
            report = replace(report, problems=(*report.problems, problem))
        reports.append(report)
    return GanShapes(*reports)


def _labelled(stack: NetworkSpec, fix: Fix | None) -> Fix | None:
    return None if fix is None else replace(fix, label=fix_label(stack, fix))


def _generator_end(stack: NetworkSpec, report: ShapeReport) -> Problem | None:
    shape, last = report.output_shape, len(stack.layers) - 1
    image, flat = IMAGE_SHAPE, IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    if last < 0:
        fix = Fix("", "insert", 0, layer=L("Linear", out_features=flat))
        return Problem(-1, f"The generator has no layers; it must turn the latent vector of "
                           f"{format_shape(stack.input_shape)} into a {format_shape(image)} image",
                       _labelled(stack, fix))
    if shape == image:
        return None
    end_type = stack.layers[last].type
    fix = None
    if shape == (flat,):
        fix = Fix("", "insert", last + 1, layer=L("Unflatten", channels=image[0], height=image[1], width=image[2]))
    elif len(shape) == 1:
        fix = (Fix("", "set", last, param="out_features", value=flat) if end_type == "Linear"
               else Fix("", "insert", last + 1, layer=L("Linear", out_features=flat)))
    elif shape[1:] == image[1:]:
        fix = (Fix("", "set", last, param="out_channels", value=image[0])
               if "out_channels" in stack.layers[last].params
               else Fix("", "insert", last + 1, layer=L("Conv2d", out_channels=image[0], kernel_size=1)))
    return Problem(last, f"Layer {last + 1} ({end_type}): the generator must end at a {format_shape(image)} "
                         f"image but its output is {format_shape(shape)}", _labelled(stack, fix))


def _discriminator_end(stack: NetworkSpec, report: ShapeReport) -> Problem | None:
    shape, last = report.output_shape, len(stack.layers) - 1
    if last < 0:
        fix = Fix("", "insert", 0, layer=L("Flatten"))
        return Problem(-1, f"The discriminator has no layers; it must turn the "
                           f"{format_shape(stack.input_shape)} image into one score", _labelled(stack, fix))
    if shape == (1,):
        return None
    end_type = stack.layers[last].type
    if end_type == "Linear":
        fix = Fix("", "set", last, param="out_features", value=1)
    elif len(shape) == 1:
        fix = Fix("", "insert", last + 1, layer=L("Linear", out_features=1))
    else:
        fix = Fix("", "insert", last + 1, layer=L("Flatten"))
    return Problem(last, f"Layer {last + 1} ({end_type}): the discriminator must end at one score (real or "
                         f"generated) but its output is {format_shape(shape)}", _labelled(stack, fix))


def load_any_design(path: str | Path) -> NetworkSpec | GanSpec:
    """A design file of either kind: a GanSpec when it says ``"kind": "gan"``, else a NetworkSpec
    (whose loader refuses any other kind); anything wrong with it is a :class:`DesignError`."""
    source = str(path)
    data = json_data(read_design_text(path), printable(source))
    if isinstance(data, dict) and data.get("kind") == GAN_KIND:
        return GanSpec.from_dict(data, source)
    return NetworkSpec.from_dict(data, printable(source))


def apply_gan_fix(spec: GanSpec, which: str, fix: Fix) -> GanSpec:
    """The spec with a fix of one stack's problem applied to that stack."""
    return spec.with_stack(which, apply_fix(spec.stack(which), fix))


def build_gan(spec: GanSpec):
    """``(generator, discriminator)`` as two ``nn.Sequential``; :class:`DesignError` if either stack
    has a problem (the memory budget included), before any layer is made."""
    shapes = infer_gan_shapes(spec)
    if not shapes.valid:
        raise DesignError("the GAN cannot be built: "
                          + "; ".join(f"{which}: {p.message}" for which, p in shapes.all_problems()))
    from torch import nn

    return tuple(
        nn.Sequential(*(CATALOG[layer.type].build(layer.params, row.in_shape)
                        for layer, row in zip(layers, report.rows)))
        for layers, report in ((spec.generator, shapes.generator), (spec.discriminator, shapes.discriminator))
    )


# -- presets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GanPreset:
    name: str
    summary: str
    spec: GanSpec
    tagline: str
    # Settings this preset is meant to be trained with: Adam with the DCGAN paper's betas; epochs
    # sized to at most about 3 minutes on 2 CPU cores (bench/gan_quality.py measures them).
    train: dict[str, Any]


def _settings(batch_size: int, epochs: int, lr: float = 2e-4) -> dict[str, Any]:
    return {"optimizer": "adam", "lr": lr, "beta1": 0.5, "beta2": 0.999, "batch_size": batch_size,
            "epochs": epochs, "schedule": "constant"}


def _mlp_generator() -> tuple[LayerSpec, ...]:
    return (L("Linear", out_features=256), L("LeakyReLU", negative_slope=0.2), L("Linear", out_features=784),
            L("Tanh"), L("Unflatten", channels=1, height=28, width=28))


def _mlp_discriminator() -> tuple[LayerSpec, ...]:
    return (L("Flatten"), L("Linear", out_features=256), L("LeakyReLU", negative_slope=0.2),
            L("Linear", out_features=1))


def _dcgan_generator() -> tuple[LayerSpec, ...]:
    # 64 maps of 7x7, a 3x3 convolution over them (where the digit's overall shape is decided), grown
    # to 32 of 14x14, then the image. On 2 CPU cores the extra convolution and the discriminator's
    # third layer made 83-84% of the digits clear against 74-76% without them, in the same time
    # (8 epochs instead of 12); a generator twice as wide did not (docs/benchmarks.md).
    return (L("Linear", out_features=64 * 7 * 7, bias=False), L("BatchNorm"), L("ReLU"),
            L("Unflatten", channels=64, height=7, width=7),
            L("Conv2d", out_channels=64, kernel_size=3, padding=1, bias=False), L("BatchNorm"), L("ReLU"),
            L("ConvTranspose2d", out_channels=32, kernel_size=4, stride=2, padding=1, bias=False),
            L("BatchNorm"), L("ReLU"),
            L("ConvTranspose2d", out_channels=1, kernel_size=4, stride=2, padding=1), L("Tanh"))


def _dcgan_discriminator() -> tuple[LayerSpec, ...]:
    # Three strided convolutions: 28x28 -> 14x14 -> 7x7 -> 4x4, the last judging the digit's whole shape.
    return (L("Conv2d", out_channels=32, kernel_size=4, stride=2, padding=1), L("LeakyReLU", negative_slope=0.2),
            L("Conv2d", out_channels=64, kernel_size=4, stride=2, padding=1, bias=False), L("BatchNorm"),
            L("LeakyReLU", negative_slope=0.2),
            L("Conv2d", out_channels=128, kernel_size=3, stride=2, padding=1, bias=False), L("BatchNorm"),
            L("LeakyReLU", negative_slope=0.2), L("Flatten"), L("Linear", out_features=1))


def _gan_preset(name: str, summary: str, tagline: str, generator, discriminator, train: dict[str, Any],
                conditional: bool = False) -> GanPreset:
    spec = GanSpec(name, summary, 64, conditional, generator, discriminator)
    return GanPreset(name, summary, spec, tagline, train)


GAN_PRESETS: dict[str, GanPreset] = {
    p.name: p
    for p in (
        _gan_preset(
            "gan-mlp", "A small fully connected GAN: latent 64 -> 256 -> 784 image; the discriminator "
            "784 -> 256 -> 1 score.", "small and fast",
            _mlp_generator(), _mlp_discriminator(), _settings(64, 20)),
        _gan_preset(
            "dcgan", "A small DCGAN (Radford et al. 2015): the generator shapes 64 maps of 7x7 with a "
            "convolution, then grows them to 14x14 and 28x28 with transposed convolutions; the "
            "discriminator shrinks the image with three strided convolutions.", "small convolutional GAN",
            # On a CPU an image costs the same time in a batch of 32 as of 128, and a GAN learns by
            # steps: small batches and a larger rate make cleaner digits in the same minutes.
            _dcgan_generator(), _dcgan_discriminator(), _settings(32, 8, lr=1e-3)),
        _gan_preset(
            "cgan", "A conditional DCGAN (Mirza and Osindero 2014, on dcgan): both networks are told the "
            "digit, so you choose which digit it draws.", "you choose the digit",
            _dcgan_generator(), _dcgan_discriminator(), _settings(32, 3, lr=1e-3), conditional=True),
    )
}

DEFAULT_GAN_PRESET = "dcgan"
