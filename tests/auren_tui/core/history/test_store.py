"""The flight recorder (core/history/store.py): round trip, stepping, the three bounds,
a kill mid-append, damaged files. Plain SQLite in a temp dir: the fast tier."""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from auren_tui.core.history.store import FlightRecorder, HistoryError
from auren_tui.core.model import BridgeFigures, Snapshot
from auren_tui.core.paths import Locations
from tests.auren_tui.data import NOW, stack
from tests.services.base import REPO, wait_until

DAY = 86400.0


def bodyless(snapshot: Snapshot) -> Snapshot:
    """What the recorder gives back: every check's body dropped."""
    return replace(
        snapshot,
        services=tuple(
            replace(s, check=replace(s.check, body=None)) if s.check else s
            for s in snapshot.services
        ),
    )


def varied(at: float, rng: random.Random) -> Snapshot:
    """The test stack with figures that move like a live one's (compresses as badly)."""
    base = stack(at=at, redis_down=rng.random() < 0.05)
    services = tuple(
        replace(
            s,
            check=replace(s.check, latency_ms=round(rng.uniform(0.5, 30), 3)) if s.check else None,
            container=replace(
                s.container,
                cpu_percent=round(rng.uniform(0, 40), 2),
                mem_bytes=rng.randint(10**8, 10**9),
            )
            if s.container
            else None,
        )
        for s in base.services
    )
    rates = {f"{p}/{k}": round(rng.uniform(0, 9), 3) for p in ("oura", "whoop") for k in "ab"}
    bridge = BridgeFigures(rates, p95_seconds=rng.uniform(0.005, 0.05), outbox_backlog=3.0)
    return replace(base, services=services, bridge=bridge)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history" / "prod.sqlite"


