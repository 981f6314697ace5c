"""Inside a run (issue 16), in the window: the Train area's "What it learned" page shows the first
layer's filters of the run chosen in the list, "Weights & gradients" shows a heatmap column per
histogram snapshot and names a dead layer in words, and the Evaluate gallery's "Show what it looks at"
paints the icons over with saliency. On small runs trained here on a few hundred real MNIST images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig

CONV = NetworkSpec((L("Conv2d", out_channels=6, kernel_size=5), L("ReLU"), L("MaxPool2d", kernel_size=2),
                    L("Flatten"), L("Linear", out_features=10)), name="small-cnn")
# Its hidden layer's bias is so negative that the ReLU after it is never on: no gradient reaches
# the hidden layer (nor the weights after the ReLU), a dead layer made on purpose.
DEAD = NetworkSpec((L("Flatten"), L("Linear", out_features=16), L("ReLU"), L("Linear", out_features=10)),
                   name="dead-mlp")
LSTM = NetworkSpec((L("LSTM", hidden_size=16), L("Linear", out_features=10)), name="small-lstm")
CONFIG = TrainConfig(epochs=2, batch_size=32, limit=320, test_limit=200, val_fraction=0.1, device="cpu",
                     optimizer="adam", lr=0.003)
SHOTS = Path("/tmp/shots-runinside")


def train(folder: Path, spec: NetworkSpec, initial_state=None, epochs: int = 2) -> list[dict]:
    from playground.core.train import Trainer

    trainer = Trainer(spec, CONFIG.updated(epochs=epochs), run_dir=folder, initial_state=initial_state,
                      report_interval=0.0)
    events = list(trainer.run())
    assert events[-1]["type"] == "finished" and events[-1]["status"] == "completed"
    return events


def dead_initial_state():
    import torch

    from playground.core.build import build_model

    torch.manual_seed(0)
    state = build_model(DEAD).state_dict()
    state["1.bias"] = torch.full_like(state["1.bias"], -1000.0)
    return state


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    """A data folder holding three finished runs: a small CNN, an MLP with a dead layer, an LSTM."""
    import os

    base = tmp_path_factory.mktemp("inside") / "data"
    runs = base / "runs"
    old = os.environ.get("PLAYGROUND_DATA_DIR")
    os.environ["PLAYGROUND_DATA_DIR"] = str(base)
    try:
        train(runs / "small-cnn", CONV)
        train(runs / "dead-mlp", DEAD, dead_initial_state())
        train(runs / "small-lstm", LSTM, epochs=1)
    finally:
        if old is None:
            del os.environ["PLAYGROUND_DATA_DIR"]
        else:
            os.environ["PLAYGROUND_DATA_DIR"] = old
    return base


@pytest.fixture
def window(data_folder, ready_window, monkeypatch, qtbot):
    """The window listing the three runs, on the Train tab."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(data_folder))
    window = ready_window
    window.resize(1280, 820)
    window._torch_loaded("CPU", 0.0, ["cpu"])  # lists the runs on disk, as at launch
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(window.train_area)).center())
    qtbot.waitUntil(window.train_area.isVisible, timeout=10_000)
    return window


def run_named(window, name):
    return next(r for r in window.library.runs if r.spec.name == name)


def select_run(qtbot, area, name):
    runs = area.run_list
    item = next(runs.topLevelItem(i) for i in range(runs.topLevelItemCount())
                if area._run_of(runs.topLevelItem(i)).spec.name == name)
    runs.scrollToItem(item)
    QApplication.processEvents()
    pos = QPoint(10, runs.visualItemRect(item).center().y())  # on its name (its columns may be wider)
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert area.selected_runs()[0].spec.name == name


def click_page(qtbot, area, title):
    bar = area.pages.tabBar()
    index = next(i for i in range(bar.count()) if bar.tabText(i).replace("&&", "&") == title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert area.pages.currentIndex() == index
    return area.pages.currentWidget()


def save(widget, name):
    QApplication.processEvents()  # layouts settle (new rows, wrapped text) before the picture
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / name))


def colours_in(image, rect) -> set[tuple[int, int, int]]:
    return {QColor(image.pixel(x, y)).getRgb()[:3] for x in range(rect.left(), rect.right(), 2)
            for y in range(rect.top(), rect.bottom(), 2)}


