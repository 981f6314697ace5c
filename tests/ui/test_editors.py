"""Number fields use what was typed, or say why they cannot; the Train form's ranges are validation's."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication, QLabel

from playground.core.config import SETTINGS, ConfigError, TrainConfig, format_number
from playground.core.presets import PRESETS
from playground.ui.editors import BoolEdit, ChoiceEdit, NumberEdit, parse_number, problem_style
from playground.ui.train_form import ConfigForm


def type_into(qtbot, field: NumberEdit, text: str, key=Qt.Key.Key_Return) -> None:
    """What a user does: focus the field, select its text, type, press Enter."""
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, key)


@pytest.fixture
def form(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.show()
    return form


@pytest.mark.parametrize("typed,value", [("1e-4", 1e-4), ("0.01", 0.01), ("3E-2", 0.03), (".5", 0.5),
                                         ("2", 2.0), ("  0.25 ", 0.25), ("1e-8", 1e-8)])
def test_typing_a_learning_rate_gives_that_learning_rate(form, qtbot, typed, value):
    type_into(qtbot, form.editors["lr"], typed)
    assert form.editors["lr"].problem() == ""
    assert form.config().lr == value


def test_the_locales_decimal_separator_and_the_point_both_work(qtbot):
    before = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    try:
        form = ConfigForm()
        qtbot.addWidget(form)
        form.show()
        lr = form.editors["lr"]
        assert lr.text() == "0,001"  # shown the German way
        type_into(qtbot, lr, "0,01")
        assert form.config().lr == 0.01
        type_into(qtbot, lr, "0.02")
        assert form.config().lr == 0.02
        type_into(qtbot, lr, "2,5e-3")
        assert form.config().lr == 0.0025
    finally:
        QLocale.setDefault(before)


def test_a_comma_is_not_guessed_at_where_it_is_no_decimal_separator(form, qtbot):
    lr = form.editors["lr"]
    lr.setLocale(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
    type_into(qtbot, lr, "0,01")
    assert "'0,01' is not a number" in lr.problem()
    assert lr.value() == 0.001


@pytest.mark.parametrize("name,typed,message", [
    ("lr", "0", "Learning rate: must be above 0 and at most 1e30; got 0"),
    ("lr", "abc", "Learning rate: 'abc' is not a number"),
    ("lr", "1e999", "Learning rate: 1e999 is too large for a number here"),
    ("val_fraction", "0.9", "Validation share: must be at least 0 and below 0.9; got 0.9"),
    ("epochs", "2.5", "Epochs: must be a whole number; got 2.5"),
    ("batch_size", "70000", "Batch size: must be 1 to 65536; got 70000"),
    ("max_rotation", "46", "Rotate up to (°): must be 0 to 45; got 46"),
])
def test_a_value_out_of_range_is_refused_visibly_and_not_used(form, qtbot, name, typed, message):
    field = form.editors[name]
    form.set_config(TrainConfig(augment=True))
    before = field.value()
    type_into(qtbot, field, typed)
    assert field.problem() == message
    assert message in field.toolTip() and "border" in field.styleSheet()  # marked, and says why
    assert shown_messages(form) == [message]  # in a line under the field
    assert field.value() == before and field.text() == typed  # the text stays for the user to fix
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        form.config()  # Start would show it in the banner
    qtbot.keyClick(field, Qt.Key.Key_Escape)  # Escape brings the last good value back
    assert field.problem() == "" and field.styleSheet() == "" and form.config() == TrainConfig(augment=True)
    assert shown_messages(form) == []


def shown_messages(widget) -> list[str]:
    """The red lines under fields (not the passing tooltip, a window of its own)."""
    return [label.text() for label in widget.findChildren(QLabel)
            if label.isVisible() and not label.isWindow() and ": " in label.text() and label.text()[0].isupper()
            and label.styleSheet() == problem_style(label.parentWidget())]


def test_up_and_down_step_and_never_clamp(form, qtbot):
    batch = form.editors["batch_size"]
    batch.setFocus()
    qtbot.keyClick(batch, Qt.Key.Key_Up)
    assert form.config().batch_size == 144
    qtbot.keyClick(batch, Qt.Key.Key_Down)
    qtbot.keyClick(batch, Qt.Key.Key_Down)
    assert form.config().batch_size == 112
    gamma = form.editors["gamma"]
    type_into(qtbot, gamma, "0.95")
    qtbot.keyClick(gamma, Qt.Key.Key_Up)  # 1.0 is allowed
    assert gamma.value() == 1.0 and gamma.text() == "1"
    qtbot.keyClick(gamma, Qt.Key.Key_Up)  # 1.05 is not: the value stays
    assert gamma.value() == 1.0 and gamma.problem() == ""


def test_training_images_show_all_for_zero(form, qtbot):
    limit = form.editors["limit"]
    assert limit.text() == "all images"
    type_into(qtbot, limit, "3000")
    assert form.config().limit == 3000
    type_into(qtbot, limit, "all images")
    assert form.config().limit == 0


def accepts(qtbot, field: NumberEdit, value) -> bool:
    """Whether the field takes ``value`` typed in; one it refuses leaves the value as it was."""
    before = field.value()
    type_into(qtbot, field, format_number(value))
    if field.problem():
        assert field.value() == before
        return False
    assert field.value() == value
    return True


@pytest.mark.parametrize("spec", [s for s in SETTINGS.values() if s.kind in ("int", "float")], ids=lambda s: s.name)
def test_each_fields_accepted_range_is_the_settings_range(form, qtbot, spec):
    field = form.editors[spec.name]
    assert isinstance(field, NumberEdit) and field.kind == spec.kind
    assert field.range_text() == spec.range_text()
    low, high = spec.minimum, spec.maximum
    nudge = 1 if spec.kind == "int" else max(abs(high) * 1e-9, 1e-12)
    assert accepts(qtbot, field, low) == spec.min_inclusive
    assert accepts(qtbot, field, high) == spec.max_inclusive
    assert not accepts(qtbot, field, low - nudge) and not accepts(qtbot, field, high + nudge)
    assert accepts(qtbot, field, low + nudge) and accepts(qtbot, field, high - nudge)
    assert getattr(form.config(), spec.name) == high - nudge


def test_the_other_editors_offer_the_settings_values(form, qtbot):
    for name, spec in SETTINGS.items():
        editor = form.editors[name]
        if spec.kind == "bool":
            assert isinstance(editor, BoolEdit)
        elif spec.kind == "choice" or (spec.kind == "text" and spec.choices):  # data_folder: a folder chooser
            assert isinstance(editor, ChoiceEdit)
            assert [editor.itemData(i) for i in range(editor.count())] == list(spec.choices)
        assert editor.toolTip() == spec.help
    type_into(qtbot, form.editors["seed"], str(2**63 - 1))  # the form once stopped at 2**31 - 1
    assert form.config().seed == 2**63 - 1
    type_into(qtbot, form.editors["val_fraction"], "0.85")  # and at 0.5
    assert form.config().val_fraction == 0.85


def test_rows_show_only_the_settings_that_apply(form, qtbot):
    optimizer = form.editors["optimizer"]
    for name in SETTINGS["optimizer"].choices:
        optimizer.setFocus()
        optimizer.setCurrentIndex(optimizer.findData(name))
        values = {n: e.value() for n, e in form.editors.items()}
        for setting, spec in SETTINGS.items():
            assert form.form.isRowVisible(form.editors[setting]) == spec.applies(values), (name, setting)
    form.editors["augment"].setFocus()
    qtbot.keyClick(form.editors["augment"], Qt.Key.Key_Space)
    assert form.form.isRowVisible(form.editors["max_shift"])


def test_an_invalid_value_in_a_row_that_goes_away_is_dropped(form, qtbot):
    form.set_config(TrainConfig(optimizer="sgd"))
    type_into(qtbot, form.editors["momentum"], "1.5")
    assert form.editors["momentum"].problem()
    form.editors["optimizer"].setValue("adam")
    assert form.editors["momentum"].problem() == "" and form.config().momentum == 0.9


def test_parse_number_refuses_what_it_would_have_to_guess():
    assert parse_number("1e-4", "float") == 1e-4 and parse_number("0,5", "float", ",") == 0.5
    assert parse_number("1e3", "int") == 1000 and parse_number("\u22123", "int") == -3
    for text, kind in (("nan", "float"), ("inf", "float"), ("1_000", "int"), ("1,000", "int"), ("4.5", "int"),
                       ("", "int"), ("1e-400", "float"), ("9" * 100, "int"), ("1e99999", "int"), ("0x10", "int")):
        with pytest.raises(ValueError):
            parse_number(text, kind)


# -- the property panel ------------------------------------------------------------------------------


def select_layer(window, qtbot, row: int) -> None:
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(row, 0))
    editors = window.designer.properties.editors
    qtbot.waitUntil(lambda: all(editor.isVisible() for editor in editors.values()))  # shown as the user sees them


def test_typing_a_kernel_size_gives_that_kernel_size(ready_window, qtbot):
    window = ready_window
    window.document.reset(PRESETS["tutorial-cnn"].spec)
    select_layer(window, qtbot, 0)
    type_into(qtbot, window.designer.properties.editors["kernel_size"], "12")
    assert window.document.spec.layers[0].params["kernel_size"] == 12  # not 1, not clamped
    type_into(qtbot, window.designer.properties.editors["out_channels"], "40")
    assert window.document.spec.layers[0].params["out_channels"] == 40


def test_a_kernel_size_out_of_range_is_marked_and_not_applied(ready_window, qtbot):
    window = ready_window
    window.document.reset(PRESETS["tutorial-cnn"].spec)
    select_layer(window, qtbot, 0)
    field = window.designer.properties.editors["kernel_size"]
    type_into(qtbot, field, "40")
    assert field.problem() == "Kernel: must be 1 to 28; got 40"
    assert "border" in field.styleSheet() and "must be 1 to 28" in field.toolTip()
    assert shown_messages(window.designer.properties) == ["Kernel: must be 1 to 28; got 40"]  # under the field
    assert window.document.spec == PRESETS["tutorial-cnn"].spec and window.document.undo_stack.count() == 0
    type_into(qtbot, field, "3")
    assert field.problem() == "" and window.document.spec.layers[0].params["kernel_size"] == 3
    assert shown_messages(window.designer.properties) == []


def test_a_dropout_share_takes_scientific_notation(ready_window, qtbot):
    from playground.core import NetworkSpec, make_layer

    window = ready_window
    window.document.reset(NetworkSpec((make_layer("Flatten"), make_layer("Dropout"),
                                       make_layer("Linear", out_features=10))))
    select_layer(window, qtbot, 1)
    type_into(qtbot, window.designer.properties.editors["p"], "2.5e-1")
    assert window.document.spec.layers[1].params["p"] == 0.25


def test_ctrl_z_after_enter_in_a_property_field_undoes_the_edit(active_window, qtbot):
    window = active_window
    select_layer(window, qtbot, 0)
    before = window.document.spec
    field = window.designer.properties.editors["out_channels"]
    type_into(qtbot, field, "32")
    assert window.document.spec.layers[0].params["out_channels"] == 32
    assert QApplication.focusWidget() is field
    qtbot.keyClick(field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.spec == before and field.value() == before.layers[0].params["out_channels"]


# -- after review: a refreshed field drops its old complaint; undo stays with the design; stepping ------------


def test_a_field_set_from_the_model_drops_its_old_complaint(form, qtbot):
    batch = form.editors["batch_size"]
    type_into(qtbot, batch, "abc")
    assert shown_messages(form) == ["Batch size: 'abc' is not a number"]
    form.set_config(TrainConfig(batch_size=64))  # e.g. "Use the design's recommended settings"
    assert batch.problem() == "" and batch.text() == "64" and shown_messages(form) == []
    assert form.config().batch_size == 64


def test_a_layer_field_refreshed_by_another_edit_drops_its_old_complaint(ready_window, qtbot):
    window = ready_window
    window.document.reset(PRESETS["tutorial-cnn"].spec)
    select_layer(window, qtbot, 0)
    editors = window.designer.properties.editors
    type_into(qtbot, editors["kernel_size"], "abc")
    assert shown_messages(window.designer.properties) == ["Kernel: 'abc' is not a number"]
    type_into(qtbot, editors["out_channels"], "12")
    assert window.document.spec.layers[0].params["out_channels"] == 12
    assert editors["kernel_size"].problem() == "" and shown_messages(window.designer.properties) == []


def test_ctrl_z_in_a_train_field_does_not_undo_the_hidden_design(active_window, qtbot):
    window = active_window
    select_layer(window, qtbot, 0)
    type_into(qtbot, window.designer.properties.editors["out_channels"], "32")
    edited = window.document.spec
    qtbot.mouseClick(window.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=window.tabs.tabBar().tabRect(window.tabs.indexOf(window.train_area)).center())
    lr = window.train_area.form.editors["lr"]
    qtbot.waitUntil(lr.isVisible)
    type_into(qtbot, lr, "0.01")
    qtbot.keyClick(lr, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.spec == edited  # the design edit on the hidden tab stays


def test_page_keys_step_ten_and_a_step_past_a_bound_stops_at_it(form, qtbot):
    batch = form.editors["batch_size"]
    type_into(qtbot, batch, "100")
    qtbot.keyClick(batch, Qt.Key.Key_PageUp)
    assert batch.value() == 260  # ten steps of 16
    type_into(qtbot, batch, "10")
    qtbot.keyClick(batch, Qt.Key.Key_Down)
    assert batch.value() == 1  # the smallest batch, not "nothing happens"
    lr = form.editors["lr"]
    type_into(qtbot, lr, "0.0003")
    qtbot.keyClick(lr, Qt.Key.Key_Down)  # 0 is not allowed (above 0): nothing to stop at
    assert lr.value() == 0.0003 and lr.problem() == ""


def test_all_is_enough_for_all_training_images(form, qtbot):
    limit = form.editors["limit"]
    type_into(qtbot, limit, "3000")
    type_into(qtbot, limit, "all")
    assert limit.problem() == "" and form.config().limit == 0
