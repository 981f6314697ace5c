"""Python's cyclic garbage collector in the window: only on the GUI thread, and not over start-up objects.

Automatic collection runs in whichever thread allocates. When a worker thread (the ONNX export in the
export dialog) collected a cycle holding Qt wrappers left by an earlier window, PySide deleted those
QObjects in the worker and the process deadlocked: the worker held Qt's object lock and waited for
the GIL, the GUI thread held the GIL and waited for the lock. The suite hung in CI that way.
"""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtWidgets import QWidget


class Holder:
    """A cycle that keeps a Qt widget: only the cyclic collector frees it."""

    def __init__(self):
        self.widget = QWidget()
        self.me = self


def test_cycles_holding_qt_objects_are_collected_on_the_gui_thread_only(ready_window, qtbot):
    threads = []

    def record(phase, info):
        if phase == "start":
            threads.append(threading.current_thread().name)

    holder = Holder()
    gone = weakref.ref(holder)
    del holder
    gc.callbacks.append(record)
    try:
        def allocate():  # far past the threshold that starts an automatic collection (700)
            junk = []
            for _ in range(50_000):
                pair = [None]
                pair[0] = pair
                junk.append(pair)
                if len(junk) > 1000:
                    junk.clear()

        worker = threading.Thread(target=allocate, name="allocating-worker")
        worker.start()
        worker.join()
        assert "allocating-worker" not in threads
        assert gone() is not None  # nothing collected it yet: that is the GUI thread's job
        qtbot.waitUntil(lambda: gone() is None, timeout=120_000)
    finally:
        gc.callbacks.remove(record)
    assert threads and set(threads) == {threading.main_thread().name}


def test_objects_made_at_start_up_leave_the_garbage_collectors_full_passes(ready_window):
    """Once PyTorch is ready the window freezes what exists (~230,000 objects with PyTorch): a full
    collection over them took ~90 ms on the GUI thread, a stall."""
    assert gc.get_freeze_count() > 10_000
