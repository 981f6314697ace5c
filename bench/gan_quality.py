"""Trains a GAN preset with its default settings through the app's Trainer and checks issue 15's
targets on the quality meter's figures (1,000 generated digits judged by the default classifier).

usage: python bench/gan_quality.py [--preset dcgan|cgan|gan-mlp] [--seed N] [--threads N]
                                   [--set NAME=VALUE ...]

--set overrides one of the preset's settings (for tuning; the targets are for the defaults).
--threads sets torch's thread count (default: torch's own, one per core).

Targets: dcgan trains in <= 300 s and of 1,000 samples >= 75% are classified with confidence >= 0.9
and every digit is >= 3%; cgan trains in <= 300 s and the asked digit is the classified one in >= 95%
of 1,000 samples (100 of each). gan-mlp has no target: its figures are printed for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.core.config import TrainConfig  # noqa: E402
from playground.core.gan_spec import GAN_PRESETS  # noqa: E402
from playground.core.train import Trainer  # noqa: E402

MAX_SECONDS = 300.0
MIN_CONFIDENT = 0.75
MIN_DIGIT_SHARE = 0.03
MIN_DIGIT_ACCURACY = 0.95


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="dcgan", choices=sorted(GAN_PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    return p.parse_args(argv)


def checks(preset: str, final: dict) -> list[tuple[str, bool]]:
    """(what, passed) for each of the preset's targets."""
    q = final["quality"]
    rarest = min(q["histogram"]) / q["count"]
    time_ok = ("train seconds <= 300", final["train_seconds"] <= MAX_SECONDS)
    if preset == "dcgan":
        return [time_ok, ("confident share >= 75%", q["confident_share"] >= MIN_CONFIDENT),
                ("rarest digit >= 3%", rarest >= MIN_DIGIT_SHARE)]
    if preset == "cgan":
        return [time_ok, ("digit accuracy >= 95%", (q["digit_accuracy"] or 0) >= MIN_DIGIT_ACCURACY)]
    return []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    preset = GAN_PRESETS[args.preset]
    overrides = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = TrainConfig.from_dict({**preset.train, "seed": args.seed, "device": "cpu", **overrides},
                                   f"preset {args.preset}")
    final = None
    for event in Trainer(preset.spec, config, task="gan", report_interval=0.5).run():
        if event["type"] == "quality":
            print(f"  epoch {event['epoch']}: confident {event['confident_share']:.1%}  rarest digit "
                  f"{min(event['histogram']) / event['count']:.1%}  Frechet {event['frechet']:.1f}"
                  + ("" if event["digit_accuracy"] is None else f"  digit accuracy {event['digit_accuracy']:.1%}")
                  + "".join(f"\n    {w}" for w in event["warnings"]), flush=True)
        elif event["type"] == "finished":
            final = event
    if final is None or final["status"] != "completed" or not final.get("quality"):
        print(f"{args.preset}: the run did not complete: {final and final['message']}")
        return 1
    q = final["quality"]
    results = checks(args.preset, final)
    print(f"{args.preset} seed {args.seed}: train {final['train_seconds']:.1f} s  "
          f"{final['samples_per_second']:.0f} samples/s  confident {q['confident_share']:.1%}  rarest digit "
          f"{min(q['histogram']) / q['count']:.1%}  Frechet {q['frechet']:.1f}"
          + ("" if q["digit_accuracy"] is None else f"  digit accuracy {q['digit_accuracy']:.1%}"))
    for what, passed in results:
        print(f"  {'PASS' if passed else 'FAIL'}  {what}")
    print(json.dumps({"preset": args.preset, "seed": args.seed, "train_seconds": round(final["train_seconds"], 1),
                      "samples_per_second": round(final["samples_per_second"]), "quality": q,
                      "passed": all(p for _, p in results), "config": config.to_dict()}))
    return 0 if all(p for _, p in results) else 1


if __name__ == "__main__":
    sys.exit(main())
