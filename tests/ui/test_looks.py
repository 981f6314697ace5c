"""Issue 14, "reads well": every text in the window and the Export dialog has a WCAG contrast of at
least 4.5 against what it is drawn on, under the light palette and a dark one; the window shrinks to
800x600 and its texts and buttons fit at every size from there to 1920x1080; View > Dark mode."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QLabel, QLineEdit, QTabBar,
                               QTreeView,
                               QWidget)

from playground.ui import theme

_CSS_COLOUR = re.compile(r"color:\s*(#[0-9a-fA-F]{6})")


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def rendered_background(image, widget: QWidget, top: QWidget) -> QColor:
    """The colour most of the widget's outline is painted in on ``top``'s rendering: what it sits on.
    Only the part of the widget that is painted counts (a label half scrolled out of a scroll area's
    view sits on the scroll area, not on what is drawn below it)."""
    visible = widget.visibleRegion().boundingRect() if top.isVisible() else QRect()
    if visible.isEmpty():
        visible = widget.rect()
    rect = QRect(widget.mapTo(top, visible.topLeft()), visible.size()).intersected(image.rect())
    pixels = Counter()
    for x in range(rect.left(), rect.right() + 1, 2):
        pixels[image.pixel(x, rect.top())] += 1
        pixels[image.pixel(x, rect.bottom())] += 1
    for y in range(rect.top(), rect.bottom() + 1, 2):
        pixels[image.pixel(rect.left(), y)] += 1
        pixels[image.pixel(rect.right(), y)] += 1
    return QColor.fromRgb(pixels.most_common(1)[0][0])


def shown(widget: QWidget, top: QWidget) -> bool:
    """Shown and enabled, and not wholly scrolled out of view."""
    return (widget.isVisibleTo(top) and widget.isEnabled() and widget.width() > 0 and widget.height() > 0
            and not (top.isVisible() and widget.visibleRegion().isEmpty()))


def unreadable_texts(top: QWidget) -> list[str]:
    """Every visible, enabled label, line edit and item view in ``top`` whose text colours have a
    contrast under 4.5 with their background: the palette's, a style sheet's or inline HTML's."""
    image = top.grab().toImage()
    problems = []

    def check(what: str, fg: QColor, bg: QColor) -> None:
        if contrast(fg, bg) < 4.5:
            problems.append(f"{what}: {fg.name()} on {bg.name()} ({contrast(fg, bg):.1f})")

    for label in top.findChildren(QLabel):
        if not shown(label, top) or label.window() is not top or not label.text().strip():
            continue  # (a tooltip is a window of its own)
        bg = rendered_background(image, label, top)
        name = f"{type(label.window()).__name__} label {label.text()[:50]!r}"
        check(name, label.palette().color(label.foregroundRole()), bg)
        for colour in _CSS_COLOUR.findall(label.text()):
            check(f"{name} ({colour} in its text)", QColor(colour), bg)
    for edit in top.findChildren(QLineEdit):
        if shown(edit, top):
            palette = edit.palette()
            check(f"line edit {edit.objectName() or edit.text()[:30]!r}", palette.color(QPalette.ColorRole.Text),
                  palette.color(QPalette.ColorRole.Base))
    for view in top.findChildren(QAbstractItemView):
        if shown(view, top):
            problems += unreadable_items(view)
    return problems


def unreadable_items(view: QAbstractItemView) -> list[str]:
    palette, model, problems = view.palette(), view.model(), []
    indexes = [model.index(row, 0) for row in range(min(model.rowCount(), 60))]
    for index in list(indexes):  # one level of children (the palette's groups)
        indexes += [model.index(row, 0, index) for row in range(min(model.rowCount(index), 60))]
    for index in indexes:
        fg = model.data(index, Qt.ItemDataRole.ForegroundRole)
        bg = model.data(index, Qt.ItemDataRole.BackgroundRole)
        fg = fg.color() if hasattr(fg, "color") else QColor(fg) if fg is not None else palette.color(
            QPalette.ColorRole.Text)
        bg = bg.color() if hasattr(bg, "color") else QColor(bg) if bg is not None else palette.color(
            QPalette.ColorRole.Base)
        if contrast(fg, bg) < 4.5:
            problems.append(f"{type(view).__name__} item {model.data(index)!r}: {fg.name()} on {bg.name()} "
                            f"({contrast(fg, bg):.1f})")
    return problems


