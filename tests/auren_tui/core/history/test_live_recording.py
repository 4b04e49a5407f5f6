"""The live backend records every refresh of a real service and steps back through them.

A Redis of the harness is the stack (the local profile, no SSH); it is
stopped in the middle, so the recording holds the outage and its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.config import LOCAL, HistoryPrefs, Profile
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.paths import Locations
from tests.services.redis import Redis

pytestmark = pytest.mark.services


@pytest.fixture
def own_redis() -> Iterator[Redis]:
    redis = Redis().start()
    yield redis
    redis.close()


def _locations(root: Path) -> Locations:
    return Locations(root / "config", root / "data", root / "state", root / "cache")


def test_every_refresh_is_recorded_and_stepped_through(own_redis: Redis, tmp_path: Path) -> None:
    catalog = Catalog((ServiceSpec("redis", "Redis", "", own_redis.port, check="redis", path=""),))
    profile = Profile(name=LOCAL, catalog=catalog)
    locations = _locations(tmp_path)
    backend = LiveBackend(profile, locations, history=HistoryPrefs(keep_days=1, max_mb=5))
    backend.start()
    try:
        seen = [backend.collect(), backend.collect()]
        own_redis.stop()
        seen.append(backend.collect())
        own_redis.start()
        seen.append(backend.collect())
        assert [s.services[0].health for s in seen] == [
            "healthy",
            "healthy",
            "unhealthy",
            "healthy",
        ]
        # Stepping back from the newest walks the refreshes as they were taken.
        back = backend.recorded(seen[-1].taken_at, -1)
        assert back is not None
        assert back.taken_at == seen[2].taken_at
        assert back.services[0].health == "unhealthy"
        assert back.services[0].check is not None
        assert back.services[0].check.detail == seen[2].services[0].check.detail  # type: ignore[union-attr]
        assert backend.recorded(seen[-1].taken_at, 1) is None
        first = backend.first_recorded()
        assert first is not None
        assert first.taken_at == seen[0].taken_at
        history = backend.history(15 * 60)
        assert any("no Prometheus" in n for n in history.notes)
    finally:
        backend.close()
    # Another process (the history command) reads the same file, read-only.
    path = FlightRecorder.path_for(locations, LOCAL)
    assert path == locations.state_dir / "history" / "local.sqlite"
    with FlightRecorder(path, read_only=True) as reader:
        assert [s.taken_at for s in reader.between(0, seen[-1].taken_at)] == [
            s.taken_at for s in seen
        ]


def test_recording_off_records_nothing(own_redis: Redis, tmp_path: Path) -> None:
    catalog = Catalog((ServiceSpec("redis", "Redis", "", own_redis.port, check="redis", path=""),))
    locations = _locations(tmp_path)
    backend = LiveBackend(Profile(name=LOCAL, catalog=catalog), locations, record=False)
    backend.start()
    try:
        snap = backend.collect()
        assert backend.recorded(None, -1) is None
        assert backend.recorded(snap.taken_at, -1) is None
    finally:
        backend.close()
    assert not FlightRecorder.path_for(locations, LOCAL).exists()
