"""Screenshots of the window for the README and for checking how it looks.

usage: python docs/screenshots.py [OUT_DIR]   (default: docs/screenshots)

Runs offscreen unless DISPLAY is set (under Xvfb: ``xvfb-run -a python docs/screenshots.py``).
Writes designer.png (the tutorial-cnn preset, a layer selected), designer-problem.png (a design
with a shape problem and its one-click fix), train.png (fast-cnn training, after a pause) and
evaluate.png (its evaluation, true 4 predicted 9 selected) and draw.png (a drawn 4 classified by
the default model), all at 1280x800, and export.png (the Export dialog after an ONNX export and its
check). Each also in a dark palette (``NAME-dark.png``) and, but for the dialog, at 1920x1080
(``NAME-1920.png``, ``NAME-1920-dark.png``). Inside the network: evaluate-saliency.png (the gallery
with what each image's guess rests on), train-learned.png and train-histograms.png (the fast-cnn
run's first-layer filters and its weights and gradients over training), draw-inside.png (every
layer's output for the drawn 4, a feature map enlarged beside its filter), draw-map.png (the drawing
among 2,000 test digits) and draw-time-travel.png (scored by the run's first epoch). Then the GAN tab: gan-design.png, gan-train.png (a dcgan
run paused after two epochs) and gan-explore.png. Trains for real on 12,000 images, so it takes a
few minutes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs go to a fresh folder: the runs list shows this script's runs, not those of earlier shots.
os.environ.setdefault("PLAYGROUND_DATA_DIR", tempfile.mkdtemp(prefix="playground-shots-"))


VARIANTS = (("", (1280, 800), False), ("-dark", (1280, 800), True), ("-1920", (1920, 1080), False),
            ("-1920-dark", (1920, 1080), True))


def shoot(window, out: Path, name: str, widget=None) -> None:
    """Save the window as NAME.png in every variant (a dialog ``widget``: light and dark, at its own
    size), then go back to light 1280x800."""
    from PySide6.QtWidgets import QApplication, QStyleFactory

    from playground.ui import theme

    app = QApplication.instance()
    light = QStyleFactory.create(app.style().name()).standardPalette()
    for i, (suffix, size, dark) in enumerate(VARIANTS + VARIANTS[:1]):
        if widget is not None and size != VARIANTS[0][1]:
            continue
        app.setPalette(theme.dark_palette() if dark else light)
        if widget is None:
            window.resize(*size)
            window.reset_layout()
        for _ in range(8):  # palette and layout passes
            QApplication.processEvents()
        if i < len(VARIANTS):
            (widget or window).grab().save(str(out / f"{name}{suffix}.png"))


def main() -> None:
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from playground.ui.app import create_app
    from playground.ui.main_window import MainWindow

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = create_app([])
    # Fresh settings, so that the shots do not depend on a remembered layout.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())

    window = MainWindow(load_torch=False)
    window._torch_loaded("CPU", 0.0, ["cpu"])
    window.new_from_preset("tutorial-cnn")
    window.resize(1280, 800)
    window.show()
    window.reset_layout()
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(3, 0))
    for _ in range(5):
        QApplication.processEvents()
    shoot(window, out, "designer")

    window.document.remove_layer(6)  # take Flatten out: Linear 500 then gets an image
    stack.setCurrentIndex(stack.model().index(6, 0))
    for _ in range(5):
        QApplication.processEvents()
    shoot(window, out, "designer-problem")
    window.document.undo_stack.setClean()

    # A run in progress, then its evaluation.
    import time

    from playground.core.config import TrainConfig

    def wait(condition, seconds=120.0):
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    window.new_from_preset("fast-cnn")
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    area.form.set_config(TrainConfig(optimizer="adam", lr=0.01, schedule="one-cycle", batch_size=64, epochs=3,
                                     limit=12000, device="cpu"))
    area.start()
    wait(lambda: sum(e["type"] == "epoch" for e in window.library.current.events) >= 2)
    area.toggle_pause()
    wait(lambda: window.library.current.events[-1]["type"] == "paused", 10)
    area.toggle_pause()
    points = area.plots.point_count("train")
    wait(lambda: area.plots.point_count("train") > points + 8, 20)
    area.toggle_pause()  # still while the variants are taken
    wait(lambda: window.library.current.events[-1]["type"] == "paused", 10)
    shoot(window, out, "train")
    area.toggle_pause()
    wait(lambda: not area.training)
    window.tabs.setCurrentWidget(window.evaluate_area)
    for _ in range(5):
        QApplication.processEvents()
    ev = window.evaluate_area
    ev.matrix.selected = (4, 9)
    ev.show_cell(4, 9)
    wait(lambda: "loading the images" not in ev.images_label.text(), 60)  # test images load in a worker
    for _ in range(5):
        QApplication.processEvents()
    shoot(window, out, "evaluate")
    run_inside_shots(window, out, wait)

    # The Draw area with a hand-drawn-looking 4, classified by the default model.
    from PySide6.QtCore import QPointF

    window.tabs.setCurrentWidget(window.draw_area)
    draw = window.draw_area
    draw.model_box.setCurrentIndex(0)
    draw.pad.strokes = [[QPointF(170 - i * 1.8, 40 + i * 2.6) for i in range(50)]
                        + [QPointF(80 + i * 3, 168 + (i % 7) * 0.3) for i in range(50)],
                        [QPointF(182 + i * 0.15, 45 + i * 4) for i in range(55)]]
    draw.pad.update()
    draw.classify()
    for _ in range(5):
        QApplication.processEvents()
    shoot(window, out, "draw")
    draw_inside_shots(window, out, wait)

    # File > Export after the run: ONNX, with the check's figures.
    dialog = window.show_export_dialog(modal=False)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("onnx"))
    dialog.path_edit.setText(str(Path(tempfile.mkdtemp()) / "fast-cnn.onnx"))
    dialog.show()
    dialog.start_export()
    wait(lambda: dialog.check is not None or "failed" in dialog.result.text(), 60)
    for _ in range(5):
        QApplication.processEvents()
    shoot(window, out, "export", dialog)
    dialog.close()
    gan_shots(window, out, wait)
    window.close()
    print(f"saved designer, designer-problem, train, train-learned, train-histograms, evaluate, "
          f"evaluate-saliency, draw, draw-inside, draw-map, draw-time-travel, export, gan-design, gan-train "
          f"and gan-explore (light, -dark, -1920, -1920-dark) in {out}")
    app.quit()


def settle(count: int = 5) -> None:
    from PySide6.QtWidgets import QApplication

    for _ in range(count):
        QApplication.processEvents()


def run_inside_shots(window, out: Path, wait) -> None:
    """The finished fast-cnn run seen inside: the Evaluate gallery with saliency, then the Train
    area's "What it learned" and "Weights & gradients" pages."""
    ev = window.evaluate_area
    ev.saliency_box.setChecked(True)
    wait(lambda: ev.saliency.pending == 0, 30)
    settle()
    shoot(window, out, "evaluate-saliency")
    ev.saliency_box.setChecked(False)
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    area.pages.setCurrentIndex(1)
    wait(lambda: area.learned_page.learned is not None and not area.learned_page.loading, 20)
    settle()
    shoot(window, out, "train-learned")
    area.pages.setCurrentIndex(2)
    wait(lambda: all(r.isVisible() for r in area.histograms_page.rows.values()), 20)
    settle()
    shoot(window, out, "train-histograms")
    area.pages.setCurrentIndex(0)  # the page is remembered


