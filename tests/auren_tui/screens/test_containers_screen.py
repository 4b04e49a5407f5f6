"""The Containers screen and the restore dialog: on canned containers, then against
the harness Docker Engine with a LiveBackend on the built-in local profile."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, Log, Static

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.containers import LiveContainers, ReplayContainers
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import UiPrefs, local_profile
from auren_tui.core.docker.containers import ContainerRow, LineBuffer, LogFollow, row_of
from auren_tui.core.docker.stats import Stats, parse_stats
from auren_tui.core.paths import Locations
from auren_tui.core.restore.lock import LOCK_SUFFIX
from auren_tui.dialogs.break_lock import BreakLockDialog
from auren_tui.dialogs.confirm import ConfirmDialog
from auren_tui.dialogs.restore import RestoreDialog
from auren_tui.screens.containers import ContainersScreen
from tests.auren_tui.data import NOW, stack
from tests.auren_tui.server_stack import wait_for
from tests.services.base import free_port, wait_until
from tests.services.docker import (
    IMAGE_CHANGES,
    DockerEngine,
    rootfs_tar,
    wait_container_health,
)
from tests.services.keyring import RealKeyring

CANARY = "canary-" + uuid.uuid4().hex  # a secret env value: never on screen
PREFS = UiPrefs(refresh_seconds=3600)


# ---- canned containers ------------------------------------------------------------------


def replay_containers() -> ReplayContainers:
    rows = [
        ContainerRow("biometric-production", "running", "healthy", 0, "auren/biometric:2.3",
                     NOW - 3 * 86400 - 7200, "biometric"),
        ContainerRow("biometric-bridge", "restarting", "", 14, "auren/bridge:1.8", None, "bridge"),
        ContainerRow("auren-redis", "running", "healthy", 0, "redis:7-alpine", NOW - 600, "redis"),
        ContainerRow("biometric-production-failed-20261125T2210Z", "exited", "", 3,
                     "auren/biometric:2.2", None),
        ContainerRow("node-exporter", "running", "", 0, "prom/node-exporter:v1.8", NOW - 42),
    ]  # fmt: skip
    logs = {
        "biometric-production": [
            f"2026-11-26T03:1{i}:00Z INFO GET /health 200 {3 + i} ms" for i in range(8)
        ],
    }
    stats = {"biometric-production": Stats(12.5, 180 * 2**20, 2 * 2**30)}
    return ReplayContainers(rows, logs, stats)


def replay_app(read_only: bool = False) -> AurenApp:
    backend = ReplayBackend(
        [stack(at=NOW)], profile_name="prod", read_only=read_only, containers=replay_containers()
    )
    return build_app(backend, prefs=PREFS, clock=lambda: NOW)


def screen_of(app: AurenApp) -> ContainersScreen:
    for screen in app.screen_stack:
        if isinstance(screen, ContainersScreen):
            return screen
    raise AssertionError(f"no Containers screen in {app.screen_stack}")


def log_lines(app: AurenApp) -> list[str]:
    return list(screen_of(app).query_one("#logs", Log).lines)


def text_of(widget: Static) -> str:
    return str(widget.render())


def test_a_line_buffer_drops_what_a_replaced_follow_sends() -> None:
    buffer = LineBuffer(limit=3)
    _, old_lines, old_end = buffer.begin()
    _, on_lines, on_end = buffer.begin()
    old_lines(["old"])
    old_end("old ended")
    on_lines(["a", "b"])
    on_lines(["c", "d"])
    assert buffer.take() == (["b", "c", "d"], None)
    on_end("gone")
    generation, _, _ = buffer.begin()
    handle = ReplayContainers().follow_logs("x", on_lines, on_end)
    assert buffer.adopt(generation, handle)
    assert buffer.drop() is handle
    assert not buffer.adopt(generation, handle)  # a late open after the screen moved on
    assert buffer.take() == ([], None)


def test_rows_and_stats_from_docker_inspect() -> None:
    attrs = {
        "Name": "/biometric-production", "RestartCount": 2, "Image": "sha256:ab",
        "Config": {"Image": "auren/biometric:2.3"},
        "State": {"Status": "running", "Running": True, "Restarting": False,
                  "StartedAt": "2026-11-26T03:00:00.123456789Z", "Health": {"Status": "healthy"}},
    }  # fmt: skip
    row = row_of(attrs, local_profile().catalog)
    assert (row.name, row.state, row.health, row.restarts, row.service) == (
        "biometric-production", "running", "healthy", 2, "biometric",
    )  # fmt: skip
    assert row.started_at == pytest.approx(1795662000.123456)
    stats = parse_stats({
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000,
                      "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 5000, "limit": 10000, "stats": {"inactive_file": 1000}},
    })  # fmt: skip
    assert stats == Stats(40.0, 4000, 10000)


async def test_key_4_lists_containers_follows_logs_and_shows_stats() -> None:
    app = replay_app()
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == "auren-redis", 5, "the first row selected")
        assert [r.name for r in screen.shown][:3] == [
            "auren-redis", "biometric-bridge", "biometric-production",
        ]  # fmt: skip
        assert screen.selected == "auren-redis"
        await pilot.press("down", "down")
        await wait_for(lambda: screen.selected == "biometric-production", 5, "the selection")
        await wait_for(lambda: len(log_lines(app)) == 8, 5, lambda: str(log_lines(app)))
        await wait_for(lambda: "CPU 12.5 %" in text_of(screen.query_one("#stats", Static)), 5)
        assert "memory 180.0MiB / 2.0GiB" in text_of(screen.query_one("#stats", Static))
        await pilot.press("slash", *"exporter", "enter")
        await wait_for(lambda: [r.name for r in screen.shown] == ["node-exporter"], 5)
        assert "1 of 5 containers" in text_of(screen.query_one("#containers-status", Static))
        await pilot.press("escape")
        await wait_for(lambda: len(screen.shown) == 5, 5)
        await pilot.press("l")
        assert "logs paused" in text_of(screen.query_one("#containers-status", Static))
        await pilot.press("1")
        assert not isinstance(app.screen, ContainersScreen)


async def test_read_only_refuses_and_restore_says_how_to_capture() -> None:
    app = replay_app(read_only=True)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected is not None, 5, "a selection")
        for key in ("s", "S", "r"):
            await pilot.press(key)
            assert app.screen is screen  # no confirm dialog
            assert "read-only" in screen.notice
            assert "refused" in screen.notice
        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, RestoreDialog)
        assert "read-only" in text_of(dialog.query_one("#restore-plan", Static))
        assert not dialog.query_one("#restore").display
        await pilot.press("escape")

    app = replay_app()
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == "auren-redis", 5, "a selection")
        await pilot.press("down", "down", "down")  # the -failed- one: no service
        await wait_for(lambda: screen.selected is not None and "failed" in screen.selected, 5)
        await pilot.press("R")
        assert app.screen is screen
        assert "no catalog service" in screen.notice
        await pilot.press("up")
        await wait_for(lambda: screen.selected == "biometric-production", 5)
        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, RestoreDialog)
        plan = dialog.query_one("#restore-plan", Static)
        await wait_for(lambda: "spec capture biometric" in text_of(plan), 5, lambda: text_of(plan))


# ---- the harness Docker Engine ----------------------------------------------------------


@dataclass
class Live:
    engine: DockerEngine
    image: str
    name: str
    port: int
    locations: Locations

    def client(self) -> Any:
        return self.engine.client()

    def run(self, port: str | None = None) -> Any:
        """(Re)create the service's container the way a deploy would."""
        client = self.client()
        try:
            with contextlib.suppress(Exception):
                client.containers.get(self.name).remove(force=True)
            return client.containers.run(
                self.image, detach=True, name=self.name, network_mode="host",
                environment={"PORT": port or str(self.port), "API_SECRET": CANARY},
                restart_policy={"Name": "unless-stopped"},
            )  # fmt: skip
        finally:
            client.close()

    def attrs(self, name: str | None = None) -> dict[str, Any]:
        client = self.client()
        try:
            return dict(client.containers.get(name or self.name).attrs)
        finally:
            client.close()

    def backend(self, read_only: bool = False, docker_host: str | None = None) -> LiveBackend:
        profile = replace(
            local_profile(),
            docker_host=docker_host or self.engine.base_url,
            service_overrides={"biometric": {"container": self.name, "port": self.port}},
        )
        return LiveBackend(profile, self.locations, read_only=read_only)

    def app(self, **kwargs: Any) -> AurenApp:
        return build_app(self.backend(**kwargs), prefs=PREFS, locations=self.locations)