def test_what_it_learned_shows_the_first_layers_filters(window, qtbot):
    area = window.train_area
    select_run(qtbot, area, "small-cnn")
    page = click_page(qtbot, area, "What it learned")
    qtbot.waitUntil(lambda: page.learned is not None, timeout=20_000)
    assert page.grid.count == 6 and page.grid.images.shape == (6, 5, 5)  # out_channels, kernel 5
    assert "after 2 epochs" in page.title.text() and "6 filters of 5x5" in page.note.text()
    # The filters are the run's last weights, drawn: six cells with more than one colour each.
    from playground.core.runs import load_weights

    weights = load_weights(run_named(window, "small-cnn").weights_path("last"))["0.weight"].numpy()
    np.testing.assert_allclose(page.grid.images, weights[:, 0], rtol=1e-6)
    qtbot.waitUntil(lambda: page.grid.grid()[2] > 20, timeout=5_000)
    image = page.grid.grab().toImage()
    for i in range(6):
        assert len(colours_in(image, page.grid.cell_rect(i).adjusted(2, 2, -2, -2))) > 3
    save(area, "learned-conv.png")
    # A Linear layer on the flattened image: its 16 units as 28x28 templates.
    select_run(qtbot, area, "dead-mlp")
    qtbot.waitUntil(lambda: page.learned is not None and page.grid.count == 16, timeout=20_000)
    assert page.grid.images.shape == (16, 28, 28) and "16 units" in page.note.text()
    # An LSTM first: said in words, no grid.
    select_run(qtbot, area, "small-lstm")
    qtbot.waitUntil(lambda: "row by row" in page.note.text(), timeout=20_000)
    assert page.grid.count == 0 and not page.legend.isVisible()


def test_the_page_chosen_is_remembered(window, qtbot):
    from PySide6.QtCore import QSettings

    from playground.ui.train_area import PAGE_KEY

    click_page(qtbot, window.train_area, "Weights & gradients")
    assert int(QSettings().value(PAGE_KEY)) == 2
    from playground.ui.train_area import TrainArea

    again = TrainArea(window.document, window.library)
    qtbot.addWidget(again)
    assert again.pages.currentWidget() is again.histograms_page


def test_heatmaps_have_a_column_per_snapshot_and_name_a_dead_layer(window, qtbot):
    area = window.train_area
    select_run(qtbot, area, "small-cnn")
    page = click_page(qtbot, area, "Weights & gradients")
    run = run_named(window, "small-cnn")
    snapshots = [e for e in run.events if e["type"] == "histograms"]
    assert len(snapshots) >= 8  # four an epoch, two epochs
    assert sorted(page.rows) == [0, 4]  # the layers with weights: the Conv2d and the Linear
    for index, row in page.rows.items():
        layer = snapshots[0]["layers"][[lay["index"] for lay in snapshots[0]["layers"]].index(index)]
        assert row.matrices["weight"].shape == (len(snapshots), len(layer["weight_counts"]))
        assert row.matrices["grad"].shape == (len(snapshots), len(layer["grad_counts"]))
        assert row.images["weight"].image.shape == (len(snapshots), len(layer["weight_counts"]))  # drawn
        assert row.images["grad"].image.shape == (len(snapshots), len(layer["grad_counts"]))
    assert page.warning_text == ""
    qtbot.waitUntil(lambda: all(row.isVisible() and row.height() >= 150 for row in page.rows.values()),
                    timeout=5_000)
    save(area, "histograms-conv.png")
    select_run(qtbot, area, "dead-mlp")
    assert sorted(page.rows) == [1, 3]
    assert page.warning_text.startswith("Layer 2 (Linear): all of its gradients are exactly 0")
    assert page.warnings.isVisible()
    warnings = page.warnings
    qtbot.waitUntil(lambda: warnings.height() >= warnings.heightForWidth(warnings.width()), timeout=5_000)
    save(area, "histograms-dead.png")


