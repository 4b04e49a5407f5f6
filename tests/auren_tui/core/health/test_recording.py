"""Record and replay snapshots: exact round trip, order, loop, no secrets."""

from __future__ import annotations

import itertools
import json
import uuid
from pathlib import Path

import pytest

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.health.collector import Collector
from auren_tui.core.health.recording import (
    Recorder,
    RecordingError,
    Replayer,
    snapshot_from_json,
    snapshot_to_json,
)
from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    ServiceStatus,
    Snapshot,
)
from auren_tui.core.transport.connection import LocalConnection
from tests.bridge_service.process import BridgeProcess
from tests.services.base import free_port
from tests.services.postgres import Postgres


def _snapshot(n: int = 0) -> Snapshot:
    return Snapshot(
        taken_at=1_780_000_000.123456 + n,
        services=(
            ServiceStatus(
                name="bridge",
                title="Biometric bridge",
                container=ContainerInfo(
                    state="running",
                    health="healthy",
                    started_at=1_779_999_000.987654321,
                    restart_count=2,
                    image="auren-biometric-bridge:production-enhanced (0123456789ab)",
                    cpu_percent=0.1 + 0.2,  # a float that is not a short decimal
                    mem_bytes=123_456_789,
                    mem_limit=1 << 33,
                ),
                check=CheckResult(
                    ok=True,
                    latency_ms=3.25,
                    detail="200 OK (degraded)",
                    status_code=200,
                    body={
                        "status": "degraded",
                        "components": {"redis": {"status": "down"}, "circuit": "closed"},
                        "in_flight": 0,
                        "nested": [1, 2.5, None, True, "ü"],
                    },
                ),
                health="degraded",
                components={"redis": "down", "circuit": "closed"},
            ),
            ServiceStatus(
                name="redis",
                title="Redis",
                container=ContainerInfo(state="missing"),
                check=CheckResult(ok=False, latency_ms=None, detail="connection refused"),
                health="unhealthy",
            ),
            ServiceStatus("grafana", "Grafana", None, None, "unknown"),
        ),
        bridge=BridgeFigures(
            rate_by_source_status={"oura/accepted": 1.5, "whoop/invalid_signature": 0.0},
            p95_seconds=0.0123,
            active_tasks=3.0,
            outbox_backlog=0.0,
            circuit_state="closed",
            source="metrics",
            error=None,
        ),
        errors=("docker: cannot list containers at unix:///x: connection refused",),
    )


def test_round_trip_is_exact() -> None:
    snap = _snapshot()
    line = snapshot_to_json(snap)
    assert "\n" not in line
    again = snapshot_from_json(line)
    assert again == snap
    assert isinstance(again.services, tuple)
    assert isinstance(again.errors, tuple)
    assert snapshot_to_json(again) == line
    empty = Snapshot(taken_at=1.0, services=())
    assert snapshot_from_json(snapshot_to_json(empty)) == empty


def test_recorder_appends_and_replayer_yields_in_order(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "session.jsonl"
    with Recorder(path) as rec:
        for n in range(3):
            rec.record(_snapshot(n))
    with Recorder(path) as rec:  # a second session appends
        rec.record(_snapshot(3))
        assert rec.count == 1
    assert len(path.read_text().splitlines()) == 4
    assert list(Replayer(path)) == [_snapshot(n) for n in range(4)]
    looped = list(itertools.islice(Replayer(path, loop=True), 10))
    assert [s.taken_at for s in looped] == [_snapshot(n % 4).taken_at for n in range(10)]


def test_replayer_of_an_empty_recording_stops_even_when_looping(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert list(Replayer(path, loop=True)) == []


def test_truncated_last_line_is_skipped_but_a_bad_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    line = snapshot_to_json(_snapshot())
    path.write_text(line + "\n" + line[: len(line) // 2])  # the recorder died mid-write
    assert list(Replayer(path)) == [_snapshot()]
    path.write_text(line + "\n{not json}\n" + line + "\n")
    with pytest.raises(RecordingError, match=r"cut\.jsonl:2: not JSON"):
        list(Replayer(path))
    with pytest.raises(RecordingError, match="unsupported recording version"):
        snapshot_from_json(json.dumps({"v": 99, "taken_at": 1, "services": []}))


def test_no_secret_reaches_a_recording(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real bridge whose every secret is a canary, with its database and Redis
    failing (so error texts reach /health): the recording holds none of them."""
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("AUREN_TEST_CANARY", canary)
    wrong_password_dsn = (
        f"postgresql://{postgres.user}:{canary}@{postgres.host}:{postgres.port}/{postgres.database}"
    )
    bridge = BridgeProcess(
        env={
            "OURA_WEBHOOK_SECRET": canary + "-oura",
            "WHOOP_WEBHOOK_SECRET": canary + "-whoop",
            "HEALTHKIT_WEBHOOK_SECRET": "whsec_" + canary,
            "OURA_VERIFICATION_TOKEN": canary + "-token",
            "DATABASE_URL": wrong_password_dsn,
            "REDIS_URL": f"redis://:{canary}@127.0.0.1:{free_port()}/0",
            "TERRA_CONSUMER_ENABLED": "false",
        },
        workdir=tmp_path,
    )
    path = tmp_path / "rec.jsonl"
    try:
        bridge.start(wait_healthy=False)
        catalog = Catalog(
            (
                ServiceSpec("bridge", "Bridge", "", bridge.port, role="bridge"),
                ServiceSpec("postgres", "PostgreSQL", "", postgres.port, check="postgres"),
            )
        )
        with (
            Collector(LocalConnection(docker_host="unix:///nonexistent"), catalog) as collector,
            Recorder(path) as rec,
        ):
            snapshots = [collector.collect() for _ in range(2)]
            for snap in snapshots:
                rec.record(snap)
    finally:
        bridge.stop()
    text = path.read_text()
    bridge_row = snapshots[-1].services[0]
    assert bridge_row.health == "unhealthy"  # the database is down: the body was recorded
    assert bridge_row.check is not None
    assert bridge_row.check.body is not None
    assert bridge_row.check.body["components"]["database"]["status"] == "down"
    assert canary not in text
    assert canary not in json.dumps([snapshot_to_json(s) for s in snapshots])
