"""The GAN tab's Train view: a bad design cannot start, events fill the sample grid, the curves and
the quality meter, and step mode steps the paused run through the process."""

from __future__ import annotations

import base64
import queue
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, Signal

from playground.core.gan_spec import GAN_PRESETS, GanSpec
from playground.core.events import decode_samples

pytestmark = pytest.mark.usefixtures("own_data_folder")


class StandInDocument(QObject):
    """What the GAN tab needs of a GanDocument: ``spec`` and ``spec_changed``."""

    spec_changed = Signal()

    def __init__(self, spec: GanSpec):
        super().__init__()
        self.spec = spec

    def set_spec(self, spec: GanSpec) -> None:
        self.spec = spec
        self.spec_changed.emit()


# -- events made by hand, as gan-common.md gives them ------------------------------------------------


def start_event(steps_per_epoch=10, epochs=2):
    return {"type": "start", "epochs": epochs, "steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * epochs, "batch_size": 64, "train_size": 640, "val_size": 0,
            "test_size": 0, "device": "cpu", "parameters": 420_000}


def gan_progress(step, d_loss, g_loss, d_real, d_fake, epoch=1):
    return {"type": "gan_progress", "epoch": epoch, "step": step, "d_loss": d_loss, "g_loss": g_loss,
            "d_real": d_real, "d_fake": d_fake}


def sample_images(count=64, offset=0):
    """Images that tell each other apart: image i is filled with (3 i + offset) % 256, with a white bar."""
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for i in range(count):
        images[i] = (3 * i + offset) % 256
        images[i, 10:18, 13:15] = 255
    return images


def samples_event(images, digits=None, step=5):
    return {"type": "samples", "epoch": 1, "step": step, "count": len(images),
            "pixels": base64.b64encode(images.tobytes()).decode("ascii"), "digits": digits}


def quality_event(histogram, missing, message, epoch=1, confident=0.42, frechet=31.5, digit_accuracy=None,
                  warnings=()):
    return {"type": "quality", "epoch": epoch, "count": 1000, "confident_share": confident,
            "histogram": histogram, "frechet": frechet, "missing": missing, "message": message,
            "digit_accuracy": digit_accuracy, "warnings": list(warnings)}


def plotted(curves, key):
    """The points a curve item holds (what it draws, before clipping to the view)."""
    item = curves.items[key]
    return (np.asarray(item.xData if item.xData is not None else []),
            np.asarray(item.yData if item.yData is not None else []))


def make_view(qtbot, spec=None, process_factory=None):
    from playground.ui.gan_train import GanTrainView
    from playground.ui.run_library import RunLibrary

    document = StandInDocument(spec or GAN_PRESETS["gan-mlp"].spec)
    view = GanTrainView(document, RunLibrary(), process_factory=process_factory)
    qtbot.addWidget(view, before_close_func=lambda v: v.shutdown())  # no worker left behind a failure
    view.resize(1280, 800)
    view.show()
    view.set_torch_ready(["cpu"])
    return view, document


# -- a design with problems ------------------------------------------------------------------------


def test_a_bad_design_cannot_start_and_the_message_names_the_stack(qtbot):
    good = GAN_PRESETS["gan-mlp"].spec
    bad = replace(good, generator=good.generator[:-1])  # no Unflatten: ends at 784 values, not an image
    view, document = make_view(qtbot, bad)
    assert not view.start_button.isEnabled()
    assert view.banner.text.startswith("Cannot start: The generator: ")
    assert "1x28x28" in view.banner.text
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.runner is None

    document.set_spec(good)
    assert view.start_button.isEnabled()
    assert view.banner.text == ""

    no_score = replace(good, discriminator=good.discriminator[:-1])  # ends at 256 values
    document.set_spec(no_score)
    assert not view.start_button.isEnabled()
    assert "The discriminator: " in view.banner.text and "one score" in view.banner.text


def test_the_form_starts_with_the_presets_settings_and_gives_a_config(qtbot):
    view, _ = make_view(qtbot, GAN_PRESETS["dcgan"].spec)
    train = GAN_PRESETS["dcgan"].train
    values = view.form.values()
    assert values["lr"] == train["lr"] and values["batch_size"] == train["batch_size"]
    assert (values["beta1"], values["beta2"]) == (train["beta1"], train["beta2"]) == (0.5, 0.999)
    assert values["epochs"] == train["epochs"]
    view.form.editors["epochs"].setValue(1)
    view.form.editors["limit"].setValue(256)
    config = view.form.config()
    assert (config.optimizer, config.epochs, config.limit, config.batch_size) == ("adam", 1, 256, train["batch_size"])


