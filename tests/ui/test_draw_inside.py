"""Inside the network, on the Draw tab (issue 16), driven with the real mouse and keys: every layer's
output as you draw, what the network looks at (for the guess or a clicked bar's digit), the map of
test images with the drawing's marker, and time travel through a real run's epochs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QToolButton

from playground.core.shapes import infer_shapes

# Digits as strokes in a unit box (x right, y down).
SEVEN = [[(0.15, 0.08), (0.85, 0.08), (0.65, 0.4), (0.45, 0.95)]]
ONE = [[(0.5, 0.05), (0.5, 0.95)]]
ZERO = [[(0.5, 0.05), (0.2, 0.2), (0.15, 0.5), (0.25, 0.85), (0.5, 0.95), (0.75, 0.85), (0.85, 0.5), (0.8, 0.2),
         (0.5, 0.05)]]


def stroke_points(pad, stroke, box=(0.25, 0.2, 0.5), steps=6) -> list[QPoint]:
    """A stroke given in a unit box, placed at (x, y, size) as shares of the pad's side."""
    side = min(pad.width(), pad.height())
    x0, y0, size = (v * side for v in box)
    points = []
    for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
        for i in range(steps):
            t = i / steps
            points.append(QPoint(int(x0 + size * (ax + t * (bx - ax))), int(y0 + size * (ay + t * (by - ay)))))
    points.append(QPoint(int(x0 + size * stroke[-1][0]), int(y0 + size * stroke[-1][1])))
    return points


def draw_strokes(qtbot, pad, strokes, box=(0.25, 0.2, 0.5), steps=6):
    for stroke in strokes:
        points = stroke_points(pad, stroke, box, steps)
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
        for p in points[1:]:
            qtbot.mouseMove(pad, p)
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


def click_tab(qtbot, tabs, widget):
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tabs.indexOf(widget)).center())
    qtbot.waitUntil(widget.isVisible, timeout=10_000)


def settled(qtbot, draw):
    """Wait until the drawing as it is now has been classified and the views follow it."""
    qtbot.waitUntil(lambda: not draw.timer.isActive() and draw.probabilities is not None, timeout=10_000)


@pytest.fixture
def draw(ready_window, qtbot):
    window = ready_window
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(window.draw_area)).center())
    qtbot.waitUntil(window.draw_area.isVisible, timeout=10_000)
    return window.draw_area


def random_classifier(preset: str):
    """A preset with its initial (random) weights: the views' shapes do not depend on the weights."""
    import torch

    from playground.core.build import build_model
    from playground.core.predict import Classifier
    from playground.core.presets import get_preset

    spec = get_preset(preset).spec
    torch.manual_seed(0)
    return Classifier(spec, build_model(spec).state_dict(), preset)


# -- every layer's output ---------------------------------------------------------------------------------


def expected_cells(spec):
    """(kind, count, shape) per layer, from the shape inference alone."""
    cells = []
    for layer, row in zip(spec.layers, infer_shapes(spec).rows):
        shape = tuple(row.out_shape)
        if layer.type in ("RNN", "LSTM", "GRU"):
            cells.append(("steps", shape[0], shape))
        elif len(shape) == 3:
            cells.append(("maps", shape[0], shape))
        else:
            cells.append(("units", int(np.prod(shape)), shape))
    return cells


def test_drawing_fills_every_layers_view_for_the_default_model(draw, qtbot):
    click_tab(qtbot, draw.views, draw.inside)
    view = draw.inside.view
    assert view.cells == [] and draw.inside.hint.isVisible()  # nothing drawn yet: a hint
    # Live: each mouse move of a stroke updates the views before the stroke ends.
    points = stroke_points(draw.pad, SEVEN[0])
    qtbot.mousePress(draw.pad, Qt.MouseButton.LeftButton, pos=points[0])
    firsts = []
    for p in points[1:]:
        before = view.updates
        with qtbot.waitSignal(draw.views_updated, timeout=10_000):
            qtbot.mouseMove(draw.pad, p)
        assert view.updates == before + 1
        firsts.append(float(draw.explanation.outputs[0].values.sum()))
    qtbot.mouseRelease(draw.pad, Qt.MouseButton.LeftButton, pos=points[-1])
    assert len(set(firsts)) >= 10  # the first layer's output changed with the drawing, move by move
    qtbot.keyClick(draw.pad, Qt.Key.Key_Escape)
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    assert draw.guess.text() == "7"
    spec = draw.classifier.spec
    assert [(c.kind, c.count, c.shape) for c in view.cells] == expected_cells(spec)
    first_conv = view.cells[0]
    assert first_conv.kind == "maps" and first_conv.count == 16 and first_conv.image is not None
    # The maps are drawn where map_rect says, one per channel, inside the view.
    rects = [view.map_rect(0, c) for c in range(first_conv.count)]
    assert all(view.rect().contains(r) for r in rects)
    assert not any(a.intersects(b) for a, b in itertools.combinations(rects, 2))
    assert not draw.inside.hint.isVisible()
    # The outputs shown are the network's for the image it sees, layer by layer.
    from playground.core.explain import layer_outputs

    probabilities, outputs = layer_outputs(draw.classifier.model, spec, draw.image)
    np.testing.assert_allclose(probabilities, draw.probabilities, atol=1e-5)
    np.testing.assert_allclose(outputs[0].values, draw.explanation.outputs[0].values, atol=1e-5)


