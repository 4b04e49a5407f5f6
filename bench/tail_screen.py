"""The two processes of ``bench/tail.py``'s Tail screen run (not run by hand).

    python bench/tail_screen.py app BOOTSTRAP TOPIC SECONDS WARMUP HOME [SSH_CONFIG HOST]
    python bench/tail_screen.py produce BOOTSTRAP TOPIC RATE SECONDS
    python bench/tail_screen.py create BOOTSTRAP TOPIC PARTITIONS

``app``: the real app (``build_app`` on a ``LiveBackend`` of the built-in local
profile, Kafka overridden to the harness broker; with ``SSH_CONFIG HOST``
a profile logging in to that Host alias of that SSH config file, Kafka at
``BOOTSTRAP`` as the server sees it), headless (``App.run_test``),
key ``2`` pressed as an operator would: the Tail screen opens on
``biometric-events`` from the end. Prints ``LIVE`` once the tail is live, waits
for records to flow plus ``WARMUP`` s, then measures ``SECONDS`` s: the
process's CPU (``time.process_time``: UI thread and the tail's thread), a
20 ms ``set_interval`` heartbeat's tick times and the garbage collector's
pauses; prints one ``RESULT {json}`` line.

``produce``: ``RATE`` bridge-like envelopes a second, paced on the clock in
10 ms steps, for ``SECONDS`` s; prints ``SENT {json}`` at the end.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for _path in (REPO, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TICK = 0.02
"""Heartbeat interval (s), as tests/auren_tui/core/transport/test_heartbeat.py."""


@dataclass
class Heartbeat:
    ticks: list[float] = field(default_factory=list)
    collections: list[tuple[float, float, int]] = field(default_factory=list)
    _gc_began: float = 0.0

    def tick(self) -> None:
        self.ticks.append(time.monotonic())

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.monotonic()
        else:
            self.collections.append((self._gc_began, time.monotonic(), info["generation"]))

    def gaps(self, since: float) -> list[float]:
        ticks = [t for t in self.ticks if t >= since]
        return [b - a for a, b in itertools.pairwise(ticks)]


def _gc_experiment(spec: str) -> None:
    """``BENCH_TAIL_GC``: measure a collector setting before proposing it to the app.

    ``freeze`` (``gc.collect(); gc.freeze()`` once the tail is live), ``T0,T1,T2``
    (``gc.set_threshold``), or both joined by ``+``."""
    for part in filter(None, spec.split("+")):
        if part == "freeze":
            gc.collect()
            gc.freeze()
        else:
            gc.set_threshold(*(int(x) for x in part.split(",")))


async def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"tail_screen: timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_app(
    bootstrap: str,
    topic: str,
    seconds: float,
    warmup: float,
    home: Path,
    ssh: tuple[Path, str] | None = None,
) -> None:
    import logging

    from auren_tui.app import build_app
    from auren_tui.core.backend.live import LiveBackend
    from auren_tui.core.config import Profile, local_profile
    from auren_tui.core.paths import Locations
    from auren_tui.screens.tail import TailScreen

    # The app logs to its log file (launch.py); run_test sets up nothing: without a
    # handler, paramiko's warnings (the collector's refused probes) reach stderr.
    logging.getLogger().addHandler(logging.NullHandler())
    host, _, port = bootstrap.rpartition(":")
    overrides: dict[str, dict[str, object]] = {"kafka": {"host": host, "port": int(port)}}
    profile = (
        local_profile()
        if ssh is None
        else Profile(name="bench", ssh_host=ssh[1], ssh_config=ssh[0])
    )
    profile = replace(
        profile, catalog=profile.catalog.with_overrides(overrides), service_overrides=overrides
    )
    where = Locations(home / "config", home / "data", home / "state", home / "cache")
    app = build_app(LiveBackend(profile, where), locations=where)
    beat = Heartbeat()
    async with app.run_test(size=(160, 45)) as pilot:
        await _wait(lambda: app.dashboard.connected, 30, "the local connection")
        await pilot.press("2")
        await _wait(lambda: isinstance(app.screen, TailScreen), 10, "the Tail screen")
        screen = app.screen
        assert isinstance(screen, TailScreen)
        await _wait(lambda: screen.status.state == "live", 30, "the tail to be live")
        if screen.topics != [topic]:
            raise SystemExit(f"tail_screen: the screen tails {screen.topics}, not [{topic!r}]")
        app.set_interval(TICK, beat.tick)
        _gc_experiment(os.environ.get("BENCH_TAIL_GC", ""))
        print("LIVE", flush=True)
        await _wait(lambda: screen.total > 0, 30, "the first records")
        await asyncio.sleep(warmup)
        gc.callbacks.append(beat.on_gc)
        total0, not_drawn0 = screen.total, screen.not_drawn
        cpu0, wall0 = time.process_time(), time.monotonic()
        print("WINDOW", flush=True)
        keys = asyncio.create_task(_press_keys(pilot, screen, seconds))
        await asyncio.sleep(seconds)
        latencies = await keys
        cpu1, wall1 = time.process_time(), time.monotonic()
        total1, not_drawn1 = screen.total, screen.not_drawn
        gc.callbacks.remove(beat.on_gc)
        gaps = sorted(beat.gaps(wall0))
        pauses = [end - start for start, end, _ in beat.collections if start >= wall0]
        result = {
            "seconds": wall1 - wall0,
            "cpu": cpu1 - cpu0,
            "records": total1 - total0,
            "not_drawn": not_drawn1 - not_drawn0,
            "ring": len(screen.ring),
            "ticks": len(gaps) + 1,
            "gap_max": gaps[-1] if gaps else None,
            "gap_p99": gaps[int(0.99 * (len(gaps) - 1))] if gaps else None,
            "gaps_over_100ms": sum(g > 0.1 for g in gaps),
            "gc_collections": len(pauses),
            "gc_pause_max": max(pauses, default=0.0),
            "header": str(screen.query_one("#tail-status").render()),
            "keys": len(latencies),
            "key_max": max(latencies, default=None),
            "key_p50": sorted(latencies)[len(latencies) // 2] if latencies else None,
        }
        print("RESULT " + json.dumps(result), flush=True)


KEY_EVERY = 0.5
"""A key press every half second of the window: ``up`` (select the record above), then
``end`` (back to the newest), as an operator looking at a record would."""


async def _press_keys(pilot: Any, screen: Any, seconds: float) -> list[float]:
    """Each key's latency: from its press to its action running on the screen's log."""
    from auren_tui.widgets.record_log import RecordLog

    log = screen.query_one(RecordLog)
    handled: list[float] = []
    for name in ("action_cursor", "action_newest"):
        original = getattr(log, name)

        def timed(*args: Any, _original: Any = original) -> Any:
            handled.append(time.monotonic())
            return _original(*args)

        setattr(log, name, timed)
    latencies: list[float] = []
    ends = time.monotonic() + seconds - 1
    keys = itertools.cycle(("up", "end"))
    while time.monotonic() < ends:
        await asyncio.sleep(KEY_EVERY)
        before, sent = len(handled), time.monotonic()
        await pilot.press(next(keys))
        deadline = sent + 5
        while len(handled) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        if len(handled) > before:
            latencies.append(handled[before] - sent)
    return latencies


async def produce(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    from aiokafka import AIOKafkaProducer
    from tail import envelope  # bench/tail.py

    pool = [envelope(n, 500) for n in range(min(int(rate), 10_000))]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await producer.start()
    sent = 0
    try:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                key, value, headers = pool[sent % len(pool)]
                await producer.send(topic, value, key=key, headers=headers)
                sent += 1
            await asyncio.sleep(0.01)
        await producer.flush()
        took = time.monotonic() - started
    finally:
        await producer.stop()
    print("SENT " + json.dumps({"sent": sent, "seconds": took, "rate": sent / took}), flush=True)


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "app":
        bootstrap, topic, seconds, warmup, home, *ssh = rest
        where = (Path(ssh[0]), ssh[1]) if ssh else None
        asyncio.run(run_app(bootstrap, topic, float(seconds), float(warmup), Path(home), where))
    elif mode == "create":
        from tail import _create_topic  # bench/tail.py

        bootstrap, topic, partitions = rest
        asyncio.run(_create_topic(bootstrap, topic, int(partitions)))
    elif mode == "produce":
        bootstrap, topic, rate, seconds = rest
        asyncio.run(produce(bootstrap, topic, float(rate), float(seconds)))
    else:
        raise SystemExit(f"tail_screen: unknown mode {mode!r}: app or produce")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
