"""The newcomer path: the demo stack, the workstation on it, and nothing left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auren_tui.app import build_app
from auren_tui.core.paths import Locations
from auren_tui.core.restore.engine import AuditLog, Restorer
from auren_tui.core.restore.store import SpecStore
from auren_tui.core.session import LiveBackend
from auren_tui.demo.stack import DemoStack
from auren_tui.launch import capture_demo_spec
from auren_tui.screens.tail import TailScreen
from auren_tui.screens.webhooks import WebhooksScreen
from auren_tui.widgets.service_table import ServiceTable
from tests.auren_tui.kafka_util import BIN
from tests.auren_tui.server_stack import cell, wait_for
from tests.services.base import wait_until
from tests.services.docker import DockerEngine
from tests.services.kafka import ensure_jars


def _locations(root: Path) -> Locations:
    return Locations(root / "config", root / "data", root / "state", root / "cache")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DemoStack]:
    demo = DemoStack(tmp_path / "data" / "demo", kafka_libs=ensure_jars(), docker=False, rate=5)
    try:
        yield demo.start()
    finally:
        demo.stop()


async def test_the_demo_shows_live_data_on_every_screen(stack: DemoStack, tmp_path: Path) -> None:
    locations = _locations(tmp_path)
    backend = LiveBackend(stack.profile(), locations)
    app = build_app(backend, locations=locations)
    try:
        async with app.run_test(size=(140, 44)) as pilot:
            table = app.dashboard.query_one(ServiceTable)
            started = time.monotonic()
            await wait_for(
                lambda: all(cell(table, s, 1) == "HEALTHY" for s in ("bridge", "kafka")),
                60,
                lambda: f"healthy rows: {[cell(table, s, 1) for s in ('bridge', 'kafka')]}",
            )
            assert time.monotonic() - started < 60
            await wait_for(lambda: app.dashboard.last is not None
                           and app.dashboard.last.bridge is not None
                           and app.dashboard.last.bridge.source == "metrics", 30,
                           "bridge figures from /metrics")  # fmt: skip

            await pilot.press("2")
            tail = app.screen
            assert isinstance(tail, TailScreen)
            await wait_for(lambda: len(tail.ring) >= 3, 30, "records arriving in the Tail")

            await pilot.press("3")
            hooks = app.screen
            assert isinstance(hooks, WebhooksScreen)
            await pilot.press("ctrl+s")
            await wait_for(lambda: hooks.traced is not None, 30, "the sent webhook in Kafka")
            traced = hooks.traced
            assert traced is not None
            await pilot.press("ctrl+t")
            shown = app.screen
            assert isinstance(shown, TailScreen)
            await wait_for(
                lambda: any(r.json_value().get("event_id") == traced.event_id for r in shown.ring),
                30,
                "the form's webhook in the Tail",
            )
    finally:
        backend.close()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _processes_under(root: Path) -> list[str]:
    out = subprocess.run(
        ["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if str(root) in line and "ps -eww" not in line]


def test_quitting_the_demo_leaves_nothing_behind(tmp_path: Path) -> None:
    """The real ``auren-tui demo`` in tmux, quit with q, as a newcomer would."""
    tmux = shutil.which("tmux")
    assert tmux is not None, "tmux is installed by scripts/system-deps.sh"
    home = tmp_path / "home"
    session = f"demo-{os.getpid()}"
    env = {**os.environ, "AUREN_TUI_HOME": str(home), "AUREN_KAFKA_LIBS": str(ensure_jars())}
    command = f"{BIN / 'auren-tui'} demo --no-docker; echo EXITED $? > {tmp_path / 'rc'}"
    subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command],
                   env=env, check=True)  # fmt: skip
    try:

        def screen() -> str:
            return subprocess.run([tmux, "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True, check=False).stdout  # fmt: skip

        wait_until(lambda: "HEALTHY" in screen() and "Kafka" in screen(), 90,
                   lambda: f"the dashboard on the demo:\n{screen()}")  # fmt: skip
        demo_dir = home / "data" / "demo"
        assert _processes_under(demo_dir), "the demo's Kafka and bridge run from its data dir"
        ports = [int(p) for p in _ports_from(demo_dir)]
        assert ports
        assert all(_port_open(p) for p in ports)
        subprocess.run([tmux, "send-keys", "-t", session, "q"], check=True)
        wait_until(lambda: (tmp_path / "rc").exists(), 60, "the demo to exit")
        assert (tmp_path / "rc").read_text().split() == ["EXITED", "0"]
        wait_until(lambda: not _processes_under(demo_dir), 30,
                   lambda: f"leftovers: {_processes_under(demo_dir)}")  # fmt: skip
        assert not any(_port_open(p) for p in ports)
        outside = [p for p in tmp_path.iterdir() if p.name not in ("home", "rc")]
        assert outside == [], "the demo wrote only under its data directory"
    finally:
        subprocess.run([tmux, "kill-session", "-t", session], check=False, capture_output=True)


def _ports_from(demo_dir: Path) -> list[str]:
    """The bridge's and Kafka's ports, from their command lines and config."""
    ports = []
    props = demo_dir / "kafka" / "server.properties"
    for line in props.read_text().splitlines():
        if line.startswith("listeners="):
            ports += [part.rsplit(":", 1)[1] for part in line.split("=", 1)[1].split(",")]
    return ports


def test_with_docker_the_demo_runs_a_container_that_can_be_restored(
    docker_engine: DockerEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.base_url)
    locations = _locations(tmp_path)
    demo = DemoStack(tmp_path / "data" / "demo", kafka_libs=ensure_jars(), docker=True, rate=2)
    client = docker_engine.client()
    try:
        demo.start()
        assert demo.web is not None, demo.notes
        assert demo.profile().catalog.get("web") is not None
        capture_demo_spec(demo, locations, wait=60)
        spec = SpecStore(locations, "demo").load("web")
        assert spec.container == "auren-demo-web"
        assert spec.restart_policy == "unless-stopped"
        assert spec.healthcheck is not None
        # Broken the old bridge's way, then restored from the captured spec.
        client.containers.get("auren-demo-web").remove(force=True)
        client.containers.run("auren-demo/web:1", name="auren-demo-web", detach=True,
                              network_mode="host", environment={"PORT": "notaport"},
                              restart_policy={"Name": "unless-stopped"})  # fmt: skip
        restorer = Restorer(client, spec, {k: str(v) for k, v in spec.env.items()},
                            profile="demo", audit=AuditLog(locations.state_dir / "audit.log"),
                            journal_dir=locations.state_dir / "restore")  # fmt: skip
        assert restorer.run().result == "restored"
    finally:
        demo.stop()
    left = [c.name for c in client.containers.list(all=True) if c.name.startswith("auren-demo")]
    client.close()
    assert left == [], "quitting the demo removes its containers"
