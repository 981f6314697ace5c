"""File > Export: write a trained model in a chosen format, then show the export check's figures."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QVBoxLayout, QWidget)

from playground.core.export_formats import EXPORT_FORMATS, GENERATOR_HELP
from playground.ui import theme

CLASSIFIER_CHECK = ("After writing the file, 300 test images go through it and are compared with the model: the "
                    "labels must agree and the outputs differ by less than 1e-4.")
GENERATOR_CHECK = ("After writing the file, 64 fixed latent vectors go through it and its images are compared "
                   "with the generator's: the outputs must differ by less than 1e-4.")


def is_gan_run(run) -> bool:
    """Whether a run trained a GAN (its export is the generator)."""
    from playground.core.gan_spec import GanSpec

    return getattr(run, "kind", None) == "gan" or isinstance(run.spec, GanSpec)


def run_item_text(run) -> str:
    """A run as the Model list shows it: a GAN run is its generator."""
    if is_gan_run(run):
        return f"{run.label} (generator) {run.started}"
    acc = run.test_accuracy
    return f"{run.label} {run.started}" + (f" — {acc:.2%}" if acc is not None else "")


class ExportDialog(QDialog):
    """Choose a run, a format and a file; Export writes it in a worker thread and checks it."""

    def __init__(self, runs, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.runs = runs
        self.check = None
        self.worker = None
        self.run_box = QComboBox()
        for run in runs:  # RunRecords with weights, from the window's run library
            self.run_box.addItem(run_item_text(run))
        self.format_box = QComboBox()
        for fmt in EXPORT_FORMATS.values():
            self.format_box.addItem(fmt.label, fmt.name)
            self.format_box.setItemData(self.format_box.count() - 1, fmt.help, Qt.ItemDataRole.ToolTipRole)
        self.format_help = QLabel()
        self.format_help.setWordWrap(True)
        self._result_role = ""  # "success" / "error": the meaning of the result's colour, if any
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        path_widget = QWidget()
        path_widget.setLayout(path_row)
        path_row.setContentsMargins(0, 0, 0, 0)
        self.result = QLabel(CLASSIFIER_CHECK)
        self._exported = False  # until the first export, the result says what the check will do
        self.result.setTextFormat(Qt.TextFormat.PlainText)  # paths and error messages
        self.result.setWordWrap(True)
        self.result.setMinimumWidth(520)
        form = QFormLayout()
        form.addRow("Model", self.run_box)
        form.addRow("Format", self.format_box)
        form.addRow("", self.format_help)
        form.addRow("File", path_widget)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.result)
        layout.addWidget(self.buttons)
        self._show_colours()
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.run_box.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def _show_colours(self) -> None:
        # Style sheets change the palette: set only what differs, so that a palette change ends.
        help_style = f"color: {theme.css('muted', self)};"
        if self.format_help.styleSheet() != help_style:
            self.format_help.setStyleSheet(help_style)
        result_style = f"color: {theme.css(self._result_role, self)};" if self._result_role else ""
        if self.result.styleSheet() != result_style:
            self.result.setStyleSheet(result_style)

    def _show_result(self, text: str, role: str = "") -> None:
        self._result_role = role
        self._show_colours()
        self.result.setText(text)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._show_colours()

    @property
    def fmt(self) -> str:
        return self.format_box.currentData()

    def _format_changed(self, *args) -> None:
        from playground.core.export import file_stem

        fmt = EXPORT_FORMATS[self.fmt]
        run = self.runs[self.run_box.currentIndex()] if self.runs else None
        gan = run is not None and is_gan_run(run)
        self.format_help.setText(GENERATOR_HELP[fmt.name] if gan else fmt.help)
        if not self._exported:
            self.result.setText(GENERATOR_CHECK if gan else CLASSIFIER_CHECK)
        folder = Path(self.path_edit.text()).parent if self.path_edit.text() else Path.home()
        stem = file_stem(run.spec.name) if run else "model"  # the name may come from a stranger's run
        self.path_edit.setText(str(folder / f"{stem}{fmt.extension}"))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text())
        if path:
            self.path_edit.setText(path)

    def start_export(self) -> None:
        """Export in a worker thread (ONNX takes seconds); the result shows when it is done."""
        from superqt.utils import create_worker

        from playground.core.checked_export import export_checked

        if not self.runs:
            return
        run = self.runs[self.run_box.currentIndex()]
        self.export_button.setEnabled(False)
        self._exported = True
        self._show_result("Exporting and checking…")
        # Handlers given through _connect: otherwise superqt also re-raises the error in the GUI thread.
        self.worker = create_worker(export_checked, run.path, self.fmt, Path(self.path_edit.text()),
                                    _start_thread=True, _connect={"returned": self._done, "errored": self._failed})

    def _done(self, check) -> None:
        self.check = check
        self.export_button.setEnabled(True)
        self._show_result(f"Wrote {check.path}\n{check.format_text()} (checked in {check.seconds:.1f} s)",
                          "success" if check.passed else "error")

    def _failed(self, exc: Exception) -> None:
        self.export_button.setEnabled(True)
        self._show_result(f"Export failed: {exc}", "error")

