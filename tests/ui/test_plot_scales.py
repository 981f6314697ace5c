"""The loss plot reads well whatever the loss does: a log scale for a run that explodes (chosen by a
click, or by itself), tick labels that fit beside the axis' label, and legends that never cover a
curve. On a real diverged run (500 MNIST images, learning rate 100)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from playground.ui.plots import LOG_SCALE_KEY, CurveBuilder, TrainingPlots, compact, curves_from_events


@pytest.fixture(scope="module")
def diverged_events(app_folders):
    """The events of a real run that explodes: the loss goes from 2.3 to millions in a few steps."""
    from playground.core import PRESETS
    from playground.core.config import TrainConfig
    from playground.core.train import train

    config = TrainConfig(optimizer="sgd", lr=100.0, epochs=1, limit=500, test_limit=500, batch_size=16,
                         device="cpu")
    events, _ = train(PRESETS["mlp-300"].spec, config, report_interval=0.0)
    losses = [e["train_loss"] for e in events if e["type"] == "progress"]
    assert len(losses) >= 3 and max(losses) > 1000 * losses[0]  # it did explode
    return events


def chance_events(epochs=2, steps=50):
    """A run that learns nothing: loss about 2.3, accuracy about 0.1 all along."""
    events = [{"type": "progress", "step": i, "steps_per_epoch": steps, "total_steps": epochs * steps,
               "train_loss": 2.3 + 0.02 * math.sin(i), "train_accuracy": 0.1} for i in range(1, epochs * steps + 1)]
    events += [{"type": "epoch", "epoch": e, "val_loss": 2.3, "val_accuracy": 0.1} for e in range(1, epochs + 1)]
    return events


def shown_plots(qtbot, qapp, size=(800, 600)):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(*size)
    plots.show()
    qtbot.waitExposed(plots)
    return plots


def show(plots, qapp, events, epochs=1):
    plots.show_curves(curves_from_events(events), epochs=epochs)
    qapp.processEvents()


def click(qtbot, widget, button=Qt.MouseButton.LeftButton, pos=None):
    qtbot.mouseClick(widget, button, pos=pos if pos is not None else widget.rect().center())


def screen_ys(plots, key):
    """The curve's points' heights on screen (scene coordinates) and the loss plot's data area."""
    vb = plots.loss_plot.vb
    x, y = plots.items[key].getData()
    return np.array([vb.mapViewToScene(QPointF(a, b)).y() for a, b in zip(x, y)]), vb.sceneBoundingRect()


def test_a_diverged_run_turns_the_loss_plot_to_a_log_scale_where_the_steps_before_the_explosion_show(
        qtbot, qapp, diverged_events):
    plots = shown_plots(qtbot, qapp)
    show(plots, qapp, diverged_events)
    assert plots.log_box.isChecked() and plots.log  # by itself: the loss passed 100x its first value
    assert "100x" in plots.log_box.toolTip()
    ys, area = screen_ys(plots, "train_raw")
    before = np.delete(ys, np.argmin(ys))  # all but the spike (the highest point: the least y on screen)
    assert before.max() - before.min() > 0.1 * area.height()  # distinguishable, not a flat line at 0
    assert area.top() - 1 <= ys.min() and ys.max() <= area.bottom() + 1  # all on screen
    axis = plots.loss_plot.getAxis("left")
    assert axis.tickStrings([0.0, 3.0, 6.0], 1.0, 3.0) == ["1", "1000", "1e6"]  # the loss, not its log

    click(qtbot, plots.log_box)  # the user turns it off: linear, the steps before flattened again
    assert not plots.log_box.isChecked() and not plots.log
    assert QSettings().value(LOG_SCALE_KEY) == "off"
    ys, area = screen_ys(plots, "train_raw")
    before = np.delete(ys, np.argmin(ys))
    assert before.max() - before.min() < 0.01 * area.height()

    click(qtbot, plots.log_box)
    assert plots.log_box.isChecked() and plots.log
    assert QSettings().value(LOG_SCALE_KEY) == "on"
    ys, area = screen_ys(plots, "train_raw")
    before = np.delete(ys, np.argmin(ys))
    assert before.max() - before.min() > 0.1 * area.height()


