"""The network designer: palette, layer stack, property panel, totals and problems with fixes.

Everything here mirrors a :class:`DesignDocument`; edits go to the document (one undo command each)
and the widgets redraw on its signals. A drag carries only a key (a layer type name, or a row
number for a move) under the app's own MIME types, as Orange's tool box does.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import (QAbstractItemModel, QByteArray, QElapsedTimer, QEvent, QMimeData, QModelIndex,
                            QSettings, QSize, Qt, QTimer, Signal)
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QIcon, QKeySequence, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QFormLayout,
                               QFrame, QHBoxLayout, QHeaderView, QLabel, QPushButton, QScrollArea, QSizePolicy,
                               QSplitter, QStyle, QToolButton, QTreeView, QTreeWidget, QTreeWidgetItem,
                               QTreeWidgetItemIterator, QVBoxLayout, QWidget)

from playground.core import CATALOG, GROUPS, ParamSpec, format_shape
from playground.core.layers import LayerType
from playground.core import shapes
from playground.core.shapes import memory_line, training_bytes
from playground.core.text import counted, format_bytes
from playground.ui.document import DesignDocument
from playground.ui import theme
from playground.ui.editors import NumberEdit, editor_for_param

LAYER_TYPE_MIME = "application/x-playground-layer-type"
LAYER_ROW_MIME = "application/x-playground-layer-row"

GROUP_COLOURS = {
    "core": "#2563eb", "convolution": "#059669", "recurrent": "#7c3aed",
    "regularization": "#d97706", "activation": "#db2777",
}
GROUP_TITLES = {
    "core": "Core", "convolution": "Convolution", "recurrent": "Recurrent",
    "regularization": "Regularization", "activation": "Activation",
}
PROBLEM_BACKGROUND = QColor("#fde8e8")  # a layer row with a problem, on a light palette
# Closed once, the first-launch hint stays closed (QSettings, as the window's layout is kept).
PATH_HINT_CLOSED_KEY = "hints/path_hint_closed"
PALETTE_HINT = ("Type a name to find a layer; Enter or double-click adds it after the selected layer. "
                "Or drag it into the network.")


def problem_background(widget: QWidget | None = None) -> QColor:
    return QColor(PROBLEM_BACKGROUND) if not theme.is_dark(widget) else theme.color("error_background", widget)


def group_colour(group: str, widget: QWidget | None = None) -> QColor:
    """A palette group's colour as text, lightened or darkened just enough to read on the list."""
    base = (widget.palette() if widget is not None else QApplication.palette()).color(QPalette.ColorRole.Base)
    return theme.readable(QColor(GROUP_COLOURS[group]), base)


def help_style(widget: QWidget | None = None) -> str:
    return f"color: {theme.css('muted', widget)}; font-size: small;"


def problem_style(widget: QWidget | None = None) -> str:
    return f"color: {theme.css('error', widget)}; font-size: small;"


def glyph_icon(layer_type: LayerType, size: int = 22) -> QIcon:
    """A rounded square in the group's colour with the layer's glyph."""
    pixmap = QPixmap(size * 2, size * 2)  # drawn at 2x so it stays sharp on high-DPI screens
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(GROUP_COLOURS[layer_type.group]))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(1, 1, size - 2, size - 2, 5, 5)
    font = QFont()
    font.setPixelSize(int(size * 0.6))
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(0, 0, size, size, Qt.AlignmentFlag.AlignCenter, layer_type.glyph)
    painter.end()
    return QIcon(pixmap)


def layer_type_mime(type_name: str) -> QMimeData:
    mime = QMimeData()
    mime.setData(LAYER_TYPE_MIME, QByteArray(type_name.encode()))
    return mime


def layer_row_mime(row: int) -> QMimeData:
    mime = QMimeData()
    mime.setData(LAYER_ROW_MIME, QByteArray(str(row).encode()))
    return mime


# -- palette ----------------------------------------------------------------------------------------


