"""``playground gui --smoke-test``: does this install (or frozen bundle) start? A few checks, one line
each (``ok: ...`` or ``FAILED: ...``), exit 0 when all pass, else 1; it never waits unbounded.

The checks: PyTorch imports and computes; the bundled default model classifies a drawing made of
strokes through the canvas's preprocessing; a training worker process starts (in a bundle, the app
itself with the hidden ``_worker`` argument) and says "ready"; the main window shows offscreen,
loads PyTorch as it does for a user, and closes.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable

WORKER_READY_TIMEOUT_S = 120.0
WINDOW_TIMEOUT_S = 120.0  # the window's own load of PyTorch, on a cold disk
# A "1": one stroke, top to bottom with a slight slant, in the pad's units (any units do).
DRAWN_ONE = [[(0.52, 0.12), (0.51, 0.3), (0.5, 0.5), (0.49, 0.7), (0.48, 0.88)]]
DRAWN_DIGIT = 1


def check_torch() -> str:
    import torch

    product = (torch.ones(2, 3) @ torch.ones(3, 2)).sum().item()
    if product != 12.0:
        raise RuntimeError(f"a 2x3 by 3x2 product of ones summed to {product}, not 12")
    return f"PyTorch {torch.__version__} loaded and computes"


def check_default_model() -> str:
    from playground.core.predict import Classifier
    from playground.core.preprocess import preprocess_strokes

    classifier = Classifier.from_path(None)
    image = preprocess_strokes(DRAWN_ONE)
    probabilities = classifier.probabilities(image)
    guess = int(probabilities.argmax())
    if classifier.classes[guess] != str(DRAWN_DIGIT):
        raise RuntimeError(f"the default model read a drawn {DRAWN_DIGIT} as {classifier.classes[guess]}")
    return f"the default model reads a drawn {DRAWN_DIGIT} ({probabilities[guess]:.0%})"


def check_worker(timeout: float = WORKER_READY_TIMEOUT_S) -> str:
    from playground.core.worker import TrainingProcess, worker_command

    began = time.perf_counter()
    process = TrainingProcess()
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.proc.stdout.readline()), daemon=True,
                     name="smoke-worker").start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        process.kill()
        raise RuntimeError(f"the training worker ({' '.join(worker_command())}) did not say ready within "
                           f"{timeout:.0f} s") from None
    try:
        ready = json.loads(line).get("type") == "ready"
    except (json.JSONDecodeError, AttributeError):
        ready = False
    if not ready:
        process.kill()
        tail = "; ".join(list(process._stderr)[-3:])
        raise RuntimeError(f"the training worker printed {line.strip()!r} instead of ready"
                           + (f" ({tail})" if tail else ""))
    process.proc.stdin.close()  # the worker ends when its input closes before a job
    try:
        process.proc.wait(timeout=30)
    except Exception:  # noqa: BLE001 - a worker that does not end is killed; it said ready, which counts
        process.kill()
    return f"the training worker started and said ready ({time.perf_counter() - began:.1f} s)"


def check_window(timeout: float = WINDOW_TIMEOUT_S) -> str:
    """Shows the main window, waits (event loop running) for its PyTorch load, then closes it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication exists
    from PySide6.QtCore import QTimer

    from playground.ui.app import create_app
    from playground.ui.main_window import MainWindow

    app = create_app([])
    window = MainWindow()
    window.show()
    outcome: dict[str, str] = {}
    deadline = time.monotonic() + timeout

    def poll() -> None:
        if window.torch_ready or "PyTorch failed" in window.device_label.text() or time.monotonic() > deadline:
            outcome["label"] = window.device_label.text()
            outcome["ready"] = "yes" if window.torch_ready else ""
            poller.stop()
            window.close()
            app.quit()

    poller = QTimer()
    poller.timeout.connect(poll)
    poller.start(100)
    app.exec()
    if not outcome.get("ready"):
        raise RuntimeError(f"the window did not get PyTorch ready within {timeout:.0f} s "
                           f"({outcome.get('label', 'no status')})")
    if window.isVisible():
        raise RuntimeError("the window did not close")
    return f"the main window showed ({app.platformName()}), loaded PyTorch and closed"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("PyTorch", check_torch),
    ("default model", check_default_model),
    ("training worker", check_worker),
    ("main window", check_window),
]


def run_smoke_test() -> int:
    """Runs every check (a failed one does not stop the rest) and prints one line each."""
    failed = 0
    for name, check in CHECKS:
        try:
            print(f"ok: {check()}", flush=True)
        except Exception as exc:  # noqa: BLE001 - each failure is reported, as a line, not a traceback
            failed += 1
            print(f"FAILED: {name}: {exc} ({type(exc).__name__})", flush=True)
    print("smoke test passed" if not failed else f"smoke test: {failed} of {len(CHECKS)} checks failed",
          flush=True)
    return 1 if failed else 0