@pytest.mark.parametrize("preset", ["tutorial-cnn", "lstm-rows", "mlp-300"])
def test_each_kind_of_layer_has_its_view(draw, qtbot, preset):
    draw.use_classifier(random_classifier(preset), f"Opened: {preset}")
    click_tab(qtbot, draw.views, draw.inside)
    draw_strokes(qtbot, draw.pad, ONE)
    settled(qtbot, draw)
    spec = draw.classifier.spec
    cells = draw.inside.view.cells
    assert [(c.kind, c.count, c.shape) for c in cells] == expected_cells(spec)
    for cell, layer, row in zip(cells, spec.layers, infer_shapes(spec).rows):
        assert layer.type in cell.title and "×".join(map(str, row.out_shape)) in cell.title
    if preset == "lstm-rows":  # the hidden state at each of the 28 row steps
        (steps,) = [c for c in cells if c.kind == "steps"]
        assert steps.image.height() == 28 and steps.image.width() == 128


def test_clicking_a_feature_map_enlarges_it_beside_its_filter(draw, qtbot):
    draw.use_classifier(random_classifier("tutorial-cnn"), "Opened: tutorial-cnn")
    click_tab(qtbot, draw.views, draw.inside)
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    inside, view = draw.inside, draw.inside.view
    assert not inside.detail.isVisible()
    # A map of layer 3 (the second convolution, 50 maps of 8x8): its filter has 20 input channels.
    position = [c.index for c in view.cells].index(3)
    target = view.map_rect(position, 7)
    inside.scroll.ensureVisible(target.center().x(), target.center().y())
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=target.center())
    qtbot.waitUntil(inside.detail.isVisible, timeout=10_000)
    assert view.selected == (3, 7)
    assert inside.detail.filter_shape == (20, 5, 5)
    caption = inside.detail.caption.text()
    # Counted from 1, as the designer, summary and the run pages count: the design's 4th layer.
    assert caption.startswith("Layer 4 (Conv2d 50@5x5), map 8 of 50") and "filter 8 of layer 4" in caption
    assert view.cells[position].title.startswith("4. Conv2d 50@5x5")
    # A map after pooling: the filter that made it is the convolution's before it.
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.map_rect(2, 0).center())  # layer 2: pooled maps
    qtbot.waitUntil(lambda: view.selected == (2, 0), timeout=10_000)
    assert inside.detail.filter_shape == (1, 5, 5)
    (close,) = [b for b in inside.detail.findChildren(QToolButton) if b.text() == "Close"]
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not inside.detail.isVisible() and view.selected is None
    # Clear (Esc on the pad) takes the enlarged map away with the drawing.
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.map_rect(2, 0).center())
    qtbot.waitUntil(inside.detail.isVisible, timeout=10_000)
    qtbot.keyClick(draw.pad, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not inside.detail.isVisible(), timeout=10_000)
    assert view.selected is None and inside.hint.isVisible()


# -- what it looks at -------------------------------------------------------------------------------------


