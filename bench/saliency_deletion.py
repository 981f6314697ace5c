"""Saliency deletion test: is the saliency map faithful to what the model does?

For each drawn digit, zero the most salient quarter of its ink pixels (by the saliency map of the
predicted class) and, separately, as many random ink pixels (5 draws, averaged), and measure how much
the predicted class's probability drops. Target (issue 16), on drawn digits: the salient deletion
drops the probability >= 3x as much as the random one, and by >= 0.4 on average.

The drawn digits are made procedurally as strokes on the 280-pixel pad (3 variants of each digit:
slant, width, rotation, pen width and wobble vary) and go through the canvas's own preprocessing
(``preprocess_strokes``). Real MNIST test digits are reported separately. Models: the default model,
plus any run folder or model file given with ``--model`` (e.g. a trained tutorial-cnn or fast-cnn).
Also prints the time of one saliency map (one forward and one backward pass) per model.

usage: python bench/saliency_deletion.py [--model PATH ...] [--mnist N] [--variants N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground.core.explain import (  # noqa: E402
    COMPARISON_METHODS, SALIENCY_METHODS, deletion_test, grad_cam_available, saliency,
)
from playground.core.predict import Classifier  # noqa: E402
from playground.core.preprocess import preprocess_strokes  # noqa: E402

PAD = 280


def _arc(cx, cy, rx, ry, a0, a1, n=40):
    """Points of an elliptic arc in the unit box (y down; 0 degrees = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n)]


def _line(*corners, n=20):
    points = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
        points += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, n)]
    return points


# Each digit as strokes in a unit box, the way people commonly draw it.
TEMPLATES = {
    0: [_arc(0.5, 0.5, 0.33, 0.5, -90, 270, 60)],
    1: [_line((0.3, 0.15), (0.55, 0.0), (0.55, 1.0))],
    2: [_arc(0.5, 0.28, 0.36, 0.28, -170, 20) + _line((0.82, 0.38), (0.1, 1.0), (0.92, 1.0))],
    3: [_arc(0.48, 0.26, 0.32, 0.26, -160, 90) + _arc(0.48, 0.75, 0.38, 0.25, -90, 160)],
    4: [_line((0.62, 0.0), (0.08, 0.66), (0.92, 0.66)), _line((0.68, 0.25), (0.68, 1.0))],
    5: [_line((0.85, 0.02), (0.25, 0.02), (0.2, 0.45)) + _arc(0.5, 0.7, 0.36, 0.3, -150, 160)],
    6: [_arc(0.95, 0.7, 0.7, 0.7, -115, -180, 25) + _arc(0.52, 0.72, 0.27, 0.27, 180, 540, 50)],
    7: [_line((0.08, 0.02), (0.92, 0.02), (0.4, 1.0))],
    8: [_arc(0.5, 0.25, 0.24, 0.24, 90, 450, 50) + _arc(0.5, 0.74, 0.3, 0.26, -90, 270, 50)],
    9: [_arc(0.45, 0.28, 0.3, 0.27, 0, -360, 50) + _line((0.75, 0.28), (0.7, 1.0))],
}


def drawn_digits(variants: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``variants`` drawings of each digit (slant, width, rotation, pen width and wobble varied),
    through the canvas's preprocessing: images (n, 28, 28) and labels (n,)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit, strokes in TEMPLATES.items():
        for _ in range(variants):
            slant, width = rng.uniform(-0.35, 0.15), rng.uniform(0.7, 1.2)
            angle = math.radians(rng.uniform(-10, 10))
            cos, sin = math.cos(angle), math.sin(angle)
            drawn = []
            for stroke in strokes:
                p = np.asarray(stroke, np.float64) - 0.5
                p[:, 0] = (p[:, 0] + slant * p[:, 1]) * width
                p = p @ np.array([[cos, sin], [-sin, cos]])
                p += np.cumsum(rng.normal(0, 0.004, p.shape), axis=0)  # a hand's wobble
                drawn.append([(float(x), float(y)) for x, y in (p + 0.5) * 200 + (PAD - 200) / 2])
            images.append(preprocess_strokes(drawn, pen_width=rng.uniform(2.0, 2.8)))
            labels.append(digit)
    return np.stack(images), np.array(labels)


def mnist_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    return test.images[:n].numpy().astype(np.float32) / 255.0, test.labels[:n].numpy()


def saliency_ms(classifier: Classifier, images: np.ndarray, method: str) -> tuple[float, float]:
    """Median and 95th percentile time of one saliency map, in ms."""
    times = []
    for image in list(images) * 3:
        start = time.perf_counter()
        saliency(classifier.model, classifier.spec, image, 0, method)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def report(classifier: Classifier, name: str, images: np.ndarray, labels: np.ndarray) -> list[dict]:
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(images).reshape(-1, 1, 28, 28)
        accuracy = float((classifier.model(x).argmax(1).numpy() == labels).mean())
    print(f"  {name}: {len(images)} images, the model gets {accuracy:.0%} right")
    rows = []
    for method in (*SALIENCY_METHODS, *COMPARISON_METHODS):
        if method == "grad-cam" and not grad_cam_available(classifier.spec):
            continue
        r = deletion_test(classifier.model, classifier.spec, images, method=method)
        verdict = "passes" if r.passes() else "fails"
        print(f"    {method:20s} salient drop {r.mean_salient:.3f}   random drop {r.mean_random:.3f}   "
              f"ratio {r.ratio:5.1f}x   {verdict} (>= 3x and >= 0.4)")
        rows.append({"images": name, "method": method, "n": len(images), "accuracy": round(accuracy, 4),
                     "mean_salient_drop": round(r.mean_salient, 4), "mean_random_drop": round(r.mean_random, 4),
                     "ratio": round(r.ratio, 2), "passes": r.passes()})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", type=Path, default=[], metavar="PATH",
                    help="a run folder or model file to test besides the default model (repeatable)")
    ap.add_argument("--variants", type=int, default=3, help="drawings of each digit (default 3)")
    ap.add_argument("--mnist", type=int, default=500, help="MNIST test digits to report too (0: none)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: one image's passes gain nothing from more, and on a busy "
                         "machine the extra threads' waiting costs tens of ms; 0: torch's default)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    drawn = drawn_digits(args.variants)
    mnist = mnist_digits(args.mnist) if args.mnist else None
    results = []
    for path in [None, *args.model]:
        classifier = Classifier.from_path(path)
        label = "default model" if path is None else str(path)
        print(f"{label} ({classifier.spec.name}), top quarter of the ink zeroed:")
        results += [dict(row, model=label) for row in report(classifier, "drawn", *drawn)]
        if mnist is not None:
            results += [dict(row, model=label) for row in report(classifier, "mnist", *mnist)]
        for method in SALIENCY_METHODS:
            if method != "grad-cam" or grad_cam_available(classifier.spec):
                median, p95 = saliency_ms(classifier, drawn[0][:10], method)
                print(f"  one {method} map: median {median:.2f} ms, 95th percentile {p95:.2f} ms "
                      f"(torch threads: {torch.get_num_threads()})")
                results.append({"model": label, "method": method, "saliency_median_ms": round(median, 2),
                                "saliency_p95_ms": round(p95, 2)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