class LayerPalette(QTreeWidget):
    """Every catalog layer, grouped; drag one into the stack, or double-click / Enter to add it after
    the selected layer. Keys (arrows, type-ahead) land on layers only: a group header does nothing."""

    layer_activated = Signal(str)
    escape_pressed = Signal()
    search_missed = Signal(str)  # the letters typed match no layer ("" once they match one again)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setIconSize(QSize(22, 22))
        self.setRootIsDecorated(False)
        self.setIndentation(8)
        self.setUniformRowHeights(True)
        self._typed = ""
        self._typed_clock = QElapsedTimer()
        for group in GROUPS:
            header = QTreeWidgetItem(self, [GROUP_TITLES[group]])
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            for layer_type in CATALOG.values():
                if layer_type.group == group:
                    self._add_type_item(header, layer_type)
        self.show_group_colours()
        self.expandAll()
        self.itemActivated.connect(self._activated)

    @staticmethod
    def _add_type_item(header: QTreeWidgetItem, layer_type: LayerType) -> None:
        item = QTreeWidgetItem(header, [layer_type.name])
        item.setIcon(0, glyph_icon(layer_type))
        item.setData(0, Qt.ItemDataRole.UserRole, layer_type.name)
        item.setToolTip(0, f"<b>{layer_type.name}</b><br>{layer_type.summary}<br><i>Press Enter or double-click "
                           f"to add it after the selected layer, or drag it into the network.</i>")
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)

    def show_group_colours(self) -> None:
        for i, group in enumerate(GROUPS):
            self.topLevelItem(i).setForeground(0, QBrush(group_colour(group, self)))

    def type_item(self, type_name: str) -> QTreeWidgetItem:
        for item in self.type_items():
            if item.data(0, Qt.ItemDataRole.UserRole) == type_name:
                return item
        raise KeyError(type_name)

    def type_items(self) -> list[QTreeWidgetItem]:
        """The layer entries in the order shown (group headers left out)."""
        return [item for item in self._all_items() if _is_layer(item)]

    def _all_items(self) -> list[QTreeWidgetItem]:
        items, it = [], QTreeWidgetItemIterator(self)
        while it.value() is not None:
            items.append(it.value())
            it += 1
        return items

    def keyboardSearch(self, search: str) -> None:
        """Type-ahead over layer names only ("li" lands on Linear; "r" never on the Recurrent header).
        Letters typed within the platform's interval add up; one letter again steps to the next match."""
        if not search:
            return
        if not self._typed_clock.isValid() or self._typed_clock.elapsed() > QApplication.keyboardInputInterval():
            self._typed = ""
        self._typed_clock.start()
        self._typed += search.casefold()
        items = self.type_items()
        current = self.currentItem()
        start = items.index(current) if current in items else -1
        typed = self._typed
        if len(typed) > 1 and typed != typed[0] * len(typed):
            first = max(start, 0)  # more letters refine the current match
        else:
            typed, first = typed[0], start + 1  # a new letter, or the same again: the next match
        for step in range(len(items)):
            item = items[(first + step) % len(items)]
            if item.text(0).casefold().startswith(typed):
                self.setCurrentItem(item)
                self.search_missed.emit("")
                return
        # No layer starts so: no current item is left for Enter to add, and the hint says why.
        self.setCurrentIndex(QModelIndex())
        self.clearSelection()
        self.search_missed.emit(self._typed)

    def clear_search(self) -> None:
        """Forget the letters typed: the next one starts a new search (after Enter, or Ins)."""
        self._typed = ""
        self._typed_clock.invalidate()
        self.search_missed.emit("")

    def moveCursor(self, action, modifiers):
        """Arrow keys, Home, End and the page keys step over group headers to the nearest layer."""
        index = super().moveCursor(action, modifiers)
        item = self.itemFromIndex(index) if index.isValid() else None
        if item is None or _is_layer(item):
            return index
        every = self._all_items()
        at = every.index(item)
        before = [i for i in every[:at] if _is_layer(i)]
        after = [i for i in every[at + 1:] if _is_layer(i)]
        A = QAbstractItemView.CursorAction
        if action in (A.MoveUp, A.MovePrevious, A.MovePageUp, A.MoveLeft):
            target = before[-1] if before else after[0]
        else:
            target = after[0] if after else before[-1]
        return self.indexFromItem(target)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            self.escape_pressed.emit()
            return
        super().keyPressEvent(event)

    def mimeTypes(self) -> list[str]:
        return [LAYER_TYPE_MIME]

    def mimeData(self, items) -> QMimeData:
        names = [i.data(0, Qt.ItemDataRole.UserRole) for i in items if i.data(0, Qt.ItemDataRole.UserRole)]
        return layer_type_mime(names[0]) if names else QMimeData()

    def _activated(self, item: QTreeWidgetItem, column: int) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole)
        self.clear_search()  # letters typed next look for the next layer, not for "relu" + them
        if name:
            self.layer_activated.emit(name)


