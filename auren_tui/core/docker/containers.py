"""Every container of a Docker Engine: list, follow logs, stats, start/stop/restart.

Blocking (docker SDK): the TUI calls these from thread workers only. A log
follow runs on its own daemon thread and hands lines over in batches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from auren_tui.core.catalog import Catalog

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


@dataclass(frozen=True)
class Stats:
    cpu_percent: float
    memory: int
    """Bytes in use (without the page cache)."""
    memory_limit: int


def row_of(attrs: dict[str, Any], catalog: Catalog) -> ContainerRow:
    """A table row from ``docker inspect`` of one container."""
    state = attrs.get("State") or {}
    name = str(attrs.get("Name") or "").lstrip("/")
    config = attrs.get("Config") or {}
    image = str(config.get("Image") or attrs.get("Image") or "")[:60]
    running = bool(state.get("Running"))
    started = _epoch(str(state.get("StartedAt") or "")) if running else None
    status = "restarting" if state.get("Restarting") else str(state.get("Status") or "unknown")
    health = str((state.get("Health") or {}).get("Status") or "")
    service = next((s.name for s in catalog.services if s.container == name), None)
    return ContainerRow(
        name, status, health, int(attrs.get("RestartCount") or 0), image, started, service
    )


def _epoch(text: str) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    # Docker writes nanoseconds; fromisoformat takes at most microseconds.
    head, dot, frac = text.rstrip("Z").partition(".")
    try:
        when = datetime.fromisoformat(f"{head}.{frac[:6]}+00:00" if dot else f"{head}+00:00")
    except ValueError:
        return None
    return when.timestamp()


def list_containers(client: Any, catalog: Catalog) -> list[ContainerRow]:
    """Every container (running or not), catalog services first, then by name."""
    rows = [row_of(c.attrs, catalog) for c in client.containers.list(all=True)]
    return sorted(rows, key=lambda r: (r.service is None, r.name))


def stats_of(client: Any, name: str) -> Stats:
    """One CPU/memory sample (blocks about a second: Docker measures CPU over it)."""
    raw = client.containers.get(name).stats(stream=False)
    return parse_stats(raw)


def parse_stats(raw: dict[str, Any]) -> Stats:
    cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    percent = used / system * cpus * 100.0 if used > 0 and system > 0 else 0.0
    memory = raw.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("cache", 0))
    in_use = max(int(memory.get("usage", 0)) - int(cache), 0)
    return Stats(percent, in_use, int(memory.get("limit", 0)))


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


class LineBuffer:
    """The hand-off between a log follow's thread and the UI: the follow appends,
    a UI timer takes. Lines of a replaced follow (an older ``generation``) are dropped,
    and a follow opened after its screen moved on is refused by ``adopt``."""

    def __init__(self, limit: int = 5_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._generation = 0
        self._lines: list[str] = []
        self._ended: str | None = None
        self._handle: Follow | None = None

    def begin(self) -> tuple[int, OnLines, OnEnd]:
        """A new follow: its generation and the callbacks to give it."""
        with self._lock:
            self._generation += 1
            self._lines, self._ended = [], None
            generation = self._generation

        def on_lines(lines: list[str]) -> None:
            with self._lock:
                if generation == self._generation:
                    self._lines.extend(lines)
                    del self._lines[: -self.limit]

        def on_end(why: str) -> None:
            with self._lock:
                if generation == self._generation:
                    self._ended = why

        return generation, on_lines, on_end

    def adopt(self, generation: int, handle: Follow) -> bool:
        """Keep ``handle`` as the current follow; False when it was replaced meanwhile
        (the caller stops it)."""
        with self._lock:
            if generation != self._generation:
                return False
            self._handle = handle
            return True

    def drop(self) -> Follow | None:
        """Whatever the current follow still sends is ignored; its handle, to stop."""
        with self._lock:
            self._generation += 1
            self._lines, self._ended = [], None
            handle, self._handle = self._handle, None
        return handle

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def take(self) -> tuple[list[str], str | None]:
        """Lines since the last take, and why the follow ended (once)."""
        with self._lock:
            lines, self._lines = self._lines, []
            ended, self._ended = self._ended, None
        return lines, ended
