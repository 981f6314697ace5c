"""Editors for typed values (whole numbers, numbers, choices, on/off), shared by the property panel
and the Train form.

A number field uses exactly what was typed: scientific notation (``1e-4``) and the locale's decimal
separator (``0,01`` in German; ``0.01`` always works). Text it cannot use (not a number, out of range)
is marked and explained and leaves the value as it was: never clamped, truncated or reinterpreted.

The editors keep the ``value()`` / ``setValue()`` / ``valueChanged`` names of Qt's spin boxes, so code
written against those keeps working whichever editor a field has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QToolTip, QWidget

from playground.core.config import SettingSpec, format_number, in_range, range_text
from playground.core.layers import ParamSpec
from playground.ui import theme

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_MAX_TEXT = 60  # longer text is no number anyone means


def invalid_style(widget: QWidget) -> str:
    """The mark of a field whose text is refused, in the error colour of the widget's palette."""
    return f"QLineEdit {{ border: 2px solid {theme.css('invalid_border', widget)}; border-radius: 3px; padding: 1px; }}"


def problem_style(widget: QWidget) -> str:
    """A line saying why a field refuses its text, readable on the widget's palette."""
    return f"color: {theme.css('error', widget)}; font-size: small;"


def parse_number(text: str, kind: str, decimal_point: str = ".") -> int | float:
    """The number ``text`` spells (``kind`` ``"int"`` or ``"float"``); ``ValueError`` says why not.

    ``decimal_point`` (the locale's) is accepted besides ``.``; nothing else is guessed: no thousands
    separators, no ``nan``/``inf``, no digits past what the kind holds."""
    typed = text.strip().replace("\u2212", "-")  # the minus sign some keyboards and locales give
    if decimal_point != ".":
        typed = typed.replace(decimal_point, ".")
    if not typed:
        raise ValueError("type a number")
    if len(typed) > _MAX_TEXT or not _NUMBER.fullmatch(typed):
        raise ValueError(f"{text.strip()[:_MAX_TEXT]!r} is not a number")
    exact = Decimal(typed)
    if kind == "int":
        if exact != exact.to_integral_value():
            raise ValueError(f"must be a whole number; got {text.strip()}")
        if exact.adjusted() > _MAX_TEXT:
            raise ValueError(f"{text.strip()} is far too large")
        return int(exact)
    value = float(typed)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text.strip()} is too large for a number here")
    if value == 0 and exact != 0:
        raise ValueError(f"{text.strip()} is too small for a number here (it would be 0)")
    return value


