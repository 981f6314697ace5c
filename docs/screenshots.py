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
among 2,000 test digits) and draw-time-travel.png (scored by the run's first epoch). Your own data
and tuning: train-folder.png (a folder of photographed-style digits chosen, its preview, fast-cnn's
class-count problem and its fix), and, as dialogs, lr-finder.png (mlp-300's learning-rate finder),
sweep.png (a finished sweep of three learning rates, the best row selected) and my-digits.png (twelve
drawings added to My digits from the Draw area). Then the GAN tab: gan-design.png, gan-train.png (a
dcgan run paused after two epochs) and gan-explore.png. Trains for real on 12,000 images, so it
takes a few minutes.
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


def shoot(window, out: Path, name: str, widget=None, restyle=None) -> None:
    """Save the window as NAME.png in every variant (a dialog ``widget``: light and dark, at its own
    size), then go back to light 1280x800. ``restyle`` is called after each palette change (a dialog's
    plot takes its colours from the palette only when made)."""
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
        if restyle is not None:
            restyle()
            QApplication.processEvents()
        if i < len(VARIANTS):
            (widget or window).grab().save(str(out / f"{name}{suffix}.png"))


def main() -> None:
    import tempfile

    from PySide6.QtCore import QSettings

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
    settle()
    shoot(window, out, "designer")

    window.document.remove_layer(6)  # take Flatten out: Linear 500 then gets an image
    stack.setCurrentIndex(stack.model().index(6, 0))
    settle()
    shoot(window, out, "designer-problem")
    window.document.undo_stack.setClean()

    train_shots(window, out)
    run_inside_shots(window, out, wait)
    draw_shot(window, out)
    draw_inside_shots(window, out, wait)
    export_shot(window, out)
    train_folder_shot(window, out, wait)
    lr_finder_shot(window, out, wait)
    sweep_shot(window, out, wait)
    my_digits_shot(window, out)
    gan_shots(window, out, wait)
    window.close()
    print(f"saved designer, designer-problem, train, train-learned, train-histograms, evaluate, "
          f"evaluate-saliency, draw, draw-inside, draw-map, draw-time-travel, export, train-folder, lr-finder, "
          f"sweep, my-digits, gan-design, gan-train and gan-explore (light, -dark, -1920, -1920-dark) in {out}")
    app.quit()


def wait(condition, seconds: float = 120.0) -> None:
    """Let the window run until ``condition()`` holds, or ``seconds`` have passed."""
    import time

    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def train_shots(window, out: Path) -> None:
    """A fast-cnn run in progress (paused for the shots), then its evaluation, true 4 predicted 9
    selected."""
    from playground.core.config import TrainConfig

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
    settle()
    ev = window.evaluate_area
    ev.matrix.selected = (4, 9)
    ev.show_cell(4, 9)
    wait(lambda: "loading the images" not in ev.images_label.text(), 60)  # test images load in a worker
    settle()
    shoot(window, out, "evaluate")


def draw_shot(window, out: Path) -> None:
    """The Draw area with a hand-drawn-looking 4, classified by the default model."""
    from PySide6.QtCore import QPointF

    window.tabs.setCurrentWidget(window.draw_area)
    draw = window.draw_area
    draw.model_box.setCurrentIndex(0)
    draw.pad.strokes = [[QPointF(170 - i * 1.8, 40 + i * 2.6) for i in range(50)]
                        + [QPointF(80 + i * 3, 168 + (i % 7) * 0.3) for i in range(50)],
                        [QPointF(182 + i * 0.15, 45 + i * 4) for i in range(55)]]
    draw.pad.update()
    draw.classify()
    settle()
    shoot(window, out, "draw")


def export_shot(window, out: Path) -> None:
    """File > Export after the run: ONNX, with the check's figures."""
    dialog = window.show_export_dialog(modal=False)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("onnx"))
    dialog.path_edit.setText(str(Path(tempfile.mkdtemp()) / "fast-cnn.onnx"))
    dialog.show()
    dialog.start_export()
    wait(lambda: dialog.check is not None or "failed" in dialog.result.text(), 60)
    settle()
    shoot(window, out, "export", dialog)
    dialog.close()


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


def train_folder_shot(window, out: Path, wait) -> None:
    """The Train area with a small folder of photographed-style digits (5 classes) chosen: its preview
    and, the design being fast-cnn (10 class scores), the class-count problem and its fix. The form
    goes back to its settings after."""
    from playground.core.synthetic_digits import make_photographed_digits

    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    before = area.form.config()
    folder = make_photographed_digits(Path(tempfile.mkdtemp()) / "photographed",
                                      train_per_class=60, unseen_per_class=10, seed=0)
    area.form._reveal_preview = True
    area.form.use_folder(str(folder / "train"))
    wait(lambda: area.form.folder_preview.preview is not None, 60)
    wait(lambda: False, 0.3)  # the scroll to the preview comes after
    settle()
    area.form._scroll_to_preview()  # again, with the grid at its final size: all its rows in view
    settle()
    shoot(window, out, "train-folder")
    area._set_form(before)
    wait(lambda: not area.class_box.isVisibleTo(area), 10)
    settle()


def lr_finder_shot(window, out: Path, wait) -> None:
    """The learning-rate finder of mlp-300, finished: loss against the rate and the suggestion."""
    from playground.core.config import preset_config
    from playground.ui.lr_finder import style_plot

    window.new_from_preset("mlp-300")
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    area._set_form(preset_config("mlp-300", limit=3000, device="cpu"))
    dialog = area.open_lr_finder()
    wait(lambda: not dialog.running and dialog.suggested_lr() is not None, 180)
    settle()
    shoot(window, out, "lr-finder", dialog, lambda: style_plot(dialog.plot))
    dialog.reject()
    settle()


def sweep_shot(window, out: Path, wait) -> None:
    """A finished sweep of three learning rates of mlp-300 (one short epoch each), the best row selected:
    the results table and the scatter of accuracy against the rate."""
    from playground.core.config import preset_config
    from playground.ui.lr_finder import style_plot

    window.new_from_preset("mlp-300")
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    area._set_form(preset_config("mlp-300", epochs=1, limit=2000, test_limit=1000, device="cpu"))
    dialog = area.open_sweep()  # open(): modal, but it does not block
    dialog.value_edits[0].setText("0.003,0.03,0.3")
    dialog.setting_boxes[1].setCurrentIndex(0)  # "—": the batch size not swept
    dialog.value_edits[1].clear()
    dialog.start()
    wait(lambda: not dialog.running, 600)
    dialog.table.selectRow(0)
    settle()
    shoot(window, out, "sweep", dialog, lambda: style_plot(dialog.plot))
    dialog.reject()
    settle()


def digit_strokes(digit: int, k: int):
    """Strokes (pad units, 280 across) of a hand-drawn-looking ``digit``, ``k`` varying its place,
    size and slant."""
    import math

    from PySide6.QtCore import QPointF

    dx, s, slant = (k * 37) % 31 - 15, 0.85 + 0.07 * (k % 3), 0.12 * ((k % 5) - 2)

    def line(*points, n=40):
        out = []
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
        return out + [points[-1]]

    def arc(cx, cy, rx, ry, a0, a1, n=60):
        return [(cx + rx * math.cos(a), cy + ry * math.sin(a))
                for a in (math.radians(a0 + (a1 - a0) * i / n) for i in range(n + 1))]

    shapes = {0: [arc(140, 140, 60, 95, -90, 275)],
              1: [line((125, 70), (155, 40), (145, 240))],
              2: [arc(140, 95, 55, 50, 200, 380) + line((195, 100), (85, 235), (205, 232))],
              3: [arc(135, 90, 55, 45, 210, 450) + arc(135, 185, 62, 52, -90, 150)],
              4: [line((165, 40), (85, 170), (200, 168)), line((182, 45), (190, 245))],
              7: [line((80, 50), (200, 48), (120, 240)), line((110, 145), (180, 140), n=15)]}
    if k >= 6:  # the second of each: drawn another way
        shapes.update({0: [arc(140, 140, 50, 100, -120, 250)], 1: [line((140, 40), (140, 240))],
                       2: [arc(135, 100, 60, 60, 180, 400) + line((180, 150), (90, 230), (150, 215), (210, 235))],
                       4: [line((90, 40), (80, 150), (210, 150)), line((170, 60), (165, 245))],
                       7: [line((70, 60), (205, 55), (140, 245))]})
    return [[QPointF(140 + dx + s * (x - 140) - slant * (y - 140), 140 + s * (y - 140)) for x, y in stroke]
            for stroke in shapes[digit]]


def my_digits_shot(window, out: Path) -> None:
    """Twelve drawings added to My digits from the Draw area ("That's right" when the guess is right,
    the digit's key otherwise), then the My digits browser."""
    import numpy as np

    window.tabs.setCurrentWidget(window.draw_area)
    draw = window.draw_area
    draw.model_box.setCurrentIndex(0)
    draw.views.setCurrentWidget(draw.bars)
    for k, digit in enumerate((0, 1, 2, 3, 4, 7) * 2):
        draw.pad.strokes = digit_strokes(digit, k)
        draw.pad.update()
        draw.classify()
        right = draw.probabilities is not None and int(np.argmax(draw.probabilities)) == digit
        draw.add_to_my_digits(None if right else digit)
        settle()
    dialog = draw.fine_tune_bar.browse()
    settle(10)
    shoot(window, out, "my-digits", dialog)
    dialog.reject()
    settle()


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
