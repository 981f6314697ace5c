"""Each classifier epoch's weights in the run folder (time travel): kept at each epoch's end, loaded
back they give the very guesses of that epoch's weights, a model too big gets a note and no files,
and a stranger's epochs/ folder is read safely."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.gan_spec import GAN_PRESETS
from playground.core.gan_task import GanTask
from playground.core.predict import Classifier
from playground.core.runs import (EPOCH_WEIGHTS_LIMIT, EPOCHS_DIR, LAST_WEIGHTS, MAX_EPOCH_FILES, RunError,
                                  RunFolderError, RunRecord, RunWriter, check_new_run_dir, design_weights_bytes,
                                  epoch_file_name, epochs_kept, load_run, load_weights)
from playground.core.train import Trainer

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")


@pytest.fixture(scope="module")
def small():
    """480 training, 120 validation and 200 test images of the real MNIST."""
    return load_dataset("mnist", val_fraction=0.2, seed=0, limit=600, test_limit=200)


def config(**kw) -> TrainConfig:
    base = dict(optimizer="adam", lr=0.003, batch_size=32, epochs=3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def three_epochs(small, tmp_path_factory):
    """A 3-epoch run, with the weights the trainer held at each epoch's end."""
    folder = tmp_path_factory.mktemp("travel") / "run"
    trainer = Trainer(MLP, config(), data=small, run_dir=folder)
    held = {}
    for event in trainer.run():
        if event["type"] == "epoch":
            held[event["epoch"]] = trainer.latest_weights()
            # The epoch's file is on disk when its epoch event comes.
            assert (folder / EPOCHS_DIR / epoch_file_name(event["epoch"])).is_file()
    return folder, held


def digits(small, n=100) -> np.ndarray:
    return small.test.images[:n].numpy().astype(np.float32) / 255.0


def test_each_epoch_gives_the_guesses_of_that_epochs_weights(small, three_epochs):
    folder, held = three_epochs
    run = load_run(folder)
    assert run.epoch_numbers() == [1, 2, 3] and run.time_travel_note() is None
    assert sorted(os.listdir(folder / EPOCHS_DIR)) == ["epoch-001.safetensors", "epoch-002.safetensors",
                                                      "epoch-003.safetensors"]  # no temporary file left
    images = digits(small)
    probabilities = {}
    for epoch in run.epoch_numbers():
        travelled = Classifier.from_weights_file(run.spec, run.epoch_weights_path(epoch))
        direct = Classifier(MLP, held[epoch])
        p = np.stack([travelled.probabilities(image) for image in images])
        assert np.array_equal(p, np.stack([direct.probabilities(image) for image in images]))
        probabilities[epoch] = p
    # The epochs differ (time travel shows something), and the last is the run's last weights.
    guesses = {epoch: p.argmax(1) for epoch, p in probabilities.items()}
    assert not np.array_equal(probabilities[1], probabilities[3])
    labels = small.test.labels[:100].numpy()
    assert (guesses[3] == labels).mean() > 0.7
    last = load_weights(folder / LAST_WEIGHTS)
    third = load_weights(run.epoch_weights_path(3))
    assert all(torch.equal(last[k], third[k]) for k in last)


def test_a_model_too_big_gets_a_note_and_no_files(tmp_path):
    wide = NetworkSpec((L("Flatten"), L("Linear", out_features=7000), L("ReLU"), L("Linear", out_features=10)),
                       name="wide")
    size = design_weights_bytes(wide)
    assert size > EPOCH_WEIGHTS_LIMIT and epochs_kept(size) == 0
    data = load_dataset("mnist", val_fraction=0.0, seed=0, limit=64, test_limit=64)
    events = list(Trainer(wide, config(epochs=1, batch_size=64), data=data, run_dir=tmp_path / "run").run())
    assert events[-1]["status"] == "completed"
    run = load_run(tmp_path / "run")
    assert run.has_last_weights and not (tmp_path / "run" / EPOCHS_DIR).exists()
    assert run.epoch_numbers() == []
    assert run.time_travel_note() == "weights of 22.3 MB are over the 20 MB kept per epoch"


