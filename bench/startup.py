"""Start-up time: launch to window shown, and launch to ready (torch loaded in the background).

Each launch is a fresh Python process running the app's own start-up path (``create_app`` and
``MainWindow``, as ``playground`` does), offscreen unless DISPLAY is set. "Cold" launches first drop
the OS page cache (needs root on Linux; reported as unavailable otherwise), "warm" ones follow each
other. Prints the median and range of each, and one JSON line. Target: window within 2 s.

usage: python bench/startup.py [--launches N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys, time
t0 = float(os.environ["STARTUP_T0"])
from PySide6.QtCore import QTimer
from playground.ui.app import create_app
app = create_app([])
from playground.ui.main_window import MainWindow
window = MainWindow()
window.show()
def shown():
    print("window", time.time() - t0, flush=True)
    if window.torch_ready:
        done()
def done(*args):
    print("ready", time.time() - t0, flush=True)
    app.quit()
window.torch_loader.loaded.connect(done)
QTimer.singleShot(0, shown)
QTimer.singleShot(120_000, app.quit)
app.exec()
"""


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def launch() -> dict[str, float]:
    env = {**os.environ, "STARTUP_T0": repr(time.time()), "PYTHONPATH": str(ROOT)}
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["PLAYGROUND_DATA_DIR"] = env.get("PLAYGROUND_DATA_DIR", "/tmp/playground-startup-bench")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    times = {}
    for line in out.stdout.splitlines():
        key, value = line.split()
        times.setdefault(key, float(value))
    return times


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: {"median": round(statistics.median(r[k] for r in runs), 3),
                "min": round(min(r[k] for r in runs), 3), "max": round(max(r[k] for r in runs), 3)}
            for k in ("window", "ready")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--launches", type=int, default=5)
    args = ap.parse_args()

    cold, cold_ok = [], True
    for _ in range(args.launches):
        cold_ok = drop_caches() and cold_ok
        if not cold_ok:
            break
        cold.append(launch())
    launch()  # warm the cache
    warm = [launch() for _ in range(args.launches)]

    result = {"launches": args.launches, "warm": summarize(warm),
              "cold": summarize(cold) if cold_ok and cold else "unavailable (dropping the page cache needs root)"}
    for name in ("cold", "warm"):
        r = result[name]
        if isinstance(r, str):
            print(f"{name}: {r}")
            continue
        print(f"{name}: window shown {r['window']['median']:.2f} s (range {r['window']['min']:.2f}-"
              f"{r['window']['max']:.2f}), ready {r['ready']['median']:.2f} s "
              f"(range {r['ready']['min']:.2f}-{r['ready']['max']:.2f})  [median of {args.launches}]")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
