"""Does the window stay responsive while it trains, and does training in it lose speed?

Trains ``tutorial-cnn`` (CPU, the tutorial's SGD settings) inside the real main window while a 10 ms
timer measures the event loop's stalls, and counts how often the curves are redrawn; trains it in the
window again without that timer (it wakes the window 100 times a second, which a user's window does
not do, and each wake-up costs the trainer a time slice) for the speed. In the same
run, trains the same config headless with the core's trainer in a fresh process (as
``playground train`` does). Prints the longest stall, the 99th
percentile tick gap, the curve refresh rate and both samples/s (median of --repeats interleaved
runs of each), as text and one JSON line. On Linux it also prints the trainer's share of the machine
while it trained (cores its threads ran on, time slices a second, from /proc/<pid>/task/*/schedstat):
steadier from run to run than samples/s, so a change to the window shows there first.

Targets: longest stall <= 50 ms, curves refreshed >= 10 times a second, samples/s >= 0.95x headless.

With ``--gan PRESET`` (gan-mlp, dcgan, cgan) it trains that GAN in the window's GAN tab instead, with
the preset's settings, while the 10 ms timer measures the stalls, and counts how often the live
sample grid is redrawn; then the same run headless (``playground train --preset PRESET``) for its
speed. Target: longest stall <= 50 ms.

usage: python bench/gui_responsiveness.py [--limit N] [--epochs N] [--repeats N]  (about a minute a repeat)
       python bench/gui_responsiveness.py --gan dcgan [--limit N] [--epochs N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PLAYGROUND_DATA_DIR", tempfile.mkdtemp(prefix="playground-bench-"))


def config(args):
    from playground.core.config import preset_config

    return preset_config("tutorial-cnn", epochs=args.epochs, limit=args.limit, device="cpu", seed=0)


def schedstat(pid="self") -> list[int]:
    """The scheduler counts of a process's threads, summed (Linux; zeros elsewhere): nanoseconds on a
    CPU, nanoseconds runnable but waiting, time slices."""
    import glob

    total = [0, 0, 0]
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            values = [int(v) for v in open(path).read().split()]
        except (OSError, ValueError):
            continue
        total = [a + b for a, b in zip(total, values)]
    return total


def trainer_share(first, last) -> dict | None:
    """Cores the trainer's threads ran on, and its time slices a second, between two snapshots
    (schedstat, perf_counter) taken at its first and last progress events (the last one's step is
    the run's last: ``step == total_steps``); None without /proc."""
    if first is None or last is None or not any(first[0]):
        return None
    (run0, _, slices0), t0 = first
    (run1, _, slices1), t1 = last
    wall = t1 - t0
    return {"cores": (run1 - run0) / 1e9 / wall, "slices_per_s": (slices1 - slices0) / wall} if wall > 0 else None


def headless(args) -> tuple[float, dict | None]:
    """The same training run headless, as ``playground train`` runs it: a fresh process's main thread.
    Returns its samples/s and its threads' share of the machine while it trained."""
    import inspect
    import subprocess

    code = (f"import sys, json, time; sys.path.insert(0, {str(ROOT)!r})\n" + inspect.getsource(schedstat) +
            "from playground.core.config import preset_config\n"
            "from playground.core.presets import get_preset\n"
            "from playground.core.train import Trainer\n"
            f"cfg = preset_config('tutorial-cnn', epochs={args.epochs}, limit={args.limit}, device='cpu', seed=0)\n"
            "first = last = None\n"
            "for event in Trainer(get_preset('tutorial-cnn').spec, cfg).run():\n"
            "    if event['type'] == 'progress' and (first is None or event['step'] == event['total_steps']):\n"
            "        last = (schedstat(), time.perf_counter())\n"
            "        first = first or last\n"
            "print(json.dumps({'final': event, 'first': first, 'last': last}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["final"]["samples_per_second"], trainer_share(result["first"], result["last"])


def in_window(args, probe: bool = True) -> dict:
    """One training in the window; ``probe``: with the 10 ms timer that measures stalls (it wakes the
    window 100 times a second, and each wake-up takes a time slice from the trainer)."""
    from PySide6.QtCore import QElapsedTimer, QSettings, QThreadPool, QTimer

    from playground.ui.app import create_app
    from playground.ui.main_window import MainWindow

    app = create_app([])
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    window = MainWindow()  # loads PyTorch in the background, as the app does
    window.resize(1280, 800)
    window.show()
    window.new_from_preset("tutorial-cnn")
    window.tabs.setCurrentWidget(window.train_area)
    area = window.train_area
    area.form.set_config(config(args))

    gaps: list[float] = []
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(10)
    last = [None]

    def tick():
        now = clock.nsecsElapsed()
        if last[0] is not None:
            gaps.append((now - last[0]) / 1e6)
        last[0] = now

    ticker.timeout.connect(tick)
    result: dict = {}

    def finished(entry):
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu1"] = usage.ru_utime + usage.ru_stime
        result["final"] = entry.summary
        result["train_seconds"] = time.perf_counter() - result["t0"]
        ticker.stop()
        quit_when_idle()

    idle_polls = [0]

    def quit_when_idle():
        # After a run the window loads the test images for the Evaluate area in worker threads;
        # quit once the thread pool has stayed idle for 0.3 s.
        busy = QThreadPool.globalInstance().activeThreadCount() > 0
        idle_polls[0] = 0 if busy else idle_polls[0] + 1
        if idle_polls[0] >= 6:
            app.quit()
        else:
            QTimer.singleShot(50, quit_when_idle)

    window.library.run_finished.connect(finished)

    def begin():
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu0"] = usage.ru_utime + usage.ru_stime
        clock.start()
        last[0] = clock.nsecsElapsed()  # the first gap includes starting the run
        if probe:
            ticker.start()
        redraws_before = area.plots.redraws
        result["t0"] = time.perf_counter()
        result["redraws_before"] = redraws_before
        area.start()
        worker = area.runner.process.proc.pid  # the worker process that trains

        def progress(event):  # /proc read twice a run, not at every event
            if event["type"] == "progress" and ("first" not in result or event["step"] == event["total_steps"]):
                result["last"] = (schedstat(worker), time.perf_counter())
                result.setdefault("first", result["last"])

        area.runner.event_received.connect(progress)

    def when_ready():
        # Start once PyTorch is loaded and the Train area's worker process is waiting, then 0.5 s more.
        import select

        spare = area._spare  # its first line ("ready") comes once it has imported PyTorch
        if window.torch_ready and spare is not None and select.select([spare.proc.stdout], [], [], 0)[0]:
            QTimer.singleShot(500, begin)
        else:
            QTimer.singleShot(50, when_ready)

    QTimer.singleShot(0, when_ready)
    app.exec()
    redraws = area.plots.redraws - result["redraws_before"]
    progress = [e for e in window.library.current.events if e["type"] == "progress"]
    span = progress[-1]["elapsed_seconds"] - progress[0]["elapsed_seconds"] if len(progress) > 1 else 1.0
    window.close()
    gaps.sort()
    return {
        "longest_stall_ms": round(max(gaps) - 10, 1) if gaps else None,
        "p99_tick_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1) if gaps else None,
        "ticks": len(gaps),
        "curve_refreshes_per_s": round(redraws / max(span, 1e-9), 1),
        "samples_per_second": result["final"]["samples_per_second"],
        # CPU the window's own process used while training, in cores (the training is elsewhere).
        "window_cpu_cores": round((result["cpu1"] - result["cpu0"]) / result["train_seconds"], 3),
        "test_accuracy": result["final"]["test_accuracy"],
        "trainer": trainer_share(result.get("first"), result.get("last")),
    }


def gan_in_window(args) -> dict:
    """One GAN training in the window's GAN tab with the 10 ms probe: stalls, sample grid redraws."""
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from playground.ui.app import create_app
    from playground.ui.main_window import MainWindow

    app = create_app([])
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    window.new_gan(args.gan)
    area = window.gan_area
    view = area.train_view
    area.tabs.setCurrentWidget(view)
    window.tabs.setCurrentWidget(area)
    view.form.set_values({"limit": args.limit, "epochs": args.epochs, "device": "cpu"})
    gaps: list[float] = []
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(10)
    last = [None]
    grid_redraws = [0]
    events: list[dict] = []

    def tick():
        now = clock.nsecsElapsed()
        if last[0] is not None:
            gaps.append((now - last[0]) / 1e6)
        last[0] = now

    set_images = view.grid.set_images

    def counted_set_images(*a, **k):
        grid_redraws[0] += 1
        return set_images(*a, **k)

    view.grid.set_images = counted_set_images
    ticker.timeout.connect(tick)

    def begin():
        clock.start()
        last[0] = clock.nsecsElapsed()
        ticker.start()
        view.start()
        view.runner.event_received.connect(events.append)
        view.runner.finished.connect(lambda: (ticker.stop(), QTimer.singleShot(300, app.quit)))

    def when_ready():
        if window.torch_ready and view.torch_ready:
            QTimer.singleShot(500, begin)
        else:
            QTimer.singleShot(50, when_ready)

    QTimer.singleShot(0, when_ready)
    app.exec()
    window.close()
    final = events[-1] if events and events[-1]["type"] == "finished" else {}
    progress = [e for e in events if e["type"] == "progress"]
    span = progress[-1]["elapsed_seconds"] - progress[0]["elapsed_seconds"] if len(progress) > 1 else 1.0
    gaps.sort()
    return {
        "longest_stall_ms": round(max(gaps) - 10, 1) if gaps else None,
        "p99_tick_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1) if gaps else None,
        "ticks": len(gaps),
        "sample_grid_refreshes_per_s": round(grid_redraws[0] / max(span, 1e-9), 1),
        "samples_per_second": final.get("samples_per_second"),
        "train_seconds": final.get("train_seconds"),
        "quality": final.get("quality"),
    }


def gan_headless(args) -> float:
    """samples/s of the same GAN run with ``playground train`` (the core trainer, no window)."""
    import subprocess

    command = [sys.executable, "-m", "playground", "train", "--preset", args.gan, "--limit", str(args.limit),
               "--epochs", str(args.epochs), "--device", "cpu", "--json", "--out", tempfile.mkdtemp() + "/run"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])["samples_per_second"]


def gan_main(args) -> None:
    import statistics

    runs, bases = [], []
    for _ in range(args.repeats):
        runs.append(gan_in_window(args))
        bases.append(gan_headless(args))
    result = {
        "preset": args.gan, "limit": args.limit, "epochs": args.epochs,
        "longest_stall_ms": max(r["longest_stall_ms"] for r in runs),
        "p99_tick_gap_ms": max(r["p99_tick_gap_ms"] for r in runs),
        "ticks": sum(r["ticks"] for r in runs),
        "sample_grid_refreshes_per_s": min(r["sample_grid_refreshes_per_s"] for r in runs),
        "samples_per_second_with_probe": round(statistics.median(r["samples_per_second"] for r in runs)),
        "headless_samples_per_second": round(statistics.median(bases)),
        "confident_share": runs[-1]["quality"]["confident_share"] if runs[-1]["quality"] else None,
    }
    print(f"GAN {args.gan} in the window's GAN tab ({args.limit or 'all'} images, {args.epochs} epochs)")
    print(f"longest event-loop stall   {result['longest_stall_ms']:7.1f} ms   (target <= 50)")
    print(f"99th percentile tick gap   {result['p99_tick_gap_ms']:7.1f} ms   (timer set to 10 ms)")
    print(f"sample grid refreshes      {result['sample_grid_refreshes_per_s']:7.1f} /s")
    print(f"samples/s in the window    {result['samples_per_second_with_probe']:7d}   (with the 10 ms probe)")
    print(f"samples/s headless         {result['headless_samples_per_second']:7d}")
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="training images (0: all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=8,
                    help="runs of each; medians (worst stall) reported. Runs on a 2-core machine vary by up to "
                         "±8%%, so fewer than 8 pairs give a noisy ratio")
    ap.add_argument("--gan", choices=["gan-mlp", "dcgan", "cgan"], help="train this GAN in the GAN tab instead")
    args = ap.parse_args()
    if args.gan:
        gan_main(args)
        return
    from playground.core.data import load_dataset

    cfg = config(args)
    load_dataset(cfg.dataset, cfg.val_fraction, cfg.seed, cfg.limit)  # warm the data cache for both
    import statistics

    bases, guis, quiet, shares = [], [], [], []

    def run_headless():
        samples, share = headless(args)
        bases.append(samples)
        shares.append(share)

    kinds = [run_headless,
             lambda: guis.append(in_window(args, probe=True)),  # stalls and redraws, measured
             lambda: quiet.append(in_window(args, probe=False))]  # speed, as a user's window trains
    # Interleaved, the order rotating from one repeat to the next: the host's speed drifts over minutes,
    # and a fixed order would hand the slower spells to whichever kind runs last. The ratios are the
    # medians of each repeat's own ratios.
    for repeat in range(args.repeats):
        for kind in kinds[repeat % 3:] + kinds[:repeat % 3]:
            kind()
    base = statistics.median(bases)

    def median_share(items, key):
        values = [item[key] for item in items if item]
        return round(statistics.median(values), 3) if values else None
    gui = {
        "longest_stall_ms": max(g["longest_stall_ms"] for g in guis),
        "p99_tick_gap_ms": max(g["p99_tick_gap_ms"] for g in guis),
        "ticks": sum(g["ticks"] for g in guis),
        "curve_refreshes_per_s": min(g["curve_refreshes_per_s"] for g in guis),
        "window_cpu_cores": statistics.median(g["window_cpu_cores"] for g in guis),
        "samples_per_second": round(statistics.median(g["samples_per_second"] for g in quiet)),
        "samples_per_second_with_probe": round(statistics.median(g["samples_per_second"] for g in guis)),
        "headless_samples_per_second": round(base),
        "runs_in_window": [round(g["samples_per_second"]) for g in quiet],
        "runs_in_window_with_probe": [round(g["samples_per_second"]) for g in guis],
        "runs_headless": [round(b) for b in bases],
        "test_accuracy": guis[-1]["test_accuracy"],
        # Steadier than samples/s from run to run: how much of the machine the trainer got.
        "trainer_cores_window": median_share([g["trainer"] for g in quiet], "cores"),
        "trainer_cores_headless": median_share(shares, "cores"),
        "trainer_slices_per_s_window": median_share([g["trainer"] for g in quiet], "slices_per_s"),
        "trainer_slices_per_s_window_with_probe": median_share([g["trainer"] for g in guis], "slices_per_s"),
        "trainer_slices_per_s_headless": median_share(shares, "slices_per_s"),
    }
    gui["ratio_vs_headless"] = round(statistics.median(q["samples_per_second"] / b for q, b in zip(quiet, bases)), 3)
    gui["ratio_with_probe"] = round(statistics.median(g["samples_per_second"] / b for g, b in zip(guis, bases)), 3)
    print(f"longest event-loop stall   {gui['longest_stall_ms']:7.1f} ms   (target <= 50)")
    print(f"99th percentile tick gap   {gui['p99_tick_gap_ms']:7.1f} ms   (timer set to 10 ms)")
    print(f"curve refreshes            {gui['curve_refreshes_per_s']:7.1f} /s   (target >= 10)")
    print(f"window process CPU         {gui['window_cpu_cores']:7.3f} cores while training")
    print(f"samples/s in the window    {gui['samples_per_second']:7d}")
    print(f"samples/s headless         {gui['headless_samples_per_second']:7d}")
    print(f"window / headless          {gui['ratio_vs_headless']:7.3f}x  (target >= 0.95; median of repeats)")
    print(f"  with the 10 ms probe     {gui['ratio_with_probe']:7.3f}x     (the runs that measured the stalls)")
    if gui["trainer_cores_window"] is not None:
        print(f"trainer's cores in use       {gui['trainer_cores_window']:5.3f} in the window, "
              f"{gui['trainer_cores_headless']:5.3f} headless")
        print(f"trainer's time slices        {gui['trainer_slices_per_s_window']:5.0f} /s in the window, "
              f"{gui['trainer_slices_per_s_headless']:5.0f} /s headless (each wake-up in the window takes one)")
    print(f"runs: window {gui['runs_in_window']}, with probe {gui['runs_in_window_with_probe']}, "
          f"headless {gui['runs_headless']}")
    print(json.dumps(gui))


if __name__ == "__main__":
    main()