def test_opening_another_gan_preset_takes_its_settings_and_the_button_says_what_it_set(qtbot):
    view, document = make_view(qtbot, GAN_PRESETS["dcgan"].spec)
    view.form.editors["seed"].setValue(7)
    document.set_spec(GAN_PRESETS["cgan"].spec)
    values = view.form.values()
    recipe = GAN_PRESETS["cgan"].train
    assert (values["batch_size"], values["epochs"]) == (recipe["batch_size"], recipe["epochs"])
    assert values["seed"] == 7  # the seed is the user's, not the recipe's
    assert view.banner.text.startswith(f"Settings set to those recommended for cgan: Adam, learning rate "
                                       f"{recipe['lr']:g}")
    view.form.editors["batch_size"].setValue(100)
    qtbot.mouseClick(view.recommended_button, Qt.MouseButton.LeftButton)
    assert view.form.values()["batch_size"] == recipe["batch_size"]


# -- events fill the live views ----------------------------------------------------------------------


def test_events_fill_the_grid_the_curves_and_the_quality_meter(qtbot):
    view, _ = make_view(qtbot)
    view.on_event(start_event(steps_per_epoch=10))
    for step, (d_loss, g_loss, d_real, d_fake) in enumerate([(1.3, 0.7, 0.52, 0.48), (1.1, 0.9, 0.61, 0.40),
                                                             (0.9, 1.2, 0.70, 0.31)], start=1):
        view.on_event(gan_progress(step * 2, d_loss, g_loss, d_real, d_fake))
    images = sample_images()
    view.on_event(samples_event(images))
    qtbot.waitUntil(lambda: len(plotted(view.curves, "d_loss")[0]) == 3)  # the redraw timer's

    assert np.array_equal(view.grid.images, images)
    assert view.grid.labels is None  # not conditional: no digit beside the rows
    x, y = plotted(view.curves, "d_loss")
    assert np.allclose(x, [0.2, 0.4, 0.6]) and np.allclose(y, [1.3, 1.1, 0.9])
    assert np.allclose(plotted(view.curves, "g_loss")[1], [0.7, 0.9, 1.2])
    assert np.allclose(plotted(view.curves, "d_real")[1], [0.52, 0.61, 0.70])
    assert np.allclose(plotted(view.curves, "d_fake")[1], [0.48, 0.40, 0.31])
    assert view.curves.half_line.value() == 0.5

    histogram = [150, 120, 110, 130, 100, 90, 140, 0, 80, 80]
    message = "Mode collapse: the generator makes no 7s (under 3% of the samples)."
    view.on_event(quality_event(histogram, [7], message, warnings=["The discriminator's loss is near 0: "
                                                                   "it wins too easily."]))
    qtbot.waitUntil(lambda: len(plotted(view.quality_curves, "frechet")[0]) == 1)
    rects = view.histogram.bar_rects()
    assert view.histogram.counts == histogram
    assert rects[7].height() == 0  # the missing digit has no bar
    assert rects[0].height() == pytest.approx(max(r.height() for r in rects))
    assert rects[8].height() == pytest.approx(rects[0].height() * 80 / 150)
    assert view.histogram.missing == {7}
    assert view.quality_message.text() == message
    assert "42% of 1,000 samples confident" in view.quality_figures.text()
    assert "Fréchet distance 31.50" in view.quality_figures.text()
    assert view.warning_banner.text == "The discriminator's loss is near 0: it wins too easily."
    assert view.warning_banner.kind == "warning"
    assert plotted(view.quality_curves, "confident")[1].tolist() == [0.42]
    assert plotted(view.quality_curves, "frechet")[1].tolist() == [31.5]

    view.on_event(quality_event([100] * 10, [], "", epoch=2, confident=0.8, frechet=12.0))
    qtbot.waitUntil(lambda: len(plotted(view.quality_curves, "frechet")[0]) == 2)
    assert plotted(view.quality_curves, "frechet")[1].tolist() == [31.5, 12.0]
    assert view.quality_message.text() == "Every digit is there."
    assert view.warning_banner.text == ""  # no warnings this epoch: the banner goes

    finished = {"type": "finished", "status": "completed", "message": "Training finished.", "epochs": 2,
                "epochs_completed": 2, "steps": 20, "train_seconds": 12.5, "samples_per_second": 100.0,
                "test_accuracy": None, "test_loss": None, "best_epoch": 2, "best_val_accuracy": None,
                "device": "cpu", "run_dir": None,
                "quality": {"confident_share": 0.8, "frechet": 12.0, "message": "", "histogram": [100] * 10}}
    view.on_event(finished)
    assert view.banner.text == ("Completed after 12.5 s of training; 80% of the samples confident, Fréchet "
                                "distance 12.00.") and view.banner.kind == "success"
    finished["quality"]["message"] = message
    view.on_event(finished)
    assert view.banner.text.endswith("Fréchet distance 12.00. " + message) and view.banner.kind == "warning"


