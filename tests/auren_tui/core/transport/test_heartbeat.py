"""paramiko and the docker SDK never run on the UI event loop.

A 20 ms timer on the app records when it fires. The app connects over SSH,
polls a real stack (bridge with Prometheus, Redis, a Docker container read
through ``docker system dial-stdio``), runs a slow remote command in a thread
worker, and rides out an sshd restart. Two things are checked:

- no blocking socket call is ever made on the loop's thread (paramiko, the
  docker SDK, requests, httpx and the keyring's D-Bus all use blocking
  sockets), whatever the machine's load;
- no gap between two ticks reaches 100 ms in any phase, not counting time
  the interpreter spent in a garbage collection (a stop-the-world pause of
  every thread, reported separately with its length).

When a gap does reach it, the failure lists the loop callbacks that took
40 ms or more (asyncio's ``slow_callback_duration`` idea, without debug
mode's own overhead) and the GC pauses: what held the loop, not a number.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from auren_tui.app import build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.config import Profile, UiPrefs
from auren_tui.core.paths import Locations
from auren_tui.core.transport.ssh import SshConnection
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.server_stack import locations, status_line, wait_for
from tests.bridge_service.conftest import secret_env
from tests.bridge_service.process import BridgeProcess
from tests.services.base import ServiceUnavailable, free_port, unavailable
from tests.services.docker import DockerEngine, wait_container_health
from tests.services.prometheus import Prometheus
from tests.services.redis import Redis
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services

TICK = 0.02
MAX_GAP = 0.1
SLOW_CALLBACK = 0.04  # callbacks at least this long are listed when the test fails


class GatedBackend(LiveBackend):
    """A LiveBackend whose connect waits for ``go``: the heartbeat runs before it starts."""

    def __init__(self, profile: Profile, locations: Locations) -> None:
        super().__init__(profile, locations)
        self.go = threading.Event()

    def start(self) -> None:
        if not self.go.wait(30):
            raise TimeoutError("the test never let the connect start")
        super().start()

    @property
    def connection(self) -> SshConnection:
        conn = self._conn
        assert isinstance(conn, SshConnection)
        return conn


@dataclass
class Heartbeat:
    """Tick times, the phase each tick falls in, and the interpreter's GC pauses.

    A full garbage collection stops every thread (it holds the GIL throughout),
    whatever they run; with the ~130k objects of a test process it takes
    ~110 ms. Such a pause says nothing about where paramiko or docker run, so
    each gap is also measured without the collection time inside it, and both
    figures are reported.
    """

    ticks: list[float] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)
    collections: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, gen
    _gc_began: float = 0.0

    def tick(self) -> None:
        self.ticks.append(time.monotonic())

    def phase(self, name: str) -> None:
        self.phases.append((name, time.monotonic()))

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry."""
        if phase == "start":
            self._gc_began = time.monotonic()
        else:
            self.collections.append((self._gc_began, time.monotonic(), info["generation"]))

    def _phase_at(self, t: float) -> str:
        name = "before"
        for phase, began in self.phases:
            if t >= began:
                name = phase
        return name

    def _in_gc(self, before: float, after: float) -> float:
        return sum(
            max(0.0, min(after, end) - max(before, began)) for began, end, _ in self.collections
        )

    def gaps(self) -> list[tuple[float, float, str, float]]:
        """Every gap since the first phase: (seconds, seconds outside GC, phase, at)."""
        start = self.phases[0][1]
        return [
            (after - before, after - before - self._in_gc(before, after), self._phase_at(after),
             before - start)
            for before, after in zip(self.ticks, self.ticks[1:], strict=False)
            if after >= start
        ]  # fmt: skip

    def max_gaps(self, outside_gc: bool = False) -> dict[str, float]:
        """The longest gap per phase (a gap belongs to the phase in which it ends)."""
        out: dict[str, float] = {name: 0.0 for name, _ in self.phases}
        for whole, rest, phase, _ in self.gaps():
            if phase in out:
                out[phase] = max(out[phase], rest if outside_gc else whole)
        out.pop("end", None)
        return out

    def worst(self, n: int = 5) -> str:
        gaps = sorted(self.gaps(), reverse=True)[:n]
        return "; ".join(
            f"{whole * 1000:.0f} ms ({rest * 1000:.0f} ms outside GC) in {phase} at +{at:.2f} s"
            for whole, rest, phase, at in gaps
        )

    def pauses(self, at_least: float = 0.02) -> str:
        start = self.phases[0][1]
        return "; ".join(
            f"gen{gen} {(end - began) * 1000:.0f} ms at +{began - start:.2f} s"
            for began, end, gen in self.collections
            if end - began >= at_least
        )