def draw_inside_shots(window, out: Path, wait) -> None:
    """The drawn 4 inside the default model (a feature map enlarged beside its filter), on the PCA
    map, then scored by the fast-cnn run's first epoch (time travel)."""
    draw = window.draw_area
    draw.views.setCurrentWidget(draw.inside)
    draw.classify()
    settle()
    draw.inside.show_map(4, 3)
    settle()
    shoot(window, out, "draw-inside")
    draw.views.setCurrentWidget(draw.feature_map)
    wait(lambda: draw.feature_map.feature_map is not None, 60)
    draw.classify()
    wait(lambda: False, 0.3)  # the star follows at most 10 times a second
    settle()
    shoot(window, out, "draw-map")
    run = next(iter(window.library.runs_with_best_weights()), None)  # the fast-cnn run
    if run is not None and run.epoch_numbers():
        draw.model_box.setCurrentIndex(draw.index_of("run", str(run.path)))
        draw.time_travel.choose(1)
        draw.views.setCurrentWidget(draw.bars)
        settle()
        shoot(window, out, "draw-time-travel")
        draw.time_travel.choose(None)
    draw.model_box.setCurrentIndex(0)


def gan_shots(window, out: Path, wait) -> None:
    """The GAN tab: the dcgan design, a dcgan run paused in its second epoch, then its generator
    explored (a path between two samples)."""
    from PySide6.QtWidgets import QApplication

    def settle():
        for _ in range(5):
            QApplication.processEvents()

    window.new_gan("dcgan")
    window.show_gan_design()
    settle()
    shoot(window, out, "gan-design")
    area = window.gan_area
    view = area.train_view
    area.tabs.setCurrentWidget(view)
    view.form.set_values({"limit": 12000, "epochs": 3, "device": "cpu"})
    view.start()
    kinds: list[str] = []
    view.runner.event_received.connect(lambda event: kinds.append(event["type"]))
    wait(lambda: kinds.count("quality") >= 2, 600)
    view.toggle_pause()
    wait(lambda: kinds and kinds[-1] == "paused", 20)
    settle()
    shoot(window, out, "gan-train")
    view.toggle_pause()
    wait(lambda: not view.training, 600)
    area.explore(view.run_dir)
    explore = area.explore_view
    wait(lambda: explore.model is not None, 60)
    settle()
    explore.sample_clicked(0)
    explore.sample_clicked(5)
    wait(lambda: False, 1.0)  # the strip is generated off the GUI thread when slow
    settle()
    shoot(window, out, "gan-explore")


if __name__ == "__main__":
    main()
