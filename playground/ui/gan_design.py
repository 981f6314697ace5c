"""The GAN designer: the design's name, latent size, conditional switch and preset above two tabs,
"Generator" and "Discriminator", each the app's usual designer on one stack of the GAN.

Everything here mirrors a :class:`GanDocument`: edits go to the document (one undo command each,
one history for the whole GAN) and the widgets redraw on its signals.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QTabWidget,
                               QVBoxLayout, QWidget)

from playground.core import format_shape
from playground.core.gan_spec import GAN_PRESETS, IMAGE_SHAPE, MAX_LATENT, MIN_LATENT, STACKS, GanShapes, GanSpec
from playground.core.spec import NUM_CLASSES
from playground.core.text import counted
from playground.ui import theme
from playground.ui.designer import DesignerWidget
from playground.ui.editors import NumberEdit, problem_style
from playground.ui.gan_document import GanDocument, GanStackDocument

STACK_TITLES = {"generator": "Generator", "discriminator": "Discriminator"}
LATENT_HELP = (f"How many random numbers the generator starts from ({MIN_LATENT} to {MAX_LATENT}); 64 or 100 "
               f"are usual. A bigger latent vector can hold more variety but takes longer to learn.")
CONDITIONAL_HELP = (f"Tell both networks which digit: the generator gets the digit's one-hot code after the latent "
                    f"vector (+{NUM_CLASSES} inputs), the discriminator gets it as {NUM_CLASSES} extra image "
                    f"channels. Then you choose the digit it draws.")


def flow_html(spec: GanSpec, shapes: GanShapes, error: str) -> str:
    """The GAN in one line with its live sizes: what goes in, what is made, what is judged. A size
    that breaks the GAN's rules is shown in ``error`` (a colour) with what it must be."""
    def wrong(text: str) -> str:
        return f"<span style='color:{error}'>{html.escape(text)}</span>"

    digit = f" + digit ({NUM_CLASSES})" if spec.conditional else ""
    image = shapes.generator.output_shape
    made = (f"{format_shape(image)} image" if image == IMAGE_SHAPE
            else wrong(f"{format_shape(image)} (must be a {format_shape(IMAGE_SHAPE)} image)"))
    judge = f"discriminator (+ digit as {NUM_CLASSES} channels)" if spec.conditional else "discriminator"
    score = shapes.discriminator.output_shape
    judged = "real/fake score" if score == (1,) else wrong(f"{format_shape(score)} (must be one score)")
    return f"latent {spec.latent_size}{digit} → generator → {made} → {judge} → {judged}"


def stack_tab_text(which: str, shapes: GanShapes) -> str:
    """"Generator", or "Generator (1 problem)" when the stack has problems."""
    problems = len(getattr(shapes, which).problems)
    return f"{STACK_TITLES[which]} ({counted(problems, 'problem')})" if problems else STACK_TITLES[which]


