"""What the flight recorder costs per refresh: CPU, disk, and a week's file.

    .venv/bin/python bench/recorder.py [--refreshes 5000] [--no-week]

Builds refreshes shaped like the AUREN stack (the default catalog's eight
services, each with a container and a check with a latency, health bodies on
the HTTP services, the bridge's components, and bridge figures with nine
rate keys: three providers by accepted/duplicate/forbidden), every figure
moving a little from one refresh to the next, ``taken_at`` 2 s apart.

Measured, side by side in the same run:

- the recorder (``core/history/store.py``): ``append`` of each refresh (one
  transaction each), CPU (``time.process_time``) and wall ms per append, the
  bytes ``write()`` passed to the kernel per append (``/proc/self/io`` wchar:
  WAL frames and checkpoints) and bytes on disk per refresh once closed;
- the baseline: the same refreshes through ``recording.Recorder`` (one JSON
  line each, flushed), as it writes them (health bodies included) and with
  the bodies dropped as the recorder drops them;
- projections at the default 2 s refresh (43,200 refreshes a day);
- a simulated week (302,400 refreshes through ``append_many`` with a clock
  moving with them, pruned every 500 as the TUI does): rows and file size
  after thinning, the largest file seen after any prune;
- ``prune()`` on a file at the default 100 MiB cap (filled quickly with real
  bodies, bypassing the encoder), and the day's thinning (43,200 rows a day
  old down to 1,440).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from auren_tui.core.catalog import DEFAULT_CATALOG  # noqa: E402
from auren_tui.core.health.recording import Recorder  # noqa: E402
from auren_tui.core.history.store import FlightRecorder  # noqa: E402
from auren_tui.core.model import (  # noqa: E402
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    ServiceStatus,
    Snapshot,
)

START = 1_795_000_000.0
REFRESH = 2.0
PER_DAY = int(86400 / REFRESH)
MB = 1024 * 1024


def wchar() -> int:
    """Bytes this process has passed to write() so far (Linux)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("wchar:"))


def refreshes(count: int, seed: int = 19) -> Iterator[Snapshot]:
    """``count`` refreshes of the default stack, 2 s apart, figures moving a little."""
    rng = random.Random(seed)
    restarts = dict.fromkeys((s.name for s in DEFAULT_CATALOG), 0)
    for i in range(count):
        at = START + i * REFRESH
        services = []
        for spec in DEFAULT_CATALOG:
            if rng.random() < 0.0005:
                restarts[spec.name] += 1
            ok = rng.random() > 0.002
            http = spec.check == "http"
            components = (
                {"database": "up", "redis": "up", "kafka": "up", "circuit": "closed"}
                if spec.role == "bridge"
                else {}
            )
            body = {"status": "ok", "version": "1.4.2", "components": components} if http else None
            services.append(
                ServiceStatus(
                    name=spec.name,
                    title=spec.title,
                    container=ContainerInfo(
                        state="running",
                        health="healthy",
                        started_at=START - 3 * 3600,
                        restart_count=restarts[spec.name],
                        image=f"auren/{spec.name}:production",
                        cpu_percent=round(rng.uniform(0.2, 35.0), 2),
                        mem_bytes=rng.randint(80, 900) * MB + rng.randint(0, MB),
                        mem_limit=2048 * MB,
                    ),
                    check=CheckResult(
                        ok=ok,
                        latency_ms=round(rng.lognormvariate(1.2, 0.5), 3) if ok else None,
                        detail="200" if http else "protocol ok",
                        status_code=200 if http else None,
                        body=body,
                    ),
                    health="healthy" if ok else "unhealthy",
                    components=components,
                )
            )
        rates = {
            f"{provider}/{status}": round(rng.uniform(*span), 3)
            for provider in ("oura", "whoop", "healthkit")
            for status, span in (("accepted", (0.5, 9.0)), ("duplicate", (0, 0.4)),
                                 ("forbidden", (0, 0.05)))
        }  # fmt: skip
        bridge = BridgeFigures(
            rate_by_source_status=rates, p95_seconds=round(rng.uniform(0.006, 0.04), 5),
            active_tasks=float(rng.randint(0, 8)), outbox_backlog=float(rng.randint(0, 30)),
            circuit_state="closed",
        )  # fmt: skip
        yield Snapshot(taken_at=at, services=tuple(services), bridge=bridge)


