"""The GAN designer: two stacks in the usual designer with live shapes and one-click fixes, the latent
size, the conditional switch and presets, one undo history, and the window's File routing (open a
GAN file, save it, New GAN, the unsaved-changes question). Keys are pressed on the widget that has
the focus and widgets clicked, as a user does; file dialogs are answered by patching QFileDialog."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from playground.core import PRESETS, DesignError, load_design
from playground.core.gan_spec import DEFAULT_GAN_PRESET, GAN_PRESETS, GanSpec
from playground.ui.gan_design import GanDesignPanel
from playground.ui.gan_document import GanDocument

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton


def focus(qtbot, widget) -> None:
    widget.activateWindow()
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=10_000)


def types(layers) -> list[str]:
    return [layer.type for layer in layers]


def click_row(qtbot, designer, row: int) -> None:
    """Click a layer's row in a designer's network list (which then has the focus)."""
    view = designer.stack
    rect = view.visualRect(view.model().index(row, 1))
    qtbot.mouseClick(view.viewport(), LEFT, pos=rect.center())
    focus(qtbot, view)


def type_into(qtbot, field, text: str) -> None:
    """Click a field, select what it shows and type ``text``, then Enter."""
    qtbot.mouseClick(field, LEFT)
    focus(qtbot, field)
    qtbot.keyClick(field, K.Key_A, CTRL)
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, K.Key_Return)


@pytest.fixture
def panel(qtbot):
    """The panel shown alone, on the gan-mlp preset (its generator ends with an Unflatten)."""
    panel = GanDesignPanel(GanDocument(GAN_PRESETS["gan-mlp"].spec))
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def window(own_data_folder, active_window, qtbot):
    """The window on the GAN tab's Design page."""
    window = active_window
    window.show_gan_design()
    qtbot.waitUntil(window.gan_design.isVisible)
    return window


def answer_dialogs(monkeypatch, open_path=None, save_path=None) -> list[str]:
    asked = []

    def get_open(*args, **kwargs):
        asked.append("open")
        return str(open_path), ""

    def get_save(*args, **kwargs):
        asked.append("save")
        return str(save_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", get_open)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", get_save)
    return asked


# -- the panel -------------------------------------------------------------------------------------


def test_starts_on_the_dcgan_preset(qtbot):
    panel = GanDesignPanel(GanDocument())
    qtbot.addWidget(panel)
    assert panel.document.spec == GAN_PRESETS[DEFAULT_GAN_PRESET].spec and DEFAULT_GAN_PRESET == "dcgan"
    assert panel.preset_box.currentData() == "dcgan"
    assert panel.flow.text() == "latent 64 → generator → 1x28x28 image → discriminator → real/fake score"
    assert [panel.tabs.tabText(i) for i in range(2)] == ["Generator", "Discriminator"]
    assert panel.name_edit.text() == "dcgan" and panel.latent_edit.text() == "64"
    assert not panel.conditional_box.isChecked()


def test_removing_the_generators_unflatten_shows_the_problem_and_the_fix_repairs_it(panel, qtbot):
    doc, designer = panel.document, panel.designers["generator"]
    assert types(doc.spec.generator)[-1] == "Unflatten"
    click_row(qtbot, designer, 4)
    assert doc.stacks["generator"].selected == 4
    qtbot.keyClick(designer.stack, K.Key_Delete)

    assert types(doc.spec.generator) == ["Linear", "LeakyReLU", "Linear", "Tanh"]
    assert doc.spec.discriminator == GAN_PRESETS["gan-mlp"].spec.discriminator  # the other stack untouched
    assert panel.tabs.tabText(0) == "Generator (1 problem)" and panel.tabs.tabText(1) == "Discriminator"
    model = designer.stack.model()
    assert model.data(model.index(3, 2)) == "784"  # the live output shape of the last layer
    (message,) = [label.text() for label in designer.problems.problem_labels]
    assert message == ("Layer 4 (Tanh): the generator must end at a 1x28x28 image but its output is 784")
    assert "784 (must be a 1x28x28 image)" in panel.flow.text()
    (fix,) = designer.problems.fix_buttons
    assert "Unflatten" in fix.text()

    qtbot.mouseClick(fix, LEFT)
    assert types(doc.spec.generator)[-1] == "Unflatten" and doc.shapes.valid
    assert panel.tabs.tabText(0) == "Generator" and not designer.problems.problem_labels
    assert designer.problems.problem_box.isHidden()
    assert model.data(model.index(4, 2)) == "1x28x28"
    assert "✔ ends at a 1x28x28 image" in designer.problems.totals.text()
    assert "✔ ends at one score" in panel.designers["discriminator"].problems.totals.text()
    assert doc.undo_stack.count() == 2 and doc.undo_stack.undoText().startswith("Generator: ")


