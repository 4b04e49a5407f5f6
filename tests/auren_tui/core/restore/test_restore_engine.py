"""The restore engine in process, on the harness Docker Engine: the lock cases a
long-running TUI meets (its own leftover lock, an unlock that failed, another
live process's lock). The SSH path and kill -9 are in test_restore_faults.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auren_tui.core.docker.client import docker_client
from auren_tui.core.restore.audit import AuditLog
from auren_tui.core.restore.engine import Restorer
from auren_tui.core.restore.errors import LockHeld, RecoveryNeeded
from auren_tui.core.restore.lock import LOCK_SUFFIX
from auren_tui.core.restore.spec import capture
from tests.services.docker import DockerEngine, wait_container_health
from tests.services.docker_faults import DockerFaultProxy


@pytest.fixture
def proxy(docker_engine: DockerEngine) -> Iterator[DockerFaultProxy]:
    p = DockerFaultProxy(docker_engine.socket_path).start()
    yield p
    p.close()


@pytest.fixture
def service(docker_engine: DockerEngine, test_image: str) -> Iterator[str]:
    """A healthy container (its own name), removed afterwards with everything it left."""
    name = f"bio-engine-{uuid.uuid4().hex[:8]}"
    client = docker_engine.client()
    try:
        container = client.containers.run(
            test_image, detach=True, name=name, network_mode="host",
            environment={"PORT": str(_free_port())}, restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip
        wait_container_health(container, "healthy", 30)
        yield name
        for c in client.containers.list(all=True):
            if c.name.startswith(name):
                c.remove(force=True)
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restorer(proxy: DockerFaultProxy, name: str, tmp_path: Path) -> Restorer:
    client = docker_client(proxy.url)
    container = client.containers.get(name)
    image = client.images.get(container.attrs["Image"])
    spec, _ = capture("biometric", container.attrs, image.attrs, "tester@here")
    return Restorer(
        client, spec, {}, profile="p", audit=AuditLog(tmp_path / "audit.log"),
        journal_dir=tmp_path / "restore", health_timeout=30,
    )  # fmt: skip


def lock_of(engine: DockerEngine, name: str) -> Any | None:
    client = engine.client()
    try:
        return next(
            (c for c in client.containers.list(all=True) if c.name == name + LOCK_SUFFIX), None
        )
    finally:
        client.close()


def make_lock(engine: DockerEngine, image: str, name: str, pid: int, attempt: str) -> None:
    client = engine.client()
    try:
        client.containers.create(image, name=name + LOCK_SUFFIX, command=["true"], labels={
            "auren.holder": "tester@here", "auren.pid": str(pid),
            "auren.host": socket.gethostname(), "auren.since": "2026-12-02T03:00:00+00:00",
            "auren.attempt": attempt})  # fmt: skip
    finally:
        client.close()


def test_this_process_own_leftover_lock_is_not_a_conflict(
    docker_engine: DockerEngine, test_image: str, service: str, proxy: DockerFaultProxy,
    tmp_path: Path,
) -> None:  # fmt: skip
    """A TUI whose earlier attempt left its lock behind retries: not "being restored
    by" itself."""
    make_lock(docker_engine, test_image, service, os.getpid(), "finished-attempt")
    r = restorer(proxy, service, tmp_path)
    outcome = r.run()
    assert outcome.result == "restored", outcome
    assert lock_of(docker_engine, service) is None
    assert "release-stale-lock" in (tmp_path / "audit.log").read_text()


def test_another_live_process_lock_is_held(
    docker_engine: DockerEngine, test_image: str, service: str, proxy: DockerFaultProxy,
    tmp_path: Path,
) -> None:  # fmt: skip
    make_lock(docker_engine, test_image, service, os.getppid(), "someone-else")
    r = restorer(proxy, service, tmp_path)
    with pytest.raises(LockHeld, match=r"being restored by tester@here \(pid \d+"):
        r.run()
    assert lock_of(docker_engine, service) is not None
    with contextlib.suppress(Exception):
        lock = lock_of(docker_engine, service)
        assert lock is not None
        lock.remove()


def test_an_unlock_that_failed_is_told_and_recovered_by_the_same_process(
    docker_engine: DockerEngine, service: str, proxy: DockerFaultProxy, tmp_path: Path
) -> None:
    # Every try to remove the lock fails: the restore is done, the lock is not.
    proxy.fail("DELETE", r"/containers/[^/?]+\?", "error", times=1000)
    r = restorer(proxy, service, tmp_path)
    r.reconnect_budget = 2
    outcome = r.run()
    assert outcome.result == "restored"
    assert "could not be released" in outcome.lock_held
    assert "--break-lock" in outcome.lock_held
    assert lock_of(docker_engine, service) is not None
    proxy.clear()

    again = restorer(proxy, service, tmp_path)  # the same TUI, the next try
    with pytest.raises(RecoveryNeeded):
        again.run()
    plan = again.recovery_plan()
    assert plan is not None
    assert plan.keeps_new
    outcome = again.run(recover=True)
    assert outcome.result == "recovered"
    assert lock_of(docker_engine, service) is None
    assert not list((tmp_path / "restore").glob("*.json"))
