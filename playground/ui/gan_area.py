"""The GAN tab: design a generator and a discriminator, train them against each other live, and
explore the trained generator, in three sub-tabs ("Design", "Train", "Explore").

The design panel is given (it edits a ``GanDocument``: ``.spec``, a ``GanSpec``, and
``spec_changed``); the Train view trains a snapshot of that document's design; a run that ends with
weights is added to the run library and opened in the Explore view.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from playground.core.runs import RunError
from playground.ui.gan_explore import GanExploreView
from playground.ui.gan_train import GanTrainView


class GanArea(QWidget):
    """Design, Train and Explore of a GAN; ``runner`` is the Train view's (for closing the window)."""

    def __init__(self, document, design_panel: QWidget, library, parent=None, process_factory=None):
        super().__init__(parent)
        self.document = document
        self.library = library
        self.design_panel = design_panel
        self.train_view = GanTrainView(document, library, process_factory=process_factory)
        self.explore_view = GanExploreView(library)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(design_panel, "Design")
        self.tabs.addTab(self.train_view, "Train")
        self.tabs.addTab(self.explore_view, "Explore")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.train_view.run_ended.connect(self._run_ended)
        self.train_view.explore_requested.connect(self.explore)

    @property
    def runner(self):
        return self.train_view.runner

    @property
    def training(self) -> bool:
        return self.train_view.training

    def set_torch_ready(self, devices: list[str]) -> None:
        self.train_view.set_torch_ready(devices)

    def shutdown(self, timeout: float = 2.0) -> bool:
        return self.train_view.shutdown(timeout)

    def _run_ended(self, path: Path) -> None:
        """A run of this tab ended with weights: list it in the library (the other views skip GAN
        runs) and have the Explore view show it."""
        if self.library is not None:
            with contextlib.suppress(RunError, OSError):
                self.library.load_from_disk()
        self.explore_view.show_run(path)

    def show_design(self) -> None:
        self.tabs.setCurrentWidget(self.design_panel)

    def explore(self, path: Path) -> None:
        self.explore_view.show_run(path)
        self.tabs.setCurrentWidget(self.explore_view)
