"""Colours that follow the system palette, light or dark.

Text and backgrounds come from the widget's palette (``QPalette``); the few colours that carry a
meaning (an error, a success, a warning, a highlight for the data) come from here, in a light and a
dark variant chosen by the palette's window colour, so they stay readable on either.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

# meaning -> (on a light window, on a dark window)
_ROLES = {
    "error": ("#b91c1c", "#fca5a5"),
    "error_background": ("#fef2f2", "#3f1d1d"),
    "success": ("#065f46", "#6ee7b7"),
    "success_background": ("#ecfdf5", "#123227"),
    "warning": ("#92400e", "#fcd34d"),
    "warning_background": ("#fffbeb", "#3a2e0d"),
    "accent": ("#1d4ed8", "#93c5fd"),
    "invalid_border": ("#dc2626", "#f87171"),
}


def _palette(widget: QWidget | None) -> QPalette:
    if widget is not None:
        return widget.palette()
    app = QApplication.instance()
    return app.palette() if app is not None else QPalette()


def is_dark(widget: QWidget | None = None) -> bool:
    """Whether the window colour is dark (the text then is light)."""
    return _palette(widget).color(QPalette.ColorRole.Window).lightnessF() < 0.5


def color(role: str, widget: QWidget | None = None) -> QColor:
    """The colour of a meaning (``"error"``, ``"success"``, ...) for the palette of ``widget``."""
    light, dark = _ROLES[role]
    return QColor(dark if is_dark(widget) else light)


def text(widget: QWidget | None = None) -> QColor:
    return _palette(widget).color(QPalette.ColorRole.WindowText)


def muted(widget: QWidget | None = None) -> QColor:
    """Secondary text (captions, help): the text colour halfway to the window colour."""
    palette = _palette(widget)
    fg, bg = palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Window)
    return QColor((fg.red() + bg.red()) // 2 + (fg.red() - bg.red()) // 6,
                  (fg.green() + bg.green()) // 2 + (fg.green() - bg.green()) // 6,
                  (fg.blue() + bg.blue()) // 2 + (fg.blue() - bg.blue()) // 6)


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance (0 black .. 1 white)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio (1 .. 21); text wants at least 4.5."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable(colour: QColor, background: QColor, ratio: float = 4.5) -> QColor:
    """``colour`` moved towards black (on a light background) or white (on a dark one) just enough for
    text in it to have a contrast of ``ratio`` on ``background``: a hue that stays recognisable."""
    target = QColor("#ffffff") if luminance(background) < 0.18 else QColor("#000000")
    mixed = QColor(colour)
    for step in range(1, 21):
        if contrast(mixed, background) >= ratio:
            break
        t = step / 20
        mixed = QColor.fromRgbF(colour.redF() + (target.redF() - colour.redF()) * t,
                                colour.greenF() + (target.greenF() - colour.greenF()) * t,
                                colour.blueF() + (target.blueF() - colour.blueF()) * t)
    return mixed


def css(role: str, widget: QWidget | None = None) -> str:
    """``#rrggbb`` of a meaning or of ``"text"`` / ``"muted"``, for style sheets."""
    if role == "text":
        return text(widget).name()
    if role == "muted":
        return muted(widget).name()
    return color(role, widget).name()


# View > Dark mode: the app's colours, remembered in QSettings under SCHEME_KEY.
SCHEMES = {"system": "Follow the &System", "light": "&Light", "dark": "&Dark"}
SCHEME_KEY = "view/colour_scheme"


def saved_scheme() -> str:
    """The scheme chosen in View > Dark mode (``"system"`` until one is)."""
    scheme = str(QSettings().value(SCHEME_KEY, "system"))
    return scheme if scheme in SCHEMES else "system"


def set_scheme(scheme: str) -> None:
    """Colours for the whole app: the system's (``"system"``), the style's light ones, or dark ones."""
    app = QApplication.instance()
    if scheme == "dark":
        app.setPalette(dark_palette())
    elif scheme == "light":
        app.setPalette(app.style().standardPalette())
    else:
        app.setPalette(QPalette())  # an empty palette: Qt goes back to the platform's, and follows it


def dark_palette() -> QPalette:
    """A dark palette like a dark system theme's (for tests, screenshots and ``--dark``)."""
    p = QPalette()
    roles = QPalette.ColorRole
    for role, value in ((roles.Window, "#1f2329"), (roles.WindowText, "#e6e8eb"), (roles.Base, "#16191d"),
                        (roles.AlternateBase, "#23272e"), (roles.Text, "#e6e8eb"), (roles.Button, "#2a2f36"),
                        (roles.ButtonText, "#e6e8eb"), (roles.ToolTipBase, "#2a2f36"), (roles.ToolTipText, "#e6e8eb"),
                        (roles.Highlight, "#3b82f6"), (roles.HighlightedText, "#ffffff"), (roles.Link, "#93c5fd"),
                        (roles.PlaceholderText, "#8b929c"), (roles.Mid, "#3a4048"), (roles.Dark, "#111316"),
                        (roles.Light, "#4a515b"), (roles.Midlight, "#353a42"), (roles.Shadow, "#000000")):
        p.setColor(role, QColor(value))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7280"))
    return p
