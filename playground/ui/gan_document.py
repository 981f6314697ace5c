"""The open GAN design: a ``GanSpec``, one undo stack for all its edits, its file and whether it has
unsaved changes.

Each of the two layer stacks is shown to the existing designer as a :class:`GanStackDocument`, a
``DesignDocument`` whose spec is ``gan.stack(which)`` and whose report is that stack's report from
``infer_gan_shapes`` (the GAN's rules on how each stack ends included). Its edits do not change it
directly: they go back through ``GanSpec.with_stack`` (fixes through ``apply_gan_fix``) as commands
on the GanDocument's single undo stack, so Ctrl+Z walks one history across both stacks, the latent
size, the conditional switch, the name and presets.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from playground.core import DesignError, Fix, NetworkSpec, ShapeReport, format_shape
from playground.core.gan_spec import (DEFAULT_GAN_PRESET, GAN_PRESETS, STACKS, GanShapes, GanSpec, apply_gan_fix,
                                      infer_gan_shapes)
from playground.core.spec import NUM_CLASSES
from playground.ui.document import DesignDocument

_GAN_EDIT_ID = 1002  # commands with this id merge when they edit the same field one after another
UNTITLED_NAMES = ("untitled GAN", "untitled", "")


class GanCommand(QUndoCommand):
    """One edit of the GAN: the spec before and after (specs are immutable values). An edit of a
    stack also remembers which layer was selected there, to select it again on undo."""

    def __init__(self, document: "GanDocument", before: GanSpec, after: GanSpec, text: str,
                 which: str | None = None, select: int | None = None, merge_key: tuple | None = None):
        super().__init__(text)
        self.document = document
        self.before, self.after = before, after
        self.which = which
        self.select_after = select
        self.select_before = document.stacks[which].selected if which else None
        self.merge_key = merge_key

    def redo(self) -> None:
        self.document._set_spec(self.after, self.which, self.select_after)

    def undo(self) -> None:
        self.document._set_spec(self.before, self.which, self.select_before)

    def id(self) -> int:
        return _GAN_EDIT_ID if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, GanCommand) or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        self.setText(other.text())  # "Set latent size to 12", not to the first value typed
        return True


class GanStackDocument(DesignDocument):
    """One stack of a GAN ("generator" or "discriminator") as a document the ``DesignerWidget``
    edits unchanged: it follows the GAN, and its edits become the GAN's undoable commands."""

    def __init__(self, gan: "GanDocument", which: str):
        if which not in STACKS:
            raise ValueError(f"unknown stack {which!r}; a GAN has {' and '.join(STACKS)}")
        self.gan, self.which = gan, which  # before the base class asks _infer for the first report
        super().__init__(gan.spec.stack(which), gan, undo_stack=gan.undo_stack)

    @property
    def input_text(self) -> str:
        spec = self.gan.spec
        if self.which == "generator":
            digit = f" + the digit's one-hot code ({NUM_CLASSES})" if spec.conditional else ""
            return f"input: latent vector of {spec.latent_size}{digit} = {format_shape(spec.generator_input)}"
        digit = f" + the digit as {NUM_CLASSES} channels" if spec.conditional else ""
        return f"input: 1x28x28 image{digit} = {format_shape(spec.discriminator_input)}"

    @property
    def ready_text(self) -> str:
        # One stack ready is not the GAN ready to train: say what this stack does right.
        return "ends at a 1x28x28 image" if self.which == "generator" else "ends at one score"

    @property
    def title(self) -> str:
        return f"{self.gan.title} ({self.which})"

    def _infer(self, spec: NetworkSpec) -> ShapeReport:
        # Only ever asked about the GAN's current stack (_follow): the GAN has its report already.
        return getattr(self.gan.shapes, self.which)

    def _follow(self, select: int | None = None) -> None:
        """The GAN changed: show this stack as it is now (nothing is emitted if it is unchanged)."""
        stack = self.gan.spec.stack(self.which)
        if stack != self._spec or (select is not None and select != self._selected):
            self._set_spec(stack, select)

    def _push(self, after: NetworkSpec, text: str, select: int | None = None, merge_key=None) -> None:
        self.gan.edit_stack(self.which, after, text, select, merge_key)

    def apply_fix(self, fix: Fix) -> None:
        select = fix.index if fix.action != "remove" else max(0, fix.index - 1)
        self.gan.apply_fix(self.which, fix, select)

    # A stack is opened and saved with its GAN, never alone.
    def reset(self, spec: NetworkSpec, path: Path | None = None) -> None:
        raise TypeError("a GAN's stack is replaced through its GanDocument")

    def open(self, path: str | Path) -> None:
        raise TypeError("a GAN's stack is opened with its GAN: GanDocument.open")

    def save(self, path: str | Path | None = None) -> None:
        raise TypeError("a GAN's stack is saved with its GAN: GanDocument.save")


