"""Canvas latency: from a stroke update to the new probabilities (preprocessing plus inference).

Replays digits being drawn point by point (as the canvas hands them over while the mouse moves)
through the core's preprocessing and the default model on the CPU, and prints the median and 95th
percentile. Target: 95th percentile at most 10 ms.

usage: python bench/canvas_latency.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.core.predict import Classifier  # noqa: E402
from playground.core.preprocess import preprocess_strokes  # noqa: E402

# Digits as a person draws them on the 280-pixel pad: many points per stroke.
DRAWINGS = {
    "0": [[(140 + 70 * math.sin(t / 60 * 2 * math.pi), 140 - 110 * math.cos(t / 60 * 2 * math.pi))
           for t in range(61)]],
    "7": [[(60 + i * 3, 50) for i in range(55)] + [(225 - i * 1.6, 50 + i * 3.6) for i in range(60)]],
    "4": [[(170 - i * 1.8, 40 + i * 2.6) for i in range(50)] + [(80 + i * 3, 170) for i in range(50)],
          [(180, 40 + i * 4) for i in range(55)]],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import torch

    classifier = Classifier.from_path()
    times = []
    for _ in range(args.repeats):
        for strokes in DRAWINGS.values():
            for s in range(len(strokes)):
                for n in range(1, len(strokes[s]) + 1, 2):  # every other point: a mouse-move event
                    partial = strokes[:s] + [strokes[s][:n]]
                    start = time.perf_counter()
                    image = preprocess_strokes(partial)
                    classifier.probabilities(image)
                    times.append((time.perf_counter() - start) * 1000)
    times.sort()
    result = {"updates": len(times), "median_ms": round(statistics.median(times), 2),
              "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2), "max_ms": round(times[-1], 2),
              "model": classifier.spec.name, "torch_threads": torch.get_num_threads()}
    print(f"stroke update -> probabilities: median {result['median_ms']:.2f} ms, "
          f"95th percentile {result['p95_ms']:.2f} ms (target <= 10), max {result['max_ms']:.2f} ms "
          f"over {result['updates']} updates")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
