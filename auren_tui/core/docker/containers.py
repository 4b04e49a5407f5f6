"""Every container of a Docker Engine: list, follow logs, stats, start/stop/restart.

Blocking (docker SDK): the TUI calls these from thread workers only. A log
follow runs on its own daemon thread and hands lines over in batches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from auren_tui.core.catalog import Catalog
from auren_tui.core.docker.inspect import parse_docker_time
from auren_tui.core.docker.stats import Stats, parse_stats
from auren_tui.core.handoff import Handoff

Action = Literal["start", "stop", "restart"]
OnLines = Callable[[list[str]], None]
OnEnd = Callable[[str], None]
"""Called once when a follow ends by itself (container gone, stream lost): why."""


class Follow(Protocol):
    """A running log follow."""

    def stop(self) -> None: ...

    @property
    def alive(self) -> bool: ...


@dataclass(frozen=True)
class ContainerRow:
    """One container as the table shows it."""

    name: str
    state: str
    """running, exited, restarting, created, paused, dead."""
    health: str
    """healthy, unhealthy, starting, or "" without a healthcheck."""
    restarts: int
    image: str
    started_at: float | None
    """Epoch seconds of the last start while running, else None."""
    service: str | None = None
    """The catalog service whose container this is."""


def row_of(attrs: dict[str, Any], catalog: Catalog) -> ContainerRow:
    """A table row from ``docker inspect`` of one container."""
    state = attrs.get("State") or {}
    name = str(attrs.get("Name") or "").lstrip("/")
    config = attrs.get("Config") or {}
    image = str(config.get("Image") or attrs.get("Image") or "")[:60]
    running = bool(state.get("Running"))
    started = parse_docker_time(state.get("StartedAt")) if running else None
    status = "restarting" if state.get("Restarting") else str(state.get("Status") or "unknown")
    health = str((state.get("Health") or {}).get("Status") or "")
    service = next((s.name for s in catalog.services if s.container == name), None)
    return ContainerRow(
        name, status, health, int(attrs.get("RestartCount") or 0), image, started, service
    )


def list_containers(client: Any, catalog: Catalog) -> list[ContainerRow]:
    """Every container (running or not), catalog services first, then by name."""
    rows = [row_of(c.attrs, catalog) for c in client.containers.list(all=True)]
    return sorted(rows, key=lambda r: (r.service is None, r.name))


def stats_of(client: Any, name: str) -> Stats:
    """One CPU/memory sample (blocks about a second: Docker measures CPU over it)."""
    raw = client.containers.get(name).stats(stream=False)
    return parse_stats(raw)


def act(client: Any, name: str, action: Action, timeout: int = 10) -> None:
    """Start, stop or restart a container (stop/restart wait ``timeout`` s, then kill)."""
    container = client.containers.get(name)
    if action == "start":
        container.start()
    elif action == "stop":
        container.stop(timeout=timeout)
    else:
        container.restart(timeout=timeout)


class LogFollow:
    """``docker logs --follow --tail N`` on a thread; lines in batches to ``on_lines``."""

    def __init__(
        self, client: Any, name: str, on_lines: OnLines, on_end: OnEnd, tail: int = 200
    ) -> None:
        self.client, self.name, self.tail = client, name, tail
        self.on_lines, self.on_end = on_lines, on_end
        self._stream: Any = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"logs-{name}", daemon=True)

    def start(self) -> LogFollow:
        self._thread.start()
        return self

    def _run(self) -> None:
        why = "the log stream ended"
        try:
            container = self.client.containers.get(self.name)
            self._stream = container.logs(stream=True, follow=True, tail=self.tail)
            if self._stopped.is_set():
                return
            pending = b""
            for chunk in self._stream:
                if self._stopped.is_set():
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if lines:
                    self.on_lines([line.decode("utf-8", "replace") for line in lines])
            if pending:
                self.on_lines([pending.decode("utf-8", "replace")])
        except Exception as exc:  # the stream closed under us, or the container is gone
            why = " ".join(str(getattr(exc, "explanation", None) or exc).split())[:200]
        if not self._stopped.is_set():
            self.on_end(why)

    def stop(self) -> None:
        """End the follow (closes its stream; the thread ends on its own)."""
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # a stream that is already gone
                stream.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()


class ReplayFollow:
    """Canned log lines, all at once (the replay backend)."""

    def __init__(self, lines: Iterable[str], on_lines: OnLines) -> None:
        self.lines = list(lines)
        self.on_lines = on_lines
        self._alive = True

    def start(self) -> ReplayFollow:
        if self.lines:
            self.on_lines(self.lines)
        return self

    def stop(self) -> None:
        self._alive = False

    @property
    def alive(self) -> bool:
        return self._alive


class LineBuffer(Handoff[str, str, Follow]):
    """The hand-off between a log follow's thread and the UI (``core/handoff.py``):
    the follow appends lines, a UI timer takes them, with why the follow ended."""

    def __init__(self, limit: int = 5_000) -> None:
        super().__init__(limit)

    def begin(self) -> tuple[int, OnLines, OnEnd]:
        """A new follow: its generation and the callbacks to give it."""
        return self.open()

    def drop(self) -> Follow | None:
        """Whatever the current follow still sends is ignored; its handle, to stop."""
        return self.release(discard=True)

    def take(self) -> tuple[list[str], str | None]:
        """Lines since the last take, and why the follow ended (once)."""
        lines, _, ended = self.drain()
        return lines, ended
