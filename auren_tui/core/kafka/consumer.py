"""The tail: reading Kafka topics through a profile's connection, without disturbing anyone.

``Tail`` is an async iterator of record batches and status changes; run it on
a ``TunnelLoop`` (core/transport/loop.py, which explains how the broker's
advertised address is reached) with ``run_tunnelled``, as the CLI does, or on
a ``TailThread`` of its own, as the TUI does.

Tails never commit: no group id, partitions assigned and seeked by hand
(core/kafka/client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auren_tui.core.kafka.client import (
    KafkaError,
    cluster_metadata,
    error_line,
    new_consumer,
    start_consumer,
)
from auren_tui.core.kafka.records import TailRecord
from auren_tui.core.kafka.start import Start
from auren_tui.core.transport.connection import Connection
from auren_tui.core.transport.loop import run_tunnelled

log = logging.getLogger(__name__)

PROBE_SECONDS = 1.0
"""How often a tail checks the broker and its topics while it reads."""


@dataclass
class TailStatus:
    """What the tail is doing, for the header or stderr."""

    state: str
    """``connecting``, ``live``, ``broker unreachable``, ``topic deleted``, ``at end``,
    ``stopped``."""
    detail: str = ""
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.state}: {self.detail}" if self.detail else self.state


@dataclass
class TailRequest:
    """What to read."""

    bootstrap: str
    topics: Sequence[str]
    start: Start = field(default_factory=Start)
    partitions: Sequence[int] = ()
    """Only these partitions (all when empty)."""
    exit_at_end: bool = False
    """Stop at the end offsets taken when the tail started."""
    connect_timeout: float = 15.0
    max_records: int = 5000
    """Records per batch handed on."""
    raw: bool = False
    """Hand on aiokafka's own records (``ConsumerRecord``: ``topic``, ``partition``,
    ``offset``, ``timestamp``, ``key``, ``value``, ``headers``) instead of
    ``TailRecord``s: the CLI writes them out as they come, one object fewer per
    record (``tail_records`` makes ``TailRecord``s of them when needed)."""


class Tail:
    """An async iterator of record batches and status changes.

    ``async for item in Tail(req)``: a ``list[TailRecord]`` or a ``TailStatus``.
    Ends by itself only with ``exit_at_end``; a deleted topic raises ``KafkaError``.
    """

    def __init__(self, request: TailRequest) -> None:
        self.request = request
        self.status = TailStatus("connecting", request.bootstrap)
        self._consumer: Any = None
        self._statuses: asyncio.Queue[TailStatus] = asyncio.Queue()
        self._stop_at: dict[Any, int] = {}

    async def __aiter__(self) -> AsyncIterator[list[TailRecord] | TailStatus]:
        req = self.request
        # A busy topic: a fetch waits for 16 KiB (or 100 ms) instead of returning each
        # few records, which cost a request and a wake-up of this loop every time.
        consumer = new_consumer(
            req.bootstrap,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_min_bytes=16 * 1024,
            fetch_max_wait_ms=100,
        )
        self._consumer = consumer
        yield self.status
        await start_consumer(consumer, req.bootstrap, req.connect_timeout)
        probe: asyncio.Task[None] | None = None
        try:
            tps = await self._assign(consumer)
            await self._seek(consumer, tps)
            if req.exit_at_end:
                ends = await consumer.end_offsets(tps)
                self._stop_at = {tp: ends[tp] for tp in tps}
            yield self._set("live", f"{len(tps)} partitions from {req.start.describe()}")
            probe = asyncio.create_task(self._probe(consumer, tps), name="kafka-probe")
            while True:
                while not self._statuses.empty():
                    status = self._statuses.get_nowait()
                    if status.state == "topic deleted":
                        raise KafkaError(status.detail)
                    yield status
                if self._stop_at and await self._reached_end(consumer):
                    yield self._set("at end")
                    return
                batches = await consumer.getmany(timeout_ms=200, max_records=req.max_records)
                got: list[Any] = []
                for tp, batch in batches.items():
                    end = self._stop_at.get(tp)
                    if end is not None and batch and batch[-1].offset >= end:
                        batch = [r for r in batch if r.offset < end]
                    got += batch
                if got:
                    yield got if req.raw else tail_records(got)
        finally:
            if probe is not None:
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await probe
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _set(self, state: str, detail: str = "") -> TailStatus:
        self.status = TailStatus(state, detail, self.status.end_offsets)
        return self.status

    async def _assign(self, consumer: Any) -> list[Any]:
        from aiokafka import TopicPartition

        req = self.request
        cluster = await cluster_metadata(consumer)
        known = cluster.topics()
        tps = []
        for topic in req.topics:
            if topic not in known:
                names = ", ".join(sorted(t for t in known if not t.startswith("__")))
                raise KafkaError(
                    f"no topic {topic!r} on {req.bootstrap} (topics: {names or 'none'})"
                )
            parts = sorted(cluster.partitions_for_topic(topic) or ())
            chosen = [p for p in parts if not req.partitions or p in req.partitions]
            if not chosen:
                raise KafkaError(
                    f"topic {topic!r} has no partition {list(req.partitions)} (has {parts})"
                )
            tps += [TopicPartition(topic, p) for p in chosen]
        consumer.assign(tps)
        return tps

    async def _seek(self, consumer: Any, tps: list[Any]) -> None:
        start = self.request.start
        if start.kind == "end":
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolve now: records produced from here on are shown
                await consumer.position(tp)
            return
        if start.kind == "beginning":
            await consumer.seek_to_beginning(*tps)
            return
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        if start.kind == "offset":
            targets = {tp: min(max(start.value, first[tp]), end[tp]) for tp in tps}
        elif start.kind == "back":
            targets = {tp: max(first[tp], end[tp] - start.value) for tp in tps}
        else:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, start.value))
            targets = {tp: found[tp].offset if found.get(tp) else end[tp] for tp in tps}
        for tp, offset in targets.items():
            consumer.seek(tp, offset)

    async def _reached_end(self, consumer: Any) -> bool:
        for tp, end in self._stop_at.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _probe(self, consumer: Any, tps: list[Any]) -> None:
        """Tell broker outages and deleted topics apart from quiet topics."""
        topics = set(self.request.topics)
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                async with asyncio.timeout(max(3.0, PROBE_SECONDS * 3)):
                    cluster = await consumer._client.fetch_all_metadata()
                    ends = await consumer.end_offsets(
                        [tp for tp in tps if tp.topic in cluster.topics()]
                    )
            except Exception as exc:
                if self.status.state != "broker unreachable":
                    self._statuses.put_nowait(self._set("broker unreachable", error_line(exc)))
                continue
            gone = sorted(topics - set(cluster.topics()))
            if gone:
                self._statuses.put_nowait(
                    self._set("topic deleted", f"topic {', '.join(gone)} was deleted on the broker")
                )
                return
            self.status.end_offsets = {(tp.topic, tp.partition): end for tp, end in ends.items()}
            if self.status.state != "live":
                self._statuses.put_nowait(self._set("live", "broker reachable again"))


def tail_records(records: Sequence[Any]) -> list[TailRecord]:
    """``TailRecord``s of aiokafka's ``ConsumerRecord``s."""
    return [
        TailRecord(
            r.topic,
            r.partition,
            r.offset,
            r.timestamp,
            r.key,
            r.value,
            tuple(r.headers) if r.headers else (),
        )
        for r in records
    ]


