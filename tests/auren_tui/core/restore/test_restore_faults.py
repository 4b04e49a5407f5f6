"""Restore on every unlucky path: a failure, a dropped connection, an SSH drop or a
``kill -9`` at each step boundary, a second operator, a stale lock.

The whole real path stays: the ``auren-tui`` script → SSH → ``docker system
dial-stdio`` in the server namespace → the real dockerd. The profile's Docker
socket is a ``DockerFaultProxy`` in front of the engine's, which breaks
exactly the one call a test names (tests/services/docker_faults.py).

Every test ends with the same questions: is the service as good as before (or
restored)? Is an older ``-failed-`` container, left by an earlier restore,
untouched? Is the lock released, the outcome audited?
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auren_tui.core.restore.lock import LOCK_SUFFIX
from tests.auren_tui.cli.test_restore import (  # noqa: F401 - the module's server fixture
    NAME,
    Server,
    capture_then_break,
    cli,
    healthy,
    names,
    server,
    state,
)
from tests.auren_tui.kafka_util import BIN
from tests.services.docker_faults import DockerFaultProxy, Rule
from tests.services.keyring import RealKeyring

OLD_FAILED = f"{NAME}-failed-20200101T000000Z"  # an earlier restore's leftover

# The first call of each step, as it reaches the Docker API: (method, path, calls
# of that kind made before it). Inspections by id: the SDK inspects the lock and
# the new container right after creating each, the network check reloads the new
# one; the fourth is the health wait's.
STEP_CALLS: dict[str, tuple[str, str, int]] = {
    "lock": ("POST", rf"/containers/create\?name={NAME}\.auren-restore-lock", 0),
    "stop": ("POST", r"/containers/[0-9a-f]+/stop", 0),
    "rename": ("POST", r"/containers/[0-9a-f]+/rename", 0),
    "create": ("POST", rf"/containers/create\?name={NAME}$", 0),
    "start": ("POST", r"/containers/[0-9a-f]+/start", 0),
    "health": ("GET", r"/containers/[0-9a-f]{64}/json", 3),
}


def break_at(proxy: DockerFaultProxy, step: str, fault: str) -> Rule:
    method, path, skip = STEP_CALLS[step]
    return proxy.fail(method, path, fault, skip=skip)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def proxy(server: Server) -> Iterator[DockerFaultProxy]:
    p = DockerFaultProxy(server.engine.socket_path).start()
    yield p
    p.close()


@pytest.fixture
def env(
    server: Server,
    proxy: DockerFaultProxy,
    real_keyring: RealKeyring,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """Profile ``srv`` whose Docker socket on the server is the fault proxy."""
    out = {**real_keyring.env, "AUREN_TUI_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    sshd = server.sshd
    done = cli(out, "profile", "add", "srv", "--host", sshd.host, "--port", str(sshd.port),
               "--user", sshd.key_user, "--key-file", str(sshd.key_path),
               "--known-hosts", str(sshd.write_known_hosts(tmp_path / "known_hosts")),
               "--docker-host", proxy.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    proxy.clear()
    yield out
    proxy.clear()


def broken_service(server: Server, env: dict[str, str]) -> tuple[str, str]:
    """Capture, break (restart loop), and leave an older -failed- container behind:
    (the broken container's id, the old failed one's id)."""
    capture_then_break(server, env)
    client = server.client()
    try:
        old = client.containers.create(server.image, name=OLD_FAILED, command=["true"])
        return str(state(server)["Id"]), str(old.id)
    finally:
        client.close()


def assert_untouched(server: Server, old_id: str) -> None:
    assert state(server, OLD_FAILED)["Id"] == old_id, "an earlier restore's container was touched"


def assert_as_before(server: Server, broken_id: str) -> None:
    now = state(server)
    assert now["Id"] == broken_id, "the original container is not the one in service"
    s = now["State"]
    assert s["Running"] or s["Restarting"], f"the original is not running again: {s['Status']}"
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))


def assert_repeated(proxy: DockerFaultProxy, step: str, out: str) -> None:
    """The broken call was made again: by the restore's step retry (a change, shown
    as "retrying"), or by the Docker client itself (a read, GET)."""
    method, path, skip = STEP_CALLS[step]
    if method == "POST":
        assert "[retrying]" in out, out
    else:
        calls = [p for m, p in proxy.seen if m == method and re.search(path, p)]
        assert len(calls) >= skip + 2, calls


def audit_outcomes(env: dict[str, str]) -> list[dict[str, Any]]:
    log = Path(env["AUREN_TUI_HOME"]) / "state" / "audit.log"
    lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return [x for x in lines if "outcome" in x and "step" not in x]


def start_restore(env: dict[str, str], output: bool = False) -> subprocess.Popen[str]:
    """``auren-tui restore biometric --yes`` in the background (its output kept or not)."""
    out = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [str(BIN / "auren-tui"), "restore", "biometric", "--profile", "srv", "--yes"],
        env=env, stdout=out, stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
        text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def restore(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(env, "restore", "biometric", "--profile", "srv", *extra)


# -- a failed step rolls back --------------------------------------------------------------


@pytest.mark.parametrize("step", ["stop", "rename", "create", "start"])
def test_a_failure_at_each_step_rolls_back(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
    step: str,
) -> None:
    broken_id, old_id = broken_service(server, env)
    rule = break_at(proxy, step, "error")
    done = restore(env, "--yes")
    assert rule.hit.is_set(), f"the {step} call was never made: {proxy.seen}"
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back:" in done.stdout
    assert "injected failure" in done.stdout
    assert_as_before(server, broken_id)
    assert_untouched(server, old_id)
    assert [n for n in names(server) if n.startswith(NAME + "-failed-")] == [OLD_FAILED]
    assert audit_outcomes(env)[-1]["outcome"] == "rolled back"
    assert not list((Path(env["AUREN_TUI_HOME"]) / "state" / "restore").glob("*.json"))


def test_a_failure_to_take_the_lock_changes_nothing(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
) -> None:
    broken_id, old_id = broken_service(server, env)
    break_at(proxy, "lock", "error")
    done = restore(env, "--yes")
    assert done.returncode == 1
    assert "cannot take the restore lock" in done.stderr
    assert_as_before(server, broken_id)
    assert_untouched(server, old_id)
    assert audit_outcomes(env)[-1]["outcome"] == "failed"


def test_an_unhealthy_new_container_rolls_back(
    server: Server,
    env: dict[str, str],
) -> None:
    """The spec itself cannot become healthy (its port is taken): rolled back."""
    broken_id, old_id = broken_service(server, env)
    spec_dir = Path(env["AUREN_TUI_HOME"]) / "config" / "specs" / "srv" / "biometric"
    spec_file = sorted(spec_dir.glob("v*.json"))[-1]
    spec = json.loads(spec_file.read_text())
    spec["env"]["PORT"] = "notaport"
    spec["version"] = 2
    (spec_dir / "v0002.json").write_text(json.dumps(spec))
    done = restore(env, "--yes", "--health-timeout", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back:" in done.stdout
    assert_as_before(server, broken_id)
    assert_untouched(server, old_id)


# -- a dropped connection is retried, the restore finishes ---------------------------------


@pytest.mark.parametrize("fault", ["drop", "lose-answer"])
@pytest.mark.parametrize("step", ["lock", "stop", "rename", "create", "start", "health"])
def test_a_dropped_connection_at_each_step_is_retried(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
    step: str,
    fault: str,
) -> None:
    """``drop``: the call never reached the daemon; ``lose-answer``: the daemon did
    it and the answer was lost. Either way the step is repeated safely."""
    _, old_id = broken_service(server, env)
    rule = break_at(proxy, step, fault)
    done = restore(env, "--yes")
    assert rule.hit.is_set(), f"the {step} call was never made: {proxy.seen}"
    assert done.returncode == 0, done.stdout + done.stderr
    assert_repeated(proxy, step, done.stdout)
    assert f"restored {NAME} from v1: healthy" in done.stdout
    assert healthy(server)
    assert_untouched(server, old_id)
    failed = [n for n in names(server) if n.startswith(NAME + "-failed-")]
    assert len(failed) == 2  # the old one and this restore's
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))
    assert audit_outcomes(env)[-1]["outcome"] == "restored"


@pytest.mark.parametrize("step", ["stop", "rename", "create", "start", "health"])
def test_an_ssh_drop_at_each_step_reconnects_and_finishes(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
    step: str,
) -> None:
    """The SSH connection dies while the step's call is in flight: the workstation
    reconnects (backoff) and the restore finishes, lock released."""
    _, old_id = broken_service(server, env)
    rule = break_at(proxy, step, "hold")
    proc = start_restore(env, output=True)
    try:
        assert rule.hit.wait(120), f"the {step} call was never made"
        server.sshd.drop_sessions()
        rule.release.set()
        out, _ = proc.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert proc.returncode == 0, out
    assert f"restored {NAME} from v1: healthy" in out
    assert_repeated(proxy, step, out)
    assert healthy(server)
    assert_untouched(server, old_id)
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))


# -- kill -9 at each step: the next run shows its recovery, then does it -------------------

# The call the killed process is blocked in: right after the step named.
KILL_AFTER = {
    "lock": "stop",
    "stop": "rename",
    "rename": "create",
    "create": "start",
    "start": "health",
}


@pytest.mark.parametrize("step", list(KILL_AFTER))
def test_a_restore_killed_after_each_step_is_recovered_by_the_next(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
    step: str,
) -> None:
    _, old_id = broken_service(server, env)
    rule = break_at(proxy, KILL_AFTER[step], "hold")
    proc = start_restore(env)
    try:
        assert rule.hit.wait(120), f"the restore never reached {KILL_AFTER[step]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        rule.release.set()  # the held call reaches the daemon after the kill: as in life
    assert rule.done.wait(60)
    proxy.clear()
    snapshot = sorted(names(server))

    # Recovery changes the server: without a terminal and without --yes, nothing.
    refused = restore(env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "interrupted restore" in refused.stdout
    assert sorted(names(server)) == snapshot

    done = restore(env, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "interrupted restore: attempt" in done.stdout
    assert "will: " in done.stdout
    assert healthy(server)
    assert_untouched(server, old_id)
    failed = [n for n in names(server) if n.startswith(NAME + "-failed-")]
    assert OLD_FAILED in failed
    assert len(failed) <= 2
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))
    assert any(x.get("outcome") == "recovered" for x in audit_outcomes(env))


def test_journal_and_server_disagree_nothing_is_changed(
    server: Server,
    env: dict[str, str],
    proxy: DockerFaultProxy,
) -> None:
    """Killed after the rename; then someone deploys another container under the
    name. The next run shows both sides and changes nothing."""
    _, old_id = broken_service(server, env)
    rule = break_at(proxy, "create", "hold")
    proc = start_restore(env)
    try:
        assert rule.hit.wait(120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        rule.abandon()  # the held create never reaches the daemon
        proxy.clear()
    client = server.client()
    try:
        other = client.containers.create(server.image, name=NAME, command=["true"])
    finally:
        client.close()
    snapshot = sorted(names(server))
    done = restore(env, "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "journal and server disagree" in done.stdout + done.stderr
    assert "nothing changed" in done.stderr
    assert sorted(names(server)) == snapshot
    assert state(server)["Id"] == other.id
    assert_untouched(server, old_id)


# -- locks ----------------------------------------------------------------------------------


def test_break_lock_shows_the_holder_confirms_refuses_read_only_and_audits(
    server: Server,
    env: dict[str, str],
) -> None:
    broken_id, _ = broken_service(server, env)
    client = server.client()
    try:
        client.containers.create(server.image, name=NAME + LOCK_SUFFIX, command=["true"], labels={
            "auren.holder": "alice@ops-laptop", "auren.pid": "4242", "auren.host": "ops-laptop",
            "auren.since": "2026-11-26T03:00:00+00:00", "auren.attempt": "a1b2c3"})  # fmt: skip
    finally:
        client.close()
    read_only = restore(env, "--break-lock", "--yes", "--read-only")
    assert read_only.returncode == 1
    assert "read-only" in read_only.stderr
    no_tty = restore(env, "--break-lock")
    assert no_tty.returncode == 2
    assert "alice@ops-laptop (pid 4242 on ops-laptop, since 2026-11-26T03:00:00" in no_tty.stdout
    assert any(n.endswith(LOCK_SUFFIX) for n in names(server))
    dry = restore(env, "--break-lock", "--dry-run")
    assert dry.returncode == 0
    assert any(n.endswith(LOCK_SUFFIX) for n in names(server))

    broke = restore(env, "--break-lock", "--yes")
    assert broke.returncode == 0, broke.stdout + broke.stderr
    assert "broke the restore lock of" in broke.stdout
    assert not any(n.endswith(LOCK_SUFFIX) for n in names(server))
    assert state(server)["Id"] == broken_id  # the container itself untouched
    entry = audit_outcomes(env)[-1]
    assert entry["action"] == "break-lock"
    assert "alice@ops-laptop" in entry["holder"]
    shown = cli(env, "audit")
    assert shown.returncode == 0
    assert "break-lock: done" in shown.stdout

    done = restore(env, "--yes")  # and now a restore goes through
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unreadable_journal_is_one_line(server: Server, env: dict[str, str]) -> None:
    broken_service(server, env)
    journal_dir = Path(env["AUREN_TUI_HOME"]) / "state" / "restore"
    journal_dir.mkdir(parents=True, exist_ok=True)
    (journal_dir / f"srv--{NAME}--0123abcd.json").write_text('{"version": 2, "attempt": ')
    done = restore(env, "--yes")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "journal cannot be read" in lines[0]
    assert "Traceback" not in done.stderr