def test_the_discriminators_end_rule_and_fix(panel, qtbot):
    doc = panel.document
    qtbot.mouseClick(panel.tabs.tabBar(), LEFT, pos=panel.tabs.tabBar().tabRect(1).center())
    assert panel.current_stack() == "discriminator"
    designer = panel.designers["discriminator"]
    click_row(qtbot, designer, 3)  # the Linear to 1 score
    qtbot.keyClick(designer.stack, K.Key_Delete)
    assert panel.tabs.tabText(1) == "Discriminator (1 problem)"
    assert "256 (must be one score)" in panel.flow.text()
    (fix,) = designer.problems.fix_buttons
    qtbot.mouseClick(fix, LEFT)
    assert doc.shapes.discriminator.output_shape == (1,) and doc.shapes.valid


def test_a_typed_latent_size_changes_the_generators_first_shape(panel, qtbot):
    doc, designer = panel.document, panel.designers["generator"]
    type_into(qtbot, panel.latent_edit, "100")
    assert doc.spec.latent_size == 100
    assert doc.shapes.generator.rows[0].in_shape == (100,)
    assert doc.shapes.generator.rows[0].parameters == 100 * 256 + 256  # Linear 100 -> 256
    assert designer.network_caption.text().startswith("Network: gan-mlp generator — input: latent vector of 100")
    assert panel.flow.text().startswith("latent 100 → generator")
    assert panel.preset_box.currentIndex() == -1 and panel.preset_box.placeholderText() == "Custom design"
    assert doc.undo_stack.undoText() == "Set latent size to 100"


@pytest.mark.parametrize("typed, says", [("0", "must be 1 to 1024; got 0"), ("5000", "must be 1 to 1024; got 5000"),
                                         ("abc", "'abc' is not a number"), ("2.5", "whole number")])
def test_a_wrong_latent_size_says_why_and_is_not_applied(panel, qtbot, typed, says):
    doc = panel.document
    before = doc.spec
    type_into(qtbot, panel.latent_edit, typed)
    assert doc.spec is before and doc.undo_stack.count() == 0
    assert panel.latent_problem.isVisible()
    assert says in panel.latent_problem.text() and "The latent size stays 64." in panel.latent_problem.text()
    assert panel.latent_edit.text() == typed  # kept to be corrected, not replaced
    type_into(qtbot, panel.latent_edit, "32")
    assert doc.spec.latent_size == 32 and not panel.latent_problem.isVisible()


def test_conditional_adds_the_digit_to_both_inputs(panel, qtbot):
    doc = panel.document
    assert doc.shapes.generator.rows[0].in_shape == (64,)
    assert doc.shapes.discriminator.rows[0].in_shape == (1, 28, 28)
    qtbot.mouseClick(panel.conditional_box, LEFT)
    assert doc.spec.conditional and panel.conditional_box.isChecked()
    assert doc.shapes.generator.rows[0].in_shape == (74,)
    assert doc.shapes.discriminator.rows[0].in_shape == (11, 28, 28)
    assert doc.shapes.valid
    assert panel.flow.text() == ("latent 64 + digit (10) → generator → 1x28x28 image → discriminator "
                                 "(+ digit as 10 channels) → real/fake score")
    caption = panel.designers["discriminator"].network_caption.text()
    assert "input: 1x28x28 image + the digit as 10 channels = 11x28x28" in caption
    # made conditional, gan-mlp keeps its layers: only the inputs grow
    assert doc.spec.generator == GAN_PRESETS["gan-mlp"].spec.generator
    focus(qtbot, panel.conditional_box)
    qtbot.keyClick(panel.conditional_box, K.Key_Space)
    assert not doc.spec.conditional and doc.shapes.generator.rows[0].in_shape == (64,)


