"""The CUDA path: train a preset for an epoch on the GPU and print throughput and accuracy.

Needs only torch, torchvision, numpy, safetensors and platformdirs (no Qt), so it runs on a
GPU machine without a desktop. Data comes from the app's bundled MNIST (assets/).

usage: python bench/gpu_check.py [--preset NAME ...] [--epochs N] [--batch-size N]
Prints one line per preset and one JSON line with all figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground.core.config import preset_config  # noqa: E402
from playground.core.data import load_dataset  # noqa: E402
from playground.core.presets import get_preset  # noqa: E402
from playground.core.train import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", nargs="+", default=["fast-cnn", "tutorial-cnn"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=0, help="0: the preset's own")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run this on a machine with an NVIDIA GPU")
    data = load_dataset("mnist")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    results = []
    for name in args.preset:
        over = {"epochs": args.epochs, "device": args.device}
        if args.batch_size:
            over["batch_size"] = args.batch_size
        cfg = preset_config(name, **over)
        trainer = Trainer(get_preset(name).spec, cfg, data=data)
        final = [e for e in trainer.run()][-1]
        row = {"preset": name, "device": final["device"], "gpu": gpu, "epochs": final["epochs"],
               "batch_size": cfg.batch_size, "samples_per_second": round(final["samples_per_second"]),
               "train_seconds": round(final["train_seconds"], 2), "test_accuracy": final["test_accuracy"],
               "status": final["status"]}
        results.append(row)
        print(f"{name:13s} {row['samples_per_second']:>9,} samples/s  {row['train_seconds']:6.2f} s  "
              f"test accuracy {row['test_accuracy']:.4f}  ({gpu}, batch {cfg.batch_size})")
    print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "results": results}))


if __name__ == "__main__":
    main()
