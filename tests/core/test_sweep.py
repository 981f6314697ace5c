"""Sweeps: lists and ranges parsed with clear errors, the grid, and real sweeps on a few hundred MNIST
images (the best by validation accuracy, each run's config.json holding its values, a stop keeping the
finished runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.core.config import TrainConfig, preset_config
from playground.core.presets import get_preset
from playground.core.sweep import (Sweep, SweepControl, SweepError, best_result, parse_values, run_sweep,
                                   sorted_results)


def test_lists_and_ranges_parse_as_typed():
    assert parse_values("lr", "0.1,0.01, 1e-3") == [0.1, 0.01, 0.001]
    assert parse_values("lr", "1e-4..1e-1 x4") == [1e-4, 1e-3, 1e-2, 0.1]
    assert parse_values("batch_size", "32..256x4") == [32, 64, 128, 256]
    assert parse_values("val_fraction", "0..0.4 x3") == [0.0, 0.2, 0.4]  # an end at 0: evenly spaced
    assert parse_values("epochs", "1..7 x4 lin") == [1, 3, 5, 7]
    assert parse_values("optimizer", "adam,sgd") == ["adam", "sgd"]
    assert parse_values("augment", "on,off") == [True, False]


@pytest.mark.parametrize("name, text, message", [
    ("lr", "0.1,abc", "'abc' is not a number"),
    ("lr", "0,0.1", "must be above 0"),
    ("lr", "1e-4..1e-1", "FROM..TO xN"),
    ("lr", "1e-4..1e-1 x1", "2 to 32 values"),
    ("lr", "1e-1..1e-1 x3", "same value"),
    ("weight_decay", "0..1 x3 log", "both ends above 0"),
    ("batch_size", "1.5,2", "not a whole number"),
    ("batch_size", "32..40 x12", "repeated whole numbers"),
    ("optimizer", "adam,sgdd", "one of sgd, adam"),
    ("optimizer", "adam..sgd x2", "takes a list"),
    ("lr", "0.1,0.1", "given twice"),
    ("colour", "1,2", "unknown setting"),
])
def test_bad_values_say_what_is_wrong(name, text, message):
    with pytest.raises(SweepError, match=message):
        parse_values(name, text)


def test_grid_and_its_limits():
    sweep = Sweep.from_texts({"lr": "0.1,0.01,0.001", "batch_size": "64,256"})
    assert sweep.count == 6
    configs = sweep.grid(TrainConfig())
    assert [(c.lr, c.batch_size) for c in configs][:3] == [(0.1, 64), (0.1, 256), (0.01, 64)]
    with pytest.raises(SweepError, match="at most 4 settings"):
        Sweep.from_texts({n: "1,2" for n in ("epochs", "seed", "batch_size", "step_epochs", "limit")})
    with pytest.raises(SweepError, match="nothing to sweep"):
        Sweep.from_texts({})
    with pytest.raises(SweepError, match="optimizer adam cannot train: Nesterov"):
        Sweep.from_texts({"optimizer": "sgd,adam"}).grid(TrainConfig(optimizer="sgd", nesterov=True))


BASE = dict(epochs=1, limit=1000, test_limit=500)


def test_six_runs_report_the_best_by_validation_and_each_config_holds_its_values(tmp_path):
    spec = get_preset("mlp-300").spec
    sweep = Sweep.from_texts({"lr": "0.3,0.03,0.003", "batch_size": "32,128"})
    events = list(run_sweep(spec, preset_config("mlp-300", **BASE), sweep, tmp_path))
    runs = [e for e in events if e["type"] == "sweep_run"]
    final = events[-1]
    assert final["type"] == "sweep_finished" and final["status"] == "completed" and final["not_run"] == []
    assert len(runs) == len(final["results"]) == 6
    assert final["best"] == max(final["results"], key=lambda r: r["val_accuracy"]) == best_result(final["results"])
    assert final["best"]["val_accuracy"] > 0.6  # the best of six runs learned something
    assert len({r["run_dir"] for r in final["results"]}) == 6
    for result in final["results"]:
        config = json.loads((Path(result["run_dir"]) / "config.json").read_text())
        assert (config["lr"], config["batch_size"]) == (result["lr"], result["batch_size"])
        assert config["epochs"] == 1 and config["limit"] == 1000
        assert result["status"] == "completed" and 0 <= result["test_accuracy"] <= 1 and result["train_seconds"] > 0
    ordered = sorted_results(final["results"])
    assert ordered[0] is final["best"] or ordered[0]["val_accuracy"] == final["best"]["val_accuracy"]


def test_a_stop_keeps_the_finished_runs_and_names_those_not_run(tmp_path):
    spec = get_preset("mlp-300").spec
    sweep = Sweep.from_texts({"lr": "0.1,0.01,0.001"})
    control = SweepControl()
    events = []
    for event in run_sweep(spec, preset_config("mlp-300", **BASE), sweep, tmp_path, control=control):
        events.append(event)
        if event["type"] == "sweep_run":
            control.stop()  # after this run
    final = events[-1]
    assert final["status"] == "stopped"
    assert [r["lr"] for r in final["results"]] == [0.1] and final["results"][0]["status"] == "completed"
    assert final["not_run"] == [{"lr": 0.01}, {"lr": 0.001}]
    assert len(list(tmp_path.iterdir())) == 1  # no folder for a run that did not run


def test_a_stop_now_ends_the_run_in_progress_too(tmp_path):
    spec = get_preset("mlp-300").spec
    sweep = Sweep.from_texts({"lr": "0.1,0.01"})
    control = SweepControl()
    events = []
    for event in run_sweep(spec, preset_config("mlp-300", **BASE, batch_size=16), sweep, tmp_path,
                           control=control):
        events.append(event)
        if event["type"] == "progress":
            control.stop(now=True)
    final = events[-1]
    assert [r["status"] for r in final["results"]] == ["stopped"]
    assert final["best"] is None and final["not_run"] == [{"lr": 0.01}]


def test_runs_with_another_data_folder_or_preprocessing_load_their_own_data():
    from playground.core.sweep import data_key

    base = TrainConfig()
    assert data_key(base.updated(preprocess="resize")) != data_key(base)
    assert data_key(base.updated(dataset="folder", data_folder="/a")) != \
        data_key(base.updated(dataset="folder", data_folder="/b"))


def test_an_out_that_is_a_file_is_refused_before_any_run(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    sweep = Sweep.from_texts({"lr": "0.1,0.01"})
    with pytest.raises(SweepError, match="not a folder"):
        next(run_sweep(get_preset("mlp-300").spec, TrainConfig(), sweep, afile))
    with pytest.raises(SweepError, match="cannot make the runs folder"):
        next(run_sweep(get_preset("mlp-300").spec, TrainConfig(), sweep, afile / "sub"))


class _FailingRuns:
    def run(self, job):
        yield {"type": "error", "message": "failed at startup"}

    def stop(self):
        pass

    def close(self):
        pass


def test_a_run_that_failed_before_writing_leaves_no_empty_folder(tmp_path):
    sweep = Sweep.from_texts({"lr": "0.1,0.01"})
    events = list(run_sweep(get_preset("mlp-300").spec, TrainConfig(), sweep, tmp_path, runs=_FailingRuns()))
    assert [r["status"] for r in events[-1]["results"]] == ["failed", "failed"]
    assert list(tmp_path.iterdir()) == []
