"""The CUDA path: train presets on the GPU and print throughput, accuracy and the time to 99%.

Needs only torch, torchvision, numpy, safetensors and platformdirs (no Qt), so it runs on a
GPU machine without a desktop. Data comes from the app's bundled MNIST (assets/).

After each epoch the test accuracy is measured (outside the training time); "time to 99%" is the
training time (validation included, test evaluations left out) at the end of the first epoch whose
test accuracy reached ``--target`` (0.99). With ``--ddp`` the script starts itself under torchrun
with one process per visible GPU (``--nproc`` to choose; on ``--device cpu`` two gloo processes)
and rank 0 reports the same figures for data-parallel training (``--batch-size`` is the global batch).

usage: python bench/gpu_check.py [--preset NAME ...] [--epochs N] [--batch-size N] [--target X]
                                 [--device cuda|cpu] [--ddp [--nproc N]]
Prints one line per preset and one JSON line with all figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground.core import distributed  # noqa: E402
from playground.core.config import preset_config, resolve_device  # noqa: E402
from playground.core.data import load_dataset  # noqa: E402
from playground.core.metrics import evaluate  # noqa: E402
from playground.core.presets import get_preset  # noqa: E402
from playground.core.train import Trainer  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", nargs="+", default=["fast-cnn", "tutorial-cnn"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=0, help="0: the preset's own")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--target", type=float, default=0.99, help="the test accuracy timed (default 0.99)")
    ap.add_argument("--ddp", action="store_true", help="data-parallel: start under torchrun, one rank per GPU")
    ap.add_argument("--nproc", type=int, default=0, help="with --ddp: processes (0: every visible GPU)")
    return ap.parse_args()


def launch_ddp(args: argparse.Namespace) -> int:
    """This script again under torchrun, without --ddp; rank 0 prints."""
    n = args.nproc or (torch.cuda.device_count() if args.device.startswith("cuda") else 2)
    argv = [a for a in sys.argv[1:] if a != "--ddp"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
               str(Path(__file__).resolve()), *argv]
    print(f"launching {n} processes: {' '.join(command)}", file=sys.stderr, flush=True)
    return subprocess.run(command).returncode


def train_preset(name: str, args: argparse.Namespace, data, ctx) -> dict:
    over = {"epochs": args.epochs, "device": args.device}
    if args.batch_size:
        over["batch_size"] = args.batch_size
    cfg = preset_config(name, **over)
    trainer = Trainer(get_preset(name).spec, cfg, data=data, dist=ctx)
    reached, per_epoch, final = None, [], {}
    for event in trainer.run():
        if event["type"] == "epoch" and ctx.is_main:  # between epochs: off the training clock
            test = evaluate(trainer.model, data.test.images, data.test.labels, trainer.device)
            trainer.model.train()
            per_epoch.append(round(test.accuracy, 4))
            if reached is None and test.accuracy >= args.target:
                reached = round(event["elapsed_seconds"], 2)
        elif event["type"] == "finished":
            final = event
    return {"preset": name, "device": final["device"], "world_size": final["world_size"], "epochs": final["epochs"],
            "batch_size": cfg.batch_size, "samples_per_second": round(final["samples_per_second"]),
            "train_seconds": round(final["train_seconds"], 2), "test_accuracy": final["test_accuracy"],
            "test_accuracy_per_epoch": per_epoch, "target": args.target, "seconds_to_target": reached,
            "status": final["status"]}


def main() -> int:
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run this on a machine with an NVIDIA GPU (or pass --device cpu)", file=sys.stderr)
        return 1
    ctx = distributed.context_from_env(device=resolve_device(args.device))
    if args.ddp and not ctx.enabled:
        return launch_ddp(args)
    distributed.init_process_group(ctx)
    if ctx.backend == "gloo" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ctx.world_size))
    data = load_dataset("mnist")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    results = []
    for name in args.preset:
        row = {**train_preset(name, args, data, ctx), "gpu": gpu}
        results.append(row)
        if ctx.is_main:
            to_target = (f"{row['seconds_to_target']:.2f} s to {args.target:.0%}" if row["seconds_to_target"]
                         is not None else f"{args.target:.0%} not reached in {row['epochs']} epochs")
            print(f"{name:13s} {row['samples_per_second']:>9,} samples/s  {row['train_seconds']:6.2f} s  "
                  f"test accuracy {row['test_accuracy']:.4f}  {to_target}  ({gpu}, batch {row['batch_size']}, "
                  f"{row['world_size']} process{'es' if row['world_size'] > 1 else ''})", flush=True)
    if ctx.is_main:
        print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "results": results}))
    distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