def test_a_conditional_runs_grid_is_labelled_by_digit_and_shows_its_digit_accuracy(qtbot):
    view, _ = make_view(qtbot, GAN_PRESETS["cgan"].spec)
    view.on_event(start_event())
    digits = [row for row in range(8) for _ in range(8)]
    view.on_event(samples_event(sample_images(), digits))
    assert view.grid.labels == [str(d) for d in range(8)]
    # Ten of each digit: ten columns, a row per digit.
    digits = [d for d in range(10) for _ in range(10)]
    view.on_event(samples_event(sample_images(100), digits))
    assert view.grid.columns == 10 and view.grid.labels == [str(d) for d in range(10)]
    # Digits that do not come in rows: no row labels rather than wrong ones.
    view.on_event(samples_event(sample_images(64), [i % 10 for i in range(64)]))
    assert view.grid.columns == 8 and view.grid.labels is None
    view.on_event(quality_event([100] * 10, [], "", digit_accuracy=0.931))
    assert "The asked digit seen in 93.1%" in view.quality_figures.text()


def test_a_samples_event_that_lies_about_its_size_is_refused_with_a_message(qtbot):
    view, _ = make_view(qtbot)
    event = samples_event(sample_images(64))
    event["count"] = 65
    view.on_event(event)
    assert len(view.grid.images) == 0
    assert view.warning_banner.text.startswith("Samples could not be shown")
    with pytest.raises(ValueError):
        decode_samples(event)


# -- step mode ---------------------------------------------------------------------------------------


class FakeProcess:
    """A stand-in for TrainingProcess: it records the calls, and its run answers them with the events
    the worker would send (the step answers only while paused, as the worker does)."""

    def __init__(self):
        self.paused = False
        self.alive = True
        self.calls: list = []
        self.commands: queue.Queue = queue.Queue()
        self.job = None

    def pause(self):
        self.paused = True
        self.calls.append("pause")
        self.commands.put("pause")

    def resume(self):
        self.paused = False
        self.calls.append("resume")
        self.commands.put("resume")

    def stop(self, evaluate=True):
        self.paused = False
        self.calls.append("stop")
        self.commands.put("stop")

    def step(self, which):
        self.calls.append(("step", which))
        self.commands.put(which)

    def kill(self):
        self.alive = False
        self.commands.put("stop")

    def run(self, job):
        self.job = job
        yield start_event()
        yield gan_progress(1, 1.2, 0.8, 0.55, 0.45)
        step, worker_paused = 1, False
        while True:
            command = self.commands.get(timeout=60)
            if command in ("pause", "resume"):
                worker_paused = command == "pause"
                yield {"type": "paused" if worker_paused else "resumed", "epoch": 1, "step": step}
            elif command in ("discriminator", "generator") and worker_paused:
                step += 1
                d_real = 0.7 if command == "discriminator" else 0.6
                yield {"type": "gan_step", "which": command, "epoch": 1, "step": step, "d_loss": 0.9,
                       "g_loss": 1.4, "d_real": d_real, "d_fake": 0.3}
                yield samples_event(sample_images(offset=step), step=step)
            elif command == "stop":
                yield {"type": "stopped", "epoch": 1, "step": step}
                yield {"type": "finished", "status": "stopped", "message": "Stopped.", "epochs": 0,
                       "epochs_completed": 0, "steps": step, "train_seconds": 0.5, "samples_per_second": 100.0,
                       "test_accuracy": None, "test_loss": None, "best_epoch": None, "best_val_accuracy": None,
                       "device": "cpu", "run_dir": job["run_dir"], "quality": None}
                self.alive = False
                return