def _is_layer(item: QTreeWidgetItem) -> bool:
    return bool(item.data(0, Qt.ItemDataRole.UserRole))


# -- the layer stack --------------------------------------------------------------------------------

COLUMNS = ("#", "Layer", "Output", "Parameters", "Multiply-adds")


class LayerStackModel(QAbstractItemModel):
    """A flat model of the document's layers; drops become document edits."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self._view = parent if isinstance(parent, QWidget) else None  # whose palette the colours follow
        document.spec_changed.connect(self._reset)
        self._warning = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._icons = {name: glyph_icon(t) for name, t in CATALOG.items()}

    def _reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    # structure
    def index(self, row, column, parent=QModelIndex()):
        if parent.isValid() or not (0 <= row < self.rowCount()) or not (0 <= column < len(COLUMNS)):
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, index=QModelIndex()):
        return QModelIndex()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.document.spec.layers)

    def columnCount(self, parent=QModelIndex()):
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole and section >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        layer = self.document.spec.layers[row]
        info = self.document.report.rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return str(row + 1)
            if col == 1:
                return layer.describe()
            if col == 2:
                return format_shape(info.out_shape)
            if col == 3:
                return f"{info.parameters:,}" if info.out_shape else "–"
            if col == 4:
                return f"{info.macs:,}" if info.out_shape else "–"
        if role == Qt.ItemDataRole.DecorationRole:
            if col == 1:
                return self._warning if info.problem else self._icons[layer.type]
        if role == Qt.ItemDataRole.ToolTipRole:
            if info.problem:
                tip = info.problem.message
                if info.problem.fix:
                    tip += f"\nFix: {info.problem.fix.label}"
                return tip
            return CATALOG[layer.type].summary
        if role == Qt.ItemDataRole.BackgroundRole and info.problem:
            return QBrush(problem_background(self._view))
        if role == Qt.ItemDataRole.ForegroundRole and info.out_shape is None and not info.problem:
            return QBrush(theme.muted(self._view))
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # drag and drop
    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def supportedDropActions(self):
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction

    def supportedDragActions(self):
        return Qt.DropAction.MoveAction

    def mimeTypes(self):
        return [LAYER_TYPE_MIME, LAYER_ROW_MIME]

    def mimeData(self, indexes):
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return layer_row_mime(rows[0]) if rows else QMimeData()

    def canDropMimeData(self, data, action, row, column, parent):
        return data.hasFormat(LAYER_TYPE_MIME) or data.hasFormat(LAYER_ROW_MIME)

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent: QModelIndex) -> bool:
        """Insert a palette layer, or move a row, to the gap before ``row`` (-1: the end)."""
        if parent.isValid():  # dropped onto a row rather than between rows: insert before it
            row = parent.row()
        if row < 0:
            row = self.rowCount()
        if data.hasFormat(LAYER_TYPE_MIME):
            name = bytes(data.data(LAYER_TYPE_MIME)).decode()
            if name not in CATALOG:
                return False
            self.document.insert_layer(row, name)
        elif data.hasFormat(LAYER_ROW_MIME):
            source = int(bytes(data.data(LAYER_ROW_MIME)).decode())
            destination = row - 1 if source < row else row
            self.document.move_layer(source, destination)
        else:
            return False
        # The document has rebuilt the rows; returning False stops the view removing the dragged row.
        return False


class LayerStackView(QTreeView):
    """The network as a list of layers, one row each, with drag and drop between rows."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.setModel(LayerStackModel(document, self))
        self.setRootIsDecorated(False)
        self.setItemsExpandable(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setIconSize(QSize(20, 20))
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (2, 3, 4):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        document.selection_changed.connect(self._show_selection)
        document.spec_changed.connect(self._spec_changed)

    def _spec_changed(self) -> None:
        self._show_selection(self.document.selected)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self.document.select(current.row() if current.isValid() else -1)

    def _show_selection(self, row: int) -> None:
        model = self.model()
        if 0 <= row < model.rowCount():
            index = model.index(row, 0)
            if self.currentIndex().row() != row:
                self.setCurrentIndex(index)
            self.scrollTo(index)
        else:
            self.clearSelection()

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.document.selected >= 0:
            self.document.remove_layer(self.document.selected)
            return
        super().keyPressEvent(event)


class WrappedLabel(QLabel):
    """A word-wrapped label that asks its layout for the height its text needs at its current width:
    a form layout sizes rows from the label's first width and clips it when the column narrows."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._follow_width()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._follow_width()

    def _follow_width(self) -> None:
        need = self.heightForWidth(self.width())
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)


# -- property panel ----------------------------------------------------------------------------------


class PropertyPanel(QWidget):
    """Typed editors for the selected layer's parameters, applied live (each field merges into one
    undo step while it is being edited)."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.editors: dict[str, QWidget] = {}
        self._index = -1
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.summary = QLabel()
        self.summary.setWordWrap(True)

        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 8, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.shape_info = QLabel()
        self.shape_info.setWordWrap(True)
        outer.addWidget(self.title)
        outer.addWidget(self.summary)
        outer.addWidget(self.form_host)
        outer.addWidget(self.shape_info)
        outer.addStretch(1)
        document.selection_changed.connect(self._selection_changed)
        document.spec_changed.connect(self._refresh)
        self._index = document.selected
        self.show_colours()

    def _selection_changed(self, index: int) -> None:
        if index != self._index:
            self._rebuild(index)

    def _rebuild(self, index: int) -> None:
        self._index = index
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        if index < 0:
            self.title.setText("No layer selected")
            self.summary.setText("Select a layer in the network to edit it, or add one from the palette.")
            self.shape_info.clear()
            return
        layer = self.document.spec.layers[index]
        layer_type = CATALOG[layer.type]
        self.title.setText(f"Layer {index + 1}: {layer_type.name}")
        self.summary.setText(layer_type.summary)
        if not layer_type.params:
            self.form.addRow(QLabel("This layer has no parameters."))
        for spec in layer_type.params:
            editor = self._make_editor(spec, layer.params[spec.name])
            self._add_field(spec.title, editor, spec.help)
            self.editors[spec.name] = editor
        self._refresh_shape()

    def _make_editor(self, spec: ParamSpec, value) -> QWidget:
        editor = editor_for_param(spec, value)
        editor.valueChanged.connect(lambda v, n=spec.name: self._edit(n, v))
        editor.setObjectName(f"param_{spec.name}")
        return editor

    def _add_field(self, title: str, editor: QWidget, help_text: str) -> None:
        """The editor's row, then its help line as a row of its own across the form. The line says why
        while the editor refuses what was typed."""
        help_label = WrappedLabel(help_text)
        help_label.setStyleSheet(help_style(self))

        def show_problem(message: str) -> None:
            help_label.setText(message or help_text)
            help_label.setStyleSheet(problem_style(self) if message else help_style(self))

        if isinstance(editor, NumberEdit):
            editor.problem_changed.connect(show_problem)
        self.form.addRow(title, editor)
        self.form.addRow(help_label)

    def _edit(self, name: str, value) -> None:
        if self._index < 0:
            return
        try:
            self.document.set_param(self._index, name, value)
        except ValueError as exc:  # the editor checks the range; the catalog may know more
            editor = self.editors.get(name)
            if isinstance(editor, NumberEdit):
                editor.set_problem(str(exc))

    def _refresh(self) -> None:
        """The spec changed (an edit, an undo): show its values without sending them back."""
        index = self.document.selected
        if index != self._index or index < 0:
            self._rebuild(index)
            return
        layer = self.document.spec.layers[index]
        if set(self.editors) != set(layer.params):
            self._rebuild(index)
            return
        self.title.setText(f"Layer {index + 1}: {layer.type}")
        for name, editor in self.editors.items():
            value = layer.params[name]
            editor.setValue(value, notify=False)
        self._refresh_shape()

    def _refresh_shape(self) -> None:
        row = self.document.report.rows[self._index]
        text = (f"<b>Input</b> {format_shape(row.in_shape)} → <b>output</b> {format_shape(row.out_shape)}<br>"
                f"{counted(row.parameters, 'parameter')}, {counted(row.macs, 'multiply-add')}")
        if row.problem:
            text += f"<p style='color:{theme.css('error', self)}'>⚠ {html.escape(row.problem.message)}</p>"
        elif row.in_shape is None:
            text = (f"<p style='color:{theme.css('muted', self)}'>Shapes are unknown here until the problem "
                    f"above is fixed.</p>")
        self.shape_info.setText(text)

    def show_colours(self) -> None:
        """The palette changed (a dark theme): text that carries a colour takes the new one."""
        self.summary.setStyleSheet(f"color: {theme.css('muted', self)};")
        self._rebuild(self._index)


