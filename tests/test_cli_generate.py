"""``playground generate``: PNGs from a GAN run or a generator model file, the same bytes for the same
seed, and bad input refused in one line with exit code 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground.cli import main
from playground.core.config import TrainConfig
from playground.core.gan_sample import load_generator, save_generator_file
from playground.core.gan_spec import GAN_PRESETS, build_gan
from playground.core.presets import PRESETS
from playground.core.weights import save_weights


def make_gan_run(folder, preset: str):
    """A GAN run folder with the files the GAN trainer writes (freshly initialised networks)."""
    folder.mkdir(parents=True)
    spec = GAN_PRESETS[preset].spec
    spec.save(folder / "design.json")
    TrainConfig().save(folder / "config.json")
    (folder / "run.json").write_text(json.dumps({"status": "completed", "design": spec.name}))
    torch.manual_seed(0)
    generator, discriminator = build_gan(spec)
    save_weights(folder / "weights_best.safetensors",
                 {**{f"generator.{k}": v for k, v in generator.state_dict().items()},
                  **{f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}})
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {name: make_gan_run(base / name, name) for name in ("dcgan", "cgan")}


def run(capsys, *argv):
    code = main(["generate", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def pixels(path):
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (28, 28)
        return np.array(image)


def test_writes_count_pngs_white_on_black_and_one_json_object(runs, tmp_path, capsys):
    out = tmp_path / "samples"
    code, text, err = run(capsys, runs["dcgan"], "--count", 12, "--out", out, "--json")
    assert code == 0 and err == ""
    result = json.loads(text)
    names = [f"sample_{i:04d}.png" for i in range(12)]
    assert result == {"files": [str(out / n) for n in names], "digit": None, "digits": None, "seed": 0, "count": 12,
                      "source": str(runs["dcgan"]), "out": str(out)}
    assert sorted(p.name for p in out.iterdir()) == names
    generator = load_generator(runs["dcgan"])
    expected = generator.images(generator.latents(0, 12))  # the app's own images, uint8 white ink on black
    assert all(np.array_equal(pixels(out / n), image) for n, image in zip(names, expected))
    assert [p.name for p in tmp_path.iterdir()] == ["samples"]  # no temporary folder left beside it


def test_same_seed_same_png_bytes_and_another_seed_other_images(runs, tmp_path, capsys):
    for folder, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert run(capsys, runs["dcgan"], "--count", 5, "--seed", seed, "--out", tmp_path / folder)[0] == 0
    names = [f"sample_{i:04d}.png" for i in range(5)]
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    assert all(not np.array_equal(pixels(tmp_path / "a" / n), pixels(tmp_path / "c" / n)) for n in names)


def test_a_conditional_gan_draws_the_digit_asked_for_with_seed_0_by_default(runs, tmp_path, capsys):
    code, text, _ = run(capsys, runs["cgan"], "--count", 4, "--digit", 7, "--out", tmp_path / "sevens", "--json")
    result = json.loads(text)
    assert code == 0 and result["digit"] == 7 and result["digits"] == [7] * 4 and result["seed"] == 0
    generator = load_generator(runs["cgan"])
    sevens = generator.images(generator.latents(0, 4), [7] * 4)
    assert all(np.array_equal(pixels(f), image) for f, image in zip(result["files"], sevens))
    code, text, _ = run(capsys, runs["cgan"], "--count", 12, "--out", tmp_path / "all")
    assert code == 0 and text == ("wrote 12 images to " + str(tmp_path / "all")
                                  + " (sample_0000.png to sample_0011.png), seed 0, digits 0-9 in turn\n")
    turns = generator.images(generator.latents(0, 12), [i % 10 for i in range(12)])
    assert np.array_equal(pixels(tmp_path / "all" / "sample_0011.png"), turns[11])


def test_a_generator_model_file_gives_the_run_s_images(runs, tmp_path, capsys):
    generator = load_generator(runs["dcgan"])
    model = save_generator_file(tmp_path / "g.pgmodel.safetensors", generator.spec, generator.state_dict())
    run(capsys, runs["dcgan"], "--count", 3, "--seed", 9, "--out", tmp_path / "from-run")
    code, text, _ = run(capsys, model, "--count", 3, "--seed", 9, "--out", tmp_path / "from-file")
    assert code == 0 and text.startswith("wrote 3 images to ")
    for i in range(3):
        name = f"sample_{i:04d}.png"
        assert (tmp_path / "from-run" / name).read_bytes() == (tmp_path / "from-file" / name).read_bytes()


def bad_sources(folder):
    classifier = folder / "classifier-run"
    classifier.mkdir(parents=True)
    PRESETS["mlp-300"].spec.save(classifier / "design.json")
    random_file = folder / "notes.txt"
    random_file.write_text("not a model at all, just some words\n" * 5)
    return {classifier: "a classifier's run or model folder", random_file: "not a safetensors file",
            folder / "nowhere": "no such file or folder"}


def test_bad_input_is_one_line_exit_2_and_nothing_written(runs, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [((runs["dcgan"], "--digit", 3), "--digit needs a conditional GAN"),
             ((runs["cgan"], "--digit", 10), "--digit must be a whole number from 0 to 9; got '10'"),
             ((runs["cgan"], "--count", 0), "--count must be a whole number from 1 to 10,000; got '0'"),
             ((runs["cgan"], "--count", 10_001), "--count must be a whole number from 1 to 10,000"),
             ((runs["cgan"], "--count", "many"), "--count must be a whole number"),
             ((runs["cgan"], "--seed", -1), "--seed must be a whole number from 0 to"),
             ((runs["cgan"], "--seed", "0.5"), "--seed must be a whole number from 0 to"),
             ((runs["cgan"], "--seed", 2**63), "--seed must be a whole number from 0 to")]
    cases += [((source,), words) for source, words in bad_sources(tmp_path / "sources").items()]
    for argv, words in cases:
        argv = (argv[0], "--count", 2, *argv[1:]) if "--count" not in argv else argv
        code, text, err = run(capsys, *argv, "--out", out)
        assert code == 2 and text == "", argv
        assert err.startswith("playground: error: ") and words in err and err.count("\n") == 1, (argv, err)
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources"]


def test_an_existing_folder_needs_force_and_keeps_other_files(runs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "sample_0001.png").write_bytes(b"old")
    code, _, err = run(capsys, runs["dcgan"], "--count", 3, "--out", out)
    assert code == 2 and "is not empty (2 entries)" in err and "--force" in err
    assert (out / "sample_0001.png").read_bytes() == b"old"
    assert run(capsys, runs["dcgan"], "--count", 3, "--out", out, "--force")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "sample_0000.png", "sample_0001.png",
                                                     "sample_0002.png"]
    assert (out / "notes.txt").read_text() == "mine" and pixels(out / "sample_0001.png").shape == (28, 28)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(capsys, runs["dcgan"], "--count", 2, "--out", empty)[0] == 0  # an empty folder needs no --force
    assert len(list(empty.iterdir())) == 2
    code, _, err = run(capsys, runs["dcgan"], "--count", 2, "--out", out / "notes.txt")
    assert code == 2 and "is a file, not a folder" in err


def test_a_failed_write_leaves_nothing_half_written(runs, tmp_path, capsys, monkeypatch):
    import playground.core.gan_sample as gan_sample

    real, calls = gan_sample.Path.write_bytes, []

    def full_disk(self, data):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(gan_sample.Path, "write_bytes", full_disk)
    code, text, err = run(capsys, runs["dcgan"], "--count", 5, "--out", tmp_path / "new")
    assert code == 1 and text == "" and "No space left on device" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    forced = tmp_path / "forced"
    forced.mkdir()
    (forced / "keep.txt").write_text("x")
    monkeypatch.setattr(gan_sample, "atomic_write_bytes", lambda path, data: refuse() if "0002" in path.name
                        else real(path, data))
    code, _, err = run(capsys, runs["dcgan"], "--count", 5, "--out", forced, "--force")
    assert code == 1 and "2 of 5 images were written" in err
    assert sorted(p.name for p in forced.iterdir()) == ["keep.txt", "sample_0000.png", "sample_0001.png"]


def test_a_folder_without_write_permission_is_refused_before_anything_is_made(runs, tmp_path, capsys, monkeypatch):
    import playground.core.gan_sample as gan_sample

    locked = tmp_path / "locked"
    locked.mkdir()
    # As root every folder is writable: refuse the way the OS answers a user for this folder.
    real = gan_sample.os.access
    monkeypatch.setattr(gan_sample.os, "access", lambda path, mode: Path(path) != locked and real(path, mode))
    for out in (locked / "new", locked):
        code, text, err = run(capsys, runs["dcgan"], "--count", 2, "--out", out)
        assert code == 2 and f"{locked}: no permission to write in this folder" in err
    assert list(locked.iterdir()) == []