@pytest.fixture(params=["light", "dark"])
def palette_kind(request, qapp):
    old = qapp.palette()
    if request.param == "dark":
        qapp.setPalette(theme.dark_palette())
    yield request.param
    qapp.setPalette(old)


def click_tab(qtbot, window, index: int) -> None:
    bar: QTabBar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentIndex() == index
    QApplication.processEvents()


def test_contrast_helper_knows_a_bad_pair():
    assert contrast(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert contrast(QColor("#b91c1c"), QColor("#1f2329")) < 4.5  # the old problem red on a dark window


def test_every_tab_reads_well(palette_kind, ready_window, qtbot):
    window = ready_window
    window.resize(1280, 800)
    window.designer.path_hint.show()  # the first-launch hint (closed for the other tests)
    # A refused value shows the field's mark and its problem line on the Train tab.
    click_tab(qtbot, window, window.tabs.indexOf(window.train_area))
    lr = window.train_area.form.editors["lr"]
    lr.selectAll()
    qtbot.keyClicks(lr, "abc")
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert lr.problem()
    problems = []
    for index in range(window.tabs.count()):
        click_tab(qtbot, window, index)
        problems += [f"{window.tabs.tabText(index)}: {p}" for p in unreadable_texts(window)]
    assert problems == []


def test_a_refused_value_is_marked_in_the_palette_s_error_colour(palette_kind, ready_window, qtbot):
    window = ready_window
    click_tab(qtbot, window, window.tabs.indexOf(window.train_area))
    batch = window.train_area.form.editors["batch_size"]
    batch.selectAll()
    qtbot.keyClicks(batch, "0")
    qtbot.keyClick(batch, Qt.Key.Key_Return)
    assert batch.problem()
    assert theme.css("invalid_border", batch) in batch.styleSheet()
    message = next(label for label in window.train_area.form.findChildren(QLabel)
                   if label.window() is window and label.isVisibleTo(window) and label.text() == batch.problem())
    assert message.palette().color(message.foregroundRole()) == theme.color("error", message)


def test_the_export_dialog_reads_well(palette_kind, ready_window, qtbot, tmp_path):
    from playground.core.config import TrainConfig
    from playground.core.presets import get_preset
    from playground.core.runs import RunRecord
    from playground.ui.export_dialog import ExportDialog

    run = RunRecord(tmp_path / "no-such-run", get_preset("fast-cnn").spec, TrainConfig(),
                    {"status": "completed", "test_accuracy": 0.97, "started": "2026-12-01T10:00:00"}, [])
    dialog = ExportDialog([run], ready_window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert unreadable_texts(dialog) == []
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)  # the run folder is missing: it fails
    qtbot.waitUntil(lambda: "failed" in dialog.result.text(), timeout=60_000)
    assert unreadable_texts(dialog) == []
    assert dialog.result.palette().color(dialog.result.foregroundRole()) == theme.color("error", dialog.result)


def clipped_widgets(top: QWidget) -> list[str]:
    """Visible labels whose text needs more room than they have, and buttons whose text does not fit."""
    problems = []
    for label in top.findChildren(QLabel):
        if not label.isVisibleTo(top) or label.window() is not top or not label.text().strip():
            continue
        if label.wordWrap():
            need = label.heightForWidth(label.contentsRect().width())
            if need > label.contentsRect().height() + 1:
                problems.append(f"label {label.text()[:50]!r} needs {need} px of height, has {label.height()}")
        elif label.minimumSizeHint().width() > label.width() + 1:
            problems.append(f"label {label.text()[:50]!r} needs {label.minimumSizeHint().width()} px, "
                            f"has {label.width()}")
    for tree in top.findChildren(QTreeView):
        if tree.isVisibleTo(top) and tree.isHeaderHidden() and tree.viewport().width() < tree.sizeHintForColumn(0):
            problems.append(f"{type(tree).__name__} is {tree.viewport().width()} px wide, its items need "
                            f"{tree.sizeHintForColumn(0)}")
    for button in top.findChildren(QAbstractButton):
        text = button.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        if button.isVisibleTo(top) and text and button.fontMetrics().horizontalAdvance(text) > button.width():
            problems.append(f"button {text!r} is {button.width()} px wide")
    return problems


def click_layer(qtbot, window, layer_type: str) -> None:
    """Click the design's first layer of ``layer_type`` in the network list."""
    stack = window.designer.stack
    row = next(i for i, layer in enumerate(window.designer.document.spec.layers) if layer.type == layer_type)
    index = stack.model().index(row, 0)
    stack.scrollTo(index)
    qtbot.mouseClick(stack.viewport(), Qt.MouseButton.LeftButton, pos=stack.visualRect(index).center())
    assert window.designer.document.selected == row
    QApplication.processEvents()


@pytest.mark.parametrize("size", [(800, 600), (1024, 700), (1280, 800), (1920, 1080), (3840, 2160)])
def test_the_window_fits_and_nothing_is_clipped(size, ready_window, qtbot):
    window = ready_window
    hint, minimum = window.minimumSizeHint(), window.minimumSize()
    assert max(hint.width(), minimum.width()) <= 800 and max(hint.height(), minimum.height()) <= 600
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size)
    problems = []
    for index in range(window.tabs.count()):
        click_tab(qtbot, window, index)
        QApplication.processEvents()
        problems += [f"{window.tabs.tabText(index)}: {p}" for p in clipped_widgets(window)]
    click_tab(qtbot, window, window.tabs.indexOf(window.designer))
    for layer_type in ("Conv2d", "Linear"):  # the property panel's help lines wrap in its narrow column
        click_layer(qtbot, window, layer_type)
        problems += [f"{layer_type}'s properties: {p}" for p in clipped_widgets(window)]
    assert problems == []
    # The network's columns all show: the side columns gave way, not the network.
    assert not window.designer.stack.horizontalScrollBar().isVisible()


