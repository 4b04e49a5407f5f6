"""Two workstations' apps on one profile and one home, and a recorder that fails.

Two processes append to the same recording at once (two TUIs on one profile,
the same XDG state dir): every refresh of both is kept and the file stays
sound. A recorder that cannot write is logged once and never stops a refresh.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auren_tui.core.backend.history import Recording
from auren_tui.core.history.store import FlightRecorder
from tests.auren_tui.data import NOW, stack
from tests.services.base import REPO, wait_until

COUNT = 150

_WRITER = """
import sys
from pathlib import Path
from auren_tui.core.history.store import FlightRecorder
from tests.auren_tui.data import stack
path, base = Path(sys.argv[1]), float(sys.argv[2])
parity, count = int(sys.argv[3]), int(sys.argv[4])
ready, go = Path(f"{path}.ready{parity}"), Path(f"{path}.go")
ready.touch()
while not go.exists():  # both open the new file at the same instant
    pass
with FlightRecorder(path) as recorder:
    for i in range(count):
        recorder.append(stack(at=base + 2 * i + parity, redis_down=parity == 1))
"""


def test_two_writers_on_one_recording_keep_every_refresh(tmp_path: Path) -> None:
    path = tmp_path / "history" / "prod.sqlite"
    path.parent.mkdir()
    base = float(int(time.time())) - 4 * COUNT  # recent: nothing is old enough to prune
    command = [sys.executable, "-c", _WRITER, str(path), repr(base)]
    writers = [
        subprocess.Popen(
            [*command, str(parity), str(COUNT)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for parity in (0, 1)
    ]
    readies = [Path(f"{path}.ready{parity}") for parity in (0, 1)]
    wait_until(lambda: all(r.exists() for r in readies), 60, "both writers ready")
    Path(f"{path}.go").touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    assert [p.name for p in path.parent.iterdir() if ".corrupt-" in p.name] == []
    assert {p.name for p in path.parent.iterdir()} >= {"prod.sqlite"}
    with FlightRecorder(path, read_only=True) as reader:
        kept = reader.between(-math.inf, math.inf)
    assert [round(s.taken_at - base) for s in kept] == list(range(2 * COUNT))
    assert all((s.services[4].health == "unhealthy") == (i % 2 == 1) for i, s in enumerate(kept))


def test_a_recorder_that_cannot_write_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = FlightRecorder(tmp_path / "prod.sqlite", clock=lambda: NOW)
    recording = Recording(recorder, "prod", None, clock=lambda: NOW)
    recording.record(stack(at=NOW - 2))
    recorder.close()  # as a full disk or a vanished directory would: appends now fail
    caplog.set_level(logging.WARNING, "auren_tui.core.backend.history")
    for i in range(3):
        recording.record(stack(at=NOW + i))  # never raises
    warnings = [r for r in caplog.records if r.name == "auren_tui.core.backend.history"]
    assert len(warnings) == 1
    assert "not recording" in warnings[0].getMessage()
    assert str(recorder.path) in warnings[0].getMessage()