class TailThread:
    """A ``Tail`` on its own thread and loop, handing batches to callbacks.

    For the TUI: ``on_records`` and ``on_status`` are called from the tail's
    thread (use ``App.call_from_thread`` or a queue there). ``stop()`` ends it.
    """

    def __init__(
        self,
        connection: Connection,
        request: TailRequest,
        on_records: Callable[[list[TailRecord]], None],
        on_status: Callable[[TailStatus], None],
    ) -> None:
        self.connection = connection
        self.request = request
        self.on_records = on_records
        self.on_status = on_status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-tail", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        try:
            run_tunnelled(self.connection, self._main)
        except BaseException as exc:
            log.debug("tail thread ended", exc_info=True)
            self.on_status(
                TailStatus(
                    "stopped", error_line(exc) if not isinstance(exc, KafkaError) else str(exc)
                )
            )

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._ready.set()
        try:
            async for item in Tail(self.request):
                if isinstance(item, TailStatus):
                    self.on_status(item)
                else:
                    self.on_records(item)
        except asyncio.CancelledError:
            self.on_status(TailStatus("stopped"))
            return
        except KafkaError as exc:
            self.on_status(TailStatus("stopped", str(exc)))
            return
        self.on_status(TailStatus("stopped", "reached the end"))

    def stop(self, timeout: float = 10.0) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def rate(counts: list[tuple[float, int]], window: float = 5.0, now: float | None = None) -> float:
    """Records per second over the last ``window`` seconds of ``(time, count)`` samples."""
    now = time.monotonic() if now is None else now
    recent = [(t, n) for t, n in counts if now - t <= window]
    if len(recent) < 2:
        return 0.0
    span = recent[-1][0] - recent[0][0]
    return (recent[-1][1] - recent[0][1]) / span if span > 0 else 0.0