def without_bodies(snapshot: Snapshot) -> Snapshot:
    return replace(
        snapshot,
        services=tuple(
            replace(s, check=replace(s.check, body=None)) if s.check else s
            for s in snapshot.services
        ),
    )


def measure_appends(tmp: Path, snapshots: list[Snapshot]) -> dict[str, float]:
    path = tmp / "append.sqlite"
    recorder = FlightRecorder(path, clock=lambda: snapshots[0].taken_at)
    cpu, wall, written = time.process_time(), time.perf_counter(), wchar()
    for snapshot in snapshots:
        recorder.append(snapshot)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    written = wchar() - written
    live = recorder.size_bytes()
    recorder.close()
    n = len(snapshots)
    return {
        "cpu_ms": cpu * 1000 / n, "wall_ms": wall * 1000 / n, "written": written / n,
        "disk": path.stat().st_size / n, "live": live,
    }  # fmt: skip


def measure_jsonl(tmp: Path, snapshots: list[Snapshot], name: str) -> dict[str, float]:
    path = tmp / name
    cpu, wall, written = time.process_time(), time.perf_counter(), wchar()
    with Recorder(path) as recorder:
        for snapshot in snapshots:
            recorder.record(snapshot)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    written = wchar() - written
    n = len(snapshots)
    return {
        "cpu_ms": cpu * 1000 / n, "wall_ms": wall * 1000 / n, "written": written / n,
        "disk": path.stat().st_size / n,
    }  # fmt: skip


def simulate_week(tmp: Path, snapshots: list[Snapshot]) -> dict[str, float]:
    """A week at 2 s through append_many, the clock moving with the refreshes."""
    now = [START]
    path = tmp / "week.sqlite"
    recorder = FlightRecorder(path, clock=lambda: now[0])
    largest = 0
    total = 7 * PER_DAY
    started = time.perf_counter()
    batch = recorder.prune_every
    for first in range(0, total, batch):
        chunk = [
            replace(snapshots[i % len(snapshots)], taken_at=START + i * REFRESH)
            for i in range(first, min(first + batch, total))
        ]
        now[0] = chunk[-1].taken_at
        recorder.append_many(chunk)  # ends with a prune: every 500 appends
        largest = max(largest, recorder.size_bytes())
    seconds = time.perf_counter() - started
    now[0] += REFRESH * 500  # as 500 refreshes later: the periodic prune of a week's file
    steady = recorder.prune()
    rows = recorder.count()
    oldest = recorder.first()
    recorder.close()
    return {
        "rows": rows, "size": path.stat().st_size, "largest": largest, "seconds": seconds,
        "span_days": (now[0] - (oldest.taken_at if oldest else now[0])) / 86400,
        "steady_ms": steady.seconds * 1000, "steady_thinned": steady.thinned,
    }  # fmt: skip


