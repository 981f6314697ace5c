"""Trains presets with their default configs and prints test error against the published figures.

usage: python bench/preset_accuracy.py [--seeds 0,1,2] [NAME ...]   (default: every preset, seed 0)

Targets (LeCun et al. 1998): mlp-300 at most 4.7% test error, lenet5 at most 0.95%;
fast-cnn at least 99.0% test accuracy within 20 s of training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.core.config import preset_config  # noqa: E402
from playground.core.presets import PRESETS, get_preset  # noqa: E402
from playground.core.train import Trainer  # noqa: E402

TARGET_ERROR = {"mlp-300": 0.047, "lenet5": 0.0095, "fast-cnn": 0.01}


def main() -> None:
    args = sys.argv[1:]
    seeds = [0]
    if args[:1] == ["--seeds"]:
        seeds = [int(s) for s in args[1].split(",")]
        args = args[2:]
    for name, seed in [(n, s) for n in (args or list(PRESETS)) for s in seeds]:
        cfg = preset_config(name, seed=seed)
        final = None
        for event in Trainer(get_preset(name).spec, cfg).run():
            if event["type"] == "finished":
                final = event
        error = 1 - final["test_accuracy"]
        target = TARGET_ERROR.get(name)
        verdict = "" if target is None else ("  PASS" if error <= target else "  FAIL") + f" (target <= {target:.2%})"
        print(f"{name:13s} seed {seed}  test error {error:.2%}  train {final['train_seconds']:.1f} s  "
              f"{final['samples_per_second']:.0f} samples/s  epochs {final['epochs_completed']}{verdict}")
        print(json.dumps({"preset": name, "seed": seed, "test_error": round(error, 5),
                          "train_seconds": round(final["train_seconds"], 2),
                          "samples_per_second": round(final["samples_per_second"]), "config": cfg.to_dict()}))


if __name__ == "__main__":
    main()