def test_clicking_a_bar_changes_what_the_saliency_is_for(draw, qtbot):
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    assert draw.guess.text() == "7"
    guess = draw.explanation
    assert guess.target == 7 and draw.target is None
    assert draw.pad.overlay is not None and draw.preview.overlay is not None
    bars = draw.bars
    qtbot.mouseClick(bars, Qt.MouseButton.LeftButton, pos=bars.bar_rect(1).center().toPoint())
    qtbot.waitUntil(lambda: draw.explanation is not None and draw.explanation.target == 1, timeout=10_000)
    assert draw.target == 1 and bars.picked == 1 and draw.guess.text() == "7"  # the guess stays the guess
    assert "for 1" in draw.target_label.text() and draw.guess_target_button.isEnabled()
    from playground.core.explain import saliency

    expected = saliency(draw.classifier.model, draw.classifier.spec, draw.image, 1)
    np.testing.assert_allclose(draw.explanation.saliency, expected, atol=1e-5)
    assert not np.allclose(draw.explanation.saliency, guess.saliency)
    # Clicking the same bar again goes back to the guess; so does the button.
    qtbot.mouseClick(bars, Qt.MouseButton.LeftButton, pos=bars.bar_rect(1).center().toPoint())
    qtbot.waitUntil(lambda: draw.explanation.target == 7, timeout=10_000)
    assert draw.target is None and bars.picked is None
    qtbot.mouseClick(bars, Qt.MouseButton.LeftButton, pos=bars.bar_rect(3).center().toPoint())
    qtbot.waitUntil(lambda: draw.explanation.target == 3, timeout=10_000)
    qtbot.mouseClick(draw.guess_target_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: draw.explanation.target == 7, timeout=10_000)
    assert not draw.guess_target_button.isEnabled()
    # From the keyboard: the bars take a digit's key.
    qtbot.keyClick(bars, Qt.Key.Key_4)
    qtbot.waitUntil(lambda: draw.explanation.target == 4, timeout=10_000)
    assert bars.picked == 4


