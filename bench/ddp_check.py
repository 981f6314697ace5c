"""Data-parallel training against one process: the issue's command under torchrun and the same
training in one process, their test accuracies and speeds.

    torchrun --standalone --nproc_per_node=2 -m playground train --preset mlp-300 --epochs 2 --limit 20000 --json
    playground train --preset mlp-300 --epochs 2 --limit 20000 --json

(``python -m torch.distributed.run`` when ``torchrun`` is not on PATH.) Checks that the torchrun run
prints exactly one final JSON object, with world_size 2, and writes one run folder; prints both test
accuracies, their difference (target: within 1 point), both training times and images/s, then one
JSON line with all figures. Exit code 1 when a check fails.

usage: python bench/ddp_check.py [--nproc N] [--epochs N] [--limit N] [--preset NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str], data_dir: Path) -> tuple[list[dict], list[Path], str]:
    """The events ``command`` printed, the run folders it made, its stderr."""
    before = set(data_dir.rglob("run.json"))
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"failed (exit {done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    folders = sorted(p.parent for p in set(data_dir.rglob("run.json")) - before)
    return events, folders, done.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--preset", default="mlp-300")
    args = ap.parse_args()
    train = ["-m", "playground", "train", "--preset", args.preset, "--epochs", str(args.epochs),
             "--limit", str(args.limit), "--json"]
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    ddp_command = [*launcher, "--standalone", f"--nproc_per_node={args.nproc}", *train]
    single_command = [sys.executable, *train]
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        ddp_events, ddp_folders, _ = run(ddp_command, data)
        single_events, _, _ = run(single_command, data)
        finals = [e for e in ddp_events if e["type"] == "finished"]
        if len(finals) != 1:
            problems.append(f"torchrun printed {len(finals)} finished events, not 1")
        if len(ddp_folders) != 1:
            problems.append(f"torchrun made {len(ddp_folders)} run folders, not 1")
        ddp = finals[-1] if finals else {}
        if ddp.get("world_size") != args.nproc:
            problems.append(f"world_size is {ddp.get('world_size')}, not {args.nproc}")
        if ddp_folders and json.loads((ddp_folders[0] / "run.json").read_text()).get("world_size") != args.nproc:
            problems.append("run.json's world_size is wrong")
    single = single_events[-1]
    rows = {"ddp": ddp, "single": single}
    for name, final in rows.items():
        print(f"{name:7s} world_size {final.get('world_size')}  test accuracy {final.get('test_accuracy', 0):.4f}  "
              f"{final.get('train_seconds', 0):6.2f} s of training  "
              f"{final.get('samples_per_second', 0):>9,.0f} images/s")
    difference = (ddp.get("test_accuracy") or 0) - single["test_accuracy"]
    print(f"difference {difference * 100:+.2f} points (target: within 1)")
    if abs(difference) > 0.01:
        problems.append(f"the accuracies differ by {abs(difference) * 100:.2f} points")
    print(json.dumps({"command": " ".join(ddp_command),
                      "cpus": os.cpu_count(), "difference_points": round(difference * 100, 3),
                      **{f"{name}_{key}": final.get(key) for name, final in rows.items()
                         for key in ("test_accuracy", "train_seconds", "samples_per_second", "world_size")},
                      "problems": problems}))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
