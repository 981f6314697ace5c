"""Fixes from a new user's trial of the Train area: the plots show exactly the runs selected, a
continued run says whose settings it uses and goes on from the earlier run's epochs, the advice after
a stopped run counts what was trained, run labels never change by themselves, and the runs list is
readable at 1280x800."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from playground.core import NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=10)), name="untitled")
SMALL = dict(epochs=1, limit=300, test_limit=300, batch_size=16, device="cpu", optimizer="adam", lr=0.003,
             val_fraction=0.2)


def fake_events(epochs: int, loss: float, steps: int = 4) -> list[dict]:
    """The events of a small run of ``epochs`` epochs, ``steps`` steps each, at ``loss``."""
    events = [{"type": "start", "epochs": epochs, "steps_per_epoch": steps, "total_steps": epochs * steps,
               "train_size": 64, "device": "cpu", "parameters": 7850}]
    for epoch in range(1, epochs + 1):
        for step in range((epoch - 1) * steps + 1, epoch * steps + 1):
            events.append({"type": "progress", "epoch": epoch, "step": step, "steps_per_epoch": steps,
                           "total_steps": epochs * steps, "train_loss": loss, "train_accuracy": 0.5,
                           "samples_per_second": 100.0, "eta_seconds": 1.0})
        events.append({"type": "epoch", "epoch": epoch, "step": epoch * steps, "train_loss": loss,
                       "train_accuracy": 0.5, "val_loss": loss, "val_accuracy": 0.5, "seconds": 1.0})
    return events


def add_run(library, config: TrainConfig, epochs: int = 1, loss: float = 1.0):
    run = library.begin_run(MLP, config, None)
    for event in fake_events(epochs, loss):
        library.add_event(run, event)
    return run


def legend_names(plot):
    return [label.text for _, label in plot.legend.items]


def click_row(qtbot, runs, item, modifier=Qt.KeyboardModifier.NoModifier):
    centre = runs.visualItemRect(item).center()
    centre.setX(runs.header().sectionViewportPosition(0) + 10)
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, modifier, pos=centre)


def item_of(area, run):
    runs = area.run_list
    return next(runs.topLevelItem(i) for i in range(runs.topLevelItemCount())
                if runs.topLevelItem(i).text(0) == run.label)


@pytest.fixture
def window(ready_window):
    ready_window.tabs.setCurrentWidget(ready_window.train_area)
    return ready_window


# -- 1. the plots show exactly the selected runs ---------------------------------------------------------

def test_selecting_only_an_older_run_shows_it_alone(window, qtbot):
    library, area = window.library, window.train_area
    older = add_run(library, TrainConfig(epochs=2, lr=0.01), epochs=2, loss=3.0)
    newest = add_run(library, TrainConfig(epochs=1), epochs=1, loss=1.0)
    assert library.current is newest
    click_row(qtbot, area.run_list, item_of(area, older))
    assert area.selected_runs() == [older]
    plots = area.plots
    names = legend_names(plots.loss_plot)
    assert any(name.startswith(older.label) for name in names)
    assert not any(newest.label in name for name in names)  # the newest run is not shown
    assert plots.curves is library.curves(older) and plots._overlays == []
    assert plots.loss_plot.viewRange()[0][1] >= 2  # the x axis reaches the older run's 2 epochs
    # Both selected: the axes fit both, the larger loss too.
    click_row(qtbot, area.run_list, item_of(area, newest), Qt.KeyboardModifier.ControlModifier)
    assert len(plots._overlays) == 2 and plots.loss_plot.viewRange()[0][1] >= 2
    assert plots.loss_plot.viewRange()[1][1] >= 3.0


# -- 4. labels never change by themselves ------------------------------------------------------------------

def test_a_label_stays_as_more_runs_with_other_settings_are_added(window):
    library, area = window.library, window.train_area
    first = add_run(library, TrainConfig(optimizer="sgd", lr=0.01))
    shown = first.label
    assert area.run_list.topLevelItem(0).text(0) == shown
    add_run(library, TrainConfig(optimizer="sgd", lr=0.01, momentum=0.5))
    add_run(library, TrainConfig(optimizer="sgd", lr=0.01, weight_decay=0.01))
    assert first.label == shown and item_of(area, first).text(0) == shown
    again = add_run(library, TrainConfig(optimizer="sgd", lr=0.01))  # a duplicate gets a number
    assert again.label == f"{shown} #2" and first.label == shown


# -- 5. the runs list at 1280x800 ---------------------------------------------------------------------------

def test_the_runs_list_shows_five_rows_and_the_started_column_at_1280x800(window, qtbot):
    library, area = window.library, window.train_area
    for i in range(7):
        add_run(library, TrainConfig(lr=0.001 * (i + 1)))
    window.resize(1280, 800)
    qtbot.wait(50)
    QApplication.processEvents()
    runs = area.run_list
    row = runs.visualItemRect(runs.topLevelItem(0)).height()
    assert runs.viewport().height() >= 5 * row
    started = runs.topLevelItem(0).text(4)
    width = runs.fontMetrics().horizontalAdvance(started)
    assert runs.header().sectionSize(4) >= width
    assert runs.header().sectionViewportPosition(4) + runs.header().sectionSize(4) <= runs.viewport().width()


# -- 2. continuing a run -------------------------------------------------------------------------------------

def test_continue_says_whose_settings_keeps_the_name_and_goes_on_from_its_epochs(window, qtbot, press):
    area, library = window.train_area, window.library
    assert "only Epochs comes from the form" in area.continue_button.toolTip()
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(**{**SMALL, "optimizer": "sgd", "lr": 0.05, "epochs": 2}))
    with qtbot.waitSignal(library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
    first = blocker.args[0]
    library.rename(first, "my sgd run")
    area.form.set_config(TrainConfig(**{**SMALL, "lr": 0.01}))
    click_row(qtbot, area.run_list, item_of(area, first))
    with qtbot.waitSignal(library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.continue_button, Qt.MouseButton.LeftButton)
        text = area.banner.text()
    continued = blocker.args[0]
    assert text.startswith("Continuing my sgd run with its own settings (sgd 0.05, batch 16")
    assert "only Epochs (1) comes from the form" in text
    assert continued.label == "my sgd run (continued)"
    x, _ = library.curves(continued)["train"].data()
    assert x.min() > 2 and x.max() <= 3 + 1e-9  # after the earlier run's 2 epochs
    vx, _ = library.curves(continued)["val"].data()
    assert list(vx) == [3]


# -- 3. the advice after Stop counts what was trained ---------------------------------------------------------

def test_the_advice_after_stop_counts_what_was_trained(window, qtbot):
    area, library = window.train_area, window.library
    window.new_from_preset("mlp-300")
    # A learning rate far too small: the network stays at chance, and the banner gives its advice.
    area.form.set_config(TrainConfig(**{**SMALL, "epochs": 2, "limit": 3000, "batch_size": 8,
                                        "optimizer": "sgd", "lr": 1e-7}))
    qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(e["type"] == "progress" for e in library.current.events), timeout=120_000)
    qtbot.mouseClick(area.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(e["type"] == "paused" for e in library.current.events), timeout=120_000)
    with qtbot.waitSignal(library.run_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(area.stop_button, Qt.MouseButton.LeftButton)
    run = blocker.args[0]
    assert run.status == "stopped"
    stopped = next(e for e in run.events if e["type"] == "stopped")
    images = stopped["step"] * 8
    text = area.banner.text()
    assert "did not learn" in text
    assert f"on {images:,} images may be too little" in text
    assert not re.search(r"(?<![\d.])2 epochs", text) and "2,400 images" not in text  # "0.12 epochs" is fine