def test_the_method_chooser_offers_grad_cam_only_for_convolutional_models(draw, qtbot):
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    box = draw.method_box
    box.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is box, timeout=10_000)
    qtbot.keyClick(box, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: draw.explanation is not None and draw.explanation.method == "grad-cam", timeout=10_000)
    cam = draw.explanation.saliency
    assert cam.shape == (28, 28) and cam.max() > 0
    assert "blue" not in draw.target_label.text()  # Grad-CAM is never negative
    default = draw.classifier
    draw.use_classifier(random_classifier("lstm-rows"), "Opened: lstm-rows")
    qtbot.waitUntil(lambda: box.currentData() == "gradient-x-input", timeout=10_000)
    assert not box.model().item(box.findData("grad-cam")).isEnabled()
    assert "red for it, blue against" in draw.target_label.text()
    # Back to a convolutional model: the user's choice comes back.
    draw.use_classifier(default, "Opened: the default model")
    qtbot.waitUntil(lambda: draw.explanation is not None and draw.explanation.method == "grad-cam", timeout=10_000)
    assert box.currentData() == "grad-cam"
    draw.use_classifier(random_classifier("lstm-rows"), "Opened: lstm-rows")
    qtbot.waitUntil(lambda: box.currentData() == "gradient-x-input", timeout=10_000)
    # Turning the overlay off takes it off the pad and the preview.
    qtbot.mouseClick(draw.saliency_box, Qt.MouseButton.LeftButton, pos=QPoint(6, draw.saliency_box.height() // 2))
    qtbot.waitUntil(lambda: draw.pad.overlay is None, timeout=10_000)
    assert draw.preview.overlay is None and not box.isEnabled()


def test_the_overlay_lands_on_the_strokes(draw, qtbot):
    """The saliency's 28x28 pixels are placed over the pad where the preprocessing took the strokes
    from: the image's ink, mapped back to pad units, covers the strokes."""
    from playground.ui.inside_views import pad_transform

    draw_strokes(qtbot, draw.pad, SEVEN, box=(0.05, 0.3, 0.6))
    settled(qtbot, draw)
    transform = pad_transform(draw.pad.point_lists(), draw.pen_width)
    ys, xs = np.nonzero(draw.image > 0.5)
    mapped = np.array([transform.map(float(x) + 0.5, float(y) + 0.5) for x, y in zip(xs, ys)])
    points = np.array([p for stroke in draw.pad.point_lists() for p in stroke])
    unit = 1 / transform.m11()  # image pixels per pad unit
    # Every inked pixel is within two image pixels of a drawn point (points are dense along strokes).
    nearest = np.sqrt(((mapped[:, None, :] - points[None, :, :]) ** 2).sum(-1)).min(1)
    assert nearest.max() * unit < 2.0
    np.testing.assert_allclose(mapped.mean(0), points.mean(0), atol=3 / unit)


# -- where it puts things ---------------------------------------------------------------------------------


def test_the_map_places_the_drawing_and_the_marker_moves_as_you_draw(draw, qtbot):
    view = draw.feature_map
    assert view.feature_map is None  # fitted only when first looked at
    with qtbot.waitSignal(view.fitted, timeout=120_000):
        click_tab(qtbot, draw.views, view)
    points = view.points.getData()
    assert len(points[0]) == 2000 and len(set(view.feature_map.labels.tolist())) == 10
    draw_strokes(qtbot, draw.pad, ONE)
    settled(qtbot, draw)
    qtbot.waitUntil(lambda: view.marker_position() is not None, timeout=10_000)
    one = view.marker_position()
    assert np.allclose(one, view.feature_map.project(draw.image), atol=1e-4)
    qtbot.keyClick(draw.pad, Qt.Key.Key_Escape)
    draw_strokes(qtbot, draw.pad, ZERO)
    settled(qtbot, draw)
    qtbot.waitUntil(lambda: view.marker_position() not in (None, one), timeout=10_000)
    zero = view.marker_position()
    assert np.allclose(zero, view.feature_map.project(draw.image), atol=1e-4)
    # The marker sits among the test images of the digit it was guessed as, not the other one's.
    pts, labels = view.feature_map.points, view.feature_map.labels
    centre = {d: pts[labels == d].mean(0) for d in (0, 1)}
    assert np.linalg.norm(np.subtract(zero, centre[0])) < np.linalg.norm(np.subtract(zero, centre[1]))
    assert np.linalg.norm(np.subtract(one, centre[1])) < np.linalg.norm(np.subtract(one, centre[0]))


# -- sizes ------------------------------------------------------------------------------------------------


def test_the_new_views_fit_small_and_large_windows(draw, qtbot):
    window = draw.window()
    draw_strokes(qtbot, draw.pad, SEVEN)
    for width, height in ((730, 572), (800, 600), (1920, 1080)):  # 730x572: the window's smallest
        window.resize(width, height)
        qtbot.waitExposed(window)
        for view in (draw.inside, draw.feature_map, draw.bars):
            click_tab(qtbot, draw.views, view)
            for _ in range(5):
                QApplication.processEvents()
            leaves = [draw.pad, draw.preview, draw.views, draw.saliency_box, draw.method_box, draw.target_label,
                      draw.guess_target_button, draw.time_travel.slider, draw.time_travel.label,
                      draw.time_travel.back, draw.model_box, draw.model_status]
            rects = {w: QRect(w.mapTo(draw, QPoint(0, 0)), w.size()) for w in leaves}
            for (a, ra), (b, rb) in itertools.combinations(rects.items(), 2):
                assert not ra.intersects(rb), f"{type(a).__name__} overlaps {type(b).__name__} at {width}x{height}"
            for w, r in rects.items():
                assert draw.rect().contains(r), f"{type(w).__name__} is clipped at {width}x{height}"
            tabs = draw.views.tabBar()
            assert all(tabs.rect().contains(tabs.tabRect(i)) for i in range(tabs.count()))  # no scroll arrows
        assert draw.pad.width() >= 280 and draw.views.width() >= 200
    # With a map enlarged in the smallest window, the layer list keeps room to scroll through (once
    # the Map tab's fitting is done: no worker left running when the window closes).
    qtbot.waitUntil(lambda: draw.feature_map.feature_map is not None, timeout=120_000)
    window.resize(730, 572)
    draw.use_classifier(random_classifier("tutorial-cnn"), "Opened: tutorial-cnn")
    click_tab(qtbot, draw.views, draw.inside)
    settled(qtbot, draw)
    view = draw.inside.view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.map_rect(0, 0).center())
    qtbot.waitUntil(draw.inside.detail.isVisible, timeout=10_000)
    for _ in range(5):
        QApplication.processEvents()
    assert draw.inside.scroll.height() >= 100


# -- time travel ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def epoch_run(tmp_path_factory, app_folders):
    """A real run: a small CNN trained for 3 epochs on 320 MNIST images, each epoch's weights kept
    (the first epoch's model still guesses the drawn 7 wrong; the third gets it)."""
    import torch

    from playground.core import NetworkSpec
    from playground.core import make_layer as L
    from playground.core.config import TrainConfig
    from playground.core.data import load_dataset
    from playground.core.train import Trainer

    spec = NetworkSpec((L("Conv2d", out_channels=8, kernel_size=5), L("MaxPool2d"), L("ReLU"), L("Flatten"),
                        L("Linear", out_features=10)), name="tiny-cnn")
    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=400, test_limit=200)
    base = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in Trainer(spec, TrainConfig(optimizer="adam", lr=0.003, batch_size=32, epochs=3, device="cpu"),
                         data=data, run_dir=base / "tiny").run():
            pass
    finally:
        torch.set_num_threads(threads)
    return base