def test_show_what_it_looks_at_paints_the_gallery_icons(window, qtbot):
    run = run_named(window, "small-cnn")
    window.evaluate_run(run)
    evaluate = window.evaluate_area
    qtbot.waitUntil(lambda: evaluate.images is not None and evaluate.shown_count > 0, timeout=30_000)
    gallery = evaluate.gallery

    def icons():
        return [gallery.item(i).icon().pixmap(56, 56).toImage() for i in range(gallery.count())]

    def coloured(image):  # a grey digit has r == g == b everywhere
        return any(len(set(QColor(image.pixel(x, y)).getRgb()[:3])) > 1 for x in range(0, 56, 2)
                   for y in range(0, 56, 2))

    plain = icons()
    assert not any(coloured(i) for i in plain)
    box = evaluate.saliency_box
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert evaluate.saliency_box.isChecked()
    qtbot.waitUntil(lambda: evaluate.saliency.pending == 0, timeout=30_000)
    painted = icons()
    assert all(coloured(i) for i in painted)
    assert all(a != b for a, b in zip(plain, painted))
    save(evaluate, "gallery-saliency.png")
    # The saliency is the core's, for the predicted class.
    from playground.core.explain import saliency

    index = run.evaluation.misclassified[0]
    expected = saliency(run.load_model("best"), run.spec, evaluate.images[index].numpy() / 255.0,
                        run.evaluation.predictions[index])
    np.testing.assert_allclose(evaluate.saliency._cache["gradient-x-input", index], expected, rtol=1e-4, atol=1e-6)
    # Grad-CAM, chosen with the keyboard: other icons, the core's maps.
    combo = evaluate.saliency_method
    assert combo.isVisible() and combo.currentData() == "gradient-x-input"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentData() == "grad-cam" and "Grad-CAM" in evaluate.saliency_note.text()
    qtbot.waitUntil(lambda: evaluate.saliency.pending == 0, timeout=30_000)
    cam = icons()
    assert all(a != b for a, b in zip(painted, cam))
    save(evaluate, "gallery-grad-cam.png")
    expected = saliency(run.load_model("best"), run.spec, evaluate.images[index].numpy() / 255.0,
                        run.evaluation.predictions[index], "grad-cam")
    np.testing.assert_allclose(evaluate.saliency._cache["grad-cam", index], expected, rtol=1e-4, atol=1e-6)
    qtbot.keyClick(combo, Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: evaluate.saliency.pending == 0, timeout=30_000)
    assert [i == p for i, p in zip(icons(), painted)] == [True] * len(painted)  # kept, not computed again
    evaluate.saliency_box.setFocus()
    qtbot.keyClick(evaluate.saliency_box, Qt.Key.Key_Space)  # off again: the plain icons
    assert not evaluate.saliency_box.isChecked()
    assert [i == p for i, p in zip(icons(), plain)] == [True] * len(plain)
    assert not combo.isVisible()
    # A design without convolutions offers no Grad-CAM.
    window.evaluate_run(run_named(window, "small-lstm"))
    assert not combo.model().item(combo.findData("grad-cam")).isEnabled()


def test_a_run_in_training_shows_its_filters_and_histograms_as_they_change(own_data_folder, active_window, qtbot):
    window, area = active_window, active_window.train_area
    window.new_from_preset("lenet5")  # a first Conv2d of 6 filters, 5x5
    area.form.set_config(CONFIG.updated(epochs=30))
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(area)).center())
    page = click_page(qtbot, area, "What it learned")
    qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
    assert area.training
    run = window.library.current
    # Each epoch's end re-reads the weights: the filters of epoch 1, then of a later epoch, differ.
    qtbot.waitUntil(lambda: page.learned is not None and "after epoch" in page.title.text(), timeout=120_000)
    assert page.grid.count == 6 and "(training)" in page.title.text()
    first = page.grid.images.copy()
    epoch = len(run.epochs)
    qtbot.waitUntil(lambda: len(run.epochs) > epoch and f"after epoch {len(run.epochs)}" in page.title.text()
                    and not page.loading, timeout=120_000)
    assert not np.allclose(page.grid.images, first)
    # The histograms page follows the events as they come.
    histograms = click_page(qtbot, area, "Weights & gradients")
    qtbot.waitUntil(lambda: sorted(histograms.rows) == [0, 3, 7, 9, 11], timeout=30_000)  # 2 conv, 3 linear

    def drawn():
        return histograms.rows[0].matrices["weight"].shape[0]

    count = drawn()
    qtbot.waitUntil(lambda: drawn() > count, timeout=120_000)
    with qtbot.waitSignal(window.library.run_finished, timeout=120_000):
        qtbot.mouseClick(area.stop_button, Qt.MouseButton.LeftButton)
    click_page(qtbot, area, "What it learned")  # the weights kept when it stopped
    qtbot.waitUntil(lambda: not page.loading and "(training)" not in page.title.text(), timeout=20_000)
    assert f"after {len(run.epochs)} epochs" in page.title.text() and page.grid.count == 6


@pytest.fixture(params=["light", "dark"])
def palette_kind(request, qapp):
    from playground.ui import theme

    old = qapp.palette()
    if request.param == "dark":
        qapp.setPalette(theme.dark_palette())
    yield request.param
    qapp.setPalette(old)


