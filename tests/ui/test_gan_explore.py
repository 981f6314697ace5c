"""The GAN tab's Explore view: samples by seed, a great-circle path between two clicked samples, and
the digit chooser of a conditional GAN, on generators with random weights (what matters here is
which images are shown, not how good they are)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from playground.core.gan_spec import GAN_PRESETS, build_gan


def random_generator(preset: str, seed: int = 0):
    from playground.core.gan_sample import GeneratorModel

    torch.manual_seed(seed)
    spec = GAN_PRESETS[preset].spec
    generator, discriminator = build_gan(spec)
    state = {**{f"generator.{k}": v for k, v in generator.state_dict().items()},
             **{f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}}
    return GeneratorModel.from_state(spec, state), state


@pytest.fixture
def view(qtbot):
    from playground.ui.gan_explore import GanExploreView
    from playground.ui.run_library import RunLibrary

    view = GanExploreView(RunLibrary())
    qtbot.addWidget(view)
    view.resize(900, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def click_sample(qtbot, grid, index):
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(index).center())


def test_the_grid_shows_the_seeds_samples_and_new_samples_moves_to_the_next_seed(qtbot, view):
    model, _ = random_generator("gan-mlp")
    view.set_model(model)
    qtbot.waitUntil(lambda: len(view.grid.images) == 64)
    assert np.array_equal(view.grid.images, model.images(model.latents(0, 64)))
    assert view.digit_row.isHidden()  # not conditional: no digit chooser
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    assert view.seed_box.value() == 1
    expected = model.images(model.latents(1, 64))
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, expected))
    assert not np.array_equal(expected, model.images(model.latents(0, 64)))


def test_clicking_two_samples_makes_a_path_from_one_to_the_other(qtbot, view):
    model, _ = random_generator("gan-mlp")
    view.set_model(model)
    qtbot.waitUntil(lambda: len(view.grid.images) == 64)
    click_sample(qtbot, view.grid, 3)
    assert view.grid.marks == {3: "start"} and len(view.strip.images) == 0
    click_sample(qtbot, view.grid, 42)
    assert view.grid.marks == {3: "start", 42: "end"}
    qtbot.waitUntil(lambda: len(view.strip.images) == 10)
    frames = view.strip.images
    assert np.array_equal(frames[0], view.grid.images[3])
    assert np.array_equal(frames[-1], view.grid.images[42])
    # The frames between are new images on the way, not copies of the ends.
    middle = frames[5].astype(int)
    assert np.abs(middle - frames[0]).sum() > 0 and np.abs(middle - frames[-1]).sum() > 0
    from playground.core.gan_sample import slerp

    z = model.latents(0, 64)
    assert np.array_equal(frames, model.images(slerp(z[3], z[42], 10)))

    click_sample(qtbot, view.grid, 7)  # a third click starts a new path
    assert view.grid.marks == {7: "start"}
    qtbot.mouseClick(view.random_end_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: np.array_equal(view.strip.images[0], view.grid.images[7]))
    assert not np.array_equal(view.strip.images[-1], view.grid.images[42])


def test_digit_keys_and_buttons_choose_the_digit_of_a_conditional_grid(qtbot, view):
    model, _ = random_generator("cgan")
    view.set_model(model)
    qtbot.waitUntil(lambda: len(view.grid.images) == 64)
    z = model.latents(0, 64)
    assert not view.digit_row.isHidden()
    assert np.array_equal(view.grid.images, model.images(z, [0] * 64))
    assert view.grid.labels == ["0"] * 8

    qtbot.keyClick(view.grid, Qt.Key.Key_7)
    assert view.digit == 7 and view.digit_buttons[7].isChecked()
    expected = model.images(z, [7] * 64)
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, expected))
    assert view.grid.labels == ["7"] * 8
    assert not np.array_equal(expected, model.images(z, [0] * 64))

    qtbot.mouseClick(view.digit_buttons[2], Qt.MouseButton.LeftButton)
    assert view.digit == 2
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, model.images(z, [2] * 64)))

    # The seed field keeps its digits: typing 5 there is a seed, not a digit.
    view.seed_box.setFocus()
    view.seed_box.selectAll()
    qtbot.keyClick(view.seed_box, Qt.Key.Key_5)
    assert view.seed_box.value() == 5 and view.digit == 2


def test_a_gan_run_folder_opens_in_the_explorer(qtbot, view, tmp_path):
    folder, model = gan_run_folder(tmp_path, "run", "dcgan", 3)
    view.show_run(folder, "dcgan test run")
    qtbot.waitUntil(lambda: view.model is not None, timeout=20_000)
    assert view.run_box.currentText() == "dcgan test run"
    expected = model.images(model.latents(0, 64))
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, expected), timeout=20_000)


def test_a_folder_that_is_not_a_gan_run_says_so(qtbot, view, tmp_path):
    view.show_run(tmp_path, "not a run")
    qtbot.waitUntil(lambda: view.status.text().startswith("Cannot load this generator"), timeout=20_000)
    assert "design.json" in view.status.text()
    assert view.model is None


class ListedRun:
    """What the explorer reads of a library's RunRecord."""

    def __init__(self, path, label, kind):
        self.path, self.label, self.kind = path, label, kind
        self.finished, self.has_last_weights = True, True


def gan_run_folder(tmp_path, name, preset, seed):
    from playground.core.weights import save_weights

    model, state = random_generator(preset, seed)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "design.json").write_text(json.dumps(GAN_PRESETS[preset].spec.to_dict()))
    save_weights(folder / "weights_best.safetensors", state)
    return folder, model


def test_the_chooser_lists_the_librarys_gan_runs_only_and_loads_the_one_chosen(qtbot, view, tmp_path):
    library = view.library
    first, first_model = gan_run_folder(tmp_path, "first", "gan-mlp", 1)
    second, second_model = gan_run_folder(tmp_path, "second", "cgan", 2)
    for run in (ListedRun(first, "gan-mlp run", "gan"), ListedRun(tmp_path, "a classifier", "classifier"),
                ListedRun(second, "cgan run", "gan")):
        library.runs.append(run)
        library.run_added.emit(run)
    box = view.run_box
    assert [box.itemText(i) for i in range(box.count())] == ["cgan run", "gan-mlp run"]  # newest first
    assert box.currentIndex() == -1 and view.model is None  # nothing loaded until one is chosen
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: view.model is not None and view.model.conditional, timeout=20_000)
    expected = second_model.images(second_model.latents(0, 64), [0] * 64)
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, expected), timeout=20_000)
    qtbot.keyClick(box, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: view.model is not None and not view.model.conditional, timeout=20_000)
    assert view.digit_row.isHidden()
    expected = first_model.images(first_model.latents(0, 64))
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, expected), timeout=20_000)