def _describe(handle: asyncio.Handle) -> str:
    """What a loop callback runs: the task's name and coroutine, or the function."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        return f"task {task.get_name()!r} ({task.get_coro().__qualname__})"  # type: ignore[union-attr]
    return getattr(callback, "__qualname__", repr(callback))


@dataclass
class LoopWatch:
    """What ran on the UI loop: slow callbacks, and any blocking socket call."""

    thread: int
    began: float = field(default_factory=time.monotonic)
    slow: list[tuple[float, float, str]] = field(default_factory=list)  # at, seconds, what
    blocking: list[str] = field(default_factory=list)
    elsewhere: int = 0  # socket calls seen on other threads (the hook is live)

    def report_slow(self) -> str:
        worst = sorted(self.slow, key=lambda s: s[1], reverse=True)[:6]
        return "; ".join(f"{d * 1000:.0f} ms {what} at +{at:.2f} s" for at, d, what in worst)


BLOCKING_CALLS = ("connect", "connect_ex", "accept", "recv", "recv_into", "recvfrom", "send",
                  "sendall", "sendto")  # fmt: skip


@contextlib.contextmanager
def loop_watch(began: float) -> Iterator[LoopWatch]:
    """Time every callback of the running loop, and catch blocking socket calls on its thread.

    Like asyncio's debug mode with ``slow_callback_duration``, without the cost of
    debug mode's stack capture on every ``call_soon`` (which itself stalls Textual).
    A socket call on the loop's thread is blocking unless the socket is non-blocking
    (timeout 0.0, as asyncio's own): paramiko, the docker SDK, requests and the
    keyring's D-Bus all use blocking sockets, so any of them on the loop shows here.
    """
    watch = LoopWatch(threading.get_ident(), began)
    run = asyncio.Handle._run

    def timed_run(handle: asyncio.Handle) -> None:
        t0 = time.monotonic()
        run(handle)
        took = time.monotonic() - t0
        if took >= SLOW_CALLBACK:
            watch.slow.append((t0 - watch.began, took, _describe(handle)))

    def guarded(name: str) -> Callable[..., object]:
        original = getattr(socket.socket, name)

        def call(sock: socket.socket, *args: object, **kwargs: object) -> object:
            if threading.get_ident() != watch.thread:
                watch.elsewhere += 1
            elif sock.gettimeout() != 0.0:
                where = "".join(traceback.format_stack(limit=6)[:-1])
                watch.blocking.append(f"socket.{name} on the UI loop:\n{where}")
            return original(sock, *args, **kwargs)

        return call

    own = {name for name in BLOCKING_CALLS if name in vars(socket.socket)}
    saved = {name: vars(socket.socket)[name] for name in own}
    asyncio.Handle._run = timed_run  # type: ignore[method-assign,assignment]
    for name in BLOCKING_CALLS:
        setattr(socket.socket, name, guarded(name))
    try:
        yield watch
    finally:
        asyncio.Handle._run = run  # type: ignore[method-assign]
        for name in BLOCKING_CALLS:
            if name in saved:
                setattr(socket.socket, name, saved[name])
            else:
                delattr(socket.socket, name)


def _the_watch_sees_a_blocking_call(watch: LoopWatch) -> None:
    """The detector's own check: one deliberate blocking send on the loop is caught."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
    assert len(watch.blocking) == 1, watch.blocking
    assert watch.blocking[0].startswith("socket.sendall on the UI loop")
    watch.blocking.clear()


@dataclass
class Services:
    sshd: Sshd
    catalog: Catalog
    engine: DockerEngine


@pytest.fixture
def services(
    tmp_path: Path,
    docker_engine: DockerEngine,
    test_image: str,
    redis_server: Redis,
) -> Iterator[Services]:
    """A private sshd (its users may use Docker) and a small stack on loopback."""
    sshd = Sshd(extra_groups=("docker",))
    (tmp_path / "bridge").mkdir()
    bridge = BridgeProcess(
        env={**secret_env(), "REDIS_URL": redis_server.url}, workdir=tmp_path / "bridge"
    )
    prom = Prometheus(targets=[])
    workdir = docker_engine.workdir
    assert workdir is not None
    mode = workdir.stat().st_mode & 0o7777
    workdir.chmod(0o711)  # the ssh users (group docker) reach the socket inside
    client = docker_engine.client()
    container = None
    try:
        try:
            sshd.start()
            bridge.start()
            prom.targets = [f"127.0.0.1:{bridge.port}"]
            prom.start()
        except (ServiceUnavailable, OSError) as exc:
            unavailable(exc)
        web_port = free_port()
        container = client.containers.run(
            test_image,
            detach=True,
            network_mode="host",
            environment={"PORT": str(web_port)},
            name=f"auren-heartbeat-{uuid.uuid4().hex[:6]}",
        )
        wait_container_health(container, "healthy", timeout=30)
        catalog = Catalog(
            (
                ServiceSpec("bridge", "Bridge", "", bridge.port, role="bridge"),
                ServiceSpec("redis", "Redis", "", redis_server.port, check="redis", path=""),
                ServiceSpec(
                    "prometheus", "Prometheus", "", prom.port, path="/-/ready", role="prometheus"
                ),
                ServiceSpec("web", "Web", str(container.name), web_port),
            )
        )
        yield Services(sshd, catalog, docker_engine)
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        client.close()
        workdir.chmod(mode)
        prom.close()
        bridge.stop()
        sshd.close()


async def test_no_ui_gap_over_100ms_while_connecting_polling_and_reconnecting(
    services: Services, tmp_path: Path
) -> None:
    sshd = services.sshd
    profile = Profile(
        name="heartbeat",
        host=sshd.host,
        port=sshd.port,
        user=sshd.key_user,
        auth="key",
        key_file=sshd.key_path,
        known_hosts=sshd.write_known_hosts(tmp_path / "known_hosts"),
        docker_host=services.engine.base_url,
        catalog=services.catalog,
    )
    backend = GatedBackend(profile, locations(tmp_path))
    app = build_app(backend, prefs=UiPrefs(refresh_seconds=0.5))
    beat = Heartbeat()
    try:
        async with app.run_test(size=(120, 40)):
            dash = app.dashboard
            bar = dash.query_one(StatusBar)
            app.set_interval(TICK, beat.tick)
            await wait_for(lambda: len(beat.ticks) >= 5, 5, "the heartbeat")
            gc.callbacks.append(beat.on_gc)
            with loop_watch(time.monotonic()) as watch:
                _the_watch_sees_a_blocking_call(watch)
                beat.phase("connect")
                backend.go.set()
                await wait_for(lambda: dash.polls >= 1, 30, "the first refresh")

                beat.phase("polls")
                polls = dash.polls
                await wait_for(lambda: dash.polls >= polls + 4, 30, "four more refreshes")
                snap = dash.last
                assert snap is not None
                assert {s.name: s.health for s in snap.services} == dict.fromkeys(
                    ("bridge", "redis", "prometheus", "web"), "healthy"
                ), snap
                assert snap.bridge is not None
                assert snap.bridge.error is None, snap.bridge

                beat.phase("slow command")
                run = partial(backend.connection.run, "sleep 2; echo slept", 5)
                worker = app.run_worker(run, thread=True, exit_on_error=False)
                await worker.wait()
                assert worker.result == (0, "slept\n", "")

                beat.phase("reconnect")
                await asyncio.to_thread(sshd.stop)
                await wait_for(lambda: "reconnecting" in status_line(bar), 10, "reconnecting")
                await asyncio.to_thread(sshd.start)
                await wait_for(lambda: backend.conn_info().state == "connected", 30, "reconnected")
                polls = dash.polls
                await wait_for(lambda: dash.polls >= polls + 2, 30, "refreshes after it")
                beat.phase("end")
    finally:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(beat.on_gc)
        await asyncio.to_thread(backend.close)

    assert not watch.blocking, watch.blocking[0]
    assert watch.elsewhere > 100, "the socket hook saw no traffic of the worker threads"
    whole, rest = beat.max_gaps(), beat.max_gaps(outside_gc=True)
    figures = ", ".join(
        f"{name} {whole[name] * 1000:.0f} ms ({rest[name] * 1000:.0f} ms outside GC)"
        for name in whole
    )
    report = (
        f"max UI tick gap per phase: {figures}\n"
        f"longest gaps: {beat.worst()}\n"
        f"GC pauses: {beat.pauses() or 'none over 20 ms'}\n"
        f"slow loop callbacks: {watch.report_slow() or 'none'}"
    )
    print("\n" + report)
    assert max(rest.values()) < MAX_GAP, f"the UI loop stalled:\n{report}"
