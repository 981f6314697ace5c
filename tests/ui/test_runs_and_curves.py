"""Runs a student can tell apart (labels, renaming with F2 or a double-click, the settings on hover,
the comparison legend) and curves that show what happened (a diverged run, the smoothed accuracy
early in a run, dark mode). On real MNIST images."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from playground.core import PRESETS, NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig
from playground.core.runs import SUMMARY_FILE, RunWriter, load_run, new_run_dir

HAND_BUILT = NetworkSpec((L("Flatten"), L("Linear", out_features=32), L("ReLU"), L("Linear", out_features=10)))
SHOTS = Path("/tmp/shots-runscurves")


@pytest.fixture
def two_runs_on_disk(monkeypatch, tmp_path):
    """Two runs of a hand-built ("untitled") design, lr 1 and lr 100, in a data folder of their own."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    from playground.core.paths import runs_dir

    paths = []
    for lr, status in ((1.0, "completed"), (100.0, "failed")):
        path = new_run_dir(runs_dir(), "untitled")
        writer = RunWriter(path, HAND_BUILT, TrainConfig(optimizer="sgd", lr=lr, limit=500))
        writer.write_summary(status=status, test_accuracy=0.9 if status == "completed" else None)
        writer.close()
        paths.append(path)
    return paths


@pytest.fixture
def run_list(two_runs_on_disk, active_window, qtbot):
    """The Train area's run list, focused, in the active window."""
    window = active_window
    window.tabs.setCurrentWidget(window.train_area)
    runs = window.train_area.run_list
    runs.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is runs, timeout=10_000)
    return window, runs


def row(runs, label):
    items = [runs.topLevelItem(i) for i in range(runs.topLevelItemCount())]
    return next(item for item in items if item.text(0) == label)


def click(qtbot, runs, item, column=0, double=False, modifier=Qt.KeyboardModifier.NoModifier):
    centre = runs.visualItemRect(item).center()
    centre.setX(runs.header().sectionViewportPosition(column) + 10)
    (qtbot.mouseDClick if double else qtbot.mouseClick)(runs.viewport(), Qt.MouseButton.LeftButton, modifier,
                                                       pos=centre)


def type_name(qtbot, name):
    editor = QApplication.focusWidget()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, name)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not editor, timeout=5_000)  # Qt commits queued


def legend_names(plot):
    return [label.text for _, label in plot.legend.items]


def test_runs_of_a_hand_built_design_are_named_by_their_settings(run_list):
    window, runs = run_list
    labels = sorted(runs.topLevelItem(i).text(0) for i in range(runs.topLevelItemCount()))
    # No longer both "untitled": the settings that differ from the defaults.
    assert labels == ["untitled · sgd 1 · 500 images", "untitled · sgd 100 · 500 images"]
    tip = row(runs, "untitled · sgd 100 · 500 images").toolTip(0)
    for line in ("Optimizer: sgd", "Learning rate: 100", "Momentum: 0.9", "Batch size: 128", "Epochs: 3",
                 "Training images: 500", "Folder: "):
        assert line in tip
    assert "Beta1" not in tip  # only the settings that matter for SGD
    assert row(runs, "untitled · sgd 100 · 500 images").toolTip(3) == tip  # the whole row


def test_f2_renames_a_run_in_the_list_the_legend_and_its_folder(run_list, qtbot, press):
    window, runs = run_list
    library = window.library
    item = row(runs, "untitled · sgd 100 · 500 images")
    click(qtbot, runs, item, column=2)  # F2 renames the name, whatever column was clicked
    run = window.train_area.selected_runs()[0]
    press(Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not runs, timeout=5_000)
    type_name(qtbot, "too high: exploded")
    assert item.text(0) == "too high: exploded" and run.label == "too high: exploded"
    assert json.loads((run.path / SUMMARY_FILE).read_text())["name"] == "too high: exploded"
    assert load_run(run.path).label == "too high: exploded"  # after a restart too
    # Comparing: the legend names the run as the list does.
    click(qtbot, runs, row(runs, "untitled · sgd 1 · 500 images"))
    click(qtbot, runs, item, modifier=Qt.KeyboardModifier.ControlModifier)
    selected = window.train_area.selected_runs()
    assert {r.label for r in selected} == {"too high: exploded", "untitled · sgd 1 · 500 images"}
    names = legend_names(window.train_area.plots.loss_plot)
    assert f"{selected[1].label} (loss)" in names  # the label alone, as in the list
    assert not any(r.started in " ".join(names) for r in library.runs)


def test_the_context_menu_renames_and_the_comparison_legend_follows(run_list, qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QContextMenuEvent

    window, runs = run_list
    click(qtbot, runs, row(runs, "untitled · sgd 1 · 500 images"))
    click(qtbot, runs, row(runs, "untitled · sgd 100 · 500 images"),
          modifier=Qt.KeyboardModifier.ControlModifier)
    assert len(window.train_area.selected_runs()) == 2
    overlay = window.train_area.selected_runs()[1]  # the first is shown as the main curves
    assert f"{overlay.label} (loss)" in legend_names(window.train_area.plots.loss_plot)
    chosen = []

    def choose_rename():  # in the menu, as a user would: Down to "Rename…", Enter
        menu = QApplication.activePopupWidget()
        chosen.append([a.text() for a in menu.actions()])
        qtbot.keyClick(menu, Qt.Key.Key_Down)
        qtbot.keyClick(menu, Qt.Key.Key_Return)

    QTimer.singleShot(300, choose_rename)
    item = row(runs, overlay.label)
    # A right-click: the context menu event the window system sends on the right button's press.
    position = runs.visualItemRect(item).center()
    QApplication.sendEvent(runs.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, position,
                                                               runs.viewport().mapToGlobal(position)))
    assert chosen == [["Rename…"]]
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not runs, timeout=5_000)
    type_name(qtbot, "my favourite")
    assert overlay.label == "my favourite" and item.text(0) == "my favourite"
    click(qtbot, runs, row(runs, next(r.label for r in window.library.runs if r is not overlay)))
    click(qtbot, runs, item, modifier=Qt.KeyboardModifier.ControlModifier)
    assert "my favourite (loss)" in legend_names(window.train_area.plots.loss_plot)  # the legend follows
    # A fresh library reading the folders finds the name.
    from playground.ui.run_library import RunLibrary

    fresh = RunLibrary()
    fresh.load_from_disk()
    assert sorted(r.label for r in fresh.runs) == sorted(r.label for r in window.library.runs)


