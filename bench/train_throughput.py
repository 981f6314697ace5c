"""Training speed: the trainer against the plain-PyTorch reference, in the same run.

Trains ``tutorial-cnn`` with the tutorial's settings (SGD lr 0.01, momentum 0.5, batch 64, all
60,000 training images, no validation) through the trainer, and the same net through
``../shared/bench/reference_mnist.py`` in its DataLoader mode and its ``--fast`` mode. Prints
samples/s of each and the ratios, as text and as one JSON line.

usage: python bench/train_throughput.py [--epochs N] [--repeats N] [--reference PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.core.config import preset_config  # noqa: E402
from playground.core.data import ensure_bundled_mnist, load_dataset  # noqa: E402
from playground.core.presets import get_preset  # noqa: E402
from playground.core.train import Trainer  # noqa: E402


def run_trainer(epochs: int) -> dict:
    import torch

    cfg = preset_config("tutorial-cnn", epochs=epochs, val_fraction=0.0, device="cpu", seed=0)
    data = load_dataset("mnist", val_fraction=0.0, seed=0)
    final = None
    for event in Trainer(get_preset("tutorial-cnn").spec, cfg, data=data).run():
        if event["type"] == "finished":
            final = event
    return {"mode": "trainer", "samples_per_s": round(final["samples_per_second"]),
            "train_s": round(final["train_seconds"], 2), "test_acc": round(final["test_accuracy"], 4),
            "threads": torch.get_num_threads()}


def run_reference(reference: Path, root: Path, epochs: int, fast: bool) -> dict:
    cmd = [sys.executable, str(reference), str(root), "--epochs", str(epochs)] + (["--fast"] if fast else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each; the median is reported")
    ap.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "bench" / "reference_mnist.py")
    args = ap.parse_args()
    if not args.reference.exists():
        sys.exit(f"reference script not found at {args.reference}; pass --reference PATH")
    root = ensure_bundled_mnist()

    results: dict[str, list[dict]] = {"trainer": [], "reference-tutorial": [], "reference-fast": []}
    for _ in range(args.repeats):
        # Interleaved so that a slow spell of the machine hits all three alike.
        results["reference-tutorial"].append(run_reference(args.reference, root, args.epochs, False))
        results["reference-fast"].append(run_reference(args.reference, root, args.epochs, True))
        results["trainer"].append(run_trainer(args.epochs))
    med = {k: statistics.median(r["samples_per_s"] for r in v) for k, v in results.items()}
    acc = {k: v[-1]["test_acc"] for k, v in results.items()}
    summary = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                   f"{results['trainer'][0]['threads']} torch threads",
        "epochs": args.epochs, "repeats": args.repeats,
        "samples_per_s": med, "test_acc": acc,
        "ratio_vs_fast": round(med["trainer"] / med["reference-fast"], 3),
        "ratio_vs_tutorial": round(med["trainer"] / med["reference-tutorial"], 3),
    }
    for k in results:
        print(f"{k:20s} {med[k]:8.0f} samples/s   test accuracy {acc[k]:.4f}")
    print(f"trainer / reference --fast     {summary['ratio_vs_fast']:.2f}x  (target >= 1.0)")
    print(f"trainer / reference DataLoader {summary['ratio_vs_tutorial']:.2f}x  (target >= 1.5)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
