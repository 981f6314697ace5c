"""Data-parallel training under torchrun (core/distributed.py): how each rank takes its share of the
global batch, the torchrun and ``--nproc`` runs end to end on real MNIST (one final event, rank 0's run
folder, the same weights as one process), an agreed stop, and what is refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.core import distributed
from playground.core.config import ConfigError
from playground.core.distributed import DistContext

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--preset", "mlp-300", "--epochs", "1", "--limit", "400", "--json"]


def env() -> dict[str, str]:
    """This environment (the test's cache and data folders) with this checkout first on the path."""
    extra = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + extra if extra else "")}


def finished_lines(stdout: str) -> list[dict]:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]  # every line is JSON
    return [e for e in events if e["type"] == "finished"]


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path)


# -- the sharding --------------------------------------------------------------------------------


def test_each_rank_takes_a_disjoint_share_of_the_same_global_batches():
    n, bs, world = 1000, 64, 3
    steps = distributed.steps_per_epoch(n, bs, world)
    assert steps == 16  # 15 full batches and a last one of 40 (at least 2 * 3)

    def epoch_perms(rank: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(7)  # as ClassifierTask: same seed on every rank
        return [torch.randperm(n, generator=generator) for _ in range(2)]

    perms = [epoch_perms(rank) for rank in range(world)]
    for epoch in range(2):
        assert all(torch.equal(perms[0][epoch], perms[r][epoch]) for r in range(world))
    assert not torch.equal(perms[0][0], perms[0][1])  # reshuffled each epoch
    perm = perms[0][0]
    for b in range(steps):
        batch = perm[b * bs:(b + 1) * bs]
        shares = [distributed.rank_slice(batch, r, world) for r in range(world)]
        assert torch.equal(torch.cat(shares), batch)  # disjoint, in order, covering the batch
        assert min(len(s) for s in shares) >= 2 and max(len(s) for s in shares) <= distributed.rank_batch_size(bs, 3)
    weights_sum = sum(distributed.loss_weight(len(s), 40, world) for s in torch.tensor_split(torch.arange(40), 3))
    assert weights_sum == pytest.approx(world)  # DDP's mean of the weighted losses is the batch's mean


def test_a_last_batch_too_small_to_share_is_dropped_and_tiny_settings_are_refused():
    assert distributed.steps_per_epoch(64 * 5 + 3, 64, 2) == 5  # 3 images cannot give 2 ranks 2 each
    assert distributed.steps_per_epoch(64 * 5 + 4, 64, 2) == 6
    with pytest.raises(ConfigError, match="at least 8"):
        distributed.steps_per_epoch(1000, 6, 4)
    with pytest.raises(ConfigError, match="too few"):
        distributed.steps_per_epoch(3, 64, 2)


def test_the_context_comes_from_torchrun_variables():
    assert not distributed.context_from_env({}).enabled
    assert not distributed.context_from_env({"WORLD_SIZE": "1", "RANK": "0"}).enabled
    ctx = distributed.context_from_env({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1",
                                        "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"})
    assert (ctx.rank, ctx.world_size, ctx.backend, ctx.is_main) == (1, 2, "gloo", False)
    assert ctx.device("cpu") == "cpu"
    with pytest.raises(distributed.DistributedError, match="RANK"):
        distributed.context_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="mps"):
        DistContext(rank=0, world_size=2, backend="gloo").device("mps")


# -- end to end ----------------------------------------------------------------------------------