def test_step_buttons_work_only_while_paused_and_step_the_process(qtbot):
    fake = FakeProcess()
    view, _ = make_view(qtbot, process_factory=lambda: fake)
    click = lambda button: qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # noqa: E731
    assert not view.step_d_button.isEnabled() and not view.step_g_button.isEnabled()
    click(view.start_button)
    qtbot.waitUntil(lambda: len(view.curves.buffers["d_loss"].data()[0]) == 1)
    assert fake.job["task"] == "gan" and fake.job["design"]["kind"] == "gan"
    assert fake.job["config"]["optimizer"] == "adam"
    assert not view.step_d_button.isEnabled()  # running: no stepping
    click(view.step_d_button)
    assert not any(isinstance(c, tuple) for c in fake.calls)

    click(view.pause_button)
    qtbot.waitUntil(lambda: view.step_d_button.isEnabled())
    assert view.step_g_button.isEnabled() and view.pause_button.text() == "Resume"
    click(view.step_d_button)
    qtbot.waitUntil(lambda: view.step_label.text().startswith("Discriminator step by hand #1"))
    assert fake.calls[-1] == ("step", "discriminator")
    assert "D(x) 0.550 → 0.700" in view.step_label.text()
    assert "D(G(z)) 0.450 → 0.300" in view.step_label.text()
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, sample_images(offset=2)))  # the samples after it

    click(view.step_g_button)
    qtbot.waitUntil(lambda: view.step_label.text().startswith("Generator step by hand #2"))
    assert fake.calls[-1] == ("step", "generator")
    assert "D(x) 0.700 → 0.600" in view.step_label.text()
    qtbot.waitUntil(lambda: np.array_equal(view.grid.images, sample_images(offset=3)))

    click(view.pause_button)  # Resume
    assert not view.step_d_button.isEnabled() and not view.step_g_button.isEnabled()
    assert fake.calls[-1] == "resume"
    click(view.stop_button)
    qtbot.waitUntil(lambda: not view.training)
    assert view.start_button.isEnabled() and not view.step_d_button.isEnabled()
    assert view.banner.text.startswith("Stopped after 0.5 s")
    assert view.banner.kind == "success"  # no quality figures, so nothing to warn about


def test_keys_d_and_g_step_the_paused_run(qtbot):
    from PySide6.QtWidgets import QApplication

    fake = FakeProcess()
    view, _ = make_view(qtbot, process_factory=lambda: fake)
    qtbot.waitExposed(view)
    view.activateWindow()
    view.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is view)
    qtbot.keyClick(view.start_button, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: len(view.curves.buffers["d_loss"].data()[0]) == 1)
    qtbot.keyClick(view.start_button, Qt.Key.Key_D)  # running: the key does nothing
    qtbot.keyClick(view.pause_button, Qt.Key.Key_F6)
    qtbot.waitUntil(lambda: view.step_d_button.isEnabled())
    assert fake.calls == ["pause"]
    qtbot.keyClick(view.pause_button, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: view.step_label.text().startswith("Discriminator step"))
    qtbot.keyClick(view.pause_button, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: view.step_label.text().startswith("Generator step"))
    assert fake.calls == ["pause", ("step", "discriminator"), ("step", "generator")]
    qtbot.keyClick(view.stop_button, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not view.training)
    assert fake.calls[-1] == "stop"


def test_closing_the_window_stops_the_gan_run_first(ready_window, qtbot):
    fake = FakeProcess()
    window = ready_window
    area = window.gan_area
    area.train_view.process_factory = lambda: fake
    qtbot.mouseClick(window.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=window.tabs.tabBar().tabRect(window.tabs.indexOf(area)).center())
    qtbot.mouseClick(area.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=area.tabs.tabBar().tabRect(area.tabs.indexOf(area.train_view)).center())
    assert area.train_view.isVisible()
    qtbot.mouseClick(area.train_view.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(area.train_view.curves.buffers["d_loss"].data()[0]) == 1)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert fake.calls == ["stop"] and not area.training


# -- a real run through the tab ------------------------------------------------------------------------


