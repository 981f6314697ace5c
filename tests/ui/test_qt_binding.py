"""The Qt binding must not corrupt reference counts: PySide6 6.12.0 dropped a reference to None on
every Python slot call, which crashes a long-running window on Python 3.11."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer, Signal


def test_slot_calls_keep_none_alive(qapp):
    calls = [0]

    def tick():
        calls[0] += 1

    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(tick)
    before = sys.getrefcount(None)
    timer.start()
    while calls[0] < 3000:
        qapp.processEvents()
    timer.stop()
    assert sys.getrefcount(None) - before > -100, "the Qt binding leaks references to None"


def test_signal_emission_keeps_refcounts(qapp):
    class Emitter(QObject):
        sent = Signal(object)

    received = []
    emitter = Emitter()
    emitter.sent.connect(received.append)
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for i in range(3000):
        emitter.sent.emit({"value": float(i), "flag": True, "other": False, "none": None})
    qapp.processEvents()
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    assert len(received) == 3000
    assert all(a - b > -100 for a, b in zip(after, before))
