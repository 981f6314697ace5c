"""GAN designs: the presets, both stacks' shapes and the GAN rules with their fixes, building, and
the JSON file (round trip, and malformed files refused with clear errors)."""

from __future__ import annotations

import json

import pytest
import torch

from playground.core import PRESETS, DesignError, NetworkSpec
from playground.core.config import TrainConfig
from playground.core import make_layer as L
from playground.core.gan_spec import (DEFAULT_GAN_PRESET, GAN_PRESETS, GanSpec, apply_gan_fix, build_gan,
                                      infer_gan_shapes)
from playground.core.spec import MAX_DESIGN_BYTES, MAX_LAYERS

MLP_D = (L("Flatten"), L("Linear", out_features=256), L("LeakyReLU", negative_slope=0.2),
         L("Linear", out_features=1))


def gan(generator=(), discriminator=MLP_D, **kw) -> GanSpec:
    return GanSpec("test", "", kw.pop("latent_size", 16), kw.pop("conditional", False), tuple(generator),
                   tuple(discriminator))


@pytest.mark.parametrize("name", list(GAN_PRESETS))
def test_every_preset_is_valid_and_maps_latents_to_images_and_images_to_one_score(name, mnist):
    preset = GAN_PRESETS[name]
    shapes = infer_gan_shapes(preset.spec)
    assert shapes.valid, shapes.all_problems()
    assert shapes.generator.output_shape == (1, 28, 28) and shapes.discriminator.output_shape == (1,)
    torch.manual_seed(0)
    generator, discriminator = build_gan(preset.spec)
    assert sum(p.numel() for p in generator.parameters()) == shapes.generator.total_parameters
    assert sum(p.numel() for p in discriminator.parameters()) == shapes.discriminator.total_parameters
    n = 8
    latent = torch.randn(n, preset.spec.latent_size)
    real = mnist.test.images[:n].unsqueeze(1).float() / 255 * 2 - 1
    if preset.spec.conditional:
        digits = torch.nn.functional.one_hot(mnist.test.labels[:n].long(), 10).float()
        latent = torch.cat((latent, digits), 1)
        real = torch.cat((real, digits[:, :, None, None].expand(n, 10, 28, 28)), 1)
    fake = generator(latent)
    assert fake.shape == (n, 1, 28, 28)
    assert fake.min() >= -1 and fake.max() <= 1  # Tanh: the range real images are scaled to
    assert discriminator(real).shape == (n, 1)
    assert preset.train["optimizer"] == "adam" and TrainConfig.from_dict(preset.train).optimizer == "adam"
    assert preset.train["batch_size"] in (32, 64, 128) and preset.train["epochs"] >= 1


def test_the_presets_and_their_inputs():
    assert set(GAN_PRESETS) == {"gan-mlp", "dcgan", "cgan"} and DEFAULT_GAN_PRESET == "dcgan"
    assert not set(GAN_PRESETS) & set(PRESETS)  # not offered as classifier designs
    cgan = GAN_PRESETS["cgan"].spec
    assert cgan.conditional and cgan.generator_input == (74,) and cgan.discriminator_input == (11, 28, 28)
    dcgan = GAN_PRESETS["dcgan"].spec
    assert not dcgan.conditional and dcgan.generator_input == (64,) and dcgan.discriminator_input == (1, 28, 28)
    assert [row.out_shape for row in infer_gan_shapes(dcgan).generator.rows][3:] == [
        (64, 7, 7), (64, 7, 7), (64, 7, 7), (64, 7, 7), (32, 14, 14), (32, 14, 14), (32, 14, 14),
        (1, 28, 28), (1, 28, 28)]
    assert [row.out_shape for row in infer_gan_shapes(dcgan).discriminator.rows] == [
        (32, 14, 14), (32, 14, 14), (64, 7, 7), (64, 7, 7), (64, 7, 7), (128, 4, 4), (128, 4, 4), (128, 4, 4),
        (2048,), (1,)]


@pytest.mark.parametrize("name", list(GAN_PRESETS))
def test_json_round_trip(name, tmp_path):
    spec = GAN_PRESETS[name].spec
    path = tmp_path / f"{name}.json"
    spec.save(path)
    data = json.loads(path.read_text())
    assert data["kind"] == "gan" and data["format_version"] == 1
    assert GanSpec.load(path) == spec
    assert GanSpec.from_dict(spec.to_dict()) == spec
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the atomic save leaves no temporary file