def test_a_name_too_long_is_refused_and_the_label_stays(run_list, qtbot, press):
    window, runs = run_list
    item = row(runs, "untitled · sgd 1 · 500 images")
    label = item.text(0)
    click(qtbot, runs, item)
    press(Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not runs, timeout=5_000)
    type_name(qtbot, "n" * 130)
    assert item.text(0) == label
    banner = window.train_area.banner.text()
    assert "Cannot rename the run" in banner and "at most 120" in banner
    path = window.train_area.selected_runs()[0].path
    assert "name" not in json.loads((path / SUMMARY_FILE).read_text())


def test_a_diverged_run_shows_its_loss_up_to_the_explosion(active_window, qtbot):
    window = active_window
    area = window.train_area
    window.tabs.setCurrentWidget(area)
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(optimizer="sgd", lr=100.0, epochs=1, limit=500, test_limit=500, batch_size=16,
                                            device="cpu"))
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
    run = blocker.args[0]
    assert run.status == "failed" and "too high" in run.summary["message"]
    assert area.plots.point_count("train_raw") >= 2  # the steps before the explosion and the explosion
    x, y = area.plots.items["train_raw"].getData()
    assert area.plots.log  # past 100x its first value the loss plot turns to a log scale: it draws log10(loss)
    assert len(x) >= 2 and np.all(np.isfinite(y)) and y.max() > 2  # it shows the loss shooting up (past 100)
    bottom, top = area.plots.loss_plot.viewRange()[1]
    assert math.isfinite(top) and top >= y.max()  # the axis reaches the explosion
    # The list tells this run apart: sgd 100, not just the design's name.
    assert area.run_list.topLevelItem(0).text(0).startswith("mlp-300 · sgd 100")


def test_non_finite_losses_do_not_blank_the_curve(qtbot):
    from playground.ui.plots import TrainingPlots, curves_from_events

    base = {"type": "progress", "steps_per_epoch": 10, "total_steps": 10, "train_accuracy": 0.1}
    events = [{**base, "step": i, "train_loss": loss} for i, loss in
              enumerate([2.3, 2.0, 1e6, float("inf"), float("nan")], start=1)]
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show_curves(curves_from_events(events), epochs=1)
    assert plots.point_count("train_raw") == 3 and plots.point_count("train_acc") == 5
    x, y = plots.items["train"].getData()
    assert len(x) == 3 and np.all(np.isfinite(y))
    assert math.isfinite(plots.loss_plot.viewRange()[1][1])


def test_the_smoothed_accuracy_tracks_the_first_epoch(app_folders):
    """On a long run (time constant about an epoch), the smoothed training accuracy at the first
    epoch's end is near that epoch's accuracy, not pulled down towards the first steps' 10%."""
    from playground.core.data import load_dataset
    from playground.core.train import Trainer
    from playground.ui.plots import curves_from_events

    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=2000)
    config = TrainConfig(epochs=30, batch_size=32, device="cpu", optimizer="adam", lr=0.003)
    trainer = Trainer(PRESETS["mlp-300"].spec, config, data=data, report_interval=0.0)
    events = []
    for event in trainer.run():
        events.append(event)
        if event["type"] == "epoch":
            trainer.stop(evaluate=False)
    epoch = next(e for e in events if e["type"] == "epoch")
    progress = [e for e in events if e["type"] == "progress" and e["epoch"] == 1]
    assert len(progress) > 20  # a point per step
    curves = curves_from_events(events[: events.index(epoch) + 1])
    x, smoothed = curves["train_acc"].data()
    assert x[-1] == 1.0
    assert abs(smoothed[-1] - epoch["train_accuracy"]) < 0.05


def test_the_plots_follow_a_dark_palette(qtbot, qapp):
    from PySide6.QtGui import QColor, QPalette

    from playground.ui import theme
    from playground.ui.plots import TrainingPlots, curves_from_events

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.setPalette(theme.dark_palette())
    plots.resize(700, 500)
    plots.show()
    qtbot.waitExposed(plots)
    events = [{"type": "progress", "step": i, "steps_per_epoch": 50, "total_steps": 100,
               "train_loss": 2.3 * math.exp(-i / 20), "train_accuracy": 1 - math.exp(-i / 15)} for i in range(1, 101)]
    plots.show_curves(curves_from_events(events), epochs=2)
    qapp.processEvents()
    image = plots.grab().toImage()
    SHOTS.mkdir(parents=True, exist_ok=True)
    image.save(str(SHOTS / "plots-dark.png"))
    dark = theme.dark_palette()
    assert QColor(image.pixel(3, 3)) == dark.color(QPalette.ColorRole.Base)
    assert plots.loss_plot.getAxis("left").textPen().color() == dark.color(QPalette.ColorRole.Text)
    assert plots.items["train_raw"].pen.color().lightness() < QColor("#bfdbfe").lightness()  # faded, not bright
