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
    err = capsys.readouterr().err
    assert "rank 1: data-parallel training is for classifiers; train a GAN in one process" in err