def test_notes_for_runs_without_epochs(tmp_path, three_epochs):
    live = RunRecord.new(MLP, config(), tmp_path / "live")
    assert live.epoch_numbers() == [] and live.time_travel_note() == "no epoch has finished yet"
    # A run from before epochs were kept (or whose epochs/ was deleted).
    folder, _ = three_epochs
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    shutil.rmtree(old / EPOCHS_DIR)
    assert load_run(old).time_travel_note() == ("it kept no weights per epoch (trained by an earlier version, "
                                                "or they were deleted)")
    gan = RunRecord(None, GAN_PRESETS["dcgan"].spec, config())
    assert gan.kind == "gan" and gan.time_travel_note() == "a GAN run keeps no weights per epoch"
    assert GanTask.keeps_epoch_weights is False
    # A long run keeps its first epochs only, and says so.
    size = design_weights_bytes(MLP)
    long = load_run(folder)
    long.summary["epochs_completed"] = epochs_kept(size) + 1
    assert long.time_travel_note().startswith(f"only its first {epochs_kept(size):,} epochs' weights are kept")


def test_only_epoch_files_count_in_a_strangers_folder(tmp_path, three_epochs):
    folder, _ = three_epochs
    run_dir = tmp_path / "run"
    shutil.copytree(folder, run_dir)
    epochs = run_dir / EPOCHS_DIR
    for name in ("epoch-1.safetensors", "epoch-0002.safetensors", "epoch-000.safetensors", "epoch-9999.safetensors",
                 "epoch-004.safetensors.tmp", ".epoch-005.safetensors.x1y2.tmp", "epoch-006.pt", "notes.txt",
                 "epoch-00a.safetensors", "epoch-007.safetensors\n"):
        (epochs / name).write_bytes(b"junk")
    (epochs / "epoch-008.safetensors").mkdir()
    (epochs / "epoch-009.safetensors").symlink_to(run_dir / LAST_WEIGHTS)
    os.mkfifo(epochs / "epoch-010.safetensors")
    run = load_run(run_dir)
    assert run.epoch_numbers() == [1, 2, 3]
    # A damaged epoch file is refused with a reason, never unpickled nor a traceback.
    run.epoch_weights_path(2).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(RunError, match="epoch-002.safetensors"):
        Classifier.from_weights_file(run.spec, run.epoch_weights_path(2))
    for bad in (0, -1, True, 1.0, "1"):
        with pytest.raises(RunError, match="an epoch is a whole number from 1"):
            run.epoch_weights_path(bad)
    # Thousands of files: at most MAX_EPOCH_FILES epochs count.
    for epoch in range(11, MAX_EPOCH_FILES + 300):
        (epochs / epoch_file_name(epoch)).write_bytes(b"")
    assert run.epoch_numbers() == [1, 2, 3, *range(11, MAX_EPOCH_FILES + 1)]
    # epochs/ as a file, or a link to a folder: no epochs.
    shutil.rmtree(epochs)
    epochs.write_bytes(b"not a folder")
    assert run.epoch_numbers() == []
    epochs.unlink()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(folder / EPOCHS_DIR, elsewhere)
    epochs.symlink_to(elsewhere, target_is_directory=True)
    assert run.epoch_numbers() == []


def test_a_folder_holding_epochs_is_a_run_folder(tmp_path):
    folder = tmp_path / "taken"
    (folder / EPOCHS_DIR).mkdir(parents=True)
    with pytest.raises(RunFolderError, match="already holds a run"):
        check_new_run_dir(folder)
    with pytest.raises(RunFolderError, match="already holds a run"):
        RunWriter(folder, MLP, config())


def test_a_continued_run_numbers_its_own_epochs(small, three_epochs, tmp_path):
    """Continuing makes a new run folder; its epochs are numbered as its own events number them (the
    window draws its curves after those of the run it continues)."""
    folder, held = three_epochs
    events = list(Trainer(MLP, config(epochs=2), data=small, run_dir=tmp_path / "more",
                          initial_state=load_weights(folder / LAST_WEIGHTS)).run())
    run = load_run(tmp_path / "more")
    assert run.epoch_numbers() == [e["epoch"] for e in events if e["type"] == "epoch"] == [1, 2]
    assert load_run(folder).epoch_numbers() == [1, 2, 3]  # the first run's are untouched
    first = load_weights(run.epoch_weights_path(1))
    assert not all(torch.equal(first[k], held[3][k]) for k in first)  # trained on from epoch 3's