@pytest.fixture
def live(
    docker_engine: DockerEngine, test_image: str, real_keyring: RealKeyring, tmp_path: Path
) -> Iterator[Live]:
    name = f"biometric-ct-{uuid.uuid4().hex[:8]}"
    where = Locations(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")
    out = Live(docker_engine, test_image, name, free_port(), where)
    container = out.run()
    wait_container_health(container, "healthy", 30)
    yield out
    client = out.client()
    try:
        for c in client.containers.list(all=True):
            if c.name.startswith(name):
                c.remove(force=True)
    finally:
        client.close()


def row(app: AurenApp, name: str) -> ContainerRow | None:
    return next((r for r in screen_of(app).rows if r.name == name), None)


def no_canary(app: AurenApp) -> None:
    assert CANARY not in app.export_screenshot()


async def confirm(pilot: Any, key: str) -> None:
    await pilot.press(key)
    await wait_for(lambda: isinstance(pilot.app.screen, ConfirmDialog), 5, "the confirm dialog")
    await pilot.press("y")


async def test_live_table_logs_stop_and_start(live: Live) -> None:
    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: row(app, live.name) is not None, 20, "the container listed")
        await wait_for(lambda: screen.selected == live.name, 10, "it selected (a service first)")
        listed = row(app, live.name)
        assert listed is not None
        assert listed.service == "biometric"
        await wait_for(lambda: getattr(row(app, live.name), "health", "") == "healthy", 20)
        await wait_for(
            lambda: any("response:200" in line for line in log_lines(app)), 20, "httpd lines"
        )
        await wait_for(lambda: "CPU " in text_of(screen.query_one("#stats", Static)), 20)
        no_canary(app)

        await confirm(pilot, "s")
        await wait_for(lambda: live.attrs()["State"]["Status"] == "exited", 30, "stopped")
        await wait_for(lambda: getattr(row(app, live.name), "state", "") == "exited", 20)
        await confirm(pilot, "S")
        await wait_for(lambda: getattr(row(app, live.name), "state", "") == "running", 20)
        no_canary(app)
        await wait_for(lambda: screen.buffer._handle is not None, 20, "a log follow")
        follow = screen.buffer._handle
        assert isinstance(follow, LogFollow)
        await pilot.press("1")  # leaving the screen ends the stream (its thread too)
        await wait_for(lambda: not follow._thread.is_alive(), 10, "the follow's thread ended")