def test_conditional_on_dcgan_gives_its_first_convolution_eleven_channels(qtbot):
    panel = GanDesignPanel(GanDocument())
    qtbot.addWidget(panel)
    panel.show()
    qtbot.mouseClick(panel.conditional_box, LEFT)
    first = panel.document.shapes.discriminator.rows[0]
    assert first.in_shape == (11, 28, 28) and first.parameters == 32 * 11 * 4 * 4 + 32
    assert panel.document.shapes.valid


def test_presets_switch_by_keys_and_undo_back(panel, qtbot):
    doc, box = panel.document, panel.preset_box
    assert box.currentData() == "gan-mlp"
    focus(qtbot, box)
    qtbot.keyClick(box, K.Key_Down)
    assert doc.spec == GAN_PRESETS["dcgan"].spec and box.currentData() == "dcgan"
    assert types(doc.stacks["generator"].spec.layers)[-2] == "ConvTranspose2d"
    qtbot.keyClick(box, K.Key_Down)
    assert doc.spec == GAN_PRESETS["cgan"].spec and panel.conditional_box.isChecked()
    assert panel.name_edit.text() == "cgan"
    assert doc.undo_stack.undoText() == "Use the cgan preset"
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.spec == GAN_PRESETS["gan-mlp"].spec and box.currentData() == "gan-mlp"
    assert [box.itemText(i) for i in range(box.count())] == [
        f"{p.name} — {p.tagline}" for p in GAN_PRESETS.values()]


def test_the_name_is_an_undoable_edit_and_cannot_be_emptied(panel, qtbot):
    doc = panel.document
    type_into(qtbot, panel.name_edit, "my gan")
    assert doc.spec.name == "my gan" and doc.undo_stack.undoText() == "Rename the GAN"
    assert panel.designers["generator"].network_caption.text().startswith("Network: my gan generator")
    type_into(qtbot, panel.name_edit, "   ")
    assert doc.spec.name == "my gan" and panel.name_edit.text() == "my gan"
    doc.undo_stack.undo()
    assert doc.spec.name == "gan-mlp" and panel.name_edit.text() == "gan-mlp"


def test_parameter_edits_merge_into_one_undo_step(panel, qtbot):
    doc = panel.document
    click_row(qtbot, panel.designers["generator"], 0)
    field = panel.designers["generator"].properties.editors["out_features"]
    type_into(qtbot, field, "128")
    type_into(qtbot, field, "512")
    assert doc.spec.generator[0].params["out_features"] == 512
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.spec == GAN_PRESETS["gan-mlp"].spec and not doc.modified


def test_undo_shows_the_stack_it_changes(panel, qtbot):
    doc = panel.document
    click_row(qtbot, panel.designers["generator"], 1)
    qtbot.keyClick(panel.designers["generator"].stack, K.Key_Delete)
    panel.show_stack("discriminator")
    doc.undo_stack.undo()
    assert panel.current_stack() == "generator" and doc.stacks["generator"].selected == 1
    assert doc.spec == GAN_PRESETS["gan-mlp"].spec


def test_the_memory_estimate_follows_the_gan_batch_size(panel):
    panel.document.set_batch_size(64)
    for which in ("generator", "discriminator"):
        assert panel.document.stacks[which].batch_size == 64
        assert "training at batch size 64" in panel.designers[which].problems.memory.text()


# -- in the window -----------------------------------------------------------------------------------


def test_undo_and_redo_by_keys_act_on_the_gan_design(window, qtbot):
    gan, classifier = window.gan_document, window.document.spec
    designer = window.gan_design.designers["generator"]
    before = len(gan.spec.generator)
    click_row(qtbot, designer, 0)
    qtbot.keyClick(designer.stack, K.Key_Delete)
    assert len(gan.spec.generator) == before - 1 and window.isWindowModified()
    assert window.undo_action.text().startswith("&Undo Generator: Delete")
    qtbot.keyClick(designer.stack, K.Key_Z, CTRL)
    assert len(gan.spec.generator) == before and not gan.modified and not window.isWindowModified()
    qtbot.keyClick(designer.stack, K.Key_Z, CTRL_SHIFT)
    assert len(gan.spec.generator) == before - 1
    assert window.document.spec is classifier and window.document.undo_stack.count() == 0


