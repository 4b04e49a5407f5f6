"""End to end on PostgreSQL + Redis + Kafka: each event stored once, published."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import asyncpg
import httpx
import redis as redis_lib
from aiokafka import AIOKafkaProducer

from tests.bridge_service.conftest import BridgeFactory, new_database, new_topic, read_topic
from tests.bridge_service.load import db_event_ids, kafka_event_ids, send_many, wait_backlog_empty
from tests.bridge_service.signing import event_body, sign
from tests.services.base import wait_until
from tests.services.kafka import Kafka
from tests.services.postgres import Postgres
from tests.services.redis import Redis


async def test_signed_webhooks_stored_and_published_once(
    bridge_factory: BridgeFactory, postgres: Postgres, redis_server: Redis, kafka: Kafka
) -> None:
    dsn, topic = new_database(postgres), new_topic()
    bridge = bridge_factory(
        {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_server.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": topic,
            "TERRA_CONSUMER_ENABLED": "false",
        }
    )
    sent = await send_many(bridge.url, 300, concurrency=30)
    assert sent.statuses == Counter({202: 300})
    await wait_backlog_empty(bridge.url)

    in_db = await db_event_ids(dsn)
    assert sorted(in_db) == sorted(sent.acked)
    in_kafka = await kafka_event_ids(kafka.bootstrap, topic, 300)
    assert sorted(in_kafka) == sorted(sent.acked)

    health = bridge.health()
    assert health["status"] == "healthy"
    comps = health["components"]
    assert comps["kafka"]["status"] == "up"  # type: ignore[index]
    assert comps["redis"]["status"] == "up"  # type: ignore[index]


async def test_record_shape_and_duplicates_not_republished(
    bridge_factory: BridgeFactory, postgres: Postgres, redis_server: Redis, kafka: Kafka
) -> None:
    dsn, topic = new_database(postgres), new_topic()
    bridge = bridge_factory(
        {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_server.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": topic,
            "TERRA_CONSUMER_ENABLED": "false",
        }
    )
    body = event_body("whoop", user="ignored")
    async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
        first = await client.post("/webhooks/whoop", content=body, headers=sign("whoop", body))
        assert first.status_code == 202
        # The "stored" mark reaches Redis a few ms after the 202 (batched); a retry
        # before that is answered by the database, correctly but not by this layer.
        key = f"auren:dedup:whoop:{first.json()['event_id']}"
        cache = redis_lib.Redis.from_url(redis_server.url)
        try:
            await asyncio.to_thread(
                wait_until, lambda: cache.get(key) == b"stored", timeout=10, what="stored mark"
            )
        finally:
            cache.close()
        for _ in range(3):
            again = await client.post("/webhooks/whoop", content=body, headers=sign("whoop", body))
            assert again.status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'bridge_dedup_hits_total{layer="redis"} 3.0' in metrics
    await wait_backlog_empty(bridge.url)
    records = await read_topic(kafka.bootstrap, topic, 1, settle=2.0)
    assert len(records) == 1
    record = records[0]
    payload = json.loads(body)
    envelope = json.loads(record.value)
    assert envelope["event_id"] == first.json()["event_id"]
    assert envelope["source"] == "whoop"
    assert envelope["user_id"] == str(payload["user_id"])
    assert envelope["trace_id"] == payload["trace_id"]
    assert envelope["payload"] == payload
    assert record.key == str(payload["user_id"]).encode()
    headers = dict(record.headers)
    assert headers["source"] == b"whoop"
    assert headers["event_id"] == envelope["event_id"].encode()
    assert headers["trace_id"] == payload["trace_id"].encode()


async def test_terra_records_are_consumed_into_the_same_table(
    bridge_factory: BridgeFactory, postgres: Postgres, kafka: Kafka
) -> None:
    dsn, topic, terra_topic = new_database(postgres), new_topic(), f"terra-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    ids = [uuid.uuid4().hex for _ in range(5)]
    async with asyncio.timeout(60):
        await producer.start()
        try:
            for terra_id in [*ids, ids[0]]:  # the first one twice: stored once
                record = {
                    "id": terra_id,
                    "type": "activity",
                    "user": {"user_id": "terra-user-1", "provider": "OURA"},
                    "data": [{"metadata": {"summary_id": terra_id}, "calories": 321}],
                }
                await producer.send_and_wait(terra_topic, json.dumps(record).encode())
            await producer.send_and_wait(terra_topic, b"not json at all")
        finally:
            await producer.stop()

    bridge = bridge_factory(
        {
            "DATABASE_URL": dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": topic,
            "TERRA_TOPIC": terra_topic,
            "TERRA_CONSUMER_GROUP": f"bridge-{uuid.uuid4().hex[:6]}",
        }
    )
    conn = await asyncpg.connect(dsn)
    try:
        async with asyncio.timeout(60):
            while True:
                rows = await conn.fetch("select event_id from events where source = 'terra'")
                if len(rows) >= 5:
                    break
                await asyncio.sleep(0.2)
    finally:
        await conn.close()
    assert sorted(r["event_id"] for r in rows) == sorted(f"terra-{i}" for i in ids)
    await wait_backlog_empty(bridge.url)
    published = await kafka_event_ids(kafka.bootstrap, topic, 5)
    assert sorted(published) == sorted(f"terra-{i}" for i in ids)
    metrics = httpx.get(f"{bridge.url}/metrics").text
    assert 'bridge_terra_records_total{status="invalid"} 1.0' in metrics
