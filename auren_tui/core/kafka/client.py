"""A Kafka client that reads without disturbing anyone: no group, no commits, no new topics.

``new_consumer`` makes the aiokafka consumer every reader here uses (the tail,
the topic list, the webhook trace); run it on a ``TunnelLoop``
(core/transport/loop.py) to reach the server's broker through the profile's
connection. Also: the one error a reader raises, and the topic list.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from auren_tui.core.transport.loop import TunnelLoop


class KafkaError(Exception):
    """Reading Kafka (a tail, the topic list, a trace) failed for a reason the operator
    can act on (one line)."""


def _never_create_topics() -> None:
    """Make aiokafka's metadata requests from a ``TunnelLoop`` never create topics.

    aiokafka asks for metadata with ``allow_auto_topic_creation=True`` always;
    on a broker with ``auto.create.topics.enable`` (Kafka's default) a tail
    would silently re-create a topic someone just deleted. Other loops (the
    bridge's producer, tests) keep aiokafka's behaviour.
    """
    import aiokafka.client
    from aiokafka.protocol.metadata import MetadataRequest

    if getattr(aiokafka.client.MetadataRequest, "auren_tui", False):
        return

    class _MetadataRequest(MetadataRequest):  # type: ignore[misc]
        auren_tui = True

        def __init__(
            self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
        ) -> None:
            if allow_auto_topic_creation is None:
                with contextlib.suppress(RuntimeError):  # no running loop: leave it
                    if isinstance(asyncio.get_running_loop(), TunnelLoop):
                        allow_auto_topic_creation = False
            super().__init__(topics, allow_auto_topic_creation)

    aiokafka.client.MetadataRequest = _MetadataRequest


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: dict[int, tuple[int, int]]
    """partition -> (first offset, end offset)."""

    @property
    def records(self) -> int:
        return sum(end - first for first, end in self.partitions.values())


def new_consumer(bootstrap: str, **extra: Any) -> Any:
    from aiokafka import AIOKafkaConsumer

    _never_create_topics()
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: nothing is ever committed
        enable_auto_commit=False,
        client_id="auren-tui-tail",
        request_timeout_ms=10_000,
        metadata_max_age_ms=5_000,
        retry_backoff_ms=200,
        **extra,
    )


async def cluster_metadata(consumer: Any) -> Any:
    """Fresh metadata of the whole cluster (``consumer.topics()`` keeps only the names;
    ``partitions_for_topic`` answers from a cache that may not know a new topic yet)."""
    return await consumer._client.fetch_all_metadata()


def error_line(exc: BaseException) -> str:
    """An aiokafka error as one line, its type first (``KafkaConnectionError: …``)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def start_consumer(consumer: Any, bootstrap: str, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await consumer.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise KafkaError(f"cannot reach Kafka at {bootstrap}: {error_line(exc)}") from None


async def list_topics(
    bootstrap: str, seconds: float = 15.0, internal: bool = False
) -> list[TopicInfo]:
    """Every topic with its partitions' first and end offsets."""
    from aiokafka import TopicPartition

    consumer = new_consumer(bootstrap)
    await start_consumer(consumer, bootstrap, seconds)
    try:
        async with asyncio.timeout(seconds):
            cluster = await cluster_metadata(consumer)
            names = sorted(t for t in cluster.topics() if internal or not t.startswith("__"))
            tps = [
                TopicPartition(name, p)
                for name in names
                for p in sorted(cluster.partitions_for_topic(name) or ())
            ]
            first = await consumer.beginning_offsets(tps) if tps else {}
            end = await consumer.end_offsets(tps) if tps else {}
    except TimeoutError:
        raise KafkaError(f"Kafka at {bootstrap} did not answer within {seconds:g} s") from None
    finally:
        await consumer.stop()
    return [
        TopicInfo(
            name,
            {tp.partition: (first[tp], end[tp]) for tp in tps if tp.topic == name},
        )
        for name in names
    ]