def type_into(qtbot, edit, text):
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_a_short_real_gan_run_through_the_tab_ends_with_samples_and_opens_in_the_explorer(qtbot):
    """gan-mlp on 256 real MNIST images for one epoch, in a worker process, as a user starts it."""
    from PySide6.QtWidgets import QLabel

    from playground.core.runs import BEST_WEIGHTS
    from playground.ui.gan_area import GanArea
    from playground.ui.run_library import RunLibrary

    library = RunLibrary()
    area = GanArea(StandInDocument(GAN_PRESETS["gan-mlp"].spec), QLabel("design"), library)
    qtbot.addWidget(area, before_close_func=lambda a: a.shutdown())
    area.resize(1280, 800)
    area.show()
    area.set_torch_ready(["cpu"])
    view = area.train_view
    qtbot.mouseClick(area.tabs.tabBar(), Qt.MouseButton.LeftButton,
                     pos=area.tabs.tabBar().tabRect(area.tabs.indexOf(view)).center())
    type_into(qtbot, view.form.editors["epochs"], "1")
    type_into(qtbot, view.form.editors["limit"], "256")
    assert (view.form.config().epochs, view.form.config().limit) == (1, 256)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert view.training
    qtbot.waitUntil(lambda: not view.training, timeout=180_000)

    assert view.banner.text.startswith("Completed after "), view.banner.text
    # Three steps make no digits yet: the end is a warning that quotes the quality meter's words.
    assert view.banner.kind == "warning" and view.quality_message.text() in view.banner.text
    assert len(view.grid.images) == 64 and view.grid.images.std() > 0  # the fixed noise's samples
    assert sum(view.histogram.counts) == 1000  # the quality meter judged 1,000 samples
    assert len(plotted(view.quality_curves, "confident")[1]) == 1
    x, d_real = plotted(view.curves, "d_real")
    assert len(x) >= 1 and all(0 <= v <= 1 for v in d_real)
    assert (view.run_dir / BEST_WEIGHTS).exists()
    # The run is in the library as a GAN run, and the explorer shows its generator.
    assert [r.path for r in library.runs if getattr(r, "kind", "") == "gan"] == [view.run_dir]
    explore = area.explore_view
    qtbot.waitUntil(lambda: explore.model is not None and len(explore.grid.images) == 64, timeout=20_000)
    assert explore.run_box.currentData() == str(view.run_dir)
    qtbot.mouseClick(view.explore_button, Qt.MouseButton.LeftButton)
    assert area.tabs.currentWidget() is explore


def test_step_mode_on_a_real_paused_run_moves_d_then_g(qtbot):
    """Paused mid-run, discriminator steps change D's scores but not the generator's samples; a
    generator step changes the samples."""
    view, _ = make_view(qtbot)
    type_into(qtbot, view.form.editors["epochs"], "200")
    type_into(qtbot, view.form.editors["limit"], "256")
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(view.curves.buffers["d_loss"].data()[0]) >= 1, timeout=120_000)
    qtbot.mouseClick(view.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.step_d_button.isEnabled(), timeout=60_000)

    def step(button, words):
        shown = view.samples_shown
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: view.step_label.text().startswith(words), timeout=60_000)
        qtbot.waitUntil(lambda: view.samples_shown == shown + 1, timeout=60_000)  # the samples after it
        return view.grid.images.copy()

    first = step(view.step_d_button, "Discriminator step by hand #1")
    assert " → " in view.step_label.text()
    d_fake_after_one = view.curves.buffers["d_fake"].data()[1][-1]
    second = step(view.step_d_button, "Discriminator step by hand #2")
    assert np.array_equal(first, second)  # D learned; the generator, and so its samples, did not change
    assert view.curves.buffers["d_fake"].data()[1][-1] != d_fake_after_one  # D's scores did
    third = step(view.step_g_button, "Generator step by hand #3")
    assert not np.array_equal(second, third)

    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.training, timeout=120_000)
    assert view.banner.text.startswith("Stopped after"), view.banner.text


def test_banners_shown_before_a_switch_to_dark_follow_it(qtbot):
    from PySide6.QtWidgets import QApplication

    from playground.ui import theme

    app = QApplication.instance()
    before = app.palette()
    try:
        view, _ = make_view(qtbot)
        view.on_event(quality_event([100] * 10, [], "", warnings=["The generator's loss keeps climbing."]))
        view.use_recommended()
        light = (view.banner.styleSheet(), view.warning_banner.styleSheet())
        assert theme.color("warning_background", view).name() in light[1]
        app.setPalette(theme.dark_palette())
        qtbot.waitUntil(lambda: theme.is_dark(view))
        assert theme.color("warning_background", view).name() in view.warning_banner.styleSheet()
        assert theme.color("success_background", view).name() in view.banner.styleSheet()
        assert (view.banner.styleSheet(), view.warning_banner.styleSheet()) != light
    finally:
        app.setPalette(before)


def test_the_designers_memory_estimate_follows_the_gan_batch_size(own_data_folder, ready_window, qtbot):
    window = ready_window
    window.new_gan("dcgan")
    stacks = window.gan_document.stacks
    assert stacks["generator"].batch_size == GAN_PRESETS["dcgan"].train["batch_size"]
    edit = window.gan_area.train_view.form.editors["batch_size"]
    edit.selectAll()
    qtbot.keyClicks(edit, "96")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert stacks["generator"].batch_size == 96 and stacks["discriminator"].batch_size == 96
