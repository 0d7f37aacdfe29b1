"""The Qt binding itself: PySide6 6.12.0 on Python 3.11 drops a reference to True on every
Signal.emit from Python, so the app aborts ("bool_dealloc") after a few hundred to a few
thousand emits (pyqtgraph emits on every mouse move). constraints.txt pins a version without it."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.gui

EMITS = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Sender(QObject):
    changed = Signal(int)
    flag = Signal(bool)
s = Sender()
s.flag.connect(lambda v: None)
before = sys.getrefcount(True)
for i in range(20000):
    s.changed.emit(i)
    s.flag.emit(True)
print(before - sys.getrefcount(True))
"""


def test_emitting_signals_from_python_keeps_reference_counts() -> None:
    r = subprocess.run([sys.executable, "-c", EMITS], capture_output=True, text=True, timeout=120,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, f"the Qt binding crashed while emitting signals: {r.stderr[-500:]}"
    assert abs(int(r.stdout.strip())) < 10