def choose_scheme(qtbot, window, scheme: str) -> None:
    """View > Dark mode > ``scheme``, by mouse."""
    bar = window.menuBar()
    view_action = next(action for action in bar.actions() if action.text() == "&View")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(view_action).center())
    view_menu = view_action.menu()
    qtbot.waitUntil(view_menu.isVisible)
    submenu = window.scheme_menu
    qtbot.mouseClick(view_menu, Qt.MouseButton.LeftButton,
                     pos=view_menu.actionGeometry(submenu.menuAction()).center())
    qtbot.waitUntil(submenu.isVisible)
    action = window.scheme_actions[scheme]
    qtbot.mouseClick(submenu, Qt.MouseButton.LeftButton, pos=submenu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not view_menu.isVisible())


@pytest.fixture
def keep_palette(qapp):
    old = qapp.palette()
    yield
    qapp.setPalette(old)


def test_view_dark_mode_switches_at_once_and_is_remembered(keep_palette, ready_window, qtbot):
    from PySide6.QtCore import QSettings

    from playground.ui.main_window import MainWindow

    window = ready_window
    window.resize(1280, 800)
    window.designer.path_hint.show()
    assert not theme.is_dark(window) and window.scheme_actions["system"].isChecked()
    choose_scheme(qtbot, window, "dark")
    qtbot.waitUntil(lambda: theme.is_dark(window))  # the palette reaches the widgets through posted events
    assert window.scheme_actions["dark"].isChecked()
    assert QSettings().value(theme.SCHEME_KEY) == "dark"
    problems = []
    for index in range(window.tabs.count()):  # every text follows the new palette
        click_tab(qtbot, window, index)
        qtbot.wait(10)  # the palette's repaint passes
        problems += [f"{window.tabs.tabText(index)}: {p}" for p in unreadable_texts(window)]
    assert problems == []

    QApplication.instance().setPalette(QPalette())  # as a fresh start would find the system's
    second = MainWindow(load_torch=False)  # the choice is remembered
    qtbot.addWidget(second)
    assert theme.is_dark(second) and second.scheme_actions["dark"].isChecked()

    choose_scheme(qtbot, window, "light")
    qtbot.waitUntil(lambda: not theme.is_dark(window))
    assert QSettings().value(theme.SCHEME_KEY) == "light"


def test_a_banner_shown_before_a_switch_to_dark_follows_it(keep_palette, ready_window, qtbot):
    window = ready_window
    window.resize(1280, 800)
    area = window.train_area
    click_tab(qtbot, window, window.tabs.indexOf(area))
    area._show_banner("Completed: test accuracy 98.68% after 2.5 s of training.", "success")
    assert unreadable_texts(window) == []
    choose_scheme(qtbot, window, "dark")
    qtbot.waitUntil(lambda: theme.is_dark(area))
    qtbot.wait(10)  # the palette's repaint passes
    assert unreadable_texts(window) == []
    assert area.banner_box.styleSheet().count(theme.css("success_background", area)) == 1