def test_torchrun_trains_the_same_weights_as_one_process(tmp_path):
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "playground", *TRAIN, "--out", str(ddp)],
                          capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [final] = finished_lines(done.stdout)
    assert (final["status"], final["world_size"], final["run_dir"]) == ("completed", 2, str(ddp))
    assert 0.3 < final["test_accuracy"] <= 1  # 6 steps of 64 images: about 43%
    assert json.loads((ddp / "run.json").read_text())["world_size"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name not in ("ddp", "single")]  # one run folder

    from playground.cli import main

    assert main([*TRAIN, "--out", str(single)]) == 0
    assert json.loads((single / "run.json").read_text())["world_size"] == 1
    # The global batch: two ranks of 32 images are one step of 64 (mlp-300 has no BatchNorm or Dropout).
    a, b = weights(ddp / "weights_last.safetensors"), weights(single / "weights_last.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def test_nproc_launches_the_ranks_itself(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "playground", *TRAIN, "--nproc", "2", "--out", str(out)],
                          capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [final] = finished_lines(done.stdout)
    assert (final["status"], final["world_size"]) == ("completed", 2)
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    assert (out / "weights_best.safetensors").is_file()
    assert "Traceback" not in done.stderr


STOP_ON_ONE_RANK = """
import json, sys
from playground.core import distributed, NetworkSpec, make_layer as L
from playground.core.config import TrainConfig
from playground.core.data import load_dataset
from playground.core.train import Trainer

ctx = distributed.context_from_env()
distributed.init_process_group(ctx)
spec = NetworkSpec((L("Flatten"), L("Linear", out_features=10)), name="linear")
data = load_dataset("mnist", limit=640)
cfg = TrainConfig(optimizer="adam", lr=0.003, batch_size=32, epochs=3, device="cpu")
trainer = Trainer(spec, cfg, data=data, dist=ctx, min_reports_per_epoch=100)
for event in trainer.run():
    if ctx.rank == 1 and event["type"] == "progress" and event["step"] == 3:
        trainer.stop()  # asked on rank 1 only
    if event["type"] == "finished":
        print(json.dumps(event))
distributed.destroy_process_group()
"""


def test_a_stop_asked_on_one_rank_stops_both_after_the_same_step(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    base = {**env(), "WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "MASTER_PORT": str(port),
            "LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", STOP_ON_ONE_RANK], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path, env={**base, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(2)]
    results = [rank.communicate(timeout=300) for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], [err[-2000:] for _, err in results]
    finals = [json.loads(out) for out, _ in results]
    assert [f["status"] for f in finals] == ["stopped", "stopped"]
    assert finals[0]["steps"] == finals[1]["steps"] == 4  # asked after step 3; agreed at step 4
    assert finals[0]["test_accuracy"] is not None and finals[1]["test_accuracy"] is None  # rank 0 evaluates


@pytest.mark.parametrize("args, fragment", [
    (["--preset", "gan-mlp", "--nproc", "2"], "data-parallel training is for classifiers"),
    (["--preset", "mlp-300", "--nproc", "0"], "--nproc takes a number of processes from 1"),
    (["--preset", "mlp-300", "--nproc", "-3"], "--nproc takes a number of processes from 1"),
    (["--preset", "mlp-300", "--nproc", "2", "--batch-size", "3"], "at least 4"),
])
def test_what_cannot_train_in_parallel_is_refused_before_starting(args, fragment, capsys):
    from playground.cli import main

    assert main(["train", *args, "--epochs", "1", "--limit", "100"]) == 2
    assert fragment in capsys.readouterr().err


def test_a_gan_under_torchrun_is_refused(monkeypatch, capsys):
    from playground.cli import main

    for name, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "localhost",
                        "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    assert main(["train", "--preset", "gan-mlp", "--epochs", "1", "--limit", "100"]) == 2
    assert capsys.readouterr().err == ""  # the same on every rank: rank 0 says it
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["train", "--preset", "gan-mlp", "--epochs", "1", "--limit", "100"]) == 2
    err = capsys.readouterr().err
    assert err == "playground: error: data-parallel training is for classifiers; train a GAN in one process\n"


@pytest.fixture
def rank_env(monkeypatch):
    """This process as a rank of a torchrun job of 2 (its stop signals restored afterwards: a rank
    lets them kill it until it trains)."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in distributed.STOP_SIGNALS}
    for name, value in {"WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "localhost",
                        "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    yield lambda rank: monkeypatch.setenv("RANK", str(rank))
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_too_few_images_for_the_ranks_is_a_usage_error_said_once_before_any_folder(rank_env, tmp_path, capsys):
    from playground.cli import main

    out = tmp_path / "run"
    for rank in (1, 0):
        rank_env(rank)
        assert main(["train", "--preset", "mlp-300", "--epochs", "1", "--limit", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("playground: error: 3 training images are too few for 2 processes; use at least 4 (a larger "
                   "--limit) or fewer processes\n")
    assert not out.exists()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="--nproc 2 needs 2 cores")
def test_the_launcher_checks_out_and_data_before_starting_and_names_the_real_maximum(tmp_path, capsys):
    from playground.cli import main

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file.txt").write_text("x")
    base = ["train", "--preset", "mlp-300", "--epochs", "1", "--limit", "100", "--nproc"]
    assert main([*base, "2", "--out", str(busy)]) == 2
    assert main([*base, "2", "--data", str(tmp_path / "missing")]) == 2
    assert main([*base, "100"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and not any("rank" in line for line in lines), lines
    assert "is not empty" in lines[0] and "missing: not a folder" in lines[1]
    most = min(os.cpu_count(), distributed.MAX_PROCESSES)
    assert f"from 1 to {most} (" in lines[2] and lines[2].endswith("not 100")


# -- stops, signals and lost ranks under --nproc (Linux: the ranks are found through /proc) --------

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks through /proc")
LONG = ["train", "--preset", "mlp-300", "--epochs", "300", "--limit", "2000", "--json", "--nproc", "2"]


def start_launcher(out: Path, tmp_path: Path) -> tuple[subprocess.Popen, list[str]]:
    """``train --nproc 2`` in its own session (as a terminal runs it), stderr to a file; and its
    stdout up to the first epoch's event (training has begun)."""
    launcher = subprocess.Popen([sys.executable, "-m", "playground", *LONG, "--out", str(out)], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=(tmp_path / "err.txt").open("w"), text=True,
                                env=env(), start_new_session=True)
    lines = []
    for line in launcher.stdout:
        lines.append(line)
        if json.loads(line)["type"] == "epoch":
            break
    return launcher, lines


def processes_of(out: Path) -> list[int]:
    """The processes whose command line names ``out`` (the launcher and its ranks)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if str(out).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def rank_pid(out: Path, rank: int) -> int:
    for pid in processes_of(out):
        try:
            if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no rank {rank}")


def finish(launcher: subprocess.Popen, lines: list[str], tmp_path: Path) -> tuple[int, list[dict], str]:
    lines += launcher.stdout.read().splitlines()
    launcher.stdout.close()
    code = launcher.wait(timeout=120)
    return code, [json.loads(line) for line in lines if line.strip()], (tmp_path / "err.txt").read_text()


@linux_only
def test_ctrl_c_stops_the_ranks_after_the_same_step_and_exits_0(tmp_path):
    import signal

    out = tmp_path / "run"
    launcher, lines = start_launcher(out, tmp_path)
    os.killpg(launcher.pid, signal.SIGINT)  # a terminal's Ctrl+C: the launcher's process group
    code, events, err = finish(launcher, lines, tmp_path)
    assert code == 0, err
    [final] = [e for e in events if e["type"] == "finished"]
    assert final["status"] == "stopped" and final["world_size"] == 2
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    assert err.strip() == ("playground: interrupted (SIGINT): the ranks stopped after the same step; rank 0 "
                           f"kept the weights in {out}")  # no torch log lines, no traceback
    assert processes_of(out) == []


@linux_only
def test_a_hangup_in_a_rank_stops_the_run_like_sigterm(tmp_path):
    import signal

    out = tmp_path / "run"
    launcher, lines = start_launcher(out, tmp_path)
    os.kill(rank_pid(out, 1), signal.SIGHUP)
    code, events, err = finish(launcher, lines, tmp_path)
    assert code == 0, err
    assert [e["status"] for e in events if e["type"] == "finished"] == ["stopped"]
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    assert (out / "weights_last.safetensors").is_file()
    assert processes_of(out) == []


@linux_only
def test_a_killed_rank_fails_the_run_with_a_readable_message(tmp_path):
    import signal

    out = tmp_path / "run"
    launcher, lines = start_launcher(out, tmp_path)
    os.kill(rank_pid(out, 1), signal.SIGKILL)
    code, events, err = finish(launcher, lines, tmp_path)
    assert code == 1
    assert events[-1] == {"type": "error", "error": "LostContact", "message": (
        f"lost contact with another process (rank 1 stopped or was killed); the run failed; the last epoch's "
        f"weights are kept in {out}")}
    assert err.splitlines()[-1] == "playground: error: rank 1 of 2 was killed by signal 9 (SIGKILL); the run failed"
    assert "Traceback" not in err and "gloo" not in err
    summary = json.loads((out / "run.json").read_text())
    assert summary["status"] == "failed" and summary["message"].startswith("lost contact with another process")
    assert processes_of(out) == []


@linux_only
def test_ctrl_c_while_the_ranks_start_leaves_nothing_behind(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-m", "playground", *LONG, "--out", str(out)], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                                start_new_session=True)
    while len(processes_of(out)) < 3 and launcher.poll() is None:  # the launcher and both ranks exist
        time.sleep(0.02)
    os.killpg(launcher.pid, signal.SIGINT)
    stdout, err = launcher.communicate(timeout=120)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    if out.exists():  # on a fast machine training may have begun: then it stopped cleanly
        assert launcher.returncode == 0 and json.loads((out / "run.json").read_text())["status"] == "stopped"
    else:
        assert launcher.returncode == 130 and stdout == ""
        assert err == "playground: interrupted (SIGINT): stopped before training began; nothing was written\n"
    assert processes_of(out) == []


STRAGGLER = """
import subprocess, sys
from playground.cli.train_launch import _end_stragglers
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "print(1, flush=True); time.sleep(300)"], stdout=subprocess.PIPE, start_new_session=True)
child.stdout.readline()  # it runs and ignores SIGTERM, like a rank stuck in torch's C++ code
_end_stragglers(grace=0.5)
import os
print("gone" if not os.path.exists(f"/proc/{child.pid}") else "alive")
"""


@linux_only
def test_the_launcher_ends_a_rank_that_outlived_torchs_agent(tmp_path):
    done = subprocess.run([sys.executable, "-c", STRAGGLER], capture_output=True, text=True, env=env(),
                          cwd=tmp_path, timeout=60)
    assert done.stdout.strip() == "gone", done.stderr  # its own session's group got SIGKILL after the grace


SPARED = """
import subprocess, sys
from playground.cli.train_launch import _children, _end_stragglers
mine = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); time.sleep(300)"],
                        stdout=subprocess.PIPE)
mine.stdout.readline()  # a child of the caller's own (main() called in-process), started before the launch
_end_stragglers(grace=0.5, spare=set(_children()))
print("alive" if mine.poll() is None else "gone")
mine.kill()
"""


@linux_only
def test_the_launcher_spares_child_processes_that_were_there_before_it(tmp_path):
    done = subprocess.run([sys.executable, "-c", SPARED], capture_output=True, text=True, env=env(),
                          cwd=tmp_path, timeout=60)
    assert done.stdout.strip() == "alive", done.stderr
