"""The Train and Evaluate areas driven through the window, on a few hundred real MNIST images."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt, QThreadPool

from playground.core import PRESETS
from playground.core.config import TrainConfig
from playground.ui.main_window import MainWindow

SMALL = dict(epochs=1, limit=1000, test_limit=1000, batch_size=16, device="cpu", optimizer="adam", lr=0.003,
             val_fraction=0.2)


@pytest.fixture
def window(ready_window):
    ready_window.tabs.setCurrentWidget(ready_window.train_area)
    return ready_window


def set_config(window, **changes):
    window.train_area.form.set_config(TrainConfig(**{**SMALL, **changes}))


def kinds(entry):
    return [e["type"] for e in entry.events]


def test_train_one_epoch_then_evaluate(window, qtbot, monkeypatch):
    import playground.ui.train_area as train_area

    monkeypatch.setattr(train_area, "TEXT_INTERVAL", 1e9)  # the bar's 1 Hz updates: only the first one here
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window)
    assert area.start_button.isEnabled()
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
        assert not area.start_button.isEnabled() and area.stop_button.isEnabled()
        assert not area.form.isEnabled()
    entry = blocker.args[0]
    assert entry.status == "completed"
    assert area.plots.point_count("train") >= 1 and area.plots.point_count("val_acc") == 1
    x, y = area.plots.items["train"].getData()
    assert len(x) == area.plots.point_count("train")  # the curve items hold the points
    assert area.start_button.isEnabled() and area.form.isEnabled()
    assert "Completed: test accuracy" in area.banner.text()
    assert area.progress.value() == area.progress.maximum()  # the bar ends full, whenever its last update was

    # The Evaluate area shows the engine's own figures.
    evaluation = entry.evaluation
    assert evaluation.accuracy > 0.75 and evaluation.count == 1000
    ev_area = window.evaluate_area
    assert ev_area.accuracy.text() == f"Test accuracy {evaluation.accuracy:.2%}"
    assert ev_area.table.rowCount() == 10
    assert ev_area.table.item(3, 1).text() == f"{evaluation.per_class[3].precision:.3f}"
    assert ev_area.table.item(3, 2).text() == f"{evaluation.per_class[3].recall:.3f}"
    # The test images load in the background (training ran in another process).
    qtbot.waitUntil(lambda: ev_area.shown_count == min(len(evaluation.misclassified), 200), timeout=120_000)
    # Click the cell of true 7 predicted 7: its images appear.
    ev_area.matrix.resize(400, 400)
    cell = ev_area.matrix.cell_rect(7, 7).center()
    qtbot.mouseClick(ev_area.matrix, Qt.MouseButton.LeftButton, pos=QPoint(cell.x(), cell.y()))
    assert ev_area.shown_count == min(evaluation.confusion[7][7], 200)
    assert ev_area.gallery.item(0).text() == "7 → 7"

    # A cell clicked while the images still load stays chosen once they arrive.
    images = ev_area.images
    ev_area.show_run(entry)
    qtbot.mouseClick(ev_area.matrix, Qt.MouseButton.LeftButton, pos=QPoint(cell.x(), cell.y()))
    assert ev_area.shown_count == 0 and "loading the images" in ev_area.images_label.text()
    ev_area.set_images(images)
    assert ev_area.shown_count == min(evaluation.confusion[7][7], 200)
    assert ev_area.images_label.text().startswith("<b>True 7, correctly classified</b>")


def test_the_design_is_a_snapshot(window, qtbot):
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window, epochs=2)
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        area.start()
        window.document.insert_layer(1, "Dropout")  # an edit during the run
        assert "snapshot" in area.snapshot_label.text()
    assert blocker.args[0].spec == PRESETS["mlp-300"].spec
    assert blocker.args[0].status == "completed"


def test_pause_and_resume(window, qtbot):
    area = window.train_area
    window.new_from_preset("fast-cnn")
    set_config(window, epochs=3, limit=3000, test_limit=3000, batch_size=8)
    area.start()
    qtbot.waitUntil(lambda: area.plots.point_count("train") > 0, timeout=120_000)
    qtbot.mouseClick(area.pause_button, Qt.MouseButton.LeftButton)
    assert area.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: "paused" in kinds(window.library.current), timeout=120_000)
    paused = next(e for e in window.library.current.events if e["type"] == "paused")
    assert area.progress.value() == paused["step"]  # the bar shows where it paused, as the text does
    assert f"step {paused['step']:,}/" in area.progress.format()
    points = len(window.library.current.events)
    qtbot.wait(400)  # time for a step that must not come
    qtbot.mouseClick(area.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "resumed" in kinds(window.library.current), timeout=120_000)
    qtbot.waitUntil(lambda: len(window.library.current.events) > points + 1, timeout=120_000)
    after = kinds(window.library.current)[kinds(window.library.current).index("paused") + 1:]
    assert after[0] == "resumed" and len(after) > 1  # nothing happened while paused, then it went on
    with qtbot.waitSignal(window.library.run_finished, timeout=120_000):
        area.stop()


def test_stop_mid_run_keeps_the_weights(window, qtbot):
    area = window.train_area
    window.new_from_preset("fast-cnn")
    set_config(window, epochs=50, limit=2000, test_limit=2000, batch_size=16)
    area.start()
    qtbot.waitUntil(lambda: "epoch" in kinds(window.library.current), timeout=120_000)
    with qtbot.waitSignal(window.library.run_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(area.stop_button, Qt.MouseButton.LeftButton)
    entry = blocker.args[0]
    assert entry.status == "stopped"
    assert (entry.path / "weights_last.safetensors").is_file()
    assert entry.evaluation is not None and entry.evaluation.accuracy > 0.5
    assert "Stopped: test accuracy" in area.banner.text()


def test_huge_learning_rate_shows_the_message_and_resets_controls(window, qtbot):
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window, optimizer="sgd", lr=50.0, momentum=0.9, loss="mse", epochs=2)
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        area.start()
    assert blocker.args[0].status == "failed"
    assert area.banner.isVisible()
    assert "learning rate (50) is probably too high" in area.banner.text()
    assert area.start_button.isEnabled() and area.form.isEnabled() and not area.stop_button.isEnabled()


def test_invalid_design_cannot_start(window):
    window.new_design()  # empty: no layers
    set_config(window)
    assert not window.train_area.start()
    assert "Cannot start" in window.train_area.banner.text()
    assert window.train_area.start_button.isEnabled()


def test_runs_list_compare_and_continue(window, qtbot):
    area = window.train_area
    window.new_from_preset("mlp-300")
    set_config(window)
    for lr in (0.003, 0.01):
        set_config(window, lr=lr)
        with qtbot.waitSignal(window.library.run_finished, timeout=240_000):
            area.start()
    top = [area.run_list.topLevelItem(i) for i in range(2)]
    assert top[0].text(1).startswith("adam lr 0.01") and top[1].text(1).startswith("adam lr 0.003")
    for item in top:
        item.setSelected(True)
    assert len(area.plots._overlays) >= 2  # the other run's curves, dashed
    # Continue the newest run for one more epoch from its weights and optimizer state.
    area.run_list.clearSelection()
    top[0].setSelected(True)
    assert area.continue_button.isEnabled()
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.mouseClick(area.continue_button, Qt.MouseButton.LeftButton)
    continued = blocker.args[0]
    assert continued.label.startswith("mlp-300 · adam 0.01") and continued.label.endswith(" (continued)")
    assert continued.status == "completed"
    first_loss = next(e for e in continued.events if e["type"] == "progress")["train_loss"]
    assert first_loss < 0.6  # starts from trained weights, not from scratch (about 2.3)


def test_runs_on_disk_are_listed(qtbot):
    """Run folders written before the window opens are listed with their design and status."""
    from playground.core.paths import runs_dir
    from playground.core.runs import RunWriter, new_run_dir

    written = {}
    for name, status, accuracy in (("listed-one", "completed", 0.91), ("listed-two", "stopped", 0.42)):
        path = new_run_dir(runs_dir(), name)
        writer = RunWriter(path, PRESETS["mlp-300"].spec.renamed(name), TrainConfig(**SMALL))
        writer.write_summary(status=status, test_accuracy=accuracy)
        writer.close()
        written[path] = (name, status)
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    listed = {r.path: (r.spec.name, r.status) for r in window.library.runs if r.path in written}
    assert listed == written
    items = [area.run_list.topLevelItem(i) for i in range(area.run_list.topLevelItemCount())]
    shown = {window.library.runs[item.data(0, Qt.ItemDataRole.UserRole)].path for item in items}
    assert set(written) <= shown  # in the list widget too, not only in the model
    window.train_area.shutdown()


@pytest.mark.parametrize("worker", ["stops by itself", "is killed"])
def test_close_during_training_stops_cleanly(qtbot, qtlog, monkeypatch, worker):
    """Closing does not wait for the worker on the GUI thread: it asks the worker to stop, and the
    window closes once the worker has ended; a worker that does not stop in time is killed."""
    import playground.ui.main_window as main_window

    monkeypatch.setattr(main_window, "STOP_BEFORE_KILL_MS", 10**9 if worker == "stops by itself" else 0)
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    window.ask_stop_training = lambda: True  # the answer to "Stop it and close?"
    window.new_from_preset("tutorial-cnn")
    window.train_area.form.set_config(TrainConfig(**{**SMALL, "epochs": 50, "limit": 3000, "test_limit": 3000,
                                                     "batch_size": 8}))
    window.train_area.start()
    qtbot.waitUntil(lambda: window.train_area.plots.point_count("train") > 0, timeout=120_000)
    runner = window.train_area.runner
    with qtbot.waitSignal(runner.finished, timeout=120_000):
        window.close()
        assert runner.running and window.isVisible()  # close() returned without waiting for the worker
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert runner.process.proc.poll() is not None  # the worker process is gone
    if worker == "stops by itself":
        assert window.library.current.status == "stopped"
    assert window.train_area._spare is None  # no worker left behind either
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    warnings = [r for r in qtlog.records if r.type.name in ("QtWarningMsg", "QtCriticalMsg")
                and "propagateSizeHints" not in r.message]
    assert warnings == []


def test_the_worker_process_starts_when_the_train_area_is_shown(qtbot):
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.designer)
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    assert window.train_area._spare is None  # only designing: no second process
    window.tabs.setCurrentWidget(window.train_area)
    assert window.train_area._spare is not None and window.train_area._spare.alive
    window.close()
    assert window.train_area._spare is None


def test_the_form_edits_every_setting(window):
    import dataclasses

    form = window.train_area.form
    assert set(form.editors) == {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.8, nesterov=True, schedule="step", step_epochs=2,
                         gamma=0.3, batch_size=48, epochs=4, augment=True, max_shift=3.0, max_rotation=15.0,
                         max_scale=0.2, seed=7, limit=5000, test_limit=5000, val_fraction=0.2, weight_decay=0.001,
                         device="cpu")
    form.set_config(config)
    assert form.config() == config
    assert form.form.isRowVisible(form.editors["max_rotation"]) and form.form.isRowVisible(form.editors["gamma"])
    assert not form.form.isRowVisible(form.editors["beta1"])  # an Adam setting, hidden for SGD
    assert all(form.editors[name].toolTip() for name in form.editors)


def test_runs_on_disk_are_listed_without_their_logs_until_selected(qtbot):
    from playground.core.paths import runs_dir
    from playground.core.runs import new_run_dir
    from playground.core.train import train

    path = new_run_dir(runs_dir(), "from-disk")
    train(PRESETS["mlp-300"].spec, TrainConfig(**SMALL), run_dir=path)
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    area = window.train_area
    (entry,) = [r for r in window.library.runs if r.path == path]
    assert not entry.events_loaded and entry.status == "completed"
    index = window.library.runs.index(entry)
    item = next(area.run_list.topLevelItem(i) for i in range(area.run_list.topLevelItemCount())
                if area.run_list.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == index)
    item.setSelected(True)
    assert entry.events and area.plots.point_count("val_acc") == 1
    window.train_area.shutdown()


def test_killed_and_unreadable_runs_on_disk(qtbot, tmp_path, monkeypatch):
    """A run whose process is gone is listed as interrupted; a folder that cannot be read is not
    listed, and the banner says why."""
    import json

    from playground.core.runs import new_run_dir
    from playground.core.train import train

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path))  # these folders stay out of other tests' lists
    killed = new_run_dir(tmp_path / "runs", "killed")
    train(PRESETS["mlp-300"].spec, TrainConfig(**SMALL), run_dir=killed)
    summary = json.loads((killed / "run.json").read_text())
    (killed / "run.json").write_text(json.dumps({**summary, "status": "running"}))  # as a killed run leaves it
    (killed / "evaluation.json").write_text("{\"accuracy\": 0.9")  # and a file cut short
    broken = new_run_dir(tmp_path / "runs", "broken")
    (broken / "design.json").write_bytes((killed / "design.json").read_bytes())
    (broken / "config.json").write_text(json.dumps({"epochs": "many"}))
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    area = window.train_area
    (entry,) = window.library.runs
    assert entry.path == killed and entry.status == "interrupted" and entry.evaluation is None
    item = area.run_list.topLevelItem(0)
    assert item.text(3) == "interrupted"
    assert not area.banner.isHidden() and area.banner.text().startswith(
        f"1 saved run folder could not be read and are not listed: {broken}: its config.json cannot be read")
    window.train_area.shutdown()


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="needs prlimit (Linux)")
def test_a_training_whose_writes_fail_shows_why(window, qtbot, monkeypatch, mnist):  # MNIST extracted first
    """The worker's files may not grow past 500 kB (as on a full disk): the weights cannot be written."""
    import resource

    from playground.core.worker import TrainingProcess

    area = window.train_area

    def limited_process():
        process = TrainingProcess()
        resource.prlimit(process.proc.pid, resource.RLIMIT_FSIZE, (500_000, 500_000))
        return process

    monkeypatch.setattr(area, "_take_process", limited_process)
    window.new_from_preset("mlp-300")
    set_config(window)
    with qtbot.waitSignal(window.library.run_finished, timeout=60_000) as blocker:
        area.start()
    entry = blocker.args[0]
    message = (f"cannot write weights_last.safetensors to the run folder {entry.path}: File too large; no "
               f"weights had been saved yet")
    assert entry.status == "failed" and entry.summary["message"] == message
    assert area.banner.isVisible() and area.banner.text() == f"Training failed: {message}"
    assert area.start_button.isEnabled()