async def test_live_read_only_refuses(live: Live) -> None:
    before = live.attrs()["State"]["StartedAt"]
    app = live.app(read_only=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("s")
        await pilot.press("r")
        assert app.screen is screen
        assert "read-only" in screen.notice
        await pilot.press("R")
        assert "refused" in text_of(app.screen.query_one("#restore-plan", Static))
    assert live.attrs()["State"]["StartedAt"] == before


async def test_live_restore_from_a_restart_loop(live: Live) -> None:
    backend = live.backend()
    backend.start()
    containers = backend.containers()
    assert isinstance(containers, LiveContainers)
    saved, health, secrets = containers.target().capture("biometric")
    assert (saved.version, health, secrets) == (1, "healthy", 1)
    backend.close()
    live.run(port="notaport")  # httpd cannot bind: exits at start, restarted forever
    wait_until(lambda: int(live.attrs()["RestartCount"]) >= 2, 30, "a restart loop")

    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, RestoreDialog)
        plan = dialog.query_one("#restore-plan", Static)
        await wait_for(lambda: "~ env PORT: *** -> ***" in text_of(plan), 20, lambda: text_of(plan))
        no_canary(app)
        restore = dialog.query_one("#restore")
        assert restore.disabled
        await pilot.press(*"biometri")
        assert restore.disabled  # not the name yet
        await pilot.press("c")
        assert not restore.disabled
        await pilot.press("d")  # typed into the input, not a dry run: the input has the focus
        assert dialog.query_one("#restore-confirm", Input).value == "biometricd"
        assert restore.disabled
        await pilot.press("backspace", "enter")
        outcome = dialog.query_one("#restore-outcome", Static)
        await wait_for(lambda: "restored" in text_of(outcome), 90, lambda: text_of(outcome))
        assert "kept as " + live.name + "-failed-" in text_of(outcome)
        progress = text_of(dialog.query_one("#restore-progress", Static))
        for step in ("lock", "stop", "rename", "create", "health", "unlock"):
            assert step in progress
        no_canary(app)
        await pilot.press("escape")
        await wait_for(
            lambda: any(r.name.startswith(live.name + "-failed-") for r in screen.rows),
            20, "the -failed- container in the table",
        )  # fmt: skip
        await wait_for(lambda: getattr(row(app, live.name), "health", "") == "healthy", 30)
        no_canary(app)
    assert f"PORT={live.port}" in live.attrs()["Config"]["Env"]
    assert (live.locations.state_dir / "audit.log").exists()