def test_path_for_is_per_profile_under_the_state_dir(tmp_path: Path) -> None:
    locations = Locations(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")
    assert FlightRecorder.path_for(locations, "prod") == tmp_path / "s/history/prod.sqlite"
    with pytest.raises(ValueError, match="invalid profile name"):
        FlightRecorder.path_for(locations, "../prod")


def test_round_trip_gives_back_an_equal_snapshot_without_check_bodies(path: Path) -> None:
    first = stack(at=NOW)
    bridge = first.services[2]
    assert bridge.check is not None
    with_body = replace(
        bridge, check=replace(bridge.check, body={"status": "ok", "big": "x" * 5000})
    )
    snapshot = replace(
        first,
        services=(*first.services[:2], with_body, *first.services[3:]),
        errors=("docker unreachable: permission denied",),
    )
    with FlightRecorder(path) as recorder:
        recorder.append(snapshot)
    with FlightRecorder(path, read_only=True) as reader:
        back = reader.last()
    assert back == bodyless(snapshot)
    assert back != snapshot  # the body was there, and is gone
    assert isinstance(back.services, tuple)
    assert isinstance(back.errors, tuple)
    assert back.services[2].components == {
        "database": "up", "redis": "up", "kafka": "up", "circuit": "closed"
    }  # fmt: skip
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_same_taken_at_replaces(path: Path) -> None:
    with FlightRecorder(path) as recorder:
        recorder.append(stack(at=NOW))
        recorder.append(stack(at=NOW, redis_down=True))
        assert recorder.count() == 1
        assert recorder.last() == stack(at=NOW, redis_down=True)


def test_first_last_step_between_at_or_before(path: Path) -> None:
    times = [NOW + 2 * i for i in range(10)]
    with FlightRecorder(path, clock=lambda: NOW) as recorder:
        for i, at in enumerate(times):
            recorder.append(stack(at=at, redis_down=i % 3 == 0))
        assert recorder.count() == 10
        assert recorder.first() == stack(at=NOW, redis_down=True)
        assert recorder.last() == stack(at=times[-1], redis_down=True)

        def when(snapshot: Snapshot | None) -> float | None:
            return None if snapshot is None else snapshot.taken_at

        assert when(recorder.step(times[4], -1)) == times[3]
        assert when(recorder.step(times[4], -4)) == times[0]
        assert recorder.step(times[4], -5) is None  # past the oldest
        assert when(recorder.step(times[4], 5)) == times[9]
        assert recorder.step(times[4], 6) is None  # past the newest
        assert when(recorder.step(times[4], 0)) == times[4]
        assert when(recorder.step(times[4] + 1, -1)) == times[4]  # from a time not recorded
        assert when(recorder.step(times[4] + 1, 1)) == times[5]
        assert when(recorder.at_or_before(times[6] + 1.9)) == times[6]
        assert recorder.at_or_before(NOW - 0.001) is None
        assert [s.taken_at for s in recorder.between(times[2], times[5])] == times[2:6]
        assert recorder.between(times[9] + 1, times[9] + 100) == []
        buckets = recorder.between(NOW, times[-1], every=5)  # first of each 5 s bucket
        assert [s.taken_at - NOW for s in buckets] == [0, 6, 10, 16]


def test_between_pages_through_more_rows_than_a_page(path: Path) -> None:
    times = [NOW + i for i in range(1234)]
    with FlightRecorder(path, clock=lambda: NOW) as recorder:
        assert recorder.append_many(stack(at=t) for t in times) == len(times)
        got = recorder.between(times[0], times[-1])
    assert [s.taken_at for s in got] == times  # each once, in order, across three pages


def test_a_reader_of_a_missing_file_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history" / "nobody.sqlite"
    with FlightRecorder(path, read_only=True) as reader:
        assert reader.count() == 0
        assert reader.last() is None
        assert reader.between(0, math.inf) == []
        assert reader.size_bytes() == 0
    assert not path.parent.exists()


def test_a_reader_sees_what_a_live_writer_appends(path: Path) -> None:
    with FlightRecorder(path) as writer:
        reader = FlightRecorder(path, read_only=True)  # before the first refresh
        assert reader.count() == 0
        writer.append(stack(at=NOW))
        writer.append(stack(at=NOW + 2))
        assert reader.last() == stack(at=NOW + 2)
        with pytest.raises(RuntimeError, match="read-only"):
            reader.append(stack(at=NOW + 4))
        reader.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.append(stack(at=NOW + 4))


def test_keep_seconds_prunes_on_open_with_an_injected_clock(path: Path) -> None:
    times = [NOW + h * 3600 for h in range(10 * 24)]  # ten days, hourly
    with FlightRecorder(path, clock=lambda: NOW) as recorder:
        recorder.append_many(stack(at=t) for t in times)
        assert recorder.count() == len(times)
    later = times[-1] + 60
    with FlightRecorder(path, keep_seconds=3 * DAY, clock=lambda: later) as recorder:
        kept = [s.taken_at for s in recorder.between(0, math.inf)]
    assert kept == [t for t in times if t >= later - 3 * DAY]
    assert len(kept) == 72


def test_thinning_keeps_the_first_refresh_of_each_step_once_old(path: Path) -> None:
    start = 1_795_000_040.0  # 20 s into a minute: the first bucket is cut short
    times = [start + 10 * i for i in range(2 * 360)]  # two hours at 10 s
    now = times[-1]
    with FlightRecorder(path, thin_after=3600, thin_step=60, clock=lambda: start) as recorder:
        recorder.append_many(stack(at=t) for t in times)
        assert recorder.count() == len(times)  # nothing old yet, on that clock
    with FlightRecorder(path, thin_after=3600, thin_step=60, clock=lambda: now) as recorder:
        kept = [s.taken_at for s in recorder.between(0, math.inf)]
    cut = now - 3600
    old, recent = [t for t in kept if t < cut], [t for t in kept if t >= cut]
    assert recent == [t for t in times if t >= cut]  # the last hour untouched
    expected: dict[int, float] = {}
    for t in times:
        if t < cut:
            expected.setdefault(int(t // 60), t)  # the first of each minute
    assert old == sorted(expected.values())
    assert start % 60 == 20
    assert old[:3] == [start, start + 40, start + 100]  # minutes, not 60 s from the first


def test_a_week_of_refreshes_stays_within_the_cap_and_keeps_the_newest(path: Path) -> None:
    """A week at 120 s (5,040 refreshes; at 2 s it would be 302,400: bench/recorder.py),
    thinned to one per 10 min after a day, under a cap it reaches: after every prune
    the file is within max_bytes; the WAL beside it is bounded apart (~1 MiB)."""
    max_bytes, spacing, every = 160 * 1024, 120.0, 252
    rng = random.Random(19)
    now = [NOW]
    recorder = FlightRecorder(
        path, max_bytes=max_bytes, thin_step=600, prune_every=every, clock=lambda: now[0]
    )
    capped_once = False
    with recorder:
        total = int(7 * DAY / spacing)
        for first in range(0, total, every):
            batch = [varied(NOW + i * spacing, rng) for i in range(first, first + every)]
            now[0] = batch[-1].taken_at
            recorder.append_many(batch)  # one transaction, then the prune
            assert path.stat().st_size <= max_bytes, f"after {first + every} refreshes"
            wal = Path(f"{path}-wal")
            assert not wal.exists() or wal.stat().st_size <= 257 * (4096 + 24) + 32
            assert recorder.last() == bodyless(batch[-1])
            capped_once = capped_once or recorder.first().taken_at > now[0] - DAY  # type: ignore[union-attr]
        kept = [s.taken_at for s in recorder.between(0, math.inf)]
    assert capped_once, "the cap never bound: the test would prove nothing"
    assert kept[-1] == NOW + (total - 1) * spacing
    assert kept == sorted(kept)
    with FlightRecorder(path, max_bytes=1, clock=lambda: now[0]) as tiny:
        assert [s.taken_at for s in tiny.between(0, math.inf)] == [kept[-1]]


def test_the_headroom_holds_the_appends_between_two_prunes(path: Path) -> None:
    """Pruned to 90 % of the cap, so the refreshes until the next prune fit under it:
    the database never exceeds max_bytes, after any single append."""
    max_bytes, rng = 128 * 1024, random.Random(7)
    with FlightRecorder(path, max_bytes=max_bytes, prune_every=10, clock=lambda: NOW) as rec:
        observer = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        sizes = []
        for i in range(800):
            rec.append(varied(NOW + 2 * i, rng))
            pages, page = (
                observer.execute(f"PRAGMA {n}").fetchone()[0] for n in ("page_count", "page_size")
            )
            sizes.append(pages * page)
        observer.close()
        assert rec.count() < 800  # the cap bound
    assert max(sizes) <= max_bytes
    assert max(sizes) > 0.9 * max_bytes  # and the database used its room


_WRITER = """
import sys
from pathlib import Path
from auren_tui.core.history.store import FlightRecorder
from tests.auren_tui.data import stack

base = float(sys.argv[2])
recorder = FlightRecorder(Path(sys.argv[1]), prune_every=40)
i = 0
while True:
    recorder.append(stack(at=base + i, redis_down=i % 2 == 1))
    i += 1
"""


def test_a_killed_writer_leaves_a_sound_file_and_the_last_complete_refresh(
    path: Path, tmp_path: Path
) -> None:
    base = time.time()
    log = tmp_path / "writer.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), repr(base)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:

        def enough() -> bool:
            with FlightRecorder(path, read_only=True) as reader:
                return reader.count() >= 300

        wait_until(enough, 30, "the writer's first 300 refreshes", proc=proc, log=log)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    with FlightRecorder(path) as recorder:  # a writer's open: prunes, moves nothing aside
        snapshots = recorder.between(0, math.inf)  # every row decodes
        assert len(snapshots) == recorder.count() >= 300
    for snapshot in snapshots:
        i = round(snapshot.taken_at - base)
        assert snapshot == stack(at=base + i, redis_down=i % 2 == 1)
    assert [round(s.taken_at - base) for s in snapshots] == list(range(len(snapshots)))
    assert [p.name for p in path.parent.iterdir() if ".corrupt-" in p.name] == []


def test_a_damaged_file_is_moved_aside_by_the_writer_and_named_by_the_reader(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"not a database, " * 512
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"stale wal " * 100)
    with pytest.raises(HistoryError) as info:
        FlightRecorder(path, read_only=True)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "not a database" in message
    with caplog.at_level(logging.WARNING), FlightRecorder(path, clock=lambda: NOW) as writer:
        writer.append(stack(at=NOW))
        assert writer.count() == 1
    aside = path.with_name(f"prod.sqlite.corrupt-{int(NOW)}")
    assert aside.read_bytes() == garbage
    conn = sqlite3.connect(path)  # a sound new file: the stale WAL never met it
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    with FlightRecorder(path, read_only=True) as reader:
        assert reader.last() == stack(at=NOW)


def test_another_programs_sqlite_file_is_not_taken_for_a_recording(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="tables notes"):
        FlightRecorder(path, read_only=True)
    FlightRecorder(path, clock=lambda: NOW).close()
    assert path.with_name(f"prod.sqlite.corrupt-{int(NOW)}").exists()


def test_appends_and_reads_from_threads_at_once(path: Path) -> None:
    errors: list[BaseException] = []
    with FlightRecorder(path, prune_every=25, clock=lambda: NOW) as recorder:

        def write(k: int) -> None:
            try:
                for i in range(50):
                    recorder.append(stack(at=NOW + k * 1000 + i))
                    recorder.last()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert recorder.count() == 200
    assert os.path.getsize(path) > 0