def fill_to_cap(path: Path, bodies: list[bytes], max_bytes: int, spacing: float) -> float:
    """Rows of real bodies straight into the file, after those in it, until it exceeds
    ``max_bytes``; the newest ``taken_at``."""
    conn = sqlite3.connect(path, isolation_level=None)
    at, size = conn.execute("SELECT max(taken_at) FROM refreshes").fetchone()[0] + spacing, 0
    while size <= max_bytes:
        conn.execute("BEGIN")
        rows = [(at + i * spacing, 1, bodies[i % len(bodies)]) for i in range(20000)]
        conn.executemany("INSERT INTO refreshes VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        at = rows[-1][0] + spacing
        size = conn.execute("PRAGMA page_count").fetchone()[0] * 4096
    conn.close()
    return at - spacing


def prune_at_cap(tmp: Path, snapshots: list[Snapshot]) -> dict[str, float]:
    """The file filled past 100 MiB, then opened: the open's prune is the cap prune."""
    path = tmp / "cap.sqlite"
    with FlightRecorder(path, clock=lambda: START) as seed:
        seed.append_many(snapshots[:200])
    conn = sqlite3.connect(path)
    bodies = [bytes(b) for (b,) in conn.execute("SELECT body FROM refreshes")]
    conn.close()
    newest = fill_to_cap(path, bodies, 100 * MB, 0.001)  # all within the newest minute
    before = path.stat().st_size  # the filler closed: no WAL left
    started = time.perf_counter()
    recorder = FlightRecorder(path, clock=lambda: newest, thin_after=86400)
    opened = time.perf_counter() - started
    rows = recorder.count()
    again = recorder.prune()
    recorder.close()
    return {"before": before, "opened": opened, "after": path.stat().st_size, "rows": rows,
            "again": again.seconds}  # fmt: skip


def thin_a_day(tmp: Path, snapshots: list[Snapshot]) -> dict[str, float]:
    """A day of refreshes at 2 s, then the clock a day later: one prune thins it."""
    now = [START]
    path = tmp / "thin.sqlite"
    with FlightRecorder(path, clock=lambda: now[0], prune_every=10**9) as recorder:
        recorder.append_many(
            replace(snapshots[i % len(snapshots)], taken_at=START + i * REFRESH)
            for i in range(PER_DAY)
        )
        before = recorder.count()
        now[0] = START + 2 * 86400
        pruned = recorder.prune()
        return {"before": before, "after": recorder.count(), "thinned": pruned.thinned,
                "seconds": pruned.seconds}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=5000)
    parser.add_argument("--no-week", action="store_true", help="skip the simulated week")
    args = parser.parse_args()
    snapshots = list(refreshes(args.refreshes))
    bare = [without_bodies(s) for s in snapshots]
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as name:
        tmp = Path(name)
        store = measure_appends(tmp, snapshots)
        lines = measure_jsonl(tmp, snapshots, "as-recorded.jsonl")
        lines_bare = measure_jsonl(tmp, bare, "bodies-dropped.jsonl")
        print(f"\nFlight recorder: {args.refreshes:,} refreshes of the default stack, 2 s apart\n")
        head = ("", "recorder (SQLite)", "JSON lines", "JSON lines, no bodies")
        print(f"{head[0]:<28}{head[1]:>20}{head[2]:>14}{head[3]:>24}")
        rows = [
            ("CPU ms / refresh", "cpu_ms", "{:.3f}"),
            ("wall ms / refresh", "wall_ms", "{:.3f}"),
            ("bytes written / refresh", "written", "{:,.0f}"),
            ("bytes on disk / refresh", "disk", "{:,.0f}"),
        ]
        for label, key, form in rows:
            cells = (form.format(store[key]), form.format(lines[key]), form.format(lines_bare[key]))
            print(f"{label:<28}{cells[0]:>20}{cells[1]:>14}{cells[2]:>24}")
        per_day = [d["disk"] * PER_DAY / MB for d in (store, lines, lines_bare)]
        cpu_day = [d["cpu_ms"] * PER_DAY / 1000 for d in (store, lines, lines_bare)]
        print(f"{'disk / day at 2 s (MiB)':<28}{per_day[0]:>20.1f}{per_day[1]:>14.1f}"
              f"{per_day[2]:>24.1f}")  # fmt: skip
        print(f"{'CPU s / day at 2 s':<28}{cpu_day[0]:>20.1f}{cpu_day[1]:>14.1f}"
              f"{cpu_day[2]:>24.1f}")  # fmt: skip
        print(f"{'a week, unthinned (MiB)':<28}{per_day[0] * 7:>20.1f}{per_day[1] * 7:>14.1f}"
              f"{per_day[2] * 7:>24.1f}")  # fmt: skip
        print(f"(recorder with its WAL while open: {store['live'] / MB:.1f} MiB)")
        thin = thin_a_day(tmp, snapshots)
        print(f"\nthinning a day-old day: {thin['before']:,.0f} -> {thin['after']:,.0f} rows "
              f"in {thin['seconds'] * 1000:.0f} ms")  # fmt: skip
        if not args.no_week:
            week = simulate_week(tmp, snapshots)
            print(f"a simulated week at 2 s ({7 * PER_DAY:,} refreshes, pruned every 500, "
                  f"{week['seconds']:.0f} s): {week['rows']:,.0f} rows over "
                  f"{week['span_days']:.1f} days, {week['size'] / MB:.1f} MiB; largest after "
                  f"a prune {week['largest'] / MB:.1f} MiB (cap 100 MiB)")  # fmt: skip
            print(f"the periodic prune of that week's file (every 500 refreshes): "
                  f"{week['steady_ms']:.0f} ms, "
                  f"{week['steady_thinned']:,.0f} rows thinned")  # fmt: skip
        cap = prune_at_cap(tmp, snapshots)
        print(f"prune at the cap: {cap['before'] / MB:.1f} MiB -> {cap['after'] / MB:.1f} MiB "
              f"({cap['rows']:,.0f} rows left) in {cap['opened'] * 1000:.0f} ms (the open's "
              f"prune); the next prune {cap['again'] * 1000:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
