from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.services.kafka import Kafka


async def test_idempotent_produce_then_consume(kafka: Kafka) -> None:
    topic = f"harness-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True
    )
    async with asyncio.timeout(60):
        await producer.start()
        try:
            sent = [
                await producer.send_and_wait(topic, f"value-{i}".encode(), key=b"k")
                for i in range(5)
            ]
        finally:
            await producer.stop()
    assert [m.offset for m in sent] == [0, 1, 2, 3, 4]

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, enable_auto_commit=False, group_id=None
    )
    got: list[bytes] = []
    async with asyncio.timeout(60):
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while len(got) < 5:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                got.extend(r.value for r in batch.get(tp, []))
        finally:
            await consumer.stop()
    assert got == [f"value-{i}".encode() for i in range(5)]


async def test_broker_lists_created_topic(kafka: Kafka) -> None:
    from aiokafka.admin import NewTopic

    topic = f"harness-admin-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    async with asyncio.timeout(60):
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
            topics = await admin.list_topics()
        finally:
            await admin.close()
    assert topic in topics