async def test_live_lock_held_names_the_holder(live: Live) -> None:
    backend = live.backend()
    backend.start()
    containers = backend.containers()
    assert isinstance(containers, LiveContainers)
    containers.target().capture("biometric")
    backend.close()
    client = live.client()
    client.containers.create(live.image, name=live.name + LOCK_SUFFIX, command=["true"], labels={
        "auren.holder": "alice@ops-laptop", "auren.pid": "4242", "auren.host": "ops-laptop",
        "auren.since": "2026-11-26T03:00:00+00:00"})  # fmt: skip
    client.close()
    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("R")
        dialog = app.screen
        plan = dialog.query_one("#restore-plan", Static)
        await wait_for(lambda: "held by alice@ops-laptop" in text_of(plan), 20)
        await wait_for(lambda: not dialog.query_one("#restore-confirm", Input).disabled, 5)
        await pilot.click("#dry-run")
        outcome = dialog.query_one("#restore-outcome", Static)
        assert "dry run: nothing changed" in text_of(outcome)
        assert "held by alice@ops-laptop" in text_of(outcome)
        await pilot.press(*"biometric", "enter")
        await wait_for(lambda: "refused" in text_of(outcome), 30, lambda: text_of(outcome))
        assert "alice@ops-laptop (pid 4242 on ops-laptop" in text_of(outcome)


async def test_live_a_spec_whose_image_is_gone_rolls_back(live: Live) -> None:
    client = live.client()
    try:
        client.api.import_image_from_data(
            rootfs_tar(), repository="auren-test/ct-old", tag="1", changes=IMAGE_CHANGES
        )
        image, live.image = live.image, "auren-test/ct-old:1"
        wait_container_health(live.run(), "healthy", 30)
        backend = live.backend()
        backend.start()
        containers = backend.containers()
        assert isinstance(containers, LiveContainers)
        containers.target().capture("biometric")
        backend.close()
        live.image = image
        current = live.run()  # redeployed from another image; the old one is pruned
        wait_container_health(current, "healthy", 30)
        client.images.remove("auren-test/ct-old:1", force=True)
    finally:
        client.close()
    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("R")
        dialog = app.screen
        plan = dialog.query_one("#restore-plan", Static)
        await wait_for(lambda: "~ image_id" in text_of(plan), 20, lambda: text_of(plan))
        await pilot.press(*"biometric", "enter")
        outcome = dialog.query_one("#restore-outcome", Static)
        await wait_for(lambda: "rolled back: " in text_of(outcome), 60, lambda: text_of(outcome))
        assert "no such image" in text_of(outcome).lower() or "not found" in text_of(outcome)
        assert "rollback" in text_of(dialog.query_one("#restore-progress", Static))
        # The table refreshes every 2 s: mid-restore it showed the renamed container.
        await wait_for(
            lambda: not any("-failed-" in r.name for r in screen.rows),
            15,
            lambda: f"rows: {[r.name for r in screen.rows]}",
        )
    assert live.attrs()["Id"] == current.id  # the original, under its own name
    client = live.client()
    try:
        assert not any("-failed-" in c.name for c in client.containers.list(all=True))
    finally:
        client.close()


async def test_no_engine_explains_what_is_missing(live: Live, tmp_path: Path) -> None:
    app = live.app(docker_host=f"unix://{tmp_path}/no-such/docker.sock")
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        box = screen.query_one("#no-docker", Static)
        # Pressed before the connection is up, it says "Connecting…" first; the next
        # listing has the engine's own explanation.
        await wait_for(
            lambda: screen.missing is not None and "does not answer" in screen.missing,
            20,
            "the explanation",
        )
        assert box.display
        assert not screen.query_one("#containers-body").display
        text = text_of(box)
        assert "No Docker Engine" in text
        assert "does not answer" in text
        assert "--docker-host" in text
        assert "Install Docker" in text


