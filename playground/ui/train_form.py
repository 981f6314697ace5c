"""The Train form: an editor for every training setting, built from the settings' own description."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtWidgets import (QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from playground.core.config import SETTINGS, ConfigError, TrainConfig
from playground.ui.editors import ChoiceEdit, NumberEdit, editor_for_setting, problem_style
from playground.ui.folder_data import FolderEdit, FolderPreviewPanel, choose_folder

DATA_SETTINGS = ("dataset", "data_folder", "preprocess")  # what the folder preview shows


class ConfigForm(QWidget):
    """Editors for every TrainConfig field, in ``SETTINGS`` order, each with its help as tooltip;
    a setting shows only when it applies (momentum for SGD and RMSprop, not for Adam)."""

    changed = Signal()
    class_count_changed = Signal(object)  # the chosen data set's number of classes (None: not known yet)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}
        self._fields: dict[str, QWidget] = {}  # the widget in each setting's row (the editor, or a row of it)
        self.problem_labels: list[QLabel] = []
        self.folder_preview = FolderPreviewPanel()
        self.folder_preview.preview_shown.connect(self._preview_shown)
        self._class_count: int | None = 10
        for spec in SETTINGS.values():
            editor = FolderEdit() if spec.name == "data_folder" else editor_for_setting(spec)
            editor.setObjectName(f"config_{spec.name}")
            editor.setToolTip(spec.help)
            editor.valueChanged.connect(self._changed)
            label = QLabel(spec.title)
            label.setToolTip(spec.help)
            self.editors[spec.name] = editor
            self._fields[spec.name] = editor
            self.form.addRow(label, editor)
            if isinstance(editor, NumberEdit):
                self._add_problem_row(editor)
            if spec.name == "dataset":
                self.form.addRow("", self._add_folder_button())
            if spec.name == "preprocess":
                self.form.addRow(self.folder_preview)
        self._update_visibility()

    def _add_folder_button(self) -> QWidget:
        """"Add a folder…" under the data set chooser."""
        self.add_folder_button = QPushButton("Add a folder…")
        self.add_folder_button.setToolTip("Train on your own images: a folder with one subfolder of images per "
                                          "class (the subfolders' names are the class names)")
        self.add_folder_button.clicked.connect(self.add_folder)
        return self.add_folder_button

    def add_folder(self) -> bool:
        """Pick a folder in the system's dialog and train on it (dataset "folder"). False if cancelled."""
        folder = choose_folder(self, self.editors["data_folder"].value())
        if folder:
            self.use_folder(folder)
            self._reveal_preview = True
        return bool(folder)

    def use_folder(self, folder: str) -> None:
        """Choose the folder data set ``folder`` (as "Add a folder…" does)."""
        self.editors["data_folder"].setValue(folder, notify=False)
        self.editors["dataset"].setValue("folder", notify=False)
        self._changed()

    @property
    def class_count(self) -> int | None:
        """The number of classes of the data set chosen: 10 for MNIST and its look-alikes, a folder's
        once it has been read (None until then, or when it cannot be used)."""
        return self._class_count

    def _update_class_count(self) -> None:
        from playground.core.data import CLASS_NAMES

        dataset = self.editors["dataset"].value()
        count = len(CLASS_NAMES[dataset]) if dataset in CLASS_NAMES else self.folder_preview.class_count
        if count != self._class_count:
            self._class_count = count
            self.class_count_changed.emit(count)

    def _preview_shown(self, _preview) -> None:
        self.editors["data_folder"].fill_recent()
        self._update_class_count()
        if getattr(self, "_reveal_preview", False):  # a folder just added: scroll to what it holds
            self._reveal_preview = False
            # Its grid reaches its final size over the next layout passes: follow it for a moment.
            self._following_preview = True
            self.folder_preview.installEventFilter(self)
            QTimer.singleShot(0, self._scroll_to_preview)
            QTimer.singleShot(1000, self._stop_following_preview)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.folder_preview and event.type() == QEvent.Type.Resize and self._following_preview:
            QTimer.singleShot(0, self._scroll_to_preview)
        return super().eventFilter(watched, event)

    def _stop_following_preview(self) -> None:
        self._following_preview = False
        self.folder_preview.removeEventFilter(self)

    def _scroll_to_preview(self) -> None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            parent.ensureWidgetVisible(self.folder_preview.grid, 0, 0)
            parent.ensureWidgetVisible(self.folder_preview.status, 0, 0)

    def _update_preview(self) -> None:
        values = self._values()
        if values["dataset"] == "folder":
            self.folder_preview.show_folder(values["data_folder"], values["preprocess"], values["val_fraction"])
        self._update_class_count()

    def _add_problem_row(self, editor: NumberEdit) -> None:
        """A line under the field that says why it refuses what was typed, shown only then."""
        message = QLabel()
        message.setWordWrap(True)
        message.setStyleSheet(problem_style(self))
        self.problem_labels.append(message)
        self.form.addRow(message)
        self.form.setRowVisible(message, False)

        def show(text: str) -> None:
            message.setText(text)
            self.form.setRowVisible(message, bool(text))

        editor.problem_changed.connect(show)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            for label in self.problem_labels:
                if label.styleSheet() != problem_style(self):  # a style sheet changes the palette: no loop
                    label.setStyleSheet(problem_style(self))

    def set_devices(self, devices: list[str]) -> None:
        """Offer the devices torch found (called once torch has loaded)."""
        box: ChoiceEdit = self.editors["device"]
        box.set_choices({"auto": SETTINGS["device"].choices["auto"], **{d: "" for d in devices}})

    def _changed(self, *args) -> None:
        self._update_visibility()
        self._update_preview()
        self.changed.emit()

    def _values(self) -> dict[str, Any]:
        return {name: editor.value() for name, editor in self.editors.items()}

    def _update_visibility(self) -> None:
        values = self._values()
        for name, spec in SETTINGS.items():
            shown = spec.applies(values)
            editor = self.editors[name]
            if not shown and isinstance(editor, NumberEdit) and editor.problem():
                editor.revert()  # a refused value in a row that goes away would block Start unseen
            self.form.setRowVisible(self._fields[name], shown)
        self.form.setRowVisible(self.folder_preview, values["dataset"] == "folder")

    def set_config(self, config: TrainConfig) -> None:
        for name, editor in self.editors.items():
            editor.setValue(getattr(config, name), notify=False)
        self._update_visibility()
        self._update_preview()

    def config(self) -> TrainConfig:
        """The settings as a TrainConfig; ``ConfigError`` says what is wrong, including a field whose
        typed text cannot be used."""
        for editor in self.editors.values():
            if isinstance(editor, NumberEdit) and not editor.commit():
                raise ConfigError(editor.problem())
        values = self._values()
        for name, spec in SETTINGS.items():
            if spec.kind == "bool" and not spec.applies(values):
                values[name] = False  # Nesterov is off when the optimizer has no such thing
        return TrainConfig(**values)


def settings_column(form: QWidget, recommended: QWidget, snapshot: QWidget, banner: QWidget,
                    buttons: tuple[QWidget, ...], progress: QWidget,
                    progress_label: QWidget) -> tuple[QWidget, QVBoxLayout]:
    """A Train page's left column: what will train and any message, the settings (scrolling on a
    small window) with the recommended-settings button, then the run buttons and the progress. What
    may grow (the messages) sits above the settings, and below the buttons only rows one line high:
    the buttons stay where they are before, during and after a run. Returns the column and its
    layout (for rows a page adds below)."""
    box = QGroupBox("Settings")
    box_layout = QVBoxLayout(box)
    box_layout.addWidget(form)
    box_layout.addWidget(recommended)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(box)
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(snapshot)
    layout.addWidget(banner)
    layout.addWidget(scroll, 1)
    layout.addLayout(row)
    layout.addWidget(progress)
    layout.addWidget(progress_label)
    return column, layout