@pytest.mark.parametrize("size", [(800, 600), (1280, 800)])
def test_the_pages_read_well_and_fit(palette_kind, size, window, qtbot):
    from test_looks import clipped_widgets, unreadable_texts

    area = window.train_area
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size)
    problems = []
    learned, histograms = area.learned_page, area.histograms_page
    for name in ("small-cnn", "dead-mlp"):
        select_run(qtbot, area, name)
        click_page(qtbot, area, "What it learned")
        qtbot.waitUntil(lambda: learned.learned is not None and not learned.loading, timeout=20_000)
        QApplication.processEvents()
        problems += [f"{name}, filters: {p}" for p in unreadable_texts(window) + clipped_widgets(window)]
        click_page(qtbot, area, "Weights & gradients")
        qtbot.waitUntil(lambda: histograms.rows and all(r.isVisible() for r in histograms.rows.values()),
                        timeout=5_000)
        QApplication.processEvents()
        problems += [f"{name}, histograms: {p}" for p in unreadable_texts(window) + clipped_widgets(window)]
        for row in histograms.rows.values():  # the plots fit their row: nothing cut at the right
            need = row.view.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
            if need > row.view.width():
                problems.append(f"{name}, layer {row.index + 1}: the heatmaps need {need:.0f} px, have "
                                f"{row.view.width()}")
        save(area, f"{name}-{palette_kind}-{size[0]}.png")
    assert problems == []
    assert histograms.warning_text  # the dead layer's warning was among the texts checked
    # Zero weight is drawn in the background colour, in either palette.
    from PySide6.QtGui import QPalette

    image = learned.legend.grab().toImage()
    middle = QColor(image.pixel(4 + min(220, max(learned.legend.width() // 3, 90)) // 2, 10))
    base = learned.palette().color(QPalette.ColorRole.Base)
    assert abs(middle.lightnessF() - base.lightnessF()) < 0.1


@pytest.fixture
def stranger_window(data_folder, ready_window, monkeypatch, qtbot, tmp_path):
    """The window listing one run copied from the small CNN as a stranger could have left it: a
    histograms event with a step past int64, one with a weight range of +-1e308, a steps_per_epoch
    that disagrees with the events' epochs, and a damaged weights_last."""
    import json
    import re
    import shutil

    runs = tmp_path / "data" / "runs"
    folder = runs / "stranger-cnn"
    shutil.copytree(data_folder / "runs" / "small-cnn", folder)
    design = json.loads((folder / "design.json").read_text())
    design["name"] = "stranger-cnn"
    (folder / "design.json").write_text(json.dumps(design))
    metrics = folder / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    good = next(json.loads(line) for line in lines if '"histograms"' in line)
    huge = json.loads(json.dumps(good))
    for layer in huge["layers"]:
        layer["weight_range"] = [-1e308, 1e308]
    # The latest event: one good layer, a malformed one, and junk.
    junk = next(json.loads(line) for line in reversed(lines) if '"histograms"' in line)
    junk["layers"] = ["x", None, dict(junk["layers"][1], grad_counts="many"), junk["layers"][1]]
    lines += [json.dumps(dict(good, step=10 ** 30)), json.dumps(huge), json.dumps(dict(junk, step=junk["step"] + 1))]
    metrics.write_text(re.sub(r'"steps_per_epoch": \d+', '"steps_per_epoch": 3', "\n".join(lines)) + "\n")
    (folder / "weights_last.safetensors").write_bytes(b"not safetensors")
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    window = ready_window
    window.resize(1280, 820)
    window._torch_loaded("CPU", 0.0, ["cpu"])
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(window.train_area)).center())
    qtbot.waitUntil(window.train_area.isVisible, timeout=10_000)
    return window


def test_a_strangers_damaged_run_is_drawn_from_what_is_readable(stranger_window, qtbot):
    window = stranger_window
    area = window.train_area
    select_run(qtbot, area, "stranger-cnn")
    page = click_page(qtbot, area, "Weights & gradients")
    run = run_named(window, "stranger-cnn")
    good = [e for e in run.events if e.get("type") == "histograms"][:-3]  # the last three are the bad ones
    assert sorted(page.rows) == [4] and "Select a run" not in page.warnings.text()  # the latest event's good layer
    for row in page.rows.values():
        assert row.matrices["weight"].shape[0] == len(good) + 1
        assert row.plots["weight"].getAxis("bottom").labelText == "epoch"
        rect = row.images["weight"].mapRectToParent(row.images["weight"].boundingRect())
        assert 0.0 <= rect.left() < 0.5 and 1.5 < rect.right() <= 2.5  # two epochs, not steps/3
    page = click_page(qtbot, area, "What it learned")
    qtbot.waitUntil(lambda: page.learned is not None, timeout=20_000)  # read from weights_best
    assert page.grid.count == 6 and "Cannot read" not in page.note.text()