def test_time_travel_rescores_the_drawing_with_each_epochs_weights(draw, qtbot, epoch_run):
    from playground.core.explain import layer_outputs
    from playground.core.predict import Classifier
    from playground.core.runs import load_run

    window = draw.window()
    window.library.load_from_disk(epoch_run)
    run = load_run(epoch_run / "tiny")
    assert run.epoch_numbers() == [1, 2, 3]
    travel = draw.time_travel
    assert not travel.slider.isEnabled() and "not a run" in travel.label.text()  # the default model
    click_tab(qtbot, draw.views, draw.inside)
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    box = draw.model_box
    box.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is box, timeout=10_000)
    while box.currentData() != ("run", str(run.path)):
        qtbot.keyClick(box, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: travel.slider.isEnabled(), timeout=10_000)
    own = draw.probabilities.copy()
    assert travel.epoch is None and "Epochs 1 to 3" in travel.label.text()
    best = run.summary["best_epoch"]
    assert travel.slider.value() == best - 1 and f"epoch {best}'s" in travel.label.text()  # rests at the best
    np.testing.assert_allclose(
        own, Classifier.from_weights_file(run.spec, run.epoch_weights_path(best)).probabilities(draw.image), atol=1e-5)
    travel.slider.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is travel.slider, timeout=10_000)
    guesses = {}
    # Each key moves the slider from where it is (it rests at the best epoch).
    if best != 1:
        steps = ((Qt.Key.Key_Home, 1), (Qt.Key.Key_End, 3), (Qt.Key.Key_Left, 2))
    else:
        steps = ((Qt.Key.Key_End, 3), (Qt.Key.Key_Home, 1), (Qt.Key.Key_Right, 2))
    for key, epoch in steps:
        qtbot.keyClick(travel.slider, key)
        qtbot.waitUntil(lambda e=epoch: travel.epoch == e and not draw.timer.isActive(), timeout=10_000)
        direct = Classifier.from_weights_file(run.spec, run.epoch_weights_path(epoch))
        expected = direct.probabilities(draw.image)
        np.testing.assert_allclose(draw.probabilities, expected, atol=1e-5)
        assert draw.guess.text() == str(int(expected.argmax()))
        # The layers' outputs and the saliency are that epoch's too.
        _, outputs = layer_outputs(direct.model, direct.spec, draw.image)
        np.testing.assert_allclose(draw.explanation.outputs[0].values, outputs[0].values, atol=1e-5)
        assert draw.explanation.target == int(expected.argmax())
        assert f"Epoch {epoch} of 3" in travel.label.text()
        assert draw.model_status.text().endswith(f"time travel: epoch {epoch}'s weights in use")
        guesses[epoch] = draw.guess.text()
    assert guesses[1] != guesses[3] == "7"  # the first epoch had not learnt the 7 yet
    qtbot.mouseClick(travel.back, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: travel.epoch is None and not draw.timer.isActive(), timeout=10_000)
    np.testing.assert_allclose(draw.probabilities, own, atol=1e-6)
    assert draw.classifier is draw.own_classifier and "time travel" not in draw.model_status.text()


def test_a_run_without_epoch_weights_says_why(draw, qtbot, epoch_run, tmp_path):
    import shutil

    from playground.core.runs import EPOCHS_DIR

    copy = tmp_path / "runs" / "no-epochs"
    shutil.copytree(epoch_run / "tiny", copy)
    shutil.rmtree(copy / EPOCHS_DIR)
    draw.window().library.load_from_disk(tmp_path / "runs")
    box = draw.model_box
    index = draw.index_of("run", str(copy))
    assert index > 0
    box.setCurrentIndex(index)
    travel = draw.time_travel
    assert not travel.slider.isEnabled() and travel.label.text().startswith("No time travel: ")