# -- totals and problems -------------------------------------------------------------------------------


class ProblemsPanel(QWidget):
    """The totals and memory lines, and each problem with a one-click fix where the core suggests one."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.fix_buttons: list[QPushButton] = []
        self.problem_labels: list[QLabel] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.totals = QLabel()
        self.totals.setWordWrap(True)  # else its one line sets how narrow the window can be
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.totals)
        self.memory = QLabel()
        self.memory.setObjectName("memory")
        self.memory.setWordWrap(True)
        self.memory.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.memory.setToolTip("Weights as float32; training: weights, gradients and Adam's two moments "
                               "(4 copies), plus each image's activations twice (forward and backward). "
                               "The batch size is the Train tab's.")
        layout.addWidget(self.memory)
        self.problem_box = QFrame()
        self.problem_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.problem_box.setObjectName("problems")
        self.problem_layout = QVBoxLayout(self.problem_box)
        layout.addWidget(self.problem_box)
        document.spec_changed.connect(self.refresh)
        document.batch_size_changed.connect(self._refresh_memory)
        self.refresh()

    def _refresh_memory(self) -> None:
        report, batch = self.document.report, self.document.batch_size
        machine = shapes.machine_memory_bytes()
        text = html.escape(f"Memory: {memory_line(report, batch)} of this machine's {format_bytes(machine)}",
                           quote=False)
        if training_bytes(report, batch) > machine:
            text = (f"<span style='color:{theme.css('error', self)}'>⚠ {text}: too much; use a smaller batch "
                    f"size on the Train tab, or fewer channels</span>")
        self.memory.setText(text)

    def refresh(self) -> None:
        report = self.document.report
        out = format_shape(report.output_shape)
        label = "Total" if report.output_shape is not None else "Total up to the first problem"
        ready = f"  <span style='color:{theme.css('success', self)}'>✔ {self.document.ready_text}</span>"
        self.totals.setText(f"<b>{label}:</b> {counted(report.total_parameters, 'parameter')} · "
                            f"{counted(report.total_macs, 'multiply-add')} per image · output {out}"
                            + (ready if report.valid else ""))
        self.problem_box.setStyleSheet(f"QFrame#problems {{ background: {theme.css('error_background', self)}; "
                                       f"border: 1px solid {theme.css('invalid_border', self)}; "
                                       f"border-radius: 4px; }}")
        self._refresh_memory()
        while self.problem_layout.count():
            item = self.problem_layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.fix_buttons = []
        self.problem_labels = []
        self.problem_box.setVisible(not report.valid)
        for problem in report.problems:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(4, 2, 4, 2)
            icon = QLabel()
            icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(16, 16))
            text = QLabel(problem.message)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.setWordWrap(True)
            text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            self.problem_labels.append(text)
            line.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
            line.addWidget(text, 1)
            if problem.fix is not None:
                button = QPushButton(problem.fix.label)
                button.setToolTip("Apply this fix (undo with Ctrl+Z)")
                button.clicked.connect(lambda _=False, f=problem.fix: self.document.apply_fix(f))
                line.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
                self.fix_buttons.append(button)
            self.problem_layout.addWidget(row)


class PathHint(QFrame):
    """A slim first-launch hint of the way through the app (design, train, draw), not a tour: closed
    once, it stays closed for this user (``PATH_HINT_CLOSED_KEY`` in QSettings)."""

    TEXT = ("<b>1.</b> Pick or build a network here &nbsp;·&nbsp; <b>2.</b> Train it on the Train tab "
            "(Ctrl+Return) &nbsp;·&nbsp; <b>3.</b> Draw a digit on the Draw tab and see what it guesses")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("path_hint")
        line = QHBoxLayout(self)
        line.setContentsMargins(10, 3, 3, 3)
        self.text = QLabel(self.TEXT)
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Close this hint (it stays closed)")
        self.close_button.setAccessibleName("Close the hint")
        self.close_button.clicked.connect(self.dismiss)
        line.addWidget(self.text, 1)
        line.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.show_colours()
        self.setVisible(not QSettings().value(PATH_HINT_CLOSED_KEY, False, type=bool))

    def show_colours(self) -> None:
        # The parent's palette: this frame's own keeps the colours its last style sheet put in it.
        # (QWidget.palette: the designer's ``palette`` is its layer palette.)
        background = QWidget.palette(self.parentWidget() or self).color(QPalette.ColorRole.AlternateBase).name()
        self.setStyleSheet(f"QFrame#path_hint {{ background: {background}; "
                           f"border: 1px solid {theme.css('accent', self)}; border-radius: 4px; }}")

    def dismiss(self) -> None:
        QSettings().setValue(PATH_HINT_CLOSED_KEY, True)
        self.hide()


class DesignerWidget(QWidget):
    """The Design area: palette | network stack with totals and problems | properties, under the
    first-launch hint. Everything is reachable by keys: move a layer with Alt+Up / Alt+Down, Ins goes
    to the palette, where typing finds a layer and Enter adds it after the selected one."""

    def __init__(self, document: DesignDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self._colour_timer = QTimer(self)
        self._colour_timer.setSingleShot(True)
        self._colour_timer.setInterval(0)
        self._colour_timer.timeout.connect(self.show_colours)
        # ``palette`` shadows QWidget.palette() here: colours are taken from the child widgets.
        self.palette = LayerPalette()
        self.palette.layer_activated.connect(self.add_layer_after_selected)
        self.palette.escape_pressed.connect(lambda: self.stack.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self._search_missed = False  # the palette's hint says the letters typed match no layer
        self.palette.search_missed.connect(self._show_search_missed)
        self.stack = LayerStackView(document)
        self.problems = ProblemsPanel(document)
        self.properties = PropertyPanel(document)
        self.path_hint = PathHint()
        self._make_actions()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("designer_splitter")
        for w in (self._palette_column(), self._network_column(), self._properties_column()):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([210, 640, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.path_hint)
        layout.addWidget(self.splitter, 1)
        document.spec_changed.connect(self._update_caption)
        document.spec_changed.connect(self._update_actions)
        document.selection_changed.connect(self._update_actions)
        self._update_caption()
        self._update_actions()
        self.show_colours()

    # -- building -------------------------------------------------------------------------------------

    def _make_actions(self) -> None:
        """Layer moves and the way to the palette, as actions the window's menu can list too. The keys
        act where the layers are (the list and the palette), not in a property field being typed in."""
        self.move_up_action = self._action("Move Layer &Up", "Up", "Alt+Up", "Move the selected layer up",
                                           lambda: self.move_selected(-1))
        self.move_down_action = self._action("Move Layer Do&wn", "Down", "Alt+Down",
                                             "Move the selected layer down", lambda: self.move_selected(1))
        self.add_layer_action = self._action("&Add Layer…", "Add…", "Ins",
                                             "Add a layer after the selected one: pick it in the palette "
                                             "(type its name), then press Enter", self.choose_layer_to_add)
        style = self.style()
        self.move_up_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_ArrowUp))
        self.move_down_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_ArrowDown))

    def _action(self, text: str, short_text: str, key: str, tip: str, slot) -> QAction:
        action = QAction(text, self)
        action.setIconText(short_text)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.setToolTip(f"{tip} ({key})")
        action.setStatusTip(f"{tip} ({key})")
        action.triggered.connect(slot)
        self.stack.addAction(action)
        self.palette.addAction(action)
        return action

    def _palette_column(self) -> QWidget:
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(_caption("Layers"))
        column_layout.addWidget(self.palette)
        # Wide enough for the layer names: a splitter squeezed by a small window cuts them otherwise.
        column.setMinimumWidth(self.palette.sizeHintForColumn(0) + self.palette.verticalScrollBar().sizeHint().width()
                               + 2 * self.palette.frameWidth())
        self.palette_hint = QLabel(PALETTE_HINT)
        self.palette_hint.setTextFormat(Qt.TextFormat.PlainText)  # it quotes the letters typed
        self.palette_hint.setWordWrap(True)
        column_layout.addWidget(self.palette_hint)
        return column

    def _network_column(self) -> QWidget:
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        self.network_caption = _caption("Network")
        self.network_caption.setTextFormat(Qt.TextFormat.PlainText)  # the name comes from a file
        self.network_caption.setWordWrap(True)
        column_layout.addWidget(self.network_caption)
        column_layout.addWidget(self.stack, 1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        self.move_buttons = {}
        for action in (self.move_up_action, self.move_down_action, self.add_layer_action):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys are the way in; Tab stays short
            buttons.addWidget(button)
            self.move_buttons[action.iconText()] = button
        buttons.addStretch(1)
        column_layout.addLayout(buttons)
        column_layout.addWidget(self.problems)
        return column

    def _properties_column(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.properties)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.addWidget(_caption("Properties"))
        column_layout.addWidget(scroll)
        column.setMinimumWidth(180)  # a field and its name side by side
        return column

    # -- what the keys and buttons do ---------------------------------------------------------------

    def move_selected(self, offset: int) -> None:
        """Move the selected layer one place up (-1) or down (1): one undo step."""
        selected = self.document.selected
        if selected >= 0:
            self.document.move_layer(selected, selected + offset)

    def add_layer_after_selected(self, type_name: str) -> None:
        """A layer chosen in the palette goes after the selected layer, or at the end if none is."""
        selected = self.document.selected
        self.document.insert_layer(selected + 1 if selected >= 0 else len(self.document.spec.layers), type_name)

    def choose_layer_to_add(self) -> None:
        """To the palette, on a layer, so that typing a name and Enter add it (Esc comes back)."""
        self.palette.clear_search()
        if self.palette.currentItem() is None or not _is_layer(self.palette.currentItem()):
            self.palette.setCurrentItem(self.palette.type_items()[0])
        self.palette.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- state shown --------------------------------------------------------------------------------

    def _show_search_missed(self, typed: str) -> None:
        """The palette's hint says when the letters typed match no layer, and how to start again."""
        text = f"No layer starts with “{typed}”: press Ins and type the name again." if typed else PALETTE_HINT
        if text != self.palette_hint.text():
            self._search_missed = bool(typed)
            self.palette_hint.setText(text)
            self._show_hint_colour()

    def _update_actions(self, *args) -> None:
        selected, count = self.document.selected, len(self.document.spec.layers)
        self.move_up_action.setEnabled(selected > 0)
        self.move_down_action.setEnabled(0 <= selected < count - 1)

    def _update_caption(self) -> None:
        spec = self.document.spec
        self.network_caption.setText(f"Network: {spec.name} — {self.document.input_text}, "
                                     f"{counted(len(spec.layers), 'layer')}")

    def show_colours(self) -> None:
        """Text that carries a colour follows the palette (set now, and again when it changes)."""
        self._show_hint_colour()
        self.palette.show_group_colours()
        self.path_hint.show_colours()
        self.properties.show_colours()
        self.problems.refresh()

    def _show_hint_colour(self) -> None:
        role = "warning" if self._search_missed else "muted"
        self.palette_hint.setStyleSheet(f"color: {theme.css(role, self.stack)};")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # The side columns keep their width as the window grows, but give way as it shrinks, so that
        # the network keeps most of a small window (the splitter alone takes it all from the network).
        sizes = self.splitter.sizes()
        total = sum(sizes)
        left, right = min(sizes[0], max(150, total // 5)), min(sizes[2], max(200, total // 4))
        if total and (left, right) != (sizes[0], sizes[2]):
            self.splitter.setSizes([left, total - left - right, right])

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            # The children hear of the new palette after this widget: read it once they have it. The
            # timer is a child, so it dies with the widget rather than firing on a deleted one.
            self._colour_timer.start()


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label
