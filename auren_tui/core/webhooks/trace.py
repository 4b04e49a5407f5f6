"""Follow an accepted webhook into Kafka.

``async with KafkaTrace(bootstrap, topic) as trace`` takes every partition's
end offset *before* the webhook is sent; ``await trace.find(event_id)``
then reads from there until the record with that event id arrives. Run on a
``TunnelLoop`` so the broker's advertised address goes through the tunnel.
Assign-and-seek, no group: nothing is committed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from auren_tui.core.kafka.client import KafkaError, cluster_metadata, new_consumer, start_consumer


@dataclass(frozen=True)
class Traced:
    event_id: str
    after_ms: float
    topic: str
    partition: int
    offset: int

    def line(self) -> str:
        return (
            f"in Kafka after {self.after_ms:.0f} ms "
            f"({self.topic} partition {self.partition}, offset {self.offset})"
        )


class KafkaTrace:
    def __init__(self, bootstrap: str, topic: str, connect_timeout: float = 15.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.connect_timeout = connect_timeout
        self.start_offsets: dict[int, int] = {}
        self._consumer: Any = None
        self._armed_at = 0.0

    async def __aenter__(self) -> KafkaTrace:
        from aiokafka import TopicPartition

        consumer = new_consumer(self.bootstrap)
        await start_consumer(consumer, self.bootstrap, self.connect_timeout)
        self._consumer = consumer
        try:
            cluster = await cluster_metadata(consumer)
            parts = sorted(cluster.partitions_for_topic(self.topic) or ())
            if not parts:
                raise KafkaError(f"no topic {self.topic!r} on {self.bootstrap}")
            tps = [TopicPartition(self.topic, p) for p in parts]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, ends[tp])
            self.start_offsets = {tp.partition: ends[tp] for tp in tps}
        except BaseException:
            await consumer.stop()
            raise
        self._armed_at = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def mark_sent(self) -> None:
        """Time from here (call it just before sending)."""
        self._armed_at = time.perf_counter()

    async def find(self, event_id: str, within: float = 10.0) -> Traced | None:
        """The record whose value carries ``event_id``, or None after ``within`` s."""
        needle = event_id.encode()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for r in records:
                    if r.value and needle in r.value and _event_id(r.value) == event_id:
                        return Traced(
                            event_id,
                            (time.perf_counter() - self._armed_at) * 1000,
                            r.topic,
                            r.partition,
                            r.offset,
                        )
            await asyncio.sleep(0)
        return None


def _event_id(value: bytes) -> str | None:
    """The event id of a record that is the bridge's ``Envelope`` (bridge_service/schema.py)."""
    from pydantic import ValidationError

    from bridge_service.schema import Envelope

    try:
        return Envelope.model_validate_json(value).event_id
    except ValidationError:
        return None