def test_time_travel_keeps_the_enlarged_map_open_and_says_which_epochs_are_kept(draw, qtbot, epoch_run, tmp_path):
    import shutil

    from playground.core.runs import EPOCHS_DIR, epoch_file_name, load_run

    copy = tmp_path / "runs" / "gaps"
    shutil.copytree(epoch_run / "tiny", copy)
    (copy / EPOCHS_DIR / epoch_file_name(2)).unlink()  # epochs 1 and 3 kept; 3's file damaged
    (copy / EPOCHS_DIR / epoch_file_name(3)).write_bytes(b"not safetensors")
    (copy / EPOCHS_DIR / epoch_file_name(5)).write_bytes((epoch_run / "tiny" / EPOCHS_DIR / epoch_file_name(1))
                                                          .read_bytes())
    run = load_run(copy)
    assert run.epoch_numbers() == [1, 3, 5]
    draw.window().library.load_from_disk(tmp_path / "runs")
    click_tab(qtbot, draw.views, draw.inside)
    draw_strokes(qtbot, draw.pad, SEVEN)
    settled(qtbot, draw)
    box = draw.model_box
    box.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is box, timeout=10_000)
    while box.currentData() != ("run", str(copy)):
        qtbot.keyClick(box, Qt.Key.Key_Down)
    travel = draw.time_travel
    qtbot.waitUntil(lambda: travel.slider.isEnabled(), timeout=10_000)
    assert travel.label.text().startswith("Epochs 1, 3 and 5 kept")
    settled(qtbot, draw)
    inside, view = draw.inside, draw.inside.view
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.map_rect(0, 2).center())
    qtbot.waitUntil(inside.detail.isVisible, timeout=10_000)
    travel.slider.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is travel.slider, timeout=10_000)
    qtbot.keyClick(travel.slider, Qt.Key.Key_Home)  # epoch 1: the map stays open, with epoch 1's values
    qtbot.waitUntil(lambda: travel.epoch == 1 and not draw.timer.isActive(), timeout=10_000)
    assert inside.detail.isVisible() and view.selected == (0, 2)
    assert travel.label.text().startswith("Epoch 1 (kept: 1, 3 and 5)")
    first = inside.detail.map_image
    qtbot.keyClick(travel.slider, Qt.Key.Key_Right)  # epoch 3: damaged, so back on epoch 1, saying why
    qtbot.waitUntil(lambda: "Cannot load epoch 3's weights" in travel.label.text(), timeout=10_000)
    assert travel.epoch == 1 and travel.slider.value() == 0 and travel.back.isEnabled()
    assert inside.detail.isVisible() and inside.detail.map_image == first
    qtbot.mouseClick(travel.back, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: travel.epoch is None and not draw.timer.isActive(), timeout=10_000)
    assert inside.detail.isVisible() and view.selected == (0, 2) and inside.detail.map_image != first


def test_a_model_whose_output_is_not_a_number_says_so(draw, qtbot):
    import warnings

    import torch

    from playground.core import NetworkSpec
    from playground.core import make_layer as L
    from playground.core.predict import Classifier

    spec = NetworkSpec((L("Flatten"), L("Linear", out_features=10)), name="huge")
    state = {"1.weight": torch.full((10, 784), 1e38), "1.bias": torch.zeros(10)}  # finite, the logits overflow
    draw.use_classifier(Classifier(spec, state, "huge"), "Opened: huge")
    click_tab(qtbot, draw.views, draw.inside)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        draw_strokes(qtbot, draw.pad, SEVEN)
        qtbot.waitUntil(lambda: not draw.timer.isActive() and "not a number" in draw.guess_caption.text(),
                        timeout=10_000)
    assert draw.guess.text() == "?" and "nan" not in draw.guess_caption.text().lower().replace("(nan)", "")
    assert draw.probabilities is None and draw.explanation is None and draw.pad.overlay is None
    assert draw.inside.view.cells == []


def test_the_colour_legend_is_made_once_not_at_each_paint(draw, qtbot):
    click_tab(qtbot, draw.views, draw.inside)
    legend = draw.inside.legend
    for stroke in (SEVEN, ONE, ZERO):
        draw_strokes(qtbot, draw.pad, stroke)
        settled(qtbot, draw)
        legend.repaint()
    assert legend.ramp_builds == 1
    image = legend.grab().toImage()
    left, right = image.pixelColor(8, 8), image.pixelColor(legend.width() - 8, 8)
    assert left.blue() > left.red() and right.red() > right.blue()  # blue for negative, warm for positive
