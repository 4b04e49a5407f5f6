"""Markers from the audit log, written by the code that writes it in production:
the restore attempt's own bookkeeping (step, finish, recovery), the container
actions' ``DockerTarget.audit`` and the AuditLog class itself."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from auren_tui.core.catalog import Catalog
from auren_tui.core.history.markers import read_markers
from auren_tui.core.history.model import Marker
from auren_tui.core.paths import Locations
from auren_tui.core.restore.audit import AuditLog
from auren_tui.core.restore.engine import Restorer
from auren_tui.core.restore.journal import Journal
from auren_tui.core.restore.rollback import Action, RecoveryPlan
from auren_tui.core.restore.spec import RunSpec
from auren_tui.core.restore.target import DockerTarget
from auren_tui.core.secrets import SecretStore
from auren_tui.core.transport.connection import LocalConnection

BRIDGE = "biometric-bridge"


def _target(tmp_path: Path, profile: str = "prod") -> DockerTarget:
    """The production writer of container actions' lines (no Docker call is made)."""
    locations = Locations(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")
    conn = LocalConnection(docker_host=f"unix://{tmp_path}/none.sock")
    return DockerTarget(conn, Catalog(()), profile, locations, SecretStore)


def _restorer(target: DockerTarget, container: str = BRIDGE) -> Restorer:
    """A restore attempt's bookkeeping without a Docker client: its audit lines are
    written by AttemptBase._step/_finish and RollbackSteps.recover, as in a restore."""
    spec = RunSpec(service="bridge", container=container, image_id="sha256:" + "ab" * 32)
    return Restorer(
        None, spec, {}, profile=target.profile, audit=AuditLog(target.audit_path),
        journal_dir=target.locations.state_dir / "restore",
    )  # fmt: skip


def _begin(r: Restorer) -> Journal:
    journal = Journal(
        attempt=os.urandom(6).hex(), container=r.name, who=r.who, pid=os.getpid(),
        host=socket.gethostname(), started="2026-11-25T08:00:00+00:00", lock_name=r.lock_name,
    )  # fmt: skip
    r.journal = journal
    r._step("lock", "running")
    r._step("lock", "done", r.lock_name)
    return journal


def _forward(r: Restorer) -> None:
    for step in ("stop", "rename", "create"):
        r._step(step, "running")
        r._step(step, "done")
    r._step("health", "running", "timeout 60 s")


def _markers(target: DockerTarget, since: float, profile: str = "prod") -> tuple[Marker, ...]:
    return read_markers(target.audit_path, profile, since, time.time() + 1)


def test_one_marker_per_restore_attempt_with_how_it_ended(tmp_path: Path) -> None:
    target = _target(tmp_path)
    began = time.time() - 0.001
    restored = _restorer(target)
    _begin(restored)
    _forward(restored)
    restored._step("health", "done")
    restored._finish("restored")

    rolled = _restorer(target, "neuros")
    _begin(rolled)
    _forward(rolled)
    rolled._step("health", "failed", "not healthy within 60 s")
    rolled._step("rollback", "running", "back to 0123456789ab")
    rolled._step("rollback", "done", "the original container is running again")
    rolled._finish("rolled back", "not healthy within 60 s")

    refused = _restorer(target)
    refused.journal = _begin(refused)
    refused._step("lock", "failed", "is being restored by someone@else")
    refused._finish("failed", "biometric-bridge is being restored by someone@else " + "x" * 200)

    killed = _restorer(target, "redis")
    _begin(killed)
    _forward(killed)  # no closing line: killed while waiting for health

    markers = _markers(target, began)
    assert [(m.kind, m.subject) for m in markers] == [
        ("restore", BRIDGE),
        ("restore", "neuros"),
        ("restore", BRIDGE),
        ("restore", "redis"),
    ]
    texts = [m.text for m in markers]
    assert texts[0] == f"restore of {BRIDGE}: done"
    assert texts[1] == "restore of neuros: rolled back (not healthy within 60 s)"
    assert texts[2].startswith(f"restore of {BRIDGE}: failed ({BRIDGE} is being restored by ")
    assert texts[2].endswith("…)")
    assert len(texts[2]) < 200
    assert texts[3] == "restore of redis: unfinished (last step health: running)"
    # At each attempt's first line (its lock step), so in the order they began.
    lines = AuditLog(target.audit_path).tail(0)
    firsts = [e["at"] for e in lines if e.get("step") == "lock" and e.get("state") == "running"]
    assert [m.at for m in markers] == [datetime.fromisoformat(at).timestamp() for at in firsts]


def test_recovery_that_kept_the_new_container_is_one_marker(tmp_path: Path) -> None:
    """As Restorer.run does it: recover(plan), then _finish("recovered") without an attempt."""
    target = _target(tmp_path)
    began = time.time() - 0.001
    interrupted = _restorer(target)
    journal = _begin(interrupted)
    _forward(interrupted)  # killed here

    later = _restorer(target)
    plan = RecoveryPlan(journal, (Action("keep", "f" * 64, "keep ffffffffffff"),))
    note = later.recover(plan)
    later._finish("recovered", later.outcome.recovered)

    markers = _markers(target, began)
    assert [(m.kind, m.text) for m in markers] == [
        ("restore", f"restore of {BRIDGE}: unfinished (last step health: running)"),
        ("recovery", f"recovery of {BRIDGE}: {note}"),
    ]
    assert note == "an interrupted restore had finished: kept"


def test_container_actions_and_break_lock(tmp_path: Path) -> None:
    target = _target(tmp_path)
    began = time.time() - 0.001
    # As ContainerBackend.act writes them.
    target.audit(action="restart", container=BRIDGE, before="a" * 12, after="a" * 12,
                 outcome="done")  # fmt: skip
    target.audit(action="stop", container="redis", before="b" * 12, outcome="failed",
                 reason="409 Client Error: Conflict (container is restarting)")  # fmt: skip
    target.audit(action="start", container="redis", before="b" * 12, after="b" * 12,
                 outcome="done")  # fmt: skip
    # As LockSteps writes them: a break (a marker) and a leftover's release (not one).
    locker = _restorer(target)
    locker._audit(action="break-lock", lock=locker.lock_name, holder="ops@laptop (pid 7)",
                  attempt="0123", outcome="done")  # fmt: skip
    locker._audit(action="release-stale-lock", holder="ops@laptop (pid 7)")
    markers = _markers(target, began)
    assert [(m.kind, m.subject, m.text) for m in markers] == [
        ("restart", BRIDGE, f"restart of {BRIDGE}: done"),
        ("stop", "redis", "stop of redis: failed (409 Client Error: Conflict (container is "
         "restarting))"),
        ("start", "redis", "start of redis: done"),
        ("break-lock", BRIDGE, f"restore lock of {BRIDGE} broken (held by ops@laptop (pid 7))"),
    ]  # fmt: skip
    assert all(began <= m.at <= time.time() for m in markers)


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def test_profile_window_order_and_unreadable_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    t0 = 1_795_000_000.0
    log.write(at=_at(t0 + 30), profile="prod", action="restart", container="b", outcome="done")
    log.write(at=_at(t0 + 10), profile="prod", action="stop", container="a", outcome="done")
    log.write(at=_at(t0 + 20), profile="staging", action="stop", container="a", outcome="done")
    log.write(at=_at(t0 - 10), profile="prod", action="stop", container="early", outcome="done")
    log.write(at=_at(t0 + 99), profile="prod", action="stop", container="late", outcome="done")
    log.write(profile="prod", action="stop", container="no-time", outcome="done", at="soon")
    with path.open("ab") as f:
        f.write(b'{"at": "2026-11-18T11:06:50+00:00", "profile": "prod", "act\n')  # cut short
        f.write(b"\xff\xfe not utf-8\n")
        f.write(b'["a list"]\n')
        f.write(b'{"at": "2026-11-18T11:06:45", "profile": "prod", "action": "restart", '
                b'"container": "naive", "outcome": "done"}\n')  # fmt: skip
    markers = read_markers(path, "prod", t0, t0 + 60)
    assert [(m.at, m.subject) for m in markers] == [
        (t0 + 5, "naive"),  # a time without a zone is UTC
        (t0 + 10, "a"),
        (t0 + 30, "b"),
    ]
    assert read_markers(path, "staging", t0, t0 + 60)[0].subject == "a"
    assert read_markers(path, "nobody", 0, 2e9) == ()
    assert read_markers(tmp_path / "missing.log", "prod", 0, 2e9) == ()
