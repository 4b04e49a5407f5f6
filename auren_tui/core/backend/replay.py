"""Recorded snapshots instead of a server: the backend of snapshot tests and demos of faults."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import cycle

from pydantic import SecretStr

from auren_tui.core.backend.containers import Containers, ReplayContainers
from auren_tui.core.backend.history import Recording
from auren_tui.core.backend.live import ConnInfo, OnRecords, OnStatus, TailHandle
from auren_tui.core.backend.webhooks import OnProgress, OnResponse, Outgoing, Sent
from auren_tui.core.history.model import History
from auren_tui.core.kafka.client import TopicInfo
from auren_tui.core.kafka.consumer import TailStatus
from auren_tui.core.kafka.records import TailRecord
from auren_tui.core.kafka.start import Start
from auren_tui.core.model import Snapshot
from auren_tui.core.webhooks.client import CheckResult
from auren_tui.core.webhooks.load import LoadSpec, LoadStats
from auren_tui.core.webhooks.signing import Provider


class ReplayBackend:
    """Recorded snapshots instead of a server: snapshot tests, the demo, demos of faults."""

    def __init__(
        self,
        snapshots: Iterable[Snapshot],
        profile_name: str = "replay",
        read_only: bool = False,
        loop: bool = True,
        conn: ConnInfo | None = None,
        records: Iterable[TailRecord] = (),
        containers: ReplayContainers | None = None,
        recording: Recording | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        items = list(snapshots)
        self._replay_containers = containers or ReplayContainers()
        self.records = list(records)
        """Kafka records a tail replays at once (those of the topics it asks for)."""
        self._it: Iterator[Snapshot] = cycle(items) if loop else iter(items)
        self._last: Snapshot | None = None
        self.profile_name = profile_name
        self.read_only = read_only
        self.conn = conn or ConnInfo("connected")
        self.collects = 0
        self.clock = clock
        self.recording = recording or Recording(None, profile_name, None, clock=clock)
        """Where the replayed refreshes are recorded, and the History screen's data."""

    def start(self) -> None:
        return None

    def collect(self) -> Snapshot:
        self.collects += 1
        try:
            self._last = next(self._it)
        except StopIteration:
            if self._last is None:
                raise
        assert self._last is not None
        snapshot = Snapshot(
            taken_at=self.clock(),
            services=self._last.services,
            bridge=self._last.bridge,
            errors=self._last.errors,
        )
        self.recording.record(snapshot)
        return snapshot

    def history(self, window: float) -> History:
        return self.recording.history(window)

    def recorded(self, taken_at: float | None, delta: int) -> Snapshot | None:
        return self.recording.step(taken_at, delta)

    def first_recorded(self) -> Snapshot | None:
        return self.recording.first()

    def conn_info(self) -> ConnInfo:
        return self.conn

    def trust_host_key(self, error: Exception) -> str:
        raise NotImplementedError("a replay has no host to trust")

    def list_topics(self) -> list[TopicInfo]:
        spans: dict[str, dict[int, tuple[int, int]]] = {}
        for r in self.records:
            parts = spans.setdefault(r.topic, {})
            first, end = parts.get(r.partition, (r.offset, r.offset + 1))
            parts[r.partition] = (min(first, r.offset), max(end, r.offset + 1))
        return [TopicInfo(name, spans[name]) for name in sorted(spans)]

    def open_tail(
        self, topics: Sequence[str], start: Start, on_records: OnRecords, on_status: OnStatus
    ) -> TailHandle:
        chosen = [r for r in self.records if r.topic in topics]
        on_status(TailStatus("live", f"replay of {len(chosen)} records"))
        if chosen:
            on_records(chosen)
        return _ReplayTail(on_status)

    def webhook_target(self) -> str:
        return "127.0.0.1:8889"

    def webhook_secret(self, provider: Provider) -> SecretStr:
        from auren_tui.core.backend.webhooks import REPLAY_SECRET

        return REPLAY_SECRET

    def send_webhook(
        self,
        out: Outgoing,
        trace_topic: str | None = None,
        on_response: OnResponse | None = None,
    ) -> Sent:
        from auren_tui.core.backend.webhooks import replay_send

        sent = replay_send(out, trace_topic)
        if on_response is not None:
            on_response(sent.request, sent.response)
        return sent

    def webhook_suite(self, provider: Provider, body: bytes) -> list[CheckResult]:
        from auren_tui.core.backend.webhooks import REPLAY_SECRET, replay_suite

        return replay_suite(provider, body, REPLAY_SECRET)

    def webhook_load(self, spec: LoadSpec, on_progress: OnProgress | None = None) -> LoadStats:
        from auren_tui.core.backend.webhooks import replay_load

        return replay_load(spec, on_progress)

    def containers(self) -> Containers:
        return self._replay_containers

    def close(self) -> None:
        self.recording.close()


class _ReplayTail:
    def __init__(self, on_status: OnStatus) -> None:
        self._on_status = on_status
        self._alive = True

    def stop(self, timeout: float = 10.0) -> None:
        if self._alive:
            self._alive = False
            self._on_status(TailStatus("stopped"))

    @property
    def alive(self) -> bool:
        return self._alive