class _HeldBackend(LiveBackend):
    """A live backend whose connection waits for ``gate`` (a slow SSH login)."""

    gate = threading.Event()

    def start(self) -> None:
        assert self.gate.wait(30), "the test never let the connection through"
        super().start()


async def test_opened_before_the_connection_says_connecting(live: Live) -> None:
    """`4` while the login is still going on: "Connecting…", not "No Docker Engine";
    once connected, the containers without a key pressed."""
    plain = live.backend()
    backend = _HeldBackend(plain.profile, live.locations)
    _HeldBackend.gate.clear()
    app = build_app(backend, prefs=PREFS, locations=live.locations)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.press("4")
            screen = screen_of(app)
            await wait_for(lambda: screen.missing is not None, 20, "the first listing")
            text = text_of(screen.query_one("#no-docker", Static))
            assert text.startswith("Connecting…")
            assert "not connected yet" in text
            assert "No Docker Engine" not in text
            _HeldBackend.gate.set()
            await wait_for(lambda: screen.missing is None and screen.rows, 30, "the containers")
            assert live.name in {r.name for r in screen.rows}
    finally:
        _HeldBackend.gate.set()
        backend.close()


def audit_entries(live: Live) -> list[dict[str, Any]]:
    log = live.locations.state_dir / "audit.log"
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


async def test_live_break_lock_shows_holder_needs_the_name_and_audits(live: Live) -> None:
    client = live.client()
    client.containers.create(live.image, name=live.name + LOCK_SUFFIX, command=["true"], labels={
        "auren.holder": "alice@ops-laptop", "auren.pid": "4242", "auren.host": "ops-laptop",
        "auren.since": "2026-11-26T03:00:00+00:00"})  # fmt: skip
    client.close()

    def locked() -> bool:
        c = live.client()
        try:
            return any(x.name == live.name + LOCK_SUFFIX for x in c.containers.list(all=True))
        finally:
            c.close()

    read_only = live.app(read_only=True)
    async with read_only.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(read_only)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("B")
        await wait_for(lambda: isinstance(read_only.screen, BreakLockDialog), 5, "the dialog")
        text = read_only.screen.query_one("#lock-text", Static)
        assert "read-only" in text_of(text)
        await pilot.press("escape")
    assert locked()

    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        await pilot.press("B")
        await wait_for(lambda: isinstance(app.screen, BreakLockDialog), 5, "the dialog")
        dialog = app.screen
        text = dialog.query_one("#lock-text", Static)
        await wait_for(lambda: "alice@ops-laptop (pid 4242 on ops-laptop" in text_of(text), 20)
        button = dialog.query_one("#break", Button)
        await wait_for(lambda: not dialog.query_one("#lock-confirm", Input).disabled, 5)
        await pilot.press(*"wrong-name")
        assert button.disabled
        dialog.query_one("#lock-confirm", Input).value = ""
        await pilot.press(*live.name)
        await wait_for(lambda: not button.disabled, 5, "the button enabled")
        await pilot.press("enter")
        await wait_for(lambda: "broke the lock held by alice" in text_of(text), 30)
        await pilot.press("escape")
    assert not locked()
    entry = audit_entries(live)[-1]
    assert entry["action"] == "break-lock"
    assert entry["outcome"] == "done"
    assert "alice@ops-laptop" in entry["holder"]


async def test_live_container_actions_are_audited(live: Live) -> None:
    app = live.app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("4")
        screen = screen_of(app)
        await wait_for(lambda: screen.selected == live.name, 20, "the container selected")
        before = live.attrs()["Id"][:12]
        await confirm(pilot, "r")
        await wait_for(lambda: any(e.get("action") == "restart" for e in audit_entries(live)), 30)
    entry = next(e for e in audit_entries(live) if e.get("action") == "restart")
    assert entry["container"] == live.name
    assert entry["outcome"] == "done"
    assert entry["before"] == before
    assert entry["after"] == before  # a restart keeps the container
    assert entry["who"]
