"""The Train area's folder data sets: the folder field (typed, picked with a dialog, or one of the
folders added before), and the preview of the folder chosen: a few images of each class as the
network will see them, the class counts, how the test set is made, and the files it skips.

The folder is read off the GUI thread (``core.folder_preview``: it may hold thousands of images);
a result that arrives after the folder or the preprocessing changed again is dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QSizePolicy, QToolButton,
                               QVBoxLayout, QWidget)

from playground.core.text import counted, printable
from playground.ui import theme

RECENT_KEY = "train/recent_folders"  # QSettings: the folder data sets added, newest first
MAX_RECENT = 8


def recent_folders() -> list[str]:
    value = QSettings().value(RECENT_KEY, [])
    if isinstance(value, str):  # QSettings gives a lone string for a list of one
        value = [value]
    return [str(v) for v in value or [] if str(v).strip()][:MAX_RECENT]


def remember_folder(folder: str) -> None:
    """Put ``folder`` first among the recent folders."""
    folders = [folder] + [f for f in recent_folders() if f != folder]
    QSettings().setValue(RECENT_KEY, folders[:MAX_RECENT])


def choose_folder(parent: QWidget, start: str = "") -> str:
    """A folder picked in the system's dialog ("" if cancelled)."""
    return QFileDialog.getExistingDirectory(parent, "Add a folder of images (one subfolder per class)", start)


class FolderEdit(QWidget):
    """The Data folder setting: a path typed (taken on Enter or leaving the field), one of the
    folders added before (its list), or one picked with "…". Same ``value`` / ``setValue`` /
    ``valueChanged`` as the other setting editors."""

    valueChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.box = QComboBox()
        self.box.setEditable(True)
        self.box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.box.setMinimumContentsLength(8)
        self.box.lineEdit().setPlaceholderText("a folder: type it or press …")
        self.box.setAccessibleName("Data folder")
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Pick a folder")
        self.browse.setAccessibleName("Pick a data folder")
        self.browse.clicked.connect(self.pick)
        line = QHBoxLayout(self)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.box, 1)
        line.addWidget(self.browse)
        self._value = ""
        self.fill_recent()
        self.box.lineEdit().editingFinished.connect(self._take_text)
        self.box.activated.connect(lambda _index: self._take_text())

    def setToolTip(self, text: str) -> None:  # the help shows over the field too
        super().setToolTip(text)
        self.box.setToolTip(text)

    def fill_recent(self) -> None:
        """List the folders added before (the text typed stays)."""
        text = self.box.currentText()
        blocked = self.box.blockSignals(True)
        self.box.clear()
        for folder in recent_folders():
            self.box.addItem(folder)
            self.box.setItemData(self.box.count() - 1, folder, Qt.ItemDataRole.ToolTipRole)
        self.box.setEditText(text)
        self.box.blockSignals(blocked)

    def value(self) -> str:
        return self._value

    def setValue(self, value: str, notify: bool = True) -> None:
        value = str(value or "")
        blocked = self.box.blockSignals(True)
        self.box.setEditText(value)
        self.box.blockSignals(blocked)
        if value != self._value:
            self._value = value
            if notify:
                self.valueChanged.emit(value)

    def _take_text(self) -> None:
        self.setValue(self.box.currentText().strip())

    def pick(self) -> bool:
        """The folder dialog; the folder picked becomes the value. False if cancelled."""
        folder = choose_folder(self, self._value)
        if folder:
            self.setValue(folder)
        return bool(folder)


