"""The newcomer path: the demo stack, the workstation on it, and nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auren_tui.app import build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.paths import Locations
from auren_tui.core.restore.audit import AuditLog
from auren_tui.core.restore.engine import Restorer
from auren_tui.core.restore.store import SpecStore
from auren_tui.demo.stack import DemoStack
from auren_tui.launch import capture_demo_spec
from auren_tui.screens.tail import TailScreen
from auren_tui.screens.webhooks import WebhooksScreen
from auren_tui.widgets.service_table import ServiceTable
from tests.auren_tui.kafka_util import BIN
from tests.auren_tui.server_stack import cell, wait_for
from tests.auren_tui.tmux import Tmux
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
    """``pid args`` of each process started from ``root``: its command line names a
    file there (Kafka), or it runs in it (the bridge)."""
    here = str(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and args and (here in args or cwd == here):
            found.append(f"{entry.name} {args.strip()}")
    return found


class Terminal(Tmux):
    """A private tmux server: the demo runs in exactly the environment given."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        super().__init__(f"auren-test-{os.getpid()}-{tmp_path.name}", env)
        self.runs = 0

    def open(self, command: str) -> str:
        """A new session running ``command``: demo1, demo2, ..."""
        self.runs += 1
        return self.start(f"demo{self.runs}", command)


def _demo_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AUREN_TUI_HOME": str(tmp_path / "home"),
            "AUREN_KAFKA_LIBS": str(ensure_jars())}  # fmt: skip


def _wait_dashboard(term: Terminal, session: str) -> None:
    wait_until(lambda: "HEALTHY" in term.screen(session) and "Kafka" in term.screen(session),
               90, lambda: f"the dashboard on the demo:\n{term.screen(session)}")  # fmt: skip


def test_quitting_the_demo_leaves_nothing_behind(tmp_path: Path) -> None:
    """The real ``auren-tui demo`` in a real terminal, quit with q, as a newcomer would."""
    home = tmp_path / "home"
    term = Terminal(tmp_path, _demo_env(tmp_path))
    command = f"{BIN / 'auren-tui'} demo --no-docker; echo EXITED $? > {tmp_path / 'rc'}"
    try:
        session = term.open(command)
        _wait_dashboard(term, session)
        demo_dir = home / "data" / "demo"
        assert _processes_under(demo_dir), "the demo's Kafka and bridge run from its data dir"
        ports = [int(p) for p in _ports_from(demo_dir)]
        assert ports
        assert all(_port_open(p) for p in ports)
        term.keys(session, "q")
        wait_until(lambda: (tmp_path / "rc").exists(), 60, "the demo to exit")
        assert (tmp_path / "rc").read_text().split() == ["EXITED", "0"]
        wait_until(lambda: not _processes_under(demo_dir), 30,
                   lambda: f"leftovers: {_processes_under(demo_dir)}")  # fmt: skip
        assert not any(_port_open(p) for p in ports)
        outside = [p for p in tmp_path.iterdir() if p.name not in ("home", "rc")]
        assert outside == [], "the demo wrote only under its data directory"
    finally:
        term.kill_server()


def _demo_pid(home: Path) -> int:
    """The ``auren-tui demo`` process (the app itself: Python, not the shell around it)
    whose AUREN_TUI_HOME is ``home``."""
    wanted = f"AUREN_TUI_HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"demo" in args and "python" in Path(args[0].decode()).name and wanted in environ:
            pids.append(int(entry.name))
    assert len(pids) == 1, pids
    return pids[0]


@pytest.mark.services
def test_the_demo_starts_again_after_a_hangup_and_after_sigkill(tmp_path: Path) -> None:
    """Closing the terminal (SIGHUP) stops everything the demo started; the next
    start works over the last run's data dir; after the app is SIGKILLed (its
    Kafka and bridge left running) the next start still works, and stops them."""
    home = tmp_path / "home"
    demo_dir = home / "data" / "demo"
    command = f"{BIN / 'auren-tui'} demo --no-docker"
    term = Terminal(tmp_path, _demo_env(tmp_path))
    try:
        _wait_dashboard(term, term.open(command))
        assert _processes_under(demo_dir)
        term.kill_server()  # the terminal is closed under the running demo
        wait_until(lambda: not _processes_under(demo_dir), 30,
                   lambda: f"orphans after SIGHUP: {_processes_under(demo_dir)}")  # fmt: skip

        session = term.open(command)  # the same checkout, the last run's data dir
        _wait_dashboard(term, session)
        os.kill(_demo_pid(home), signal.SIGKILL)  # no chance to clean up
        left = _processes_under(demo_dir)
        assert left, "a SIGKILLed demo leaves its Kafka and bridge running"
        term.kill_server()

        session = term.open(command)  # a third start finds them and stops them first
        _wait_dashboard(term, session)
        now = _processes_under(demo_dir)
        old_pids = {line.split()[0] for line in left}
        assert not old_pids & {line.split()[0] for line in now}, "the leftovers still run"
        term.keys(session, "q")
        wait_until(lambda: not _processes_under(demo_dir), 60,
                   lambda: f"leftovers: {_processes_under(demo_dir)}")  # fmt: skip
    finally:
        term.kill_server()
        wait_until(lambda: not _processes_under(demo_dir), 30, "the demo's processes to end")


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