def test_a_generator_ending_at_784_values_gets_unflatten():
    spec = gan((L("Linear", out_features=784), L("Tanh")))
    shapes = infer_gan_shapes(spec)
    assert shapes.discriminator.valid
    ((which, problem),) = shapes.all_problems()
    assert which == "generator" and problem.layer == 1
    assert problem.message == "Layer 2 (Tanh): the generator must end at a 1x28x28 image but its output is 784"
    assert problem.fix.label == "Append Unflatten 1x28x28"
    fixed = apply_gan_fix(spec, which, problem.fix)
    assert [layer.type for layer in fixed.generator] == ["Linear", "Tanh", "Unflatten"]
    assert infer_gan_shapes(fixed).valid


@pytest.mark.parametrize("layers, label, steps", [
    ((), "Append Linear 784", 2),  # Linear 784, then Unflatten
    ((L("Linear", out_features=100),), "Set outputs of layer 1 to 784", 2),
    ((L("Linear", out_features=100), L("ReLU")), "Append Linear 784", 2),
    ((L("Linear", out_features=1568), L("Unflatten", channels=8, height=14, width=14),
      L("ConvTranspose2d", out_channels=8)), "Set filters of layer 3 to 1", 1),
    ((L("Linear", out_features=1568), L("Unflatten", channels=2, height=28, width=28)),
     "Append Conv2d 1@1x1", 1),
])
def test_generator_fixes_lead_to_a_valid_generator(layers, label, steps):
    spec = gan(layers)
    problem = infer_gan_shapes(spec).generator.problems[0]
    assert "generator" in problem.message and problem.fix.label == label
    for _ in range(steps):
        (problem,) = infer_gan_shapes(spec).generator.problems
        spec = apply_gan_fix(spec, "generator", problem.fix)
    assert infer_gan_shapes(spec).valid


def test_a_generator_ending_at_the_wrong_image_size_says_so_without_a_fix():
    spec = gan((L("Linear", out_features=196), L("Unflatten", channels=1, height=14, width=14)))
    (problem,) = infer_gan_shapes(spec).generator.problems
    assert "must end at a 1x28x28 image but its output is 1x14x14" in problem.message and problem.fix is None


@pytest.mark.parametrize("layers, label, steps", [
    ((L("Flatten"), L("Linear", out_features=256), L("LeakyReLU")), "Append Linear 1", 1),
    ((L("Flatten"), L("Linear", out_features=10)), "Set outputs of layer 2 to 1", 1),
    ((L("Conv2d", out_channels=4, stride=2),), "Append Flatten", 2),  # Flatten, then Linear 1
    ((), "Append Flatten", 2),
])
def test_discriminator_fixes_lead_to_one_score(layers, label, steps):
    spec = gan((L("Linear", out_features=784), L("Unflatten")), layers)
    ((which, problem),) = infer_gan_shapes(spec).all_problems()
    assert which == "discriminator" and "discriminator" in problem.message and problem.fix.label == label
    for _ in range(steps):
        (problem,) = infer_gan_shapes(spec).discriminator.problems
        spec = apply_gan_fix(spec, "discriminator", problem.fix)
    assert infer_gan_shapes(spec).valid
    assert build_gan(spec)[1](torch.zeros(2, 1, 28, 28)).shape == (2, 1)


def test_the_stacks_see_their_own_inputs_and_layer_problems_keep_their_fixes():
    conditional = gan((L("Linear", out_features=784), L("Unflatten")), conditional=True, latent_size=20)
    shapes = infer_gan_shapes(conditional)
    assert shapes.generator.rows[0].in_shape == (30,) and shapes.discriminator.rows[0].in_shape == (11, 28, 28)
    assert shapes.discriminator.rows[1].in_shape == (11 * 784,)
    wrong = gan((L("Linear", out_features=784), L("Conv2d")))  # an image layer on a flat vector
    (problem,) = infer_gan_shapes(wrong).generator.problems
    assert "Layer 2 (Conv2d)" in problem.message and "needs an image" in problem.message