class SampleGrid(QWidget):
    """One row per class: its name, its training and test counts, then a few of its images as the
    network sees them (28x28, white ink on black, drawn without smoothing)."""

    THUMB, GAP, NAME_WIDTH = 32, 3, 96

    def __init__(self, parent=None):
        super().__init__(parent)
        self.preview = None
        self._images: list[list[QImage]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_preview(self, preview) -> None:
        self.preview = preview
        self._images = [[QImage(a.tobytes(), 28, 28, 28, QImage.Format.Format_Grayscale8).copy() for a in row]
                        for row in (preview.samples if preview is not None else ())]
        self.updateGeometry()
        self.update()

    def rows(self) -> int:
        return len(self._images)

    def sizeHint(self) -> QSize:
        return QSize(self.NAME_WIDTH + 4 * (self.THUMB + self.GAP), self.rows() * (self.THUMB + self.GAP))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.NAME_WIDTH + self.THUMB, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        if self.preview is None:
            return
        painter = QPainter(self)
        palette, metrics = self.palette(), self.fontMetrics()
        row_height = self.THUMB + self.GAP
        fits = max(1, (self.width() - self.NAME_WIDTH) // (self.THUMB + self.GAP))
        for i, images in enumerate(self._images):
            top = i * row_height
            name = metrics.elidedText(self.preview.class_names[i], Qt.TextElideMode.ElideRight, self.NAME_WIDTH - 6)
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(0, top, self.NAME_WIDTH - 6, self.THUMB // 2 + 2,
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, name)
            painter.setPen(theme.muted(self))
            count = f"{self.preview.train_counts[i]:,} + {self.preview.test_counts[i]:,}"
            painter.drawText(0, top + self.THUMB // 2 + 2, self.NAME_WIDTH - 6, self.THUMB // 2,
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, count)
            for j, image in enumerate(images[:fits]):
                painter.drawImage(self.NAME_WIDTH + j * (self.THUMB + self.GAP), top,
                                  image.scaled(self.THUMB, self.THUMB))
        painter.end()


class FolderPreviewPanel(QWidget):
    """The preview of the folder data set chosen: what it holds, or why it cannot be used.
    ``preview`` is the last folder read well (None while reading, or after an error);
    ``preview_shown`` says that a result (or an error) is on show."""

    preview_shown = Signal(object)  # the FolderPreview, or None for an error

    def __init__(self, parent=None):
        super().__init__(parent)
        self.preview = None
        self.error = ""
        self._key: tuple | None = None  # (folder, preprocess) asked for last
        self._worker = None
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # file names are a stranger's text
        self.grid = SampleGrid()
        self.grid.setToolTip("A few images of each class as the network will see them (after the preprocessing "
                             "chosen); beside each name its training + test images")
        self.skipped_button = QToolButton()
        self.skipped_button.setCheckable(True)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_button.setAutoRaise(True)
        self.skipped_button.toggled.connect(self._show_skipped)
        self.skipped_list = QPlainTextEdit()
        self.skipped_list.setReadOnly(True)
        self.skipped_list.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.skipped_list.setMaximumHeight(110)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(self.status)
        layout.addWidget(self.grid)
        layout.addWidget(self.skipped_button)
        layout.addWidget(self.skipped_list)
        self._val_fraction = 0.1
        self._clear()

    @property
    def class_count(self) -> int | None:
        return self.preview.num_classes if self.preview is not None else None

    def _clear(self) -> None:
        self.preview = None
        self.grid.set_preview(None)
        self.grid.hide()
        self.skipped_button.hide()
        self.skipped_button.setChecked(False)
        self.skipped_list.hide()

    def show_folder(self, folder: str, preprocess: str, val_fraction: float = 0.1) -> None:
        """Read ``folder`` (off the GUI thread) and show it; nothing new if it is already shown."""
        self._val_fraction = val_fraction
        key = (folder, preprocess)
        if key == self._key:
            if self.preview is not None:
                self._show_counts()
            return
        self._key = key
        self._clear()
        self.error = ""
        self._style_status(False)
        if not folder.strip():
            self.status.setText("Pick the folder of your images: one subfolder per class, named after the class "
                                "(train/ and test/ subfolders are used when present).")
            self.preview_shown.emit(None)
            return
        self.status.setText(f"Reading {printable(folder)}…")
        from superqt.utils import create_worker

        from playground.core.folder_preview import preview_folder

        stale = lambda: self._key != key  # noqa: E731  (asked from the worker thread: a plain read)
        self._worker = create_worker(preview_folder, folder, preprocess, stale, _start_thread=True,
                                     _connect={"returned": lambda p: self._read(key, p),
                                               "errored": lambda exc: self._failed(key, exc)})

    def _read(self, key: tuple, preview) -> None:
        if key != self._key:
            return
        self.preview = preview
        remember_folder(preview.folder)
        self.grid.set_preview(preview)
        self.grid.show()
        self._show_counts()
        lines = preview.skipped_lines()
        self.skipped_button.setText(f"{counted(len(lines), 'file')} skipped" if lines else "")
        self.skipped_button.setVisible(bool(lines))
        self.skipped_list.setPlainText("\n".join(lines))
        self.preview_shown.emit(preview)

    def _show_counts(self) -> None:
        preview = self.preview
        more = (f" Images of the first {len(preview.samples)} classes shown."
                if len(preview.samples) < preview.num_classes else "")
        self.status.setText(preview.split_text(self._val_fraction) + more)

    def _failed(self, key: tuple, exc: Exception) -> None:
        if key != self._key:
            return
        self.error = str(exc)
        self._style_status(True)
        self.status.setText(f"Cannot use this folder: {exc}")
        self.preview_shown.emit(None)

    def _style_status(self, error: bool) -> None:
        self.status.setStyleSheet(f"color: {theme.css('error', self)};" if error else "")

    def _show_skipped(self, shown: bool) -> None:
        self.skipped_list.setVisible(shown)
        self.skipped_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange and self.error:
            css = f"color: {theme.css('error', self)};"
            if self.status.styleSheet() != css:
                self.status.setStyleSheet(css)
