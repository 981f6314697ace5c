"""Sampling a GAN's generator (core/gan_sample.py): loading it from a run folder or a generator model
file with every check, seeded latents, images, and the great-circle path between two latents.

The run folders are written here as the GAN trainer writes them (design.json, config.json, run.json
and one weights dict of "generator."/"discriminator." keys), with freshly initialised networks."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from playground.core.config import TrainConfig
from playground.core.gan_sample import (MAX_SAMPLES, GeneratorError, GeneratorModel, is_generator_source,
                                        load_generator, save_generator_file, slerp)
from playground.core.gan_spec import GAN_PRESETS, build_gan
from playground.core.presets import PRESETS
from playground.core.weights import save_weights


def gan_state(preset: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    generator, discriminator = build_gan(GAN_PRESETS[preset].spec)
    return {**{f"generator.{k}": v for k, v in generator.state_dict().items()},
            **{f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}}


def make_gan_run(folder, preset: str = "dcgan", state=None, weights: str = "weights_best.safetensors"):
    """A GAN run folder with the files the GAN trainer writes."""
    folder.mkdir(parents=True)
    spec = GAN_PRESETS[preset].spec
    spec.save(folder / "design.json")
    TrainConfig().save(folder / "config.json")
    (folder / "run.json").write_text(json.dumps({"status": "completed", "design": spec.name,
                                                 "started": "2026-12-01T20:00:00"}))
    if weights:
        save_weights(folder / weights, gan_state(preset) if state is None else state)
    return folder


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory):
    return load_generator(make_gan_run(tmp_path_factory.mktemp("runs") / "dcgan", "dcgan"))


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    return load_generator(make_gan_run(tmp_path_factory.mktemp("runs") / "cgan", "cgan"))


def test_same_seed_same_images_bit_for_bit_and_another_seed_others(tmp_path, dcgan):
    again = load_generator(make_gan_run(tmp_path / "again", "dcgan"))  # loaded anew from its own files
    first = dcgan.images(dcgan.latents(7, 40))
    assert first.shape == (40, 28, 28) and first.dtype == np.uint8
    assert np.array_equal(first, again.images(again.latents(7, 40)))
    assert torch.equal(dcgan.latents(7, 40), again.latents(7, 40))
    other = dcgan.images(dcgan.latents(8, 40))
    assert (first != other).mean() > 0.5  # not a pixel here and there: other images
    # A batch is the first images of a larger one: the seed fixes each image, not the batch size.
    assert np.array_equal(dcgan.images(dcgan.latents(7, 5)), first[:5])


def test_latents_are_standard_normal_and_sized_by_the_spec(dcgan):
    z = dcgan.latents(0, 4000)
    assert z.shape == (4000, GAN_PRESETS["dcgan"].spec.latent_size) == (4000, dcgan.latent_size)
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01


def test_images_follow_the_tanh_output_white_ink_on_black(dcgan):
    z = dcgan.latents(3, 16)
    out = dcgan.outputs(z)
    assert out.shape == (16, 1, 28, 28) and float(out.abs().max()) <= 1
    expected = ((out[:, 0] + 1) * 127.5).round().numpy().astype(np.uint8)
    assert np.array_equal(dcgan.images(z), expected)


def test_slerp_ends_are_the_two_latents_and_the_path_is_a_great_circle(dcgan):
    z0, z1 = dcgan.latents(11, 2)
    path = slerp(z0, z1, 9)
    assert path.shape == (9, dcgan.latent_size)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    norms = path.double().norm(dim=1)
    low, high = sorted((float(z0.norm()), float(z1.norm())))
    assert all(low - 1e-4 <= float(n) <= high + 1e-4 for n in norms)
    # On the great circle: every point in the plane of z0 and z1, at evenly spaced angles.
    basis, _ = torch.linalg.qr(torch.stack([z0, z1]).double().T)
    residual = path.double() - (path.double() @ basis) @ basis.T
    assert float(residual.abs().max()) < 1e-4
    unit = path.double() / norms.unsqueeze(1)
    steps = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    total = math.acos(float(unit[0] @ unit[-1]))
    assert torch.allclose(steps, torch.full_like(steps, total / 8), atol=1e-5)
    # A straight line would pass nearer the origin than both ends.
    straight = torch.linspace(0, 1, 9).unsqueeze(1) * (z1 - z0) + z0
    assert float(straight.norm(dim=1).min()) < low - 1 < float(norms.min())


def test_slerp_of_parallel_vectors_and_bad_arguments():
    z = torch.ones(8)
    assert torch.allclose(slerp(z, 3 * z, 3)[1], 2 * z)
    with pytest.raises(GeneratorError, match="differ in size"):
        slerp(torch.ones(8), torch.ones(9), 3)
    with pytest.raises(GeneratorError, match="steps must be a whole number from 1"):
        slerp(z, z, 0)


def test_a_conditional_generator_needs_a_digit_for_each_image(cgan, dcgan):
    z = cgan.latents(0, 10)
    with pytest.raises(GeneratorError, match="is a conditional GAN: say which digit"):
        cgan.images(z)
    with pytest.raises(GeneratorError, match="one digit per latent vector: got 3 for 10"):
        cgan.images(z, [1, 2, 3])
    with pytest.raises(GeneratorError, match="from 0 to 9; got 10"):
        cgan.images(z, [10] * 10)
    sevens, ones = cgan.images(z, [7] * 10), cgan.images(z, [1] * 10)
    assert sevens.shape == (10, 28, 28) and (sevens != ones).any()  # the digit reaches the network
    with pytest.raises(GeneratorError, match="not a conditional GAN"):
        dcgan.images(dcgan.latents(0, 2), [1, 2])


def test_counts_seeds_and_latents_are_bounded(dcgan):
    for count in (0, MAX_SAMPLES + 1, 2.0, True):
        with pytest.raises(GeneratorError, match="count must be a whole number from 1 to 10,000"):
            dcgan.latents(0, count)
    for seed in (-1, 2**63, "1", 1.5):
        with pytest.raises(GeneratorError, match="seed must be a whole number from 0"):
            dcgan.latents(seed, 1)
    with pytest.raises(GeneratorError, match=r"float tensor \(N, 64\); got \(2, 65\)"):
        dcgan.images(torch.zeros(2, 65))
    with pytest.raises(GeneratorError, match="NaN or infinite"):
        dcgan.images(torch.full((2, 64), math.nan))
    with pytest.raises(GeneratorError, match="the number of latent vectors must be"):
        dcgan.images(torch.zeros(MAX_SAMPLES + 1, 64))


def test_weights_that_do_not_fit_the_design_name_the_first_mismatch(tmp_path):
    state = gan_state("dcgan")
    del state["generator.1.running_mean"]
    with pytest.raises(GeneratorError, match=r"do not fit this design .*missing \['generator.1.running_mean'\]"):
        load_generator(make_gan_run(tmp_path / "missing", state=state))
    state = gan_state("dcgan")
    state["generator.0.weight"] = torch.zeros(10, 64)
    with pytest.raises(GeneratorError, match=r"'generator.0.weight' has shape \(10, 64\) but the design needs "
                                             r"\(6272, 64\)"):
        load_generator(make_gan_run(tmp_path / "shape", state=state))
    state = gan_state("dcgan")
    state["generator.4.weight"][0, 0, 0, 0] = math.inf
    with pytest.raises(GeneratorError, match="'generator.4.weight' holds NaN or infinite values"):
        load_generator(make_gan_run(tmp_path / "inf", state=state))
    with pytest.raises(GeneratorError, match="do not fit this design"):  # another GAN's weights
        load_generator(make_gan_run(tmp_path / "other", "dcgan", state=gan_state("gan-mlp")))


def test_a_run_without_best_weights_uses_its_last_and_one_without_weights_says_so(tmp_path, dcgan):
    last = load_generator(make_gan_run(tmp_path / "last", weights="weights_last.safetensors"))
    assert np.array_equal(last.images(last.latents(1, 4)), dcgan.images(dcgan.latents(1, 4)))
    with pytest.raises(GeneratorError, match="has no weights yet"):
        load_generator(make_gan_run(tmp_path / "none", weights=""))


def test_what_is_not_a_gan_is_refused_in_words(tmp_path):
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    PRESETS["mlp-300"].spec.save(classifier / "design.json")
    cases = {classifier: "a classifier's run or model folder", tmp_path / "nothing": "no such file or folder",
             tmp_path: "not a run folder (no design.json)"}
    junk = tmp_path / "junk.pgmodel.safetensors"
    junk.write_bytes(b"hello, this is not a model" * 10)
    cases[junk] = "not a safetensors file"
    for source, words in cases.items():
        with pytest.raises(GeneratorError, match=re.escape(words)) as caught:
            load_generator(source)
        assert "give a GAN run folder or a generator model file" in str(caught.value)
        assert not is_generator_source(source)


def test_from_state_and_the_generator_model_file_give_the_run_s_images(tmp_path, cgan):
    run = make_gan_run(tmp_path / "run", "cgan")
    assert is_generator_source(run)
    z, digits = cgan.latents(5, 20), [i % 10 for i in range(20)]
    expected = cgan.images(z, digits)
    from_state = GeneratorModel.from_state(GAN_PRESETS["cgan"].spec, gan_state("cgan"))
    assert np.array_equal(from_state.images(z, digits), expected)
    file = save_generator_file(tmp_path / "g.pgmodel.safetensors", cgan.spec, cgan.state_dict())
    assert is_generator_source(file)
    loaded = load_generator(file)
    assert loaded.conditional and loaded.spec == cgan.spec
    assert np.array_equal(loaded.images(z, digits), expected)
    with pytest.raises(GeneratorError, match="no generator weights in it"):
        GeneratorModel.from_state(cgan.spec, {"discriminator.0.weight": torch.zeros(1)})
