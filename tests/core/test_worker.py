"""Training in a worker process: the same events as the trainer, controlled through pipes."""

from __future__ import annotations

from playground.core import PRESETS
from playground.core.config import TrainConfig
from playground.core.worker import TrainingProcess

CONFIG = TrainConfig(epochs=2, limit=600, test_limit=600, batch_size=16, device="cpu", lr=0.003, val_fraction=0.2)


def job(tmp_path, **changes):
    config = CONFIG.updated(**changes)
    return {"design": PRESETS["mlp-300"].spec.to_dict(), "config": config.to_dict(),
            "run_dir": str(tmp_path / "run"), "report_interval": 0.02}


def test_a_run_in_a_worker_process(tmp_path):
    process = TrainingProcess()
    events = list(process.run(job(tmp_path)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds.count("epoch") == 2 and kinds[-1] == "finished"
    assert events[-1]["status"] == "completed" and events[-1]["test_accuracy"] > 0.75
    assert (tmp_path / "run" / "evaluation.json").is_file()
    assert not process.alive


def test_pause_resume_and_stop_through_the_pipe(tmp_path):
    process = TrainingProcess()
    events, asked = [], False
    for event in process.run(job(tmp_path, epochs=200)):
        events.append(event)
        if event["type"] == "progress" and not asked:
            process.pause()
            asked = True
        elif event["type"] == "paused":
            process.resume()
        elif event["type"] == "resumed":
            process.stop()
    kinds = [e["type"] for e in events]
    # The commands travel through a pipe while the worker trains on, so when the pause lands
    # depends on the machine's load; what it does does not: no step while paused.
    i = kinds.index("paused")
    assert kinds[i + 1] == "resumed" and events[i]["step"] == events[i + 1]["step"]
    assert kinds[-2:] == ["stopped", "finished"] and event["status"] == "stopped"
    assert event["test_accuracy"] is not None


def test_bad_job_is_an_error_event(tmp_path):
    process = TrainingProcess()
    bad = job(tmp_path)
    bad["design"]["layers"] = []
    events = list(process.run(bad))
    assert events[-1]["type"] == "error" and "cannot be trained" in events[-1]["message"]


def test_a_worker_that_dies_is_reported(tmp_path):
    process = TrainingProcess()
    events = process.run(job(tmp_path, epochs=200))
    assert next(events)["type"] == "start"
    process.proc.kill()
    last = list(events)[-1]
    assert last["type"] == "error" and "ended unexpectedly" in last["message"]