def test_ctrl_d_duplicates_the_gan_layer_not_the_classifiers(window, qtbot):
    gan, classifier = window.gan_document, window.document.spec
    designer = window.gan_design.designers["generator"]
    click_row(qtbot, designer, 2)
    qtbot.keyClick(designer.stack, K.Key_D, CTRL)
    assert types(gan.spec.generator)[2:4] == ["ReLU", "ReLU"]
    assert window.document.spec is classifier


def test_undo_on_the_design_tab_stays_with_the_classifier(window, qtbot, press):
    window.gan_document.set_latent_size(10)
    window.tabs.setCurrentWidget(window.designer)
    window.designer.stack.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.designer.stack)
    window.document.insert_layer(0, "BatchNorm")
    press(K.Key_Z, CTRL)
    assert window.document.spec.layers[0].type != "BatchNorm"
    assert window.gan_document.spec.latent_size == 10


def test_save_then_open_round_trip(window, qtbot, monkeypatch, tmp_path):
    gan = window.gan_document
    path = tmp_path / "mine.json"
    asked = answer_dialogs(monkeypatch, save_path=tmp_path / "mine")
    type_into(qtbot, window.gan_design.latent_edit, "100")
    qtbot.mouseClick(window.gan_design.conditional_box, LEFT)
    saved = gan.spec
    press_on = window.gan_design.designers["generator"].stack
    focus(qtbot, press_on)
    qtbot.keyClick(press_on, K.Key_S, CTRL)  # no file yet: Save asks for a name (".json" is added)
    assert asked == ["save"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json", "settings"]  # no temporary file left
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "gan" and data["latent_size"] == 100 and data["conditional"] is True
    assert GanSpec.load(path) == saved and gan.path == path
    assert not gan.modified and not window.isWindowModified() and window.windowTitle().startswith("mine.json")
    with pytest.raises(DesignError, match="not a classifier"):
        load_design(path)  # the classifier loader refuses it: the design file is a GAN's

    gan.use_preset("gan-mlp")
    qtbot.keyClick(press_on, K.Key_S, CTRL)  # now it saves to that file without asking
    assert asked == ["save"] and GanSpec.load(path) == GAN_PRESETS["gan-mlp"].spec
    gan.reset(GAN_PRESETS["dcgan"].spec)
    assert window.open_file(path)
    assert gan.spec == GAN_PRESETS["gan-mlp"].spec and gan.path == path and not gan.modified


def test_a_gan_file_opened_from_the_design_tab_lands_in_the_gan_design(window, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "conditional.json"
    GAN_PRESETS["cgan"].spec.save(path)
    window.tabs.setCurrentWidget(window.designer)
    classifier = window.document.spec
    asked = answer_dialogs(monkeypatch, open_path=path)
    window.designer.stack.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.designer.stack)
    qtbot.keyClick(window.designer.stack, K.Key_O, CTRL)
    assert asked == ["open"] and not window.errors
    assert window.gan_document.spec == GAN_PRESETS["cgan"].spec and window.gan_document.path == path
    assert window.document.spec is classifier and window.document.path is None
    assert window.tabs.currentWidget() is window.gan_area and window.gan_design.isVisible()  # the GAN design is shown
    assert window.gan_design.conditional_box.isChecked() and window.windowTitle().startswith("conditional.json")
    assert window.recent_files()[0] == str(path.resolve())


def test_a_classifier_file_opened_on_the_gan_tab_goes_to_the_classifier(window, tmp_path):
    path = tmp_path / "lenet.json"
    PRESETS["lenet5"].spec.save(path)
    gan = window.gan_document.spec
    assert window.open_file(path)
    assert window.document.spec == PRESETS["lenet5"].spec and window.gan_document.spec is gan
    assert window.tabs.currentWidget() is window.designer  # the design that changed is shown


def test_ctrl_n_on_the_gan_tab_shows_the_new_classifier_design(window, qtbot):
    gan = window.gan_document.spec
    stack = window.gan_design.designers["generator"].stack
    focus(qtbot, stack)
    qtbot.keyClick(stack, K.Key_N, CTRL)
    assert window.document.spec.layers == () and window.tabs.currentWidget() is window.designer
    assert window.gan_document.spec is gan


@pytest.mark.parametrize("content, says", [
    ({"kind": "gan", "format_version": 1, "latent_size": 5000, "generator": [], "discriminator": []},
     "'latent_size' must be a whole number from 1 to 1024; got 5000"),
    ({"kind": "gan", "format_version": 9, "latent_size": 64, "generator": [], "discriminator": []},
     "unknown format_version 9"),
    ({"kind": "gan", "format_version": 1, "latent_size": 64, "discriminator": []},
     "'generator' is missing; it must be a list of layers"),
    ({"kind": "gan", "format_version": 1, "latent_size": 64, "generator": [{"type": "Conv9d", "params": {}}],
      "discriminator": []}, "Conv9d"),
])
def test_a_bad_gan_file_says_what_is_wrong_and_the_design_stays(window, tmp_path, content, says):
    gan = window.gan_document
    gan.set_latent_size(32)  # an edit: there is an undo history and unsaved work to keep
    before, history = gan.spec, gan.undo_stack.count()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    assert window.open_file(path) is False
    (title, message), = window.errors
    assert title == "Cannot open GAN design" and says in message and str(path) in message
    assert gan.spec is before and gan.undo_stack.count() == history and gan.modified and gan.path is None


def test_new_gan_menu_lists_the_presets_and_starts_one(window):
    titles = {name: action.text() for name, action in window.gan_preset_actions.items()}
    assert titles == {p.name: f"{p.name} — {p.tagline}" for p in GAN_PRESETS.values()}
    file_menu = window.menuBar().actions()[0].menu()
    assert "New &GAN" in [a.text() for a in file_menu.actions()]
    window.tabs.setCurrentWidget(window.designer)
    window.new_gan("cgan")
    assert window.gan_document.spec == GAN_PRESETS["cgan"].spec and not window.gan_document.modified
    assert window.tabs.currentWidget() is window.gan_area and window.gan_design.isVisible()


def test_closing_asks_about_unsaved_gan_changes(window, qtbot):
    asked = []

    def ask():
        asked.append(window._asking_about.title)
        return QMessageBox.StandardButton.Cancel

    window.ask_save_changes = ask
    type_into(qtbot, window.gan_design.name_edit, "keep me")
    assert not window.close()
    assert asked == ["keep me"] and window.isVisible()
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    assert window.close()


def test_unsaved_gan_changes_can_be_saved_when_asked(window, qtbot, monkeypatch, tmp_path):
    answer_dialogs(monkeypatch, save_path=tmp_path / "kept.json")
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Save
    window.gan_document.set_latent_size(16)
    window.new_gan("dcgan")  # asks first; Save writes the GAN design, then the preset comes
    assert GanSpec.load(tmp_path / "kept.json").latent_size == 16
    assert window.gan_document.spec == GAN_PRESETS["dcgan"].spec


def test_the_designer_keys_work_inside_a_gan_stack(window, qtbot):
    gan = window.gan_design
    designer = gan.designers["generator"]
    assert types(window.gan_document.spec.generator)[:3] == ["Linear", "BatchNorm", "ReLU"]  # dcgan
    click_row(qtbot, designer, 1)
    qtbot.keyClick(designer.stack, K.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert types(window.gan_document.spec.generator)[:3] == ["Linear", "ReLU", "BatchNorm"]
    qtbot.keyClick(designer.stack, K.Key_Insert)  # to the palette: type a name, Enter adds it
    qtbot.waitUntil(lambda: QApplication.focusWidget() is designer.palette)
    qtbot.keyClicks(designer.palette, "drop")
    qtbot.keyClick(designer.palette, K.Key_Return)
    assert types(window.gan_document.spec.generator)[3] == "Dropout"
    assert window.document.undo_stack.count() == 0  # the classifier design is untouched
    focus(qtbot, designer.stack)
    qtbot.keyClick(designer.stack, K.Key_Tab, CTRL)  # the next stack's tab
    assert gan.current_stack() == "discriminator"
