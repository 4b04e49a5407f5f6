"""End to end: the TUI on a whole AUREN server, reached only through SSH.

The server is a network namespace (tests/auren_tui/server_stack.py): sshd on
the namespace's address; the bridge, PostgreSQL, Redis, Kafka, Prometheus and
a Docker container on ports that exist only inside it. The app is built as
``auren-tui`` builds it (profile → LiveBackend → build_app) and driven with
the pilot: rows, faults, an SSH outage, host keys.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.config import UiPrefs
from auren_tui.core.secrets import SSH_PASSWORD, SecretStore
from auren_tui.dialogs.trust_host import TrustHostDialog
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.server_stack import (
    ServerStack,
    all_healthy,
    assert_whole_stack_healthy,
    cell,
    host_fingerprint,
    locations,
    other_public_key,
    snapshot_rows,
    sshd_log_since,
    status_line,
    wait_for,
)
from tests.services.keyring import RealKeyring

pytestmark = pytest.mark.services

REFRESH = 1.0  # seconds between the end of one refresh and the start of the next
SIZE = (160, 40)


def _dialog_shown(app: AurenApp) -> bool:
    """The dialog is on screen, laid out (its buttons can be clicked)."""
    screen = app.screen
    if not isinstance(screen, TrustHostDialog):
        return False
    buttons = screen.query("#trust")
    return bool(buttons) and buttons.first().region.area > 0


def _app(backend: LiveBackend) -> AurenApp:
    return build_app(backend, prefs=UiPrefs(refresh_seconds=REFRESH))


def _attempt(bar: StatusBar) -> int:
    """The n of "reconnecting (attempt n)" on the status bar (0 when not reconnecting)."""
    found = re.search(r"reconnecting \(attempt (\d+)\)", status_line(bar))
    return int(found.group(1)) if found else 0


async def test_key_login_shows_the_stack_a_fault_and_survives_an_ssh_outage(
    stack: ServerStack, tmp_path: Path
) -> None:
    profile = stack.profile("e2e-key", stack.known_hosts(tmp_path / "known_hosts"))
    backend = LiveBackend(profile, locations(tmp_path))
    app = _app(backend)
    try:
        async with app.run_test(size=SIZE):
            dash = app.dashboard
            table = dash.query_one(ServiceTable)
            bar = dash.query_one(StatusBar)
            await assert_whole_stack_healthy(app)

            # A service stops: its row is red within two refreshes.
            await asyncio.to_thread(stack.redis.stop)
            try:
                before = dash.polls
                await wait_for(lambda: cell(table, "redis", 1) == "UNHEALTHY", 4 * REFRESH + 10)
                polls_to_red = dash.polls - before
                assert polls_to_red <= 2, f"{polls_to_red} refreshes until the red row"
                # Through a tunnel the refusal happens on the server: the local end just closes.
                assert cell(table, "redis", 5) in (
                    "connection refused",
                    "connection closed before an answer",
                )
                assert table.get_row_at(0)[0].plain == "Redis"  # faults first
                # The bridge says it lost Redis too (degraded, still taking events).
                await wait_for(lambda: cell(table, "bridge", 1) == "DEGRADED", 10)
                assert "redis=down" in cell(table, "bridge", 10)
            finally:
                await asyncio.to_thread(stack.redis.start)
            await wait_for(lambda: all_healthy(app), 30, "healthy again after Redis is back")

            # SSH goes away: the last data stays, greyed, and the bar counts attempts.
            shown = snapshot_rows(table)
            went_down = time.monotonic()
            await asyncio.to_thread(stack.sshd.stop)
            try:
                await wait_for(lambda: "reconnecting (attempt" in status_line(bar), 10)
                assert table.has_class("stale")
                # Long enough for a refresh to run into the outage (its checks time out).
                polls = dash.polls
                await wait_for(lambda: dash.polls > polls, 4 * REFRESH + 10, "a refresh")
                await wait_for(lambda: _attempt(bar) >= 3, 10, lambda: status_line(bar))
                assert table.has_class("stale")
                assert snapshot_rows(table) == shown, "the last data must stay on screen"
            finally:
                await asyncio.to_thread(stack.sshd.start)
            restarted = time.monotonic()
            await wait_for(lambda: backend.conn_info().state == "connected", 30, "reconnected")
            reconnected = time.monotonic()
            await wait_for(
                lambda: dash.last is not None and dash.last.taken_at > time.time() - REFRESH,
                10,
            )
            polls = dash.polls
            await wait_for(lambda: dash.polls > polls, 4 * REFRESH + 10, "a fresh refresh")
            await assert_whole_stack_healthy(app)
            print(
                f"\npolls until the stopped Redis was red: {polls_to_red}; "
                f"reconnect {reconnected - restarted:.2f} s after sshd was back "
                f"({reconnected - went_down:.2f} s outage seen by the app)"
            )
    finally:
        await asyncio.to_thread(backend.close)


async def test_password_login_from_the_real_keyring(
    stack: ServerStack, real_keyring: RealKeyring, tmp_path: Path
) -> None:
    name = f"e2e-pw-{uuid.uuid4().hex[:8]}"
    store = SecretStore()
    store.set(name, SSH_PASSWORD, SecretStr(stack.sshd.password))
    offset = stack.sshd.log_path.stat().st_size
    profile = stack.profile(name, stack.known_hosts(tmp_path / "known_hosts"), auth="password")
    backend = LiveBackend(profile, locations(tmp_path))
    app = _app(backend)
    try:
        async with app.run_test(size=SIZE):
            await assert_whole_stack_healthy(app)
        log = sshd_log_since(stack.sshd, offset)
        assert f"Accepted password for {stack.sshd.password_user}" in log
        assert "Failed" not in log
    finally:
        await asyncio.to_thread(backend.close)
        store.delete_all(name)


async def test_unknown_host_key_asks_then_trusting_connects(
    stack: ServerStack, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    offset = stack.sshd.log_path.stat().st_size
    backend = LiveBackend(stack.profile("e2e-trust", known), locations(tmp_path))
    app = _app(backend)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: _dialog_shown(app), 15, "trust dialog")
            dialog = app.screen
            assert isinstance(dialog, TrustHostDialog)
            fingerprint = str(dialog.query_one("#fingerprint").render())
            assert fingerprint == f"ssh-ed25519  {host_fingerprint(stack.sshd)}"
            assert (dialog.host, dialog.port) == (stack.ns.server_ip, stack.sshd.port)
            # Nothing was sent before the operator decided: no user name, no key.
            assert not known.exists()
            assert stack.sshd.key_user not in sshd_log_since(stack.sshd, offset)

            await pilot.click("#trust")
            await wait_for(
                lambda: app.dashboard.polls >= 1,
                30,
                lambda: (
                    f"a refresh after trusting ({status_line(app.dashboard.query_one(StatusBar))})"
                ),
            )
            assert known.read_text() == stack.sshd.known_hosts_line() + "\n"
            assert backend.conn_info().state == "connected"
            assert cell(app.dashboard.query_one(ServiceTable), "biometric", 2).startswith("running")
    finally:
        await asyncio.to_thread(backend.close)


async def test_refusing_an_unknown_host_key_connects_nowhere(
    stack: ServerStack, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    backend = LiveBackend(stack.profile("e2e-refuse", known), locations(tmp_path))
    app = _app(backend)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: _dialog_shown(app), 15, "trust dialog")
            await pilot.press("escape")
            bar = app.dashboard.query_one(StatusBar)
            await wait_for(lambda: "failed" in status_line(bar), 5)
            assert "host key not trusted" in status_line(bar)
            assert not known.exists()
            assert app.dashboard.polls == 0
    finally:
        await asyncio.to_thread(backend.close)


async def test_changed_host_key_is_refused_before_logging_in(
    stack: ServerStack, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[{stack.ns.server_ip}]:{stack.sshd.port} {other_public_key(tmp_path)}\n")
    offset = stack.sshd.log_path.stat().st_size
    backend = LiveBackend(stack.profile("e2e-changed", known), locations(tmp_path))
    app = _app(backend)
    try:
        async with app.run_test(size=SIZE):
            bar = app.dashboard.query_one(StatusBar)
            await wait_for(lambda: "failed" in status_line(bar), 15, "the refusal")
            line = status_line(bar)
            assert "\n" not in line
            assert f"[{stack.ns.server_ip}]:{stack.sshd.port} has CHANGED (SHA256:" in line
            assert f"{known} line 1" in line
            assert not isinstance(app.screen, TrustHostDialog)  # nothing to trust here
            assert app.dashboard.polls == 0
            await asyncio.sleep(1.5)  # no second attempt: a changed key needs an operator
    finally:
        await asyncio.to_thread(backend.close)
    await wait_for(lambda: "[preauth]" in sshd_log_since(stack.sshd, offset), 10, "sshd log")
    log = sshd_log_since(stack.sshd, offset)
    assert log.count("Connection from") == 1, log
    assert "Accepted" not in log
    assert "Failed" not in log
    assert "userauth" not in log
    assert stack.sshd.key_user not in log  # the user name was never sent
    assert known.read_text().count("\n") == 1  # untouched
