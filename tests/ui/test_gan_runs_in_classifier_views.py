"""A GAN run in the runs folder is a run of the GAN tab: the classifier's run list, the Draw area's
model chooser and the Evaluate area do not take it for a classifier."""

from __future__ import annotations

from playground.core.config import TrainConfig
from playground.core.gan_spec import GAN_PRESETS
from playground.core.paths import runs_dir
from playground.core.runs import load_run
from playground.core.train import Trainer


def test_a_gan_run_on_disk_is_not_listed_as_a_classifier(own_data_folder, ready_window):
    folder = runs_dir() / "gan-mlp-run"
    config = TrainConfig(optimizer="adam", lr=2e-4, beta1=0.5, batch_size=32, epochs=1, limit=128, test_limit=100,
                         val_fraction=0.0)
    events = list(Trainer(GAN_PRESETS["gan-mlp"].spec, config, run_dir=folder, task="gan").run())
    assert events[-1]["status"] == "completed"
    window = ready_window
    window._torch_loaded("CPU", 0.0, ["cpu"])  # lists the runs on disk, as at launch
    library = window.library
    assert [r.kind for r in library.runs] == ["gan"] and library.runs[0].path == folder
    assert window.train_area.run_list.topLevelItemCount() == 0
    assert library.runs_with_best_weights() == [] and library.runs_with_best_weights("gan") == library.runs
    chooser = window.draw_area.model_box
    assert not any(str(folder) in str(chooser.itemData(i)) for i in range(chooser.count()))
    window.show_evaluation(load_run(folder))  # e.g. a finished run: nothing to evaluate
    assert window.evaluate_area.run is None
