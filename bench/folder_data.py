"""Your own data end to end: a folder of photographed-style digits, trained and predicted by the CLI.

Makes FOLDER/train (``--train-per-class`` images of each of the digits 0-4, from MNIST's training
set) and FOLDER/unseen (``--unseen-per-class`` of each, from MNIST's test set) with
``playground.core.synthetic_digits``: 36-110 px, off-centre, dark ink on textured light paper, JPEG
and PNG. Then runs, as a user would:

    playground train --preset fast-cnn --data FOLDER/train --epochs 4 --out RUN --json
    playground predict --model RUN --json FOLDER/unseen/*/*

and prints the share of unseen images named right (the issue's target: at least 95%), per class,
and the times of each step, as text and as one JSON line.

usage: python bench/folder_data.py [--folder DIR] [--train-per-class N] [--unseen-per-class N]
                                   [--epochs N] [--threads N] [--seed N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground.core.synthetic_digits import make_photographed_digits  # noqa: E402

TARGET = 0.95


def playground(args: list[str], threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.run([sys.executable, "-m", "playground", *args], capture_output=True, text=True, env=env,
                          check=False)


def train(folder: Path, run: Path, epochs: int, threads: int) -> tuple[dict, str, float]:
    start = time.perf_counter()
    done = playground(["train", "--preset", "fast-cnn", "--data", str(folder / "train"), "--epochs", str(epochs),
                       "--out", str(run), "--json"], threads)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"training failed ({done.returncode}):\n{done.stderr}")
    final = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")][-1]
    return final, done.stderr.strip(), seconds


def predict(folder: Path, run: Path, threads: int) -> tuple[list[dict], float]:
    images = sorted(str(p) for p in (folder / "unseen").glob("*/*"))
    start = time.perf_counter()
    done = playground(["predict", "--model", str(run), "--json", *images], threads)
    seconds = time.perf_counter() - start
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return results, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="where to make the images (default: a temporary folder)")
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--unseen-per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each playground command")
    parser.add_argument("--seed", type=int, default=0, help="of the generated images (the training's is the preset's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="folder-data-"))
    try:
        start = time.perf_counter()
        make_photographed_digits(folder, args.train_per_class, args.unseen_per_class, seed=args.seed)
        made = time.perf_counter() - start
        final, notes, train_s = train(folder, folder / "run", args.epochs, args.threads)
        results, predict_s = predict(folder, folder / "run", args.threads)
    finally:
        if args.folder is None and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    right = [r.get("label") == Path(r["path"]).parent.name for r in results]
    per_class: dict[str, list[bool]] = {}
    for r, ok in zip(results, right):
        per_class.setdefault(Path(r["path"]).parent.name, []).append(ok)
    share = sum(right) / len(right) if right else 0.0
    print(f"images: {args.train_per_class * 5:,} for training (digits 0-4), {len(results):,} unseen; "
          f"made in {made:.1f} s")
    print(f"train: {notes}" if notes else "train:")
    print(f"  test accuracy {final['test_accuracy']:.2%}, {final['train_seconds']:.1f} s of training, "
          f"{train_s:.1f} s for the whole command (loading the folder included)")
    print(f"predict: {len(results)} images in {predict_s:.1f} s")
    print("named right: " + ", ".join(f"{c}: {sum(v) / len(v):.1%}" for c, v in sorted(per_class.items())))
    print(f"named right overall: {share:.2%} (target {TARGET:.0%}: {'met' if share >= TARGET else 'NOT met'})")
    print(json.dumps({"bench": "folder_data", "train_images": args.train_per_class * 5, "unseen": len(results),
                      "epochs": args.epochs, "threads": args.threads, "seed": args.seed, "named_right": round(share, 4),
                      "test_accuracy": final["test_accuracy"], "make_s": round(made, 1),
                      "train_command_s": round(train_s, 1), "train_s": round(final["train_seconds"], 1),
                      "predict_s": round(predict_s, 1)}))
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
