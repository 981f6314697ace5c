"""The open design: a ``NetworkSpec``, its undo stack, its file and whether it has unsaved changes.

Widgets never change a spec themselves: they call the edit methods here, each of which pushes one
command on the ``QUndoStack`` (as orange-canvas-core does), and redraw on ``spec_changed``. Since
specs are immutable values, a command just holds the spec before and after.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from playground.core import (CATALOG, DesignError, Fix, LayerSpec, NetworkSpec, ShapeReport, apply_fix,
                             infer_shapes, load_design)
from playground.core.summary import DEFAULT_BATCH_SIZE

_PARAM_EDIT_ID = 1001  # commands with this id merge when they edit the same field one after another


class SpecCommand(QUndoCommand):
    def __init__(self, document: "DesignDocument", before: NetworkSpec, after: NetworkSpec, text: str,
                 select: int | None = None, merge_key: tuple | None = None):
        super().__init__(text)
        self.document = document
        self.before, self.after = before, after
        self.select_after = select
        self.select_before = document.selected
        self.merge_key = merge_key

    def redo(self) -> None:
        self.document._set_spec(self.after, self.select_after)

    def undo(self) -> None:
        self.document._set_spec(self.before, self.select_before)

    def id(self) -> int:
        return _PARAM_EDIT_ID if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        return True


class DesignDocument(QObject):
    spec_changed = Signal()  # the spec (and so the shape report) changed
    selection_changed = Signal(int)  # the selected layer index, -1 for none
    path_changed = Signal()
    modified_changed = Signal(bool)
    batch_size_changed = Signal(int)  # the batch size the designer's memory estimate is for
    class_count_changed = Signal(int)  # the number of classes the design is checked against


    def __init__(self, spec: NetworkSpec | None = None, parent: QObject | None = None,
                 undo_stack: QUndoStack | None = None):
        """``undo_stack``: a stack shared with other documents (a GAN's two layer stacks have one
        history); by default the document has its own."""
        super().__init__(parent)
        self._spec = spec or NetworkSpec()
        self._class_count: int | None = None  # the Train area's data set's; None: the design's own
        self._report = self._infer(self._spec)
        self._selected = -1
        self._batch_size = DEFAULT_BATCH_SIZE  # TrainConfig's, until the Train tab sets its own
        self.path: Path | None = None
        if undo_stack is None:
            undo_stack = QUndoStack(self)
            undo_stack.cleanChanged.connect(self._clean_changed)
        # A shared stack's owner says when it is modified: a stack destroyed before this document
        # (its owner's child) emits cleanChanged from its destructor, to a receiver half gone.
        self.undo_stack = undo_stack

    def _clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    # -- state ---------------------------------------------------------------------------------------

    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    @property
    def report(self) -> ShapeReport:
        return self._report

    @property
    def input_text(self) -> str:
        """What the network takes, in words, for the designer's caption."""
        return "input 1x28x28 (MNIST image)"

    @property
    def ready_text(self) -> str:
        """What a design without problems is, for the designer's totals line."""
        return "ready to train"

    @property
    def selected(self) -> int:
        return self._selected

    @property
    def batch_size(self) -> int:
        """The batch size training would use (the Train tab's), for the memory estimate."""
        return self._batch_size

    def set_batch_size(self, batch_size: int) -> None:
        batch_size = max(1, int(batch_size))
        if batch_size != self._batch_size:
            self._batch_size = batch_size
            self.batch_size_changed.emit(batch_size)

    @property
    def class_count(self) -> int:
        """The number of classes the design must end with: the data set's chosen in the Train area
        (a folder data set may have any), else the design's own ``num_classes``."""
        return self._class_count or self._spec.num_classes

    def set_class_count(self, count: int | None) -> None:
        """Check the design against a data set of ``count`` classes (None: its own ``num_classes``):
        the report then has the usual problem, with its fix, when its output is another width."""
        if count != self._class_count:
            self._class_count = count
            self._report = self._infer(self._spec)
            self.spec_changed.emit()  # the report changed: views follow
            self.class_count_changed.emit(self.class_count)

    def spec_for_data(self, spec: NetworkSpec | None = None) -> NetworkSpec:
        """``spec`` (the design by default) made for the data set's class count, as it trains."""
        spec = spec or self._spec
        count = self.class_count
        return spec if spec.num_classes == count else replace(spec, num_classes=count)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.path.name if self.path else self._spec.name

    def select(self, index: int) -> None:
        index = index if 0 <= index < len(self._spec.layers) else -1
        if index != self._selected:
            self._selected = index
            self.selection_changed.emit(index)

    def _set_spec(self, spec: NetworkSpec, select: int | None = None) -> None:
        old = self._selected
        if select is None:
            select = min(old, len(spec.layers) - 1)
        self._spec = spec
        self._report = self._infer(spec)
        self._selected = select if 0 <= select < len(spec.layers) else -1
        # Views see the new spec and selection together, then hear of a changed selection.
        self.spec_changed.emit()
        if self._selected != old:
            self.selection_changed.emit(self._selected)

    def _infer(self, spec: NetworkSpec) -> ShapeReport:
        """The shape report of ``spec`` for the data set's class count (a GAN's stack adds the GAN's
        rules on how it ends)."""
        count = getattr(self, "_class_count", None)
        return infer_shapes(replace(spec, num_classes=count) if count and count != spec.num_classes else spec)

    def _push(self, after: NetworkSpec, text: str, select: int | None = None, merge_key=None) -> None:
        if after == self._spec:
            return
        self.undo_stack.push(SpecCommand(self, self._spec, after, text, select, merge_key))

    # -- edits (each one undoable) ------------------------------------------------------------------

    def insert_layer(self, index: int, type_name: str | LayerSpec) -> None:
        layer = type_name if isinstance(type_name, LayerSpec) else _new_layer(type_name)
        index = max(0, min(index, len(self._spec.layers)))
        self._push(self._spec.insert(index, layer), f"Add {layer.describe()}", select=index)

    def append_layer(self, type_name: str) -> None:
        self.insert_layer(len(self._spec.layers), type_name)

    def remove_layer(self, index: int) -> None:
        if 0 <= index < len(self._spec.layers):
            layer = self._spec.layers[index]
            new_select = min(index, len(self._spec.layers) - 2)
            self._push(self._spec.remove(index), f"Delete {layer.describe()}", select=new_select)

    def duplicate_layer(self, index: int) -> None:
        if 0 <= index < len(self._spec.layers):
            layer = self._spec.layers[index]
            self._push(self._spec.insert(index + 1, layer), f"Duplicate {layer.describe()}", select=index + 1)

    def move_layer(self, source: int, destination: int) -> None:
        """Move the layer at ``source`` to end up at ``destination`` (an index in the result)."""
        n = len(self._spec.layers)
        if not (0 <= source < n) or not (0 <= destination < n) or source == destination:
            return
        layer = self._spec.layers[source]
        direction = "up" if destination < source else "down"
        self._push(self._spec.move(source, destination), f"Move {layer.describe()} {direction}", select=destination)

    def set_param(self, index: int, name: str, value: Any) -> None:
        """Set a parameter (``ValueError`` if out of range). Consecutive edits of one field merge."""
        layer = self._spec.layers[index]
        after = self._spec.set_param(index, name, value)
        title = CATALOG[layer.type].param(name).title.lower()
        self._push(after, f"Set {title} of layer {index + 1}", select=index, merge_key=(index, name))

    def apply_fix(self, fix: Fix) -> None:
        select = fix.index if fix.action != "remove" else max(0, fix.index - 1)
        # The design is then made for the data set's classes: saved, it says so.
        self._push(self.spec_for_data(apply_fix(self._spec, fix)), fix.label, select=select)

    # -- whole documents (not undoable: they start a new history) -----------------------------------

    def reset(self, spec: NetworkSpec, path: Path | None = None) -> None:
        self.undo_stack.clear()
        self.path = path
        self._set_spec(spec, select=-1)
        self.undo_stack.setClean()
        self.path_changed.emit()
        self.modified_changed.emit(False)

    def open(self, path: str | Path) -> None:
        """Load a design file; raises ``DesignError`` and leaves the current design untouched.

        ``load_design`` reads only a regular file of at most ``MAX_DESIGN_BYTES``: a huge file, a
        device or a pipe (whose read would never end) is refused before reading, so Open never hangs
        the window. A spec always saves back as UTF-8 (it replaces lone surrogates when it is made)."""
        path = Path(path)
        self.reset(load_design(path), path)

    def save(self, path: str | Path | None = None) -> None:
        """Save (atomically); raises ``OSError`` and leaves the old file intact on failure. An untitled
        design saved under a name takes the file's name (``spec_changed`` says so)."""
        target = Path(path) if path else self.path
        if target is None:
            raise DesignError("no file name to save to; use Save As")
        spec = self._spec
        if path and spec.name in ("untitled", "") and target.stem:
            spec = spec.renamed(target.stem)
        spec.save(target)
        renamed = spec is not self._spec
        self._spec = spec
        self.path = target
        self.undo_stack.setClean()
        if renamed:  # the name shows in the Design caption and the Train tab: they follow it now
            self.spec_changed.emit()
        self.path_changed.emit()


def _new_layer(type_name: str) -> LayerSpec:
    from playground.core import make_layer

    if type_name not in CATALOG:
        raise KeyError(f"unknown layer type {type_name!r}")
    return make_layer(type_name)
