"""The window's run library: its signals during a real training, the views that mirror it (Train's
run list, Draw's model chooser, Export, Evaluate), and runs found on disk. On a few hundred real
MNIST images."""

from __future__ import annotations

from PySide6.QtCore import Qt

from playground.core import PRESETS, NetworkSpec
from playground.core import make_layer as L
from playground.core.config import TrainConfig
from playground.core.runs import BEST_WEIGHTS, LAST_WEIGHTS, RunWriter, new_run_dir

MLP = NetworkSpec((L("Flatten"), L("Linear", out_features=64), L("ReLU"), L("Linear", out_features=10)),
                  name="mlp-64")


def record(library):
    """The library's signals as (name, run) pairs, in the order they fire."""
    fired = []
    for name in ("run_added", "run_updated", "epoch_finished", "run_finished"):
        getattr(library, name).connect(lambda run, name=name: fired.append((name, run)))
    return fired


def test_signals_of_a_training_run_through_the_window(own_data_folder, ready_window, qtbot):
    window = ready_window
    library, area = window.library, window.train_area
    window.tabs.setCurrentWidget(area)
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(epochs=2, limit=600, test_limit=600, batch_size=32, device="cpu", lr=0.003))
    fired = record(library)
    with qtbot.waitSignal(library.run_finished, timeout=240_000):
        qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
        assert [name for name, _ in fired] == ["run_added"]  # at once, before any event
        run = fired[0][1]
        assert library.current is run and library.training is run and run.status == "running"
        assert area.run_list.topLevelItem(0).text(3) == "running"
    assert [name for name, _ in fired] == ["run_added", "epoch_finished", "epoch_finished", "run_updated",
                                           "run_finished"]
    assert all(r is run for _, r in fired)
    assert run.status == "completed" and run.has_best_weights and run.can_continue
    assert library.training is None and library.runs == [run]
    # The views mirror it: the run list, Export, Evaluate and the Draw area's chooser.
    assert area.run_list.topLevelItemCount() == 1 and area.run_list.topLevelItem(0).text(3) == "completed"
    assert area.run_list.topLevelItem(0).text(2) == f"{run.test_accuracy:.2%}"
    assert window.exportable_runs() == [run] and window.export_action.isEnabled()
    assert window.evaluate_area.run is run
    assert window.draw_area.index_of("run", str(run.path)) > 0


def test_the_draw_area_follows_the_library(qtbot, tmp_path):
    """A run fed into the library (events of a real training replayed) is offered while it trains,
    followed epoch by epoch, and offered by its best weights once it has ended."""
    from playground.core.data import load_dataset
    from playground.core.train import train
    from playground.ui.draw_area import DrawArea
    from playground.ui.run_library import RunLibrary

    path = tmp_path / "run"
    config = TrainConfig(epochs=2, batch_size=32, device="cpu", lr=0.003)
    data = load_dataset("mnist", val_fraction=0.2, seed=0, limit=300, test_limit=300)
    events, _ = train(MLP, config, data=data, run_dir=path)
    library = RunLibrary()
    draw = DrawArea(library)
    qtbot.addWidget(draw)
    draw.show()
    draw.set_torch_ready()
    run = library.begin_run(MLP, config, path)
    following = f"Training now: {run.label} (follows each epoch)"
    assert draw.model_box.findText(following) > 0
    draw.model_box.setFocus()
    while draw.model_box.currentText() != following:
        qtbot.keyClick(draw.model_box, Qt.Key.Key_Down)
    assert draw.follow_path == path
    loads = []
    original = draw.load_model
    draw.load_model = lambda p, which=None: loads.append(which) or original(p, which)
    for event in events[:-1]:
        library.add_event(run, event)
    assert loads == ["last", "last"]  # once an epoch
    assert draw.classifier.source == str(path) and draw.classifier.spec == MLP
    library.add_event(run, events[-1])  # finished: no longer training, its best weights are offered
    library.finish_run(run)
    assert draw.model_box.findText(following) < 0
    assert draw.model_box.currentData() == ("run", str(path)) and draw.follow_path is None
    assert draw.classifier.source == str(path / BEST_WEIGHTS)


def write_run(name: str, status: str = "completed", weights: bool = True):
    from playground.core.build import build_model
    from playground.core.paths import runs_dir

    spec = PRESETS["mlp-300"].spec.renamed(name)
    path = new_run_dir(runs_dir(), name)
    writer = RunWriter(path, spec, TrainConfig(epochs=1, limit=600, test_limit=600))
    if weights:
        writer.save_weights("best", build_model(spec).state_dict())
    writer.write_summary(status=status, test_accuracy=0.5)
    writer.close()
    return path


def test_runs_on_disk_appear_in_every_view(own_data_folder, qtbot):
    from playground.ui.main_window import MainWindow

    exportable = write_run("on-disk")
    no_weights = write_run("no-weights", status="stopped", weights=False)
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.show()
    fired = record(window.library)
    window._torch_loaded("CPU", 0.0, ["cpu"])
    assert sorted(run.path for name, run in fired if name == "run_added") == sorted([exportable, no_weights])
    (run,) = [r for r in window.library.runs if r.path == exportable]
    assert run.label == "on-disk · adam 0.001 · 1 ep · 600 images"
    assert run.status == "completed" and not run.events_loaded
    texts = {window.train_area.run_list.topLevelItem(i).text(0)
             for i in range(window.train_area.run_list.topLevelItemCount())}
    # design and settings
    assert texts == {"on-disk · adam 0.001 · 1 ep · 600 images", "no-weights · adam 0.001 · 1 ep · 600 images"}
    assert window.exportable_runs() == [run]  # only the run with best weights
    assert window.draw_area.index_of("run", str(exportable)) > 0
    assert window.draw_area.index_of("run", str(no_weights)) < 0
    # Looking again adds only what is new.
    later = write_run("later")
    assert window.library.load_from_disk() == []
    assert [r.path for r in window.library.runs].count(exportable) == 1
    assert window.library.runs[-1].path == later
    assert window.train_area.run_list.topLevelItem(0).text(0).startswith("later ·")
    assert not (later / LAST_WEIGHTS).exists() and not window.library.runs[-1].can_continue
    window.train_area.shutdown()