class GanDesignPanel(QWidget):
    """A GAN's design: a header row (name, latent size, conditional, preset), the GAN in one line with
    its sizes, and a tab per stack with the usual designer (shapes, fixes, the designer's keys)."""

    def __init__(self, document: GanDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._colour_timer = QTimer(self)
        self._colour_timer.setSingleShot(True)
        self._colour_timer.setInterval(0)
        self._colour_timer.timeout.connect(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._header_row())
        self.latent_problem = QLabel()
        self.latent_problem.setWordWrap(True)
        self.latent_problem.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        self.latent_problem.hide()
        layout.addWidget(self.latent_problem)
        self.flow = QLabel()
        self.flow.setObjectName("gan_flow")
        self.flow.setWordWrap(True)
        self.flow.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.flow.setToolTip("What the GAN does: the generator turns random numbers into an image; the "
                             "discriminator scores an image as real (from MNIST) or generated")
        layout.addWidget(self.flow)
        layout.addWidget(self._stack_tabs(), 1)
        document.spec_changed.connect(self.refresh)
        document.stack_changed.connect(self.show_stack)
        self.refresh()

    # -- building -------------------------------------------------------------------------------------

    def _header_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("gan_name")
        self.name_edit.setToolTip("The design's name (Enter to take it)")
        self.name_edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.name_edit.editingFinished.connect(self._name_edited)
        self.latent_edit = NumberEdit("int", MIN_LATENT, MAX_LATENT, label="Latent size", help=LATENT_HELP,
                                      window_undo=True)
        self.latent_edit.setObjectName("gan_latent_size")
        self.latent_edit.setMaximumWidth(self.latent_edit.fontMetrics().horizontalAdvance("00000000") + 16)
        self.latent_edit.valueChanged.connect(self._latent_edited)
        self.latent_edit.problem_changed.connect(self._show_latent_problem)
        self.conditional_box = QCheckBox("Conditional (choose the digit)")
        self.conditional_box.setToolTip(CONDITIONAL_HELP)
        self.conditional_box.toggled.connect(self.document.set_conditional)
        self.preset_box = self._preset_chooser()
        for text, widget, stretch in (("Name", self.name_edit, 2), ("Latent size", self.latent_edit, 0),
                                      (None, self.conditional_box, 0), ("Preset", self.preset_box, 1)):
            if text:
                label = QLabel(f"{text}:")
                label.setBuddy(widget)
                row.addWidget(label)
            row.addWidget(widget, stretch)
            row.addSpacing(8)
        return row

    def _preset_chooser(self) -> QComboBox:
        box = QComboBox()
        box.setObjectName("gan_preset")
        box.setPlaceholderText("Custom design")
        box.setToolTip("Replace the design with a preset (undo with Ctrl+Z)")
        for preset in GAN_PRESETS.values():
            box.addItem(f"{preset.name} — {preset.tagline}", preset.name)
            box.setItemData(box.count() - 1, preset.summary, Qt.ItemDataRole.ToolTipRole)
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        box.activated.connect(self._preset_chosen)
        return box

    def _stack_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.tabs.setObjectName("gan_stacks")
        # No framed pane: the designers sit on the window colour, as in the Design tab, where their
        # muted hints are readable (on the lighter pane of a dark palette they were not).
        self.tabs.setDocumentMode(True)
        self.designers: dict[str, DesignerWidget] = {}
        for which in STACKS:
            designer = DesignerWidget(self.document.stacks[which])
            designer.path_hint.hide()  # the first-launch hint is the classifier's way through the app
            self.designers[which] = designer
            self.tabs.addTab(designer, STACK_TITLES[which])
        return self.tabs

    # -- what the fields do -----------------------------------------------------------------------------

    def _name_edited(self) -> None:
        name = self.name_edit.text().strip()
        if name:
            self.document.set_name(name)
        self.name_edit.setText(self.document.spec.name)  # an empty name is not taken: the old one is back

    def _latent_edited(self, size) -> None:
        try:
            self.document.set_latent_size(size)
        except ValueError as exc:  # the field checks the range; the spec may know more
            self.latent_edit.set_problem(str(exc))

    def _show_latent_problem(self, message: str) -> None:
        self.latent_problem.setText(f"{message}. The latent size stays {self.document.spec.latent_size}."
                                    if message else "")
        self.latent_problem.setStyleSheet(problem_style(self))
        self.latent_problem.setVisible(bool(message))

    def _preset_chosen(self, index: int) -> None:
        name = self.preset_box.itemData(index)
        if name:
            self.document.use_preset(name)

    # -- state shown ------------------------------------------------------------------------------------

    def current_stack(self) -> str:
        """The stack shown: "generator" or "discriminator"."""
        return STACKS[max(self.tabs.currentIndex(), 0)]

    def current_stack_document(self) -> GanStackDocument:
        return self.document.stacks[self.current_stack()]

    def show_stack(self, which: str) -> None:
        """Show a stack's tab (an undo or redo there makes its change visible)."""
        self.tabs.setCurrentIndex(STACKS.index(which))

    def refresh(self) -> None:
        spec, shapes = self.document.spec, self.document.shapes
        if not self.name_edit.isModified():  # never over a name being typed
            self.name_edit.setText(spec.name)
        if self.latent_edit.value() != spec.latent_size and not self.latent_edit.problem():
            self.latent_edit.setValue(spec.latent_size, notify=False)  # a refused text stays, to be fixed
        blocked = self.conditional_box.blockSignals(True)
        self.conditional_box.setChecked(spec.conditional)
        self.conditional_box.blockSignals(blocked)
        preset = self.document.preset_name()
        self.preset_box.setCurrentIndex(self.preset_box.findData(preset) if preset else -1)
        self.flow.setText(flow_html(spec, shapes, theme.css("error", self)))
        for i, which in enumerate(STACKS):
            self.tabs.setTabText(i, stack_tab_text(which, shapes))
        self.latent_problem.setStyleSheet(problem_style(self))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._colour_timer.start()  # once the children have the new palette too
