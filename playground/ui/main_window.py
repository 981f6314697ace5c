"""The main window: the Design, Train, Evaluate and Draw areas, menus, shortcuts and status bar.

It must appear fast: nothing here imports torch. ``TorchLoader`` imports it on a background thread
and the status bar says so until it is ready (the designer works meanwhile, since the catalog,
specs and shape inference need no torch).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox, QTabWidget

from playground import APP_NAME, __version__
from playground.core import DEFAULT_PRESET, PRESETS, DesignError, NetworkSpec, get_preset
from playground.core.gan_spec import GAN_KIND, GAN_PRESETS
from playground.core.spec import json_data, read_design_text
from playground.ui.designer import DesignerWidget
from playground.ui.draw_area import DrawArea
from playground.ui.document import DesignDocument
from playground.ui.evaluate_area import EvaluateArea
from playground.ui.gan_area import GanArea
from playground.ui.gan_design import GanDesignPanel
from playground.ui.gan_document import GanDocument
from playground.ui import theme
from playground.ui.run_library import RunLibrary
from playground.ui.train_area import TrainArea

MAX_RECENT = 8
DESIGN_FILTER = "Network designs (*.json);;All files (*)"
STOP_BEFORE_KILL_MS = 10_000  # closing during a training: how long the worker may take to stop by itself


class TorchLoader(QObject):
    """Imports torch off the GUI thread and reports the device training would use."""

    loaded = Signal(str, float, list)  # device label, seconds it took, the devices available
    failed = Signal(str)

    def start(self) -> None:
        threading.Thread(target=self._load, name="torch-loader", daemon=True).start()

    def _load(self) -> None:
        start = time.perf_counter()
        try:
            from playground.core.config import available_devices, device_label, resolve_device

            label = device_label(resolve_device("auto"))
            devices = available_devices()
            # The Train area's and the dialogs' worker threads come from superqt, whose first import
            # takes about 0.3 s (qtpy, PySide's signatures): here rather than on the GUI thread when
            # the first run starts.
            import superqt.utils  # noqa: F401
        except Exception as exc:  # a broken torch install must not take the window down
            self._emit(self.failed, f"{type(exc).__name__}: {exc}")
            return
        self._emit(self.loaded, label, time.perf_counter() - start, devices)

    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the window closed before torch had loaded
            pass


_garbage_collector = None


def collect_garbage_on_gui_thread() -> None:
    """Run Python's cyclic garbage collector only on the GUI thread, from a timer (pyqtgraph's
    ``GarbageCollector``: automatic collection off, a generation collected once a second when its
    count is over the usual threshold). Once per process.

    Why: automatic collection runs in whichever thread happens to allocate. When a worker thread
    (ONNX export, loading images, relaying a training) collected a cycle holding Qt wrappers from a
    closed window or dialog, PySide deleted those QObjects in the worker: it took Qt's object lock
    there and waited for the GIL, while the GUI thread held the GIL and waited for that lock. The
    app froze for good (seen in the test suite: the export dialog's test hung)."""
    global _garbage_collector
    if _garbage_collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _garbage_collector = GarbageCollector(interval=1.0)


def freeze_startup_objects() -> None:
    """Move the objects made at start-up (Qt bindings, pyqtgraph, PyTorch: about 230,000) out of the garbage
    collector's full passes, once per process: with them each full pass is a visible stall on the GUI
    thread (docs/benchmarks.md), and they live as long as the app anyway. Later objects are collected as
    usual."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


class MainWindow(QMainWindow):
    def __init__(self, spec: NetworkSpec | None = None, load_torch: bool = True, parent=None):
        if theme.saved_scheme() != "system":  # before any widget, so that all start in its colours
            theme.set_scheme(theme.saved_scheme())
        super().__init__(parent)
        collect_garbage_on_gui_thread()
        self.settings = QSettings()
        self.document = DesignDocument(spec or get_preset(DEFAULT_PRESET).spec, self)
        self.document.undo_stack.setClean()
        self.gan_document = GanDocument(parent=self)
        self._asking_about = self.document  # the design the unsaved-changes question is about
        self.torch_ready = False
        self.device_text = ""
        self._image_loader = None  # a worker loading test images for the Evaluate area
        self._test_images = None  # (the dataset arguments, the test images) loaded last
        self._closing = False  # the window is closing (waiting for a training to stop)

        self.designer = DesignerWidget(self.document)
        self.gan_design = GanDesignPanel(self.gan_document)  # shown in the GAN area's tab
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.designer, "Design")
        self.library = RunLibrary(self)
        self.train_area = TrainArea(self.document, self.library)
        self.evaluate_area = EvaluateArea()
        self.tabs.addTab(self.train_area, "Train")
        self.tabs.addTab(self.evaluate_area, "Evaluate")
        self.library.run_finished.connect(self.show_evaluation)
        self.library.run_added.connect(self._update_export_action)
        self.library.run_updated.connect(self._update_export_action)
        self.library.run_updated.connect(self.evaluate_area.run_updated)
        self.train_area.run_list.itemDoubleClicked.connect(self._evaluate_run_item)
        self.train_area.evaluation_requested.connect(self.evaluate_run)
        if spec is None:  # the default preset's design trains with that preset's settings
            self.train_area.apply_preset(DEFAULT_PRESET)
        self.draw_area = DrawArea(self.library)
        self.tabs.addTab(self.draw_area, "Draw")
        self.gan_area = GanArea(self.gan_document, self.gan_design, self.library)
        self.tabs.addTab(self.gan_area, "GAN")
        self.setCentralWidget(self.tabs)

        self._make_actions()
        self._make_menus()
        self._make_status_bar()
        self.document.modified_changed.connect(self._update_title)
        self.document.path_changed.connect(self._update_title)
        self.document.spec_changed.connect(self._update_title)
        # One signal per kind of change: the undo stack's index moves on every push, merge, undo, redo
        # and clear; the actions change only where their text or state does.
        self.document.selection_changed.connect(self._update_edit_actions)
        self.document.undo_stack.indexChanged.connect(self._update_edit_actions)
        self.tabs.currentChanged.connect(self._update_edit_actions)
        self.draw_area.pad.drawing_changed.connect(self._update_edit_actions)
        self._connect_gan_design()
        self._update_title()
        self._update_edit_actions()
        self._restore_layout()

        self.torch_loader = TorchLoader(self)
        self.torch_loader.loaded.connect(self._torch_loaded)
        self.torch_loader.failed.connect(self._torch_failed)
        if load_torch:
            self.torch_loader.start()

    # -- actions and menus ------------------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _make_actions(self) -> None:
        S = QKeySequence.StandardKey
        self.new_action = self._action("&New", self.new_design, S.New, "Start an empty design")
        self.open_action = self._action("&Open…", self.open_design_dialog, S.Open, "Open a design file")
        self.save_action = self._action("&Save", self.save, S.Save, "Save the design")
        self.save_as_action = self._action("Save &As…", self.save_as, "Ctrl+Shift+S",
                                           "Save the design under a new name")
        # Through a lambda: ``triggered`` passes ``checked`` (False), which would land in ``modal``.
        self.export_action = self._action("&Export Model…", lambda: self.show_export_dialog(), "Ctrl+E",
                                          "Export a trained model: app model file, TorchScript, ONNX or a "
                                          "PyTorch script, checked after writing")
        self.export_action.setEnabled(False)
        self.open_model_action = self._action("Open &Model…", self.open_model_dialog, "Ctrl+Shift+O",
                                              "Open a model file (.pgmodel.safetensors), or a PyTorch state "
                                              "dict (.pt/.pth) that fits the current design")
        # Ctrl+Q itself: the platform's standard Quit key is empty on some (Windows, offscreen).
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q", "Quit the app")
        # Undo and Redo act on the area shown: the design's edits, or the Draw area's strokes.
        self.undo_action = self._action("&Undo", lambda: self._undo_redo("undo"), S.Undo,
                                        "Undo in the area shown: a design edit, or a stroke on the Draw pad")
        self.redo_action = self._action("&Redo", lambda: self._undo_redo("redo"), ["Ctrl+Shift+Z", "Ctrl+Y"],
                                        "Redo in the area shown: a design edit, or a stroke on the Draw pad")
        self.delete_action = self._action("&Delete Layer", self.delete_selected, "Del",
                                          "Delete the selected layer")
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.designer.addAction(self.delete_action)
        self.start_action = self._action("&Start Training", self.start_training, ["Ctrl+Return", "Ctrl+Enter"],
                                         "Train the design with the Train area's settings (from any area)")
        self.addAction(self.start_action)  # a window shortcut, without a menu entry
        self._make_tune_actions()
        self.duplicate_action = self._action("D&uplicate Layer", self.duplicate_selected, "Ctrl+D",
                                             "Duplicate the selected layer")
        self.shortcuts_action = self._action("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.about_action = self._action("&About", self.show_about)

    def _make_tune_actions(self) -> None:
        """Train menu: the Sweep dialog and the learning-rate finder (they open from the Train area)."""
        def in_train_area(open_dialog):
            self.tabs.setCurrentWidget(self.train_area)
            open_dialog()

        self.sweep_action = self._action("S&weep Settings…", lambda: in_train_area(self.train_area.open_sweep),
                                         "Ctrl+Shift+P", "Train one run per combination of values of up to four "
                                         "settings and compare them")
        self.lr_find_action = self._action("Find &Learning Rate…", lambda: in_train_area(
            self.train_area.open_lr_finder), "Ctrl+Shift+L", "Suggest a learning rate for the design and the "
            "Train area's optimizer")

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        presets = file_menu.addMenu("New from &Preset")
        self.preset_actions = {}
        for preset in PRESETS.values():
            action = self._action(f"{preset.name} — {preset.tagline}",
                                  lambda _=False, n=preset.name: self.new_from_preset(n), tip=preset.summary)
            presets.addAction(action)
            self.preset_actions[preset.name] = action
        presets.setToolTipsVisible(True)
        self._make_gan_menu(file_menu)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.open_model_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit = bar.addMenu("&Edit")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        edit.addAction(self.delete_action)
        edit.addAction(self.duplicate_action)
        edit.addSeparator()
        for action in (self.designer.move_up_action, self.designer.move_down_action, self.designer.add_layer_action):
            edit.addAction(action)

        view = bar.addMenu("&View")
        for i, name in enumerate(("Design", "Train", "Evaluate", "Draw", "GAN")):
            view.addAction(self._action(f"&{name}", lambda _=False, i=i: self.tabs.setCurrentIndex(i),
                                        f"Ctrl+{i + 1}", f"Show the {name} area"))
        view.addSeparator()
        self._make_scheme_menu(view)
        view.addAction(self._action("Reset &Layout", self.reset_layout, tip="Restore the default panel sizes"))

        train_menu = bar.addMenu("&Train")
        train_menu.addAction(self.sweep_action)
        train_menu.addAction(self.lr_find_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _make_gan_menu(self, file_menu: QMenu) -> None:
        """File > New GAN: a GAN design from one of the GAN presets."""
        gans = file_menu.addMenu("New &GAN")
        gans.setToolTipsVisible(True)
        self.gan_preset_actions = {}
        for preset in GAN_PRESETS.values():
            action = self._action(f"{preset.name} — {preset.tagline}",
                                  lambda _=False, n=preset.name: self.new_gan(n), tip=preset.summary)
            gans.addAction(action)
            self.gan_preset_actions[preset.name] = action

    def _make_scheme_menu(self, view: QMenu) -> None:
        """View > Dark mode: follow the system's colours, or always light, or always dark."""
        self.scheme_menu = view.addMenu("Dark &Mode")
        group = QActionGroup(self)
        current = theme.saved_scheme()
        self.scheme_actions = {}
        for scheme, text in theme.SCHEMES.items():
            action = self.scheme_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(scheme == current)
            action.triggered.connect(lambda _=False, scheme=scheme: self.set_scheme(scheme))
            group.addAction(action)
            self.scheme_actions[scheme] = action

    def set_scheme(self, scheme: str) -> None:
        theme.set_scheme(scheme)
        self.settings.setValue(theme.SCHEME_KEY, scheme)

    def _make_status_bar(self) -> None:
        self.device_label = QLabel("Loading PyTorch…")
        self.device_label.setToolTip("The device training would use")
        self.statusBar().addPermanentWidget(self.device_label)

    # -- state shown --------------------------------------------------------------------------------------

    def _update_title(self, *args) -> None:
        document = self.current_document()
        self.setWindowTitle(f"{document.title}[*] — {APP_NAME}")
        self.setWindowModified(document.modified)

    def _update_edit_actions(self, *args) -> None:
        has = self._layers_document().selected >= 0
        for action in (self.delete_action, self.duplicate_action):
            if action.isEnabled() != has:
                action.setEnabled(has)
        # Undo belongs to the area in view: never a hidden design edit behind the Draw area's focus.
        shown, stack, pad = self.tabs.currentWidget(), self.current_document().undo_stack, self.draw_area.pad
        if shown is self.designer or self.gan_design_current():
            undo, redo = (stack.canUndo(), stack.undoText()), (stack.canRedo(), stack.redoText())
        elif shown is self.draw_area:
            undo, redo = (bool(pad.done), pad.undo_text), (bool(pad.undone), pad.redo_text)
        else:
            undo, redo = (False, ""), (False, "")
        for action, name, (enabled, what) in ((self.undo_action, "&Undo", undo), (self.redo_action, "&Redo", redo)):
            text = f"{name} {what}".strip()
            if action.isEnabled() != enabled:
                action.setEnabled(enabled)
            if action.text() != text:
                action.setText(text)

    def _undo_redo(self, which: str) -> None:
        shown = self.tabs.currentWidget()
        if shown is self.designer or self.gan_design_current():
            stack = self.current_document().undo_stack
            stack.undo() if which == "undo" else stack.redo()
        elif shown is self.draw_area:
            self.draw_area.pad.undo_stroke() if which == "undo" else self.draw_area.pad.redo_stroke()

    def _torch_loaded(self, label: str, seconds: float, devices: list | None = None) -> None:
        self.torch_ready = True
        self.device_text = label
        self.train_area.set_torch_ready(devices or ["cpu"])
        self.gan_area.set_torch_ready(devices or ["cpu"])
        # The saved runs are read once PyTorch is ready, not before the window first shows.
        self.train_area.show_unreadable_runs(self.library.load_from_disk())
        self.draw_area.set_torch_ready()
        self.device_label.setText(f"Training device: {label}")
        self.statusBar().showMessage(f"PyTorch ready ({seconds:.1f} s)", 4000)
        freeze_startup_objects()

    def _torch_failed(self, message: str) -> None:
        self.device_label.setText("PyTorch failed to load")
        self.device_label.setToolTip(message)
        self.show_error("PyTorch could not be loaded",
                        f"Designing works, but training needs PyTorch.\n\n{message}\n\n"
                        "Reinstall the app (python3 -m pip install --force-reinstall nn-playground).")

    # -- file operations (dialogs only in the *_dialog methods and prompts) ------------------------------

    def show_error(self, title: str, message: str) -> None:
        # Plain text: a message quotes file names and file contents, which Qt would otherwise read as
        # HTML (an <img src=...> in a design makes it open that file).
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.exec()

    def _show_unexpected_error(self, title: str, path: str | Path, exc: Exception) -> None:
        """The last line of defence around the core's loaders: an error they should have turned
        into their own message. The traceback goes to stderr (for a bug report); the user sees what
        failed and that nothing changed."""
        traceback.print_exception(exc, file=sys.stderr)
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        self.show_error(title, f"Cannot open {path}: {type(exc).__name__}{': ' + reason if reason else ''}.\n"
                               f"The file is not one this app can read; nothing was changed.")

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          f"Save the changes to “{self._asking_about.title}” first?", buttons, self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # the title is a file or design name
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        return QMessageBox.StandardButton(box.exec())

    def maybe_save(self, document: DesignDocument | GanDocument | None = None) -> bool:
        """True when it is fine to drop a design (by default the classifier's): saved, discarded or
        unchanged."""
        document = self.document if document is None else document
        if not document.modified:
            return True
        self._asking_about = document
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save_document(document)
        return answer == QMessageBox.StandardButton.Discard

    def new_design(self) -> None:
        if self.maybe_save():
            self.document.reset(NetworkSpec())
            self._show_classifier_design()

    def new_from_preset(self, name: str) -> None:
        """Open a preset's design with its training settings in the Train area."""
        if self.maybe_save():
            self.document.reset(get_preset(name).spec)
            self._show_classifier_design()
            changes = self.train_area.apply_preset(name)
            settings = f" Training settings: {', '.join(changes)}." if changes else ""
            self.statusBar().showMessage(f"{name}: {get_preset(name).summary}{settings}", 8000)

    def start_training(self) -> None:
        """Ctrl+Return, from any area: show the Train area and start a run there."""
        self.tabs.setCurrentWidget(self.train_area)
        self.train_area.start()

    def open_design_dialog(self) -> None:
        """Choose a design file, then (once it is known whether a classifier or a GAN design is to be
        replaced) ask about that one's unsaved changes."""
        document = self.current_document()
        start = str(document.path.parent) if document.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open design", start, DESIGN_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path, ask: bool = True) -> bool:
        """Open a design (a GAN design goes to the GAN designer); a bad file shows the core's message
        and keeps the current design."""
        if _design_kind(path) == GAN_KIND:
            return self.open_gan_design(path, ask)
        if ask and not self.maybe_save():
            return False
        try:
            self.document.open(path)
        except DesignError as exc:
            self.show_error("Cannot open design", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad file must never take the window down
            self._show_unexpected_error("Cannot open design", path, exc)
            return False
        self._add_recent(Path(path))
        self._show_classifier_design()
        self.statusBar().showMessage(f"Opened {path}", 4000)
        return True

    def save(self) -> bool:
        """Save the design in view: the GAN's on the GAN tab, else the classifier's."""
        return self.save_document(self.current_document())

    def save_as(self) -> bool:
        return self.save_document_as(self.current_document())

    def save_document(self, document: DesignDocument | GanDocument) -> bool:
        if document.path is None:
            return self.save_document_as(document)
        return self.save_to(document.path, document)

    def save_document_as(self, document: DesignDocument | GanDocument) -> bool:
        start = str(document.path or Path.home() / f"{document.spec.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save design", start, DESIGN_FILTER)
        if not path:
            return False
        if not path.lower().endswith(".json"):
            path += ".json"
        return self.save_to(path, document)

    def save_to(self, path: str | Path, document: DesignDocument | GanDocument | None = None) -> bool:
        document = self.current_document() if document is None else document
        try:
            document.save(path)
        except OSError as exc:
            self.show_error("Cannot save design",
                            f"{path}: {exc.strerror or exc}.\nThe design is still open and any earlier file "
                            f"is unchanged; choose another folder with Save As.")
            return False
        self._add_recent(Path(path))
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def delete_selected(self) -> None:
        document = self._layers_document()
        document.remove_layer(document.selected)

    def duplicate_selected(self) -> None:
        document = self._layers_document()
        document.duplicate_layer(document.selected)

    # -- the GAN design -----------------------------------------------------------------------------------

    def _connect_gan_design(self) -> None:
        """The GAN design's file and edits show in the title and the Edit menu while it is in view."""
        gan = self.gan_document
        for signal in (gan.modified_changed, gan.path_changed, gan.spec_changed):
            signal.connect(self._update_title)
        gan.undo_stack.indexChanged.connect(self._update_edit_actions)
        for stack in gan.stacks.values():
            stack.selection_changed.connect(self._update_edit_actions)
        self.gan_design.tabs.currentChanged.connect(self._update_edit_actions)
        self.tabs.currentChanged.connect(self._update_title)

    def gan_design_current(self) -> bool:
        """Whether the GAN design is in view: the current tab is the GAN designer or holds it (the
        GAN area), so that Save, Undo and Redo act on it."""
        shown = self.tabs.currentWidget()
        return shown is not None and (shown is self.gan_design or shown.isAncestorOf(self.gan_design))

    def current_document(self) -> DesignDocument | GanDocument:
        """The design that Save, Save As, Undo and Redo act on: the GAN's while it is in view."""
        return self.gan_document if self.gan_design_current() else self.document

    def _layers_document(self) -> DesignDocument:
        """Whose selected layer Delete and Duplicate act on: the GAN stack shown, or the classifier."""
        return self.gan_design.current_stack_document() if self.gan_design_current() else self.document

    def _show_classifier_design(self) -> None:
        """A classifier design replaced from the GAN tab is shown, not changed out of sight."""
        if self.gan_design_current():
            self.tabs.setCurrentWidget(self.designer)

    def show_gan_design(self) -> None:
        """Show the tab that holds the GAN designer (and in the GAN tab its Design page)."""
        self.gan_area.show_design()
        for i in range(self.tabs.count()):
            tab = self.tabs.widget(i)
            if tab is self.gan_design or tab.isAncestorOf(self.gan_design):
                self.tabs.setCurrentIndex(i)
                return

    def new_gan(self, name: str) -> None:
        """File > New GAN: a GAN design from a preset, in view."""
        if self.maybe_save(self.gan_document):
            self.gan_document.reset(GAN_PRESETS[name].spec)
            self.show_gan_design()
            self.statusBar().showMessage(f"{name}: {GAN_PRESETS[name].summary}", 8000)

    def open_gan_design(self, path: str | Path, ask: bool = True) -> bool:
        """Open a GAN design file into the GAN designer; a bad file shows the core's message and the
        current GAN design stays, with its undo history."""
        if ask and not self.maybe_save(self.gan_document):
            return False
        try:
            self.gan_document.open(path)
        except DesignError as exc:
            self.show_error("Cannot open GAN design", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad file must never take the window down
            self._show_unexpected_error("Cannot open GAN design", path, exc)
            return False
        self._add_recent(Path(path))
        self.show_gan_design()
        self.statusBar().showMessage(f"Opened GAN design {path}", 4000)
        return True

    # -- recent files and layout -------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        path_text = str(path.resolve())
        files = [f for f in self.recent_files() if f != path_text]
        self.settings.setValue("recent_files", [path_text, *files][:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            self.recent_menu.addAction(self._action(f, lambda _=False, p=f: self.open_file(p), tip=f))
        if not files:
            empty = self.recent_menu.addAction("No recent designs")
            empty.setEnabled(False)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("designer/splitter")
        if splitter is not None:
            self.designer.splitter.restoreState(splitter)
        self.tabs.setCurrentIndex(int(self.settings.value("window/tab", 0)))

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("designer/splitter", self.designer.splitter.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()

    def reset_layout(self) -> None:
        # The side columns give way on a small window, so that the network keeps most of the room.
        left, right = min(210, max(150, self.width() // 5)), min(300, max(200, self.width() // 4))
        self.designer.splitter.setSizes([left, max(300, self.width() - left - right), right])

    def ask_stop_training(self) -> bool:
        """Whether to stop the run that trains and close (True) or keep both (False)."""
        box = QMessageBox(QMessageBox.Icon.Question, "A run is training",
                          "A run is still training. Stop it and close? Its run keeps the weights trained so "
                          "far, without a test evaluation.", QMessageBox.StandardButton.Cancel, self)
        stop = box.addButton("Stop and close", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is stop

    def _training_runners(self) -> list:
        """The runners of the Train area and the GAN tab whose worker still trains."""
        return [r for r in (self.train_area.runner, self.gan_area.runner)
                if r is not None and r.running and r.process.alive]

    def closeEvent(self, event: QCloseEvent) -> None:
        runners = self._training_runners()
        training = bool(runners)
        if not self._closing and ((training and not self.ask_stop_training()) or not self.maybe_save()
                                  or not self.maybe_save(self.gan_document)):
            event.ignore()
            return
        if training:
            # Do not block the GUI waiting for the workers: ask them to stop, close when each has ended
            # (the runner's finished signal), and kill one that has not stopped in a while.
            event.ignore()
            if not self._closing:
                self._closing = True
                self.statusBar().showMessage("Stopping the training…")
                for runner in runners:
                    runner.finished.connect(self.close)
                    runner.process.stop(evaluate=False)
                    QTimer.singleShot(STOP_BEFORE_KILL_MS, runner.process.kill)
            return
        self._closing = True
        self.train_area.shutdown(timeout=2.0)  # no worker left running: this returns at once
        self.gan_area.shutdown(timeout=2.0)
        if self._image_loader is not None:
            self._image_loader.quit()
        QThreadPool.globalInstance().waitForDone(1000)
        self.save_layout()
        event.accept()

    # -- models ---------------------------------------------------------------------------------------------

    def open_model_dialog(self) -> None:
        if not self.torch_ready:
            self.show_error("Not ready yet", "PyTorch is still loading; try again in a moment.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(Path.home()),
                                              "Models (*.pgmodel.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.open_model_file(path)

    def open_model_file(self, path: str | Path) -> bool:
        """Open a model: its design goes to the designer, its weights to the canvas and to the next
        training. A state dict (.pt/.pth) must fit the current design. Nothing changes on failure:
        a bad file shows a message and the design, its undo history and the canvas's model stay."""
        from playground.core.export import ExportError, load_model_file, load_state_dict_file
        from playground.core.paths import cache_dir
        from playground.core.predict import Classifier
        from playground.core.runs import RunError, save_weights

        path = Path(path)
        try:
            if path.is_dir():
                raise ExportError(f"{path}: a folder, not a model file; choose a .pgmodel.safetensors file "
                                  f"or a .pt/.pth state dict")
            if path.exists() and not path.is_file():
                raise ExportError(f"{path}: not a regular file; choose a .pgmodel.safetensors file or a "
                                  f".pt/.pth state dict")
            if path.suffix.lower() in (".pt", ".pth"):
                spec = self.document.spec
                state = load_state_dict_file(path, spec)
            else:
                spec, state, _ = load_model_file(path)
            # Checks that the weights fit the design: names, shapes, dtypes, finite values.
            classifier = Classifier(spec, state, str(path))
            if path.suffix.lower() in (".pt", ".pth"):
                weights = cache_dir() / "opened" / f"{path.stem}.safetensors"
                weights.parent.mkdir(parents=True, exist_ok=True)
                save_weights(weights, classifier.model.state_dict())
            else:
                weights = path
        except (ExportError, RunError, DesignError, OSError) as exc:
            self.show_error("Cannot open model", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad file must never take the window down
            self._show_unexpected_error("Cannot open model", path, exc)
            return False
        if spec is not self.document.spec:
            if not self.maybe_save():
                return False
            self.document.reset(spec)
        self.train_area.set_initial_weights(spec, weights)
        self.draw_area.use_classifier(classifier, f"Opened: {path.name}")
        self.statusBar().showMessage(f"Opened model {path.name}: its design is in the designer, the canvas "
                                     f"uses it, and Start trains on from its weights", 8000)
        return True

    # -- export -----------------------------------------------------------------------------------------------

    def exportable_runs(self) -> list:
        """Finished runs with weights on disk, newest first: a classifier's best weights; a GAN's
        generator, from its best weights or else its last."""
        from playground.ui.export_dialog import is_gan_run

        return [r for r in reversed(self.library.runs)
                if r.finished and (r.has_best_weights or (is_gan_run(r) and r.has_last_weights))]

    def _update_export_action(self, *args) -> None:
        self.export_action.setEnabled(bool(self.exportable_runs()))

    def show_export_dialog(self, modal: bool = True):
        from playground.ui.export_dialog import ExportDialog

        dialog = ExportDialog(self.exportable_runs(), self)
        if modal:
            dialog.exec()
        return dialog

    # -- evaluation -----------------------------------------------------------------------------------------

    def _evaluate_run_item(self, item, column: int) -> None:
        runs = self.train_area.selected_runs()
        if runs:
            self.evaluate_run(runs[0])

    def evaluate_run(self, run) -> None:
        """Show a run in the Evaluate area and switch to it."""
        self.show_evaluation(run)
        self.tabs.setCurrentWidget(self.evaluate_area)

    def show_evaluation(self, run) -> None:
        """Show a run in the Evaluate area, loading its test images in the background if needed."""
        if self._closing or run.kind != "classifier":  # closing: load nothing; a GAN has no test evaluation
            return
        c = run.config
        key = (c.dataset, c.data_folder, c.preprocess, c.val_fraction, c.seed, c.limit, c.test_limit)
        if self._test_images is not None and self._test_images[0] == key:
            self.evaluate_area.show_run(run, self._test_images[1])
            return
        self.evaluate_area.show_run(run, None)
        if run.evaluation is None:
            return
        from superqt.utils import create_worker

        from playground.core.data import load_config_dataset

        def loaded(data):
            self._test_images = (key, data.test.images)
            if self.evaluate_area.run is run:
                self.evaluate_area.set_images(data.test.images)

        def failed(exc):
            self.statusBar().showMessage(f"Cannot load the test images: {exc}")

        # Handlers given through _connect: otherwise superqt also re-raises the error in the GUI thread.
        self._image_loader = create_worker(load_config_dataset, c, _start_thread=True,
                                           _connect={"returned": loaded, "errored": failed})

    # -- help -------------------------------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        rows = [
            ("Ctrl+N", "New design"), ("Ctrl+O", "Open a design"), ("Ctrl+S", "Save"),
            ("Ctrl+Shift+S", "Save as"), ("Ctrl+Shift+O", "Open a model"), ("Ctrl+E", "Export the model"),
            ("Ctrl+Z", "Undo (the design; on the Draw tab, the last stroke)"), ("Ctrl+Shift+Z or Ctrl+Y", "Redo"),
            ("Del", "Delete the selected layer"), ("Ctrl+D", "Duplicate the selected layer"),
            ("Enter or double-click in the palette", "Add that layer after the selected one (at the end if none is)"),
            ("Alt+Up / Alt+Down", "Move the selected layer"), ("Ins", "Go to the palette to add a layer"),
            ("Ctrl+Return", "Start training (from any area: it shows the Train area)"),
            ("Ctrl+Shift+P / Ctrl+Shift+L", "Sweep settings / find a learning rate (Train menu)"),
            ("F2", "Rename the selected run (in the Train area's run list)"),
            ("Enter or Y", "Draw tab: that's right (the drawing goes to My digits as guessed)"),
            ("0 … 9", "Draw tab: no, it's that digit (to My digits); on the probability bars: what counts "
                      "for that digit"),
            ("F5 / F6 / Shift+F5", "GAN tab: start, pause or resume, stop the GAN run"),
            ("D / G", "GAN tab, while paused: one discriminator step / one generator step"),
            ("0 … 9, N, R", "GAN explorer: the digit (conditional GAN), new samples, a random end"),
            ("Ctrl+1 … Ctrl+5", "Design, Train, Evaluate, Draw, GAN"), ("F1", "This list"), ("Ctrl+Q", "Quit"),
        ]
        table = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in rows)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{table}</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<h3>{APP_NAME} {__version__}</h3><p>Design, train and test neural networks "
                          f"on handwritten digits.</p><p>MNIST by Y. LeCun, C. Cortes and C. J. C. Burges, "
                          f"CC BY-SA 3.0.</p>")


def _design_kind(path: str | Path) -> str | None:
    """The ``kind`` a design file says it is, or None when it says none or cannot be read (the
    classifier's loader then says what is wrong with it). Reading is bounded as loading is."""
    try:
        data = json_data(read_design_text(path), str(path))
    except DesignError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None
