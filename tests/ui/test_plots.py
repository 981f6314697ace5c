"""The live training curves: painted point by point, only where they grew, and still right."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPointF
from PySide6.QtGui import QColor

from playground.ui.plots import COLOURS, CurveBuffer, LiveCurve, TrainingPlots, curves_from_events, decimate


class PaintSpy(QObject):
    """Records the regions of the paint events a widget receives."""

    def __init__(self, widget):
        super().__init__()
        self.regions = []
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            self.regions.append(event.region())
        return False


def _add_point(curves, i, n=60):
    x = i / n
    loss = 2.3 * math.exp(-4 * x) + 0.1 * math.sin(i)
    curves["train_raw"].append(x, loss)
    curves["train"].append(x, 0.9 * loss)
    curves["train_acc"].append(x, 1 - math.exp(-4 * x))


@pytest.fixture
def plots(qtbot, qapp):
    widget = TrainingPlots()
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    qtbot.waitExposed(widget)
    curves = curves_from_events([])
    widget.show_curves(curves, epochs=1)
    qapp.processEvents()
    return widget, curves


def test_a_new_point_repaints_a_small_area_and_the_screen_matches_a_full_render(plots, qapp):
    widget, curves = plots
    spy = PaintSpy(widget.view.viewport())
    for i in range(40):
        _add_point(curves, i)
        widget.redraw()
        qapp.processEvents()
    spy.regions.clear()
    _add_point(curves, 40)
    widget.redraw()
    qapp.processEvents()
    painted = sum(r.width() * r.height() for region in spy.regions for r in region)
    view = widget.view.viewport()
    assert 0 < painted < 0.05 * view.width() * view.height()  # a sliver, not the plots

    # What is on screen (the offscreen backing store) after 41 partial repaints equals a fresh render.
    on_screen = qapp.primaryScreen().grabWindow(widget.winId()).toImage()
    fresh = widget.grab().toImage()
    on_screen = on_screen.convertToFormat(fresh.format())
    assert on_screen.size() == fresh.size()
    assert on_screen == fresh


def test_new_points_repaint_neither_axes_nor_legends(plots, qapp):
    widget, curves = plots
    for i in range(3):  # the first points set the loss plot's range: axes and all repainted
        _add_point(curves, i)
        widget.redraw()
        qapp.processEvents()
    spy = PaintSpy(widget.view.viewport())
    for i in range(3, 60):  # from the left axis, the loss falls towards its axis, the accuracy rises to 1
        _add_point(curves, i)
        widget.redraw()
        qapp.processEvents()
    assert len(spy.regions) >= 50
    view = widget.view
    for plot in (widget.loss_plot, widget.acc_plot):
        for item in (plot.getAxis("left"), plot.getAxis("bottom"), plot.legend):
            rect = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
            hits = [region for region in spy.regions if region.intersects(rect)]
            assert hits == [], f"{type(item).__name__} of the {plot.titleLabel.text} plot was repainted"


def test_the_legends_show_the_validation_symbols_in_their_colour_before_any_point(plots):
    widget, _ = plots
    image = widget.grab().toImage()
    red = QColor(COLOURS["val"])
    for plot in (widget.loss_plot, widget.acc_plot):
        sample = plot.legend.items[-1][0]  # the validation curve's: a line with a symbol at (10, 10)
        centre = widget.view.mapFromScene(sample.mapToScene(QPointF(10, 10)))
        c = QColor(image.pixel(centre.x(), centre.y()))
        assert abs(c.red() - red.red()) + abs(c.green() - red.green()) + abs(c.blue() - red.blue()) < 60


def test_a_long_curve_strokes_only_the_sub_paths_near_a_repaint(plots, qapp, monkeypatch):
    monkeypatch.setattr(LiveCurve, "CHUNK", 4)  # many sub-paths, and many places where two meet
    widget, curves = plots
    for i in range(60):
        _add_point(curves, i)
        widget.redraw()
        qapp.processEvents()
    curve = widget.items["train"]
    assert len(curve._chunks) == 15 and curve.points == 60
    x, y = curve.getData()
    assert np.array_equal(x, curves["train"].data()[0]) and np.array_equal(y, curves["train"].data()[1])
    _add_point(curves, 60)
    widget.redraw()
    qapp.processEvents()
    assert 1 <= curve.stroked <= 2  # the newest sub-path, and the one before where they meet

    # The sub-paths meet without a seam: the screen after the partial repaints equals a full render,
    # which strokes them all.
    on_screen = qapp.primaryScreen().grabWindow(widget.winId()).toImage()
    fresh = widget.grab().toImage()
    assert curve.stroked == len(curve._chunks)
    assert on_screen.convertToFormat(fresh.format()) == fresh


def test_curves_are_drawn_unbroken(plots, qapp):
    widget, curves = plots
    widget.show_curves(curves, epochs=2)  # the plots' ranges change after the curves joined them
    for i in range(114):  # the loss plot's range grows with the first point
        _add_point(curves, i)
        widget.redraw()
        qapp.processEvents()
    image = widget.grab().toImage()
    blue = QColor(COLOURS["train"])
    assert QColor(COLOURS["train_acc"]) == blue

    for plot, top_value in ((widget.acc_plot, 1.0), (widget.loss_plot, 2.3)):
        vb = plot.vb

        def pixel(x, y, vb=vb):  # data coordinates of the plot -> pixel in the widget
            return widget.view.mapFromScene(vb.mapViewToScene(QPointF(x, y)))

        x0, x1 = pixel(0.05, 0).x(), pixel(1.85, 0).x()
        top, bottom = pixel(0, top_value).y(), pixel(0, 0).y()
        assert x1 - x0 > 600 and bottom - top > 100
        gaps = []
        for x in range(x0, x1):
            column = (QColor(image.pixel(x, y)) for y in range(top - 3, bottom + 4))  # the pen's width
            if not any(abs(c.red() - blue.red()) + abs(c.green() - blue.green()) + abs(c.blue() - blue.blue())
                       < 60 for c in column):
                gaps.append(x)
        # Every pixel column under the curve holds some of its colour.
        assert gaps == [], f"the {plot.titleLabel.text} curve has gaps"


def _progress_events(points_per_epoch, loss_at, epochs=3, steps_per_epoch=840):
    events = []
    for k in range(1, epochs * points_per_epoch + 1):
        step = round(k * steps_per_epoch / points_per_epoch)
        loss = loss_at(step / steps_per_epoch, k)
        events.append({"type": "progress", "step": step, "steps_per_epoch": steps_per_epoch,
                       "total_steps": epochs * steps_per_epoch, "train_loss": loss, "train_accuracy": 1 - loss / 3})
    return events


@pytest.mark.parametrize("points_per_epoch", [12, 85])  # a fast machine's run, a slow one's
def test_the_smoothed_curves_follow_a_change_within_a_tenth_of_the_run(points_per_epoch):
    curves = curves_from_events(_progress_events(points_per_epoch, lambda x, k: 2.0 if x < 1.5 else 0.5))
    x, y = curves["train"].data()
    assert np.array_equal(curves["train_raw"].data()[0], x)
    assert y[x < 1.5].max() == pytest.approx(2.0)
    later = y[x >= 1.5 + 0.3]  # 10% of a 3-epoch run after the drop
    assert 0.5 <= later[0] <= 0.56
    acc_x, acc = curves["train_acc"].data()
    assert acc[acc_x >= 1.8][0] == pytest.approx(1 - later[0] / 3)


def test_the_smoothed_curve_is_smoother_than_the_raw_one():
    curves = curves_from_events(_progress_events(85, lambda x, k: 1.0 + (0.2 if k % 2 else -0.2)))
    raw, smooth = curves["train_raw"].data()[1][30:], curves["train"].data()[1][30:]
    assert np.std(smooth) < 0.1 * np.std(raw)
    assert np.mean(smooth) == pytest.approx(1.0, abs=0.01)


def test_decimate_keeps_the_extremes_in_order():
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 50)
    y[1234], y[7777] = 5.0, -5.0
    dx, dy = decimate(x, y, 1000)
    assert len(dx) <= 1010
    assert np.all(np.diff(dx) > 0)  # still in order
    assert dy.max() == 5.0 and dy.min() == -5.0  # the spikes survive
    assert dx[-1] == x[-1]
    short_x, short_y = decimate(x[:100], y[:100], 1000)
    assert np.array_equal(short_x, x[:100]) and np.array_equal(short_y, y[:100])


def test_live_curve_follows_its_buffer_and_starts_again_for_another(qtbot):
    import pyqtgraph as pg

    curve = LiveCurve(pg.mkPen("b"), "test", max_points=200)
    a = CurveBuffer()
    for i in range(50):
        a.append(i, i * i)
    curve.show_buffer(a)
    x, y = curve.getData()
    assert np.array_equal(x, np.arange(50)) and np.array_equal(y, np.arange(50) ** 2)
    a.append(50, 2500)
    curve.show_buffer(a)
    assert curve.points == 51
    assert curve.dataBounds(0) == (0, 50) and curve.dataBounds(1) == (0, 2500)
    assert curve.boundingRect().contains(50, 2500)

    b = CurveBuffer()
    for i in range(5):
        b.append(i, -i)
    curve.show_buffer(b)  # another run's curve: drawn anew
    x, y = curve.getData()
    assert np.array_equal(y, -np.arange(5))

    for i in range(5, 1000):  # past max_points: rebuilt from decimated data, never more than it
        b.append(i, -i)
        curve.show_buffer(b)
        assert curve.points <= 200
    x, y = curve.getData()
    assert x[0] == 0 and x[-1] == 999 and y.min() == -999

