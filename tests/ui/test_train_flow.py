"""The Train area does what the user chose: a preset's settings, Ctrl+Return, the way to the evaluation,
a prompt before closing on a training, a row of buttons that holds still, a plain word when a run did
not learn. Driven with real keys and clicks, on a few hundred real MNIST images."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from playground.core import PRESETS
from playground.core.config import TrainConfig
from playground.ui import theme

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton
TINY = dict(epochs=1, limit=500, test_limit=500, batch_size=32, device="cpu", optimizer="adam", lr=0.003)


@pytest.fixture
def window(active_window):
    return active_window


def set_config(window, **changes):
    window.train_area.form.set_config(TrainConfig(**{**TINY, **changes}))


def show_train_tab(window, qtbot):
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_2, CTRL)
    assert window.tabs.currentWidget() is window.train_area


def click_menu_item(qtbot, menu: QMenu, text: str) -> None:
    """Click the item of an open menu whose text starts with ``text``."""
    qtbot.waitUntil(menu.isVisible, timeout=5_000)
    action = next(a for a in menu.actions() if a.text().replace("&", "").startswith(text))
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(action).center())


def type_into(qtbot, editor, text: str) -> None:
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)


def answer_next_dialog(qtbot, button_text: str, seen: list) -> None:
    """Click the button ``button_text`` of the next modal message box, once it shows."""

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        qtbot.mouseClick(button, LEFT)

    QTimer.singleShot(0, answer)


# -- 1. a preset's settings ---------------------------------------------------------------------------------


def test_new_from_preset_in_the_menu_sets_the_presets_training_settings(window, qtbot):
    form = window.train_area.form
    set_config(window, limit=700, augment=True)  # as if lenet5 had set augmentation before
    bar = window.menuBar()
    file_menu = next(a.menu() for a in bar.actions() if a.text() == "&File")
    qtbot.mouseClick(bar, LEFT, pos=bar.actionGeometry(file_menu.menuAction()).center())
    click_menu_item(qtbot, file_menu, "New from Preset")
    presets = next(a.menu() for a in file_menu.actions() if a.text() == "New from &Preset")
    click_menu_item(qtbot, presets, "tutorial-cnn")
    qtbot.waitUntil(lambda: window.document.spec == PRESETS["tutorial-cnn"].spec, timeout=5_000)
    config = form.config()
    train = PRESETS["tutorial-cnn"].train
    assert (config.optimizer, config.lr, config.momentum, config.batch_size, config.epochs, config.schedule) == \
        ("sgd", 0.01, 0.5, 64, 1, "constant") == tuple(train[k] for k in ("optimizer", "lr", "momentum",
                                                                            "batch_size", "epochs", "schedule"))
    assert not config.augment  # a setting the preset does not recommend goes back to its default
    assert config.limit == 700  # the data stay the user's
    assert window.document.batch_size == 64  # the designer's memory estimate follows


def test_the_window_starts_with_the_default_presets_settings(window):
    config = window.train_area.form.config()
    assert window.document.spec == PRESETS["tutorial-cnn"].spec
    assert (config.optimizer, config.lr, config.momentum, config.batch_size) == ("sgd", 0.01, 0.5, 64)


def test_editing_the_design_keeps_the_users_settings(window, qtbot):
    area = window.train_area
    show_train_tab(window, qtbot)
    type_into(qtbot, area.form.editors["lr"], "0.2")
    window.document.insert_layer(1, "Dropout")
    window.document.remove_layer(1)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_N, CTRL)  # a new, empty design
    assert area.form.config().lr == 0.2


def test_use_recommended_changes_only_what_the_preset_recommends_and_says_so(window, qtbot):
    area = window.train_area
    show_train_tab(window, qtbot)
    type_into(qtbot, area.form.editors["lr"], "0.5")
    type_into(qtbot, area.form.editors["limit"], "900")
    type_into(qtbot, area.form.editors["weight_decay"], "0.001")
    qtbot.mouseClick(area.recommended_button, LEFT)
    config = area.form.config()
    assert (config.lr, config.limit, config.weight_decay) == (0.01, 900, 0.001)
    assert area.banner.isVisible()
    assert area.banner.text() == "Changed learning rate 0.5 → 0.01; the rest kept."

    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_N, CTRL)  # a design that is no preset
    type_into(qtbot, area.form.editors["lr"], "0.3")
    qtbot.mouseClick(area.recommended_button, LEFT)
    assert area.form.config().lr == 0.3
    assert "not one of the presets" in area.banner.text() and "nothing changed" in area.banner.text()


# -- 2 and 3. Ctrl+Return, and the way to the evaluation -------------------------------------------------------


def test_ctrl_return_starts_training_in_the_train_area(window, qtbot):
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window)
    show_train_tab(window, qtbot)  # (from the Design area, Ctrl+Return shows the Train area: test_trial_design)
    field = area.form.editors["lr"]
    field.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is field, timeout=5_000)
    field.selectAll()
    qtbot.keyClicks(field, "2e-3")
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.keyClick(field, Qt.Key.Key_Return, CTRL)  # straight after typing, as a user would
        assert area.training
    run = blocker.args[0]
    assert run.status == "completed" and run.config.lr == 0.002 and run.config.limit == 500

    # The keypad's Enter does the same, and the end banner leads to the evaluation.
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_Enter, CTRL | Qt.KeyboardModifier.KeypadModifier)
    second = blocker.args[0]
    assert second is not run and second.status == "completed"
    assert area.evaluation_button.isVisible()
    qtbot.mouseClick(area.evaluation_button, LEFT)
    assert window.tabs.currentWidget() is window.evaluate_area
    assert window.evaluate_area.run is second
    assert window.evaluate_area.accuracy.text() == f"Test accuracy {second.evaluation.accuracy:.2%}"


# -- 4. closing while a run trains ------------------------------------------------------------------------------


def test_closing_during_a_run_asks_whether_to_stop_it(window, qtbot):
    del window.ask_stop_training  # the real question, not the fixture's answer
    area = window.train_area
    window.new_from_preset("tutorial-cnn")
    set_config(window, epochs=50, limit=2000, test_limit=2000, batch_size=8)
    window.document.undo_stack.setClean()  # a saved design: no question about saving
    show_train_tab(window, qtbot)
    qtbot.mouseClick(area.start_button, LEFT)
    qtbot.waitUntil(lambda: area.plots.point_count("train") > 0, timeout=120_000)
    seen = []
    answer_next_dialog(qtbot, "Cancel", seen)
    assert not window.close()
    assert seen and "still training" in seen[0]
    assert window.isVisible() and area.training

    with qtbot.waitSignal(window.library.run_finished, timeout=120_000) as blocker:
        answer_next_dialog(qtbot, "Stop and close", seen)
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert len(seen) == 2 and blocker.args[0].status == "stopped"


# -- 5. the buttons hold still ------------------------------------------------------------------------------------


def test_the_start_row_holds_still_before_during_and_after_a_run(window, qtbot, monkeypatch):
    import playground.ui.train_area as train_area

    monkeypatch.setattr(train_area, "TEXT_INTERVAL", 0.0)  # the progress text at every event
    area = window.train_area
    window.new_from_preset("tutorial-cnn")
    set_config(window, epochs=1, limit=3000, test_limit=3000, batch_size=8)
    show_train_tab(window, qtbot)
    area.splitter.setSizes([300, 900])
    qtbot.wait(50)

    def y():
        return area.start_button.mapTo(window, QPoint()).y()

    before = y()
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000):
        qtbot.mouseClick(area.start_button, LEFT)
        qtbot.waitUntil(lambda: "images/s" in area.progress_label.text(), timeout=120_000)
        text = area.progress_label.text()
        assert area.fontMetrics().horizontalAdvance(text) > area.progress_label.width()  # it would wrap
        qtbot.wait(50)
        during = y()
    qtbot.waitUntil(area.banner.isVisible, timeout=5_000)
    qtbot.wait(50)
    assert before == during == y()
    assert area.progress_label.toolTip() == area.progress_label.text()  # the whole text on hover


# -- 6. a run that did not learn -----------------------------------------------------------------------------------


def test_a_run_at_chance_accuracy_says_it_did_not_learn(window, qtbot):
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window, optimizer="sgd", lr=1e-6, momentum=0.0, seed=0)
    show_train_tab(window, qtbot)
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.start_button, LEFT)
    run = blocker.args[0]
    assert run.status == "completed" and run.test_accuracy <= 0.15
    text = area.banner.text()
    assert text.startswith(f"Completed, but the network did not learn: test accuracy {run.test_accuracy:.2%}")
    assert "the learning rate (1e-06) may be too high or too low" in text
    start = next(e for e in run.events if e["type"] == "start")
    assert f"1 epoch on {start['train_size']:,} images" in text
    assert theme.css("warning", area) in area.banner_box.styleSheet()
    assert theme.css("success", area) not in area.banner_box.styleSheet()