def test_the_log_scale_comes_on_during_a_run_unless_the_user_turned_it_off(qtbot, qapp, diverged_events):
    plots = shown_plots(qtbot, qapp)
    builder = CurveBuilder()
    plots.show_curves(builder.curves, epochs=1)
    progress = [e for e in diverged_events if e["type"] == "progress"]
    builder.add(progress[0])
    plots.redraw()
    assert not plots.log_box.isChecked()  # one point: nothing has exploded
    for e in progress[1:]:
        builder.add(e)
        plots.redraw()
    assert plots.log_box.isChecked()
    bottom, top = plots.loss_plot.viewRange()[1]
    assert top >= math.log10(max(e["train_loss"] for e in progress))  # the axis reaches the explosion

    click(qtbot, plots.log_box)  # off, and remembered: a diverged run no longer turns it on
    show(plots, qapp, diverged_events)
    assert not plots.log_box.isChecked()
    again = shown_plots(qtbot, qapp)  # a new window reads the choice back
    show(again, qapp, diverged_events)
    assert not again.log_box.isChecked() and not again.log

    show(plots, qapp, chance_events())  # a run that does not explode stays linear without a choice
    QSettings().remove(LOG_SCALE_KEY)
    fresh = shown_plots(qtbot, qapp)
    show(fresh, qapp, chance_events())
    assert not fresh.log_box.isChecked()


def test_pyqtgraphs_own_context_menu_is_off(qtbot, qapp):
    plots = shown_plots(qtbot, qapp)
    show(plots, qapp, chance_events())
    for plot in (plots.loss_plot, plots.acc_plot):
        assert not plot.vb.menuEnabled()
        centre = plots.view.mapFromScene(plot.vb.sceneBoundingRect().center())
        click(qtbot, plots.view.viewport(), Qt.MouseButton.RightButton, centre)
        qapp.processEvents()
        assert QApplication.activePopupWidget() is None  # no "Log Y" menu to break the curves with


def drawn_tick_texts(axis):
    """The tick labels' rectangles as the axis paints them (in the axis' coordinates)."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _, text in specs[2]]


@pytest.mark.parametrize("log", [False, True])
def test_big_tick_labels_fit_beside_the_axis_label(qtbot, qapp, log):
    QSettings().setValue(LOG_SCALE_KEY, "on" if log else "off")
    plots = shown_plots(qtbot, qapp)
    base = {"type": "progress", "steps_per_epoch": 10, "total_steps": 10, "train_accuracy": 0.1}
    show(plots, qapp, [{**base, "step": i, "train_loss": loss} for i, loss in enumerate([2.3, 2.1, 3e5], start=1)])
    plots.grab()  # painted once, as on screen
    axis = plots.loss_plot.getAxis("left")
    texts = drawn_tick_texts(axis)
    assert len(texts) >= 3
    label = axis.label.mapRectToParent(axis.label.boundingRect())
    room = axis.width() - label.width() * 0.8 - axis.style["tickLength"]  # what pyqtgraph leaves the text
    for rect, text in texts:
        assert rect.width() <= room, f"{text!r} is wider than the room beside the label"
        assert not rect.intersects(label), f"{text!r} runs under the axis' label"
        assert rect.left() >= 0
    assert max(len(text) for _, text in texts) <= 5  # 3e5, never 300000


def test_compact_tick_labels():
    assert [compact(v) for v in (0, 0.5, 2.3, 250, 5000, 10000, 300000, 2.5e6, 2e-5)] == [
        "0", "0.5", "2.3", "250", "5000", "1e4", "3e5", "2.5e6", "2e-5"]


@pytest.mark.parametrize("size", [(800, 600), (1280, 800)])
def test_legends_never_cover_a_chance_runs_curves(qtbot, qapp, size):
    plots = shown_plots(qtbot, qapp, size)
    show(plots, qapp, chance_events(), epochs=2)
    plots.set_overlays([("other run", curves_from_events(chance_events()))])  # a longer legend
    qapp.processEvents()
    scene = plots.view.mapToScene(plots.view.viewport().rect()).boundingRect()
    for plot in (plots.loss_plot, plots.acc_plot):
        legend, data = plot.legend.sceneBoundingRect(), plot.vb.sceneBoundingRect()
        assert not legend.intersects(data)
        assert scene.contains(legend) and len(plot.legend.items) >= 3
        box = plots.log_box.geometry().translated(-plots.view.x(), -plots.view.y())
        assert not plots.view.mapFromScene(legend).boundingRect().intersects(box)
    assert data.height() > 0.25 * size[1]  # the plots keep most of the room