class GanDocument(QObject):
    spec_changed = Signal()  # the GanSpec (and so the shapes) changed
    stack_changed = Signal(str)  # an edit, undo or redo changed this stack ("generator" or "discriminator")
    path_changed = Signal()
    modified_changed = Signal(bool)

    def __init__(self, spec: GanSpec | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._spec = spec or GAN_PRESETS[DEFAULT_GAN_PRESET].spec
        self._shapes = infer_gan_shapes(self._spec)
        self.path: Path | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.stacks: dict[str, GanStackDocument] = {which: GanStackDocument(self, which) for which in STACKS}

    def _clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    # -- state ---------------------------------------------------------------------------------------

    @property
    def spec(self) -> GanSpec:
        return self._spec

    @property
    def shapes(self) -> GanShapes:
        return self._shapes

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.path.name if self.path else self._spec.name

    def set_batch_size(self, batch_size: int) -> None:
        """The batch size GAN training would use, for both stacks' memory estimates."""
        for stack in self.stacks.values():
            stack.set_batch_size(batch_size)

    def preset_name(self) -> str | None:
        """The preset this design is, unchanged, or None."""
        return next((name for name, preset in GAN_PRESETS.items() if preset.spec == self._spec), None)

    def _set_spec(self, spec: GanSpec, which: str | None = None, select: int | None = None) -> None:
        self._spec = spec
        self._shapes = infer_gan_shapes(spec)
        for name, stack in self.stacks.items():
            stack._follow(select if name == which else None)
        self.spec_changed.emit()
        if which is not None:
            self.stack_changed.emit(which)

    def _push(self, after: GanSpec, text: str, which: str | None = None, select: int | None = None,
              merge_key: tuple | None = None) -> None:
        if after != self._spec:
            self.undo_stack.push(GanCommand(self, self._spec, after, text, which, select, merge_key))

    # -- edits (each one undoable) ------------------------------------------------------------------

    def edit_stack(self, which: str, stack: NetworkSpec, text: str, select: int | None = None,
                   merge_key: tuple | None = None) -> None:
        """A stack's layers as the designer edited them; consecutive edits of one field merge."""
        key = ("stack", which, *merge_key) if merge_key else None
        self._push(self._spec.with_stack(which, stack), f"{which.capitalize()}: {text}", which, select, key)

    def apply_fix(self, which: str, fix: Fix, select: int | None = None) -> None:
        self._push(apply_gan_fix(self._spec, which, fix), f"{which.capitalize()}: {fix.label}", which, select)

    def set_latent_size(self, size: int) -> None:
        """``ValueError`` (saying the range) for a size the GAN cannot have."""
        self._push(replace(self._spec, latent_size=size), f"Set latent size to {size}", merge_key=("latent_size",))

    def set_conditional(self, conditional: bool) -> None:
        text = "Make the GAN conditional" if conditional else "Make the GAN unconditional"
        self._push(replace(self._spec, conditional=bool(conditional)), text)

    def set_name(self, name: str) -> None:
        self._push(replace(self._spec, name=name), "Rename the GAN", merge_key=("name",))

    def use_preset(self, name: str) -> None:
        """Replace the design with a preset's (undoable; the file it saves to stays)."""
        self._push(GAN_PRESETS[name].spec, f"Use the {name} preset")

    # -- whole documents (not undoable: they start a new history) -----------------------------------

    def reset(self, spec: GanSpec, path: Path | None = None) -> None:
        self.undo_stack.clear()
        self.path = path
        for stack in self.stacks.values():
            stack.select(-1)
        self._set_spec(spec)
        self.undo_stack.setClean()
        self.path_changed.emit()
        self.modified_changed.emit(False)

    def open(self, path: str | Path) -> None:
        """Load a GAN design file; raises ``DesignError`` and leaves the current design untouched."""
        path = Path(path)
        self.reset(GanSpec.load(path), path)

    def save(self, path: str | Path | None = None) -> None:
        """Save atomically (``GanSpec.save``); raises ``OSError`` and leaves the old file intact on
        failure. An untitled design saved under a name takes the file's name."""
        target = Path(path) if path else self.path
        if target is None:
            raise DesignError("no file name to save to; use Save As")
        spec = self._spec
        if path and spec.name in UNTITLED_NAMES and target.stem:
            spec = replace(spec, name=target.stem)
        spec.save(target)
        self.path = target
        if spec != self._spec:  # renamed: the stacks' captions follow
            self._set_spec(spec)
        self.undo_stack.setClean()
        self.path_changed.emit()