class NumberEdit(QLineEdit):
    """A field for a whole number or a number in a range; a value is taken on Enter or when the field
    loses focus, Up/Down step, Escape restores the last value taken."""

    valueChanged = Signal(object)  # a typed value was taken (object: seeds pass 2**31)
    problem_changed = Signal(str)  # why the text cannot be used; "" once it can

    def __init__(self, kind: str, minimum: float | None = None, maximum: float | None = None, *,
                 min_inclusive: bool = True, max_inclusive: bool = True, step: float = 1,
                 special: tuple[Any, str] | None = None, label: str = "", help: str = "",
                 window_undo: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        assert kind in ("int", "float")
        self.kind = kind
        self.minimum, self.maximum = minimum, maximum
        self.min_inclusive, self.max_inclusive = min_inclusive, max_inclusive
        self.step = step
        self.special = special
        self.label = label
        self.help = help
        self.window_undo = window_undo  # Ctrl+Z after a value is taken undoes the window's last edit
        self._value: int | float = 0 if kind == "int" else 0.0
        self._problem = ""
        self._pending = False  # text typed since the last value was taken
        self._select_on_press = False  # a click gave the focus to a field showing its special word
        self.setToolTip(help)
        self.textEdited.connect(self._text_edited)
        self.editingFinished.connect(self.commit)

    def range_text(self) -> str:
        return range_text(self.minimum, self.maximum, self.min_inclusive, self.max_inclusive, self.special)

    def value(self) -> int | float:
        """The last value taken (the text may show one still being typed, or one refused)."""
        return self._value

    def problem(self) -> str:
        return self._problem

    def setValue(self, value: int | float, notify: bool = True) -> None:
        """Show and take ``value``; ``notify=False`` takes it without ``valueChanged`` (a view being
        refreshed from its model), while any mark of a refused text still clears."""
        self.setText(self._format(value))
        self.commit(notify)

    def commit(self, notify: bool = True) -> bool:
        """Take the typed value if it can be used (emitting ``valueChanged`` when it is new), else mark
        the field and say why. Returns whether the text is a usable value."""
        self._pending = False
        try:
            value = self._parse(self.text())
        except ValueError as exc:
            self.set_problem(str(exc))
            return False
        self.set_problem("")
        if value != self._value or type(value) is not type(self._value):
            self._value = value
            if notify:
                self.valueChanged.emit(value)
        return True

    def revert(self) -> None:
        """Show the last value taken again, dropping what was typed."""
        self.setText(self._format(self._value))
        self._pending = False
        self.set_problem("")

    def set_problem(self, message: str) -> None:
        """Mark the field with ``message`` (why its text is not used), or clear the mark with ``""``."""
        if message == self._problem:
            return
        self._problem = message
        self._show_mark()
        self.setToolTip(f"{message}\n\n{self.help}".strip() if message else self.help)
        if message and self.isVisible():
            QToolTip.showText(self.mapToGlobal(QPoint(0, self.height())), message, self)
        self.problem_changed.emit(message)

    def _show_mark(self) -> None:
        style = invalid_style(self) if self._problem else ""
        if style != self.styleSheet():  # setting a style sheet changes the palette: no loop
            self.setStyleSheet(style)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._show_mark()

    def _parse(self, text: str) -> int | float:
        if self.special is not None and text.strip().lower() in (self.special[1].lower(),
                                                                 self.special[1].split()[0].lower()):
            return self.special[0]  # "all images", or just "all"
        try:
            value = parse_number(text, self.kind, self.locale().decimalPoint())
        except ValueError as exc:
            raise ValueError(self._prefixed(str(exc))) from None
        if not self._in_range(value):
            raise ValueError(self._prefixed(f"must be {self.range_text()}; got {text.strip()}"))
        return value

    def _in_range(self, value: int | float) -> bool:
        return in_range(value, self.minimum, self.maximum, self.min_inclusive, self.max_inclusive)

    def _prefixed(self, message: str) -> str:
        return f"{self.label}: {message}" if self.label else message

    def _format(self, value: int | float) -> str:
        if self.special is not None and value == self.special[0]:
            return self.special[1]
        text = format_number(value)
        return text.replace(".", self.locale().decimalPoint()) if self.kind == "float" else text

    def _text_edited(self, _text: str) -> None:
        self._pending = True
        if self._problem:  # typing again: the old complaint no longer describes the text
            self.set_problem("")

    def _step_by(self, steps: int) -> None:
        try:
            current = self._parse(self.text())
        except ValueError:
            current = self._value
        stepped = Decimal(format_number(current)) + Decimal(format_number(self.step)) * steps
        value = int(stepped) if self.kind == "int" else float(stepped)
        if not self._in_range(value):  # past an inclusive bound: stop at it (typed values are never clamped)
            bound, inclusive = ((self.maximum, self.max_inclusive) if steps > 0
                                else (self.minimum, self.min_inclusive))
            if bound is None or not inclusive or bound == current:
                return
            value = bound
        self.setValue(value)

    _STEP_KEYS = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in self._STEP_KEYS:
            self._step_by(self._STEP_KEYS[key])
        elif key == Qt.Key.Key_Escape and (self._pending or self._problem):
            self.revert()
        else:
            super().keyPressEvent(event)

    def shows_special(self) -> bool:
        """Whether the field shows its special word ("all images") rather than a number."""
        return self.special is not None and self.text().strip().lower() == self.special[1].lower()

    def focusInEvent(self, event) -> None:
        # Tab selects the whole text (QLineEdit's own way); a click selects the special word too, so
        # that typing a number replaces "all images" instead of landing after it.
        super().focusInEvent(event)
        self._select_on_press = event.reason() == Qt.FocusReason.MouseFocusReason and self.shows_special()

    def focusOutEvent(self, event) -> None:
        self._select_on_press = False
        super().focusOutEvent(event)

    def mousePressEvent(self, event) -> None:
        super().mousePressEvent(event)  # places the cursor where the click was
        if self._select_on_press:
            self._select_on_press = False
            self.selectAll()

    def wheelEvent(self, event) -> None:
        # Only a field being edited steps with the wheel: scrolling a form must not change values.
        if self.hasFocus() and event.angleDelta().y():
            self._step_by(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            super().wheelEvent(event)

    def event(self, event) -> bool:
        # Where each taken value is an undoable edit (a layer's parameter), once it is taken Ctrl+Z and
        # Ctrl+Shift+Z belong to the window's undo, not to the text.
        if (self.window_undo and event.type() == QEvent.Type.ShortcutOverride and not self._pending
                and (event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo))):
            event.ignore()
            return True
        return super().event(event)


class ChoiceEdit(QComboBox):
    """One of a set of names, each with a description as its tooltip."""

    valueChanged = Signal(object)

    def __init__(self, choices: Mapping[str, str], parent: QWidget | None = None):
        super().__init__(parent)
        self.set_choices(choices)
        self.currentIndexChanged.connect(lambda _index: self.valueChanged.emit(self.value()))

    def set_choices(self, choices: Mapping[str, str]) -> None:
        """Offer these names; the current one stays if it is among them (no signal either way)."""
        current = self.currentData()
        blocked = self.blockSignals(True)
        self.clear()
        for name, description in choices.items():
            self.addItem(name, name)
            self.setItemData(self.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(self.findData(current), 0))
        self.blockSignals(blocked)

    def value(self) -> Any:
        return self.currentData()

    def setValue(self, value: Any, notify: bool = True) -> None:
        """Show ``value``, adding it if it is not offered (a saved device this machine lacks)."""
        index = self.findData(value)
        if index < 0:
            self.addItem(str(value), value)
            index = self.count() - 1
        blocked = self.blockSignals(not notify or self.signalsBlocked())
        self.setCurrentIndex(index)
        self.blockSignals(blocked)


class BoolEdit(QCheckBox):
    """On or off."""

    valueChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.toggled.connect(self.valueChanged.emit)

    def value(self) -> bool:
        return self.isChecked()

    def setValue(self, value: bool, notify: bool = True) -> None:
        blocked = self.blockSignals(not notify or self.signalsBlocked())
        self.setChecked(bool(value))
        self.blockSignals(blocked)


def editor_for_setting(spec: SettingSpec) -> QWidget:
    """The editor of one training setting, with its range, step and help from the setting's spec."""
    if spec.kind in ("int", "float"):
        editor: QWidget = NumberEdit(spec.kind, spec.minimum, spec.maximum, min_inclusive=spec.min_inclusive,
                                     max_inclusive=spec.max_inclusive, step=spec.step, special=spec.special,
                                     label=spec.title, help=spec.help)
    elif spec.kind == "bool":
        editor = BoolEdit()
    else:  # a choice, or a name with suggestions (the device)
        editor = ChoiceEdit(spec.choices)
    editor.setToolTip(spec.help)
    editor.setValue(spec.default)
    return editor


def editor_for_param(spec: ParamSpec, value: Any) -> QWidget:
    """The editor of one layer parameter, showing ``value``."""
    if spec.kind in ("int", "float"):
        span = (spec.maximum or 1.0) - (spec.minimum or 0.0)
        step = 1 if spec.kind == "int" else (0.05 if span <= 1 else 0.1)
        editor: QWidget = NumberEdit(spec.kind, spec.minimum, spec.maximum, step=step, label=spec.title,
                                     help=spec.help, window_undo=True)
    elif spec.kind == "bool":
        editor = BoolEdit()
    else:
        editor = ChoiceEdit({name: "" for name in spec.choices})
    editor.setToolTip(spec.help)
    editor.setValue(value, notify=False)
    return editor