def test_a_gan_with_a_problem_is_not_built():
    with pytest.raises(DesignError, match="generator: Layer 1 .* must end at a 1x28x28 image"):
        build_gan(gan((L("Linear", out_features=784),)))
    huge = gan((L("Linear", out_features=65536), L("Linear", out_features=65536), L("Linear", out_features=784),
                L("Unflatten")))
    with pytest.raises(DesignError, match="over the limit"):
        build_gan(huge)


def test_stacks_are_network_specs_for_editing():
    spec = GAN_PRESETS["gan-mlp"].spec
    generator = spec.stack("generator")
    assert isinstance(generator, NetworkSpec) and generator.input_shape == (64,)
    edited = spec.with_stack("generator", generator.set_param(0, "out_features", 512))
    assert edited.generator[0].params["out_features"] == 512 and edited.discriminator == spec.discriminator
    with pytest.raises(ValueError, match="unknown stack"):
        spec.stack("critic")


def _preset_dict() -> dict:
    return GAN_PRESETS["dcgan"].spec.to_dict()


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d.pop("kind"), "a classifier design, not a GAN design"),
    (lambda d: d.update(kind="vae"), "of kind 'vae', not a GAN design"),
    (lambda d: d.update(format_version=2), "unknown format_version 2"),
    (lambda d: d.pop("generator"), "'generator' is missing; it must be a list of layers"),
    (lambda d: d.update(discriminator={"layers": []}), "'discriminator' is not a list"),
    (lambda d: d.update(latent_size=0), "'latent_size' must be a whole number from 1 to 1024; got 0"),
    (lambda d: d.update(latent_size=10**5000), "'latent_size' must be a whole number from 1 to 1024"),
    (lambda d: d.update(latent_size="64"), "'latent_size' must be a whole number"),
    (lambda d: d.pop("latent_size"), "'latent_size' must be a whole number"),
    (lambda d: d.update(conditional="yes"), "'conditional' must be true or false"),
    (lambda d: d.update(name="x" * 300), "'name' is 300 characters long; at most 200"),
    (lambda d: d.update(generator=[{"type": "Linear", "params": {}}] * (MAX_LAYERS + 1)),
     "the generator has 1,001 layers; a stack has at most 1,000"),
    (lambda d: d["generator"][0]["params"].update(out_features=10**9),
     "generator: layer 1 \\(Linear\\), field 'out_features': must be at most 65536"),
    (lambda d: d["discriminator"].append({"type": "Conv3d"}), "discriminator: layer 11: unknown layer type"),
])
def test_malformed_gan_designs_give_clear_errors(change, fragment):
    data = _preset_dict()
    change(data)
    with pytest.raises(DesignError, match=fragment):
        GanSpec.from_dict(data, "mine.json")
    with pytest.raises(DesignError, match="^mine.json: "):
        GanSpec.from_dict(data, "mine.json")


def test_malformed_gan_files(tmp_path):
    with pytest.raises(DesignError, match="no such file"):
        GanSpec.load(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DesignError, match="a GAN design is a JSON object, not list"):
        GanSpec.load(tmp_path / "list.json")
    (tmp_path / "big.json").write_text(" " * (MAX_DESIGN_BYTES + 1))
    with pytest.raises(DesignError, match="too large for a design"):
        GanSpec.load(tmp_path / "big.json")
    (tmp_path / "deep.json").write_text("[" * 100_000)
    with pytest.raises(DesignError, match="nested too deeply|not valid JSON"):
        GanSpec.load(tmp_path / "deep.json")
    classifier = tmp_path / "classifier.json"
    PRESETS["mlp-300"].spec.save(classifier)
    with pytest.raises(DesignError, match="a classifier design, not a GAN design"):
        GanSpec.load(classifier)


def test_names_are_cleaned_and_latent_size_is_checked_in_code():
    spec = GanSpec("a\u202eb\nc", latent_size=8)
    assert "\u202e" not in spec.name and "\n" not in spec.name
    for bad in (0, 1025, True, 8.0):
        with pytest.raises(ValueError, match="latent size"):
            GanSpec(latent_size=bad)


def test_the_classifier_loader_says_a_gan_file_is_a_gan(tmp_path):
    from playground.core.gan_spec import GAN_PRESETS
    from playground.core.spec import DesignError, load_design

    path = tmp_path / "dcgan.json"
    GAN_PRESETS["dcgan"].spec.save(path)
    with pytest.raises(DesignError, match="a design of kind 'gan'.*not a classifier"):
        load_design(path)
