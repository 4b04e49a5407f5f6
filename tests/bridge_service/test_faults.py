"""Faults. Each ends with: every acknowledged event is in the database, once,
and in Kafka.

Hostile and awkward traffic (header floods, half-sent bodies, validly signed
bodies with numbers JSON cannot hold, the same event twice at the same
instant) runs alongside the genuine load of every scenario. The figures of
each scenario are printed at the end of the run ("bridge fault matrix").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.bridge_service.conftest import BridgeFactory, new_database, new_topic, read_topic
from tests.bridge_service.load import (
    Sent,
    assert_hostile_refused,
    db_event_ids,
    hostile_mix,
    kafka_event_ids,
    record_figures,
    send_many,
    wait_backlog_empty,
)
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign
from tests.services.base import ServiceUnavailable, unavailable
from tests.services.kafka import Kafka
from tests.services.postgres import Postgres
from tests.services.redis import Redis

FAST = {
    "PUBLISH_TIMEOUT_SECONDS": "2",
    "BREAKER_RESET_SECONDS": "1",
    "BREAKER_FAILURE_THRESHOLD": "2",
    "TERRA_CONSUMER_ENABLED": "false",
}


async def wait_health(bridge: BridgeProcess, predicate: object, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    async with httpx.AsyncClient(base_url=bridge.url, timeout=5) as client:
        async with asyncio.timeout(timeout):
            while True:
                body = (await client.get("/health")).json()
                if predicate(body):  # type: ignore[operator]
                    return body  # type: ignore[no-any-return]
                await asyncio.sleep(0.2)


def private(service: Kafka | Redis | Postgres) -> None:
    try:
        service.start()
    except ServiceUnavailable as exc:
        service.close()
        unavailable(exc)


@contextlib.asynccontextmanager
async def hostile_during(url: str, sent: Sent) -> AsyncIterator[Counter[str]]:
    """Hostile traffic at ``url`` for as long as the block runs; then checked."""
    stop = asyncio.Event()
    counts: Counter[str] = Counter()
    task = asyncio.create_task(hostile_mix(url, stop, sent))
    try:
        yield counts
    finally:
        stop.set()
        counts.update(await task)
    assert_hostile_refused(counts)


async def assert_all_delivered(
    dsn: str, bootstrap: str, topic: str, sent: Sent, hostile: Counter[str] | None = None
) -> list[str]:
    in_db = await db_event_ids(dsn)
    in_kafka = await kafka_event_ids(bootstrap, topic, len(set(in_db)))
    figures = record_figures(sent.acked, in_db, in_kafka, hostile)
    assert figures.duplicated_in_db == 0, "an event was stored twice"
    assert sent.acked <= set(in_db), "an acknowledged event is missing from the database"
    assert set(in_kafka) == set(in_db), "database and Kafka disagree"
    assert figures.lost == 0
    return in_kafka


async def test_kafka_stopped_mid_run_and_restarted(
    bridge_factory: BridgeFactory, postgres: Postgres
) -> None:
    kafka = Kafka()
    private(kafka)
    try:
        dsn, topic = new_database(postgres), new_topic()
        bridge = bridge_factory(
            {
                **FAST,
                "DATABASE_URL": dsn,
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "KAFKA_TOPIC": topic,
            }
        )
        sent = Sent()
        async with hostile_during(bridge.url, sent) as hostile:
            await send_many(bridge.url, 50, sent=sent)
            await wait_backlog_empty(bridge.url)

            kafka.stop()
            await send_many(bridge.url, 50, sent=sent)
        assert sent.statuses == Counter({202: 100}), "storing must not depend on Kafka"
        down = await wait_health(bridge, lambda h: h["components"]["kafka"]["circuit"] == "open")
        assert down["components"]["kafka"]["status"] == "down"
        assert down["components"]["outbox"]["backlog"] >= 50  # plus the hostile mix's twins
        assert down["status"] == "degraded"
        metrics = httpx.get(f"{bridge.url}/metrics").text
        assert "bridge_kafka_circuit_state 2.0" in metrics

        kafka.start()
        await wait_backlog_empty(bridge.url, timeout=120)
        in_kafka = await assert_all_delivered(dsn, kafka.bootstrap, topic, sent, hostile)
        assert Counter(in_kafka).most_common(1)[0][1] == 1, "published twice"
        up = await wait_health(bridge, lambda h: h["components"]["kafka"]["status"] == "up")
        assert up["components"]["circuit"] == "closed"
    finally:
        kafka.close()


async def test_redis_stopped_database_stays_the_authority(
    bridge_factory: BridgeFactory, postgres: Postgres, kafka: Kafka
) -> None:
    redis = Redis()
    private(redis)
    try:
        dsn, topic = new_database(postgres), new_topic()
        bridge = bridge_factory(
            {
                **FAST,
                "DATABASE_URL": dsn,
                "REDIS_URL": redis.url,
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "KAFKA_TOPIC": topic,
            }
        )
        body = event_body("oura")
        async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
            first = await client.post("/webhooks/oura", content=body, headers=sign("oura", body))
            assert first.status_code == 202
            redis.stop()
            sent = Sent()
            async with hostile_during(bridge.url, sent) as hostile:
                await send_many(bridge.url, 30, sent=sent)
            assert sent.statuses == Counter({202: 30})
            again = await client.post("/webhooks/oura", content=body, headers=sign("oura", body))
            assert again.status_code == 200
            assert again.json()["status"] == "duplicate"
            health = (await client.get("/health")).json()
            assert health["components"]["redis"]["status"] == "down"
            assert health["status"] == "degraded"
            metrics = (await client.get("/metrics")).text
            hits = [
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith('bridge_dedup_hits_total{layer="database"}')
            ]
            assert hits, metrics
            assert hits[0] >= 1  # the retry above (the hostile mix's twins add theirs)
        redis.start()
        await wait_health(bridge, lambda h: h["components"]["redis"]["status"] == "up")
        sent.acked.add(first.json()["event_id"])
        await wait_backlog_empty(bridge.url)
        await assert_all_delivered(dsn, kafka.bootstrap, topic, sent, hostile)
    finally:
        redis.close()


async def test_database_down_answers_503_and_acknowledges_nothing(
    bridge_factory: BridgeFactory, kafka: Kafka
) -> None:
    pg = Postgres()
    private(pg)
    try:
        topic = new_topic()
        bridge = bridge_factory(
            {
                **FAST,
                "DATABASE_URL": pg.dsn,
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "KAFKA_TOPIC": topic,
            }
        )
        sent = await send_many(bridge.url, 10)
        assert sent.statuses == Counter({202: 10})
        pg.stop()
        async with hostile_during(bridge.url, sent) as hostile:
            during = await send_many(bridge.url, 10)
            await asyncio.sleep(3)  # an outage of a few seconds, hostile traffic throughout
        assert during.statuses == Counter({503: 10})
        assert during.acked == set()
        # The relay polls 5 times a second: the outage is one warning (plus a
        # reminder per 30 s), not one per poll.
        relay_lines = bridge.log_text().count("relay cannot read the outbox")
        assert 1 <= relay_lines <= 2, relay_lines
        r = httpx.get(f"{bridge.url}/ready", timeout=10)
        assert r.status_code == 503
        health = httpx.get(f"{bridge.url}/health", timeout=10)
        assert health.status_code == 503
        assert health.json()["components"]["database"]["status"] == "down"
        assert pg.password not in health.text

        pg.start()
        await wait_health(bridge, lambda h: h["status"] == "healthy")
        await send_many(bridge.url, 10, sent=sent)
        assert sent.statuses == Counter({202: 20})
        await wait_backlog_empty(bridge.url)
        await assert_all_delivered(pg.dsn, kafka.bootstrap, topic, sent, hostile)
        assert len(await db_event_ids(pg.dsn)) == len(sent.acked)
        assert "relay cannot read the outbox: recovered" in bridge.log_text()
        assert pg.password not in bridge.log_text()
    finally:
        pg.close()


async def test_bridge_killed_under_load_and_restarted(
    bridge_factory: BridgeFactory, postgres: Postgres, kafka: Kafka
) -> None:
    dsn, topic = new_database(postgres), new_topic()
    bridge = bridge_factory(
        {
            **FAST,
            "DATABASE_URL": dsn,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": topic,
        }
    )
    sent = Sent()
    async with hostile_during(bridge.url, sent) as hostile:
        load = asyncio.create_task(send_many(bridge.url, 600, concurrency=20, sent=sent))
        async with asyncio.timeout(60):
            while len(sent.acked) < 150:
                await asyncio.sleep(0.02)
        bridge.kill()
        acked_at_kill = len(sent.acked)
        await load
        assert sent.errors > 0, "the kill happened after the load had finished"
        bridge.start()
        await send_many(bridge.url, 50, sent=sent)
    await wait_backlog_empty(bridge.url, timeout=120)
    in_kafka = await assert_all_delivered(dsn, kafka.bootstrap, topic, sent, hostile)
    # At least once into Kafka: only rows published but not yet marked when the
    # process died can appear twice, and never more than one batch of them.
    repeats = sum(n - 1 for n in Counter(in_kafka).values())
    assert repeats <= 500
    assert len(sent.acked) >= acked_at_kill + 50


async def test_two_bridges_on_one_database_publish_each_row_once(
    bridge_factory: BridgeFactory, postgres: Postgres, kafka: Kafka
) -> None:
    dsn, topic = new_database(postgres), new_topic()
    env = {
        **FAST,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPIC": topic,
        "RELAY_BATCH_SIZE": "20",
        "RELAY_POLL_SECONDS": "0.05",
    }
    a, b = bridge_factory(env), bridge_factory(env)
    sent = Sent()
    async with hostile_during(a.url, sent) as hostile, hostile_during(b.url, sent) as more:
        await asyncio.gather(
            send_many(a.url, 200, concurrency=10, sent=sent),
            send_many(b.url, 200, concurrency=10, sent=sent),
        )
    assert sent.statuses == Counter({202: 400})
    await wait_backlog_empty(a.url)
    in_kafka = await assert_all_delivered(dsn, kafka.bootstrap, topic, sent, hostile + more)
    assert len(in_kafka) == len(sent.acked), "a row was published by both bridges"
    published = [
        float(line.split()[-1])
        for bridge in (a, b)
        for line in httpx.get(f"{bridge.url}/metrics").text.splitlines()
        if line.startswith("bridge_published_total ")
    ]
    assert sum(published) == len(sent.acked)


@pytest.mark.parametrize("count", [1])
async def test_sqlite_default_publishes_too(
    bridge_factory: BridgeFactory, kafka: Kafka, count: int
) -> None:
    topic = new_topic()
    bridge = bridge_factory(
        {**FAST, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "KAFKA_TOPIC": topic}
    )
    assert bridge.health()["components"]["database"]["backend"] == "sqlite"  # type: ignore[index]
    sent = await send_many(bridge.url, 40)
    assert sent.statuses == Counter({202: 40})
    await wait_backlog_empty(bridge.url)
    in_kafka = await kafka_event_ids(kafka.bootstrap, topic, 40)
    assert sorted(in_kafka) == sorted(sent.acked)


async def test_relay_killed_between_send_and_delete(
    bridge_factory: BridgeFactory, postgres: Postgres, kafka: Kafka
) -> None:
    """Kafka delivery is at least once: the rows a relay had published but not yet
    deleted when it died are published again by the next one — those, at most
    once more each, and nothing lost. The delete is held (a trigger waiting on an
    advisory lock the test holds) so the kill lands exactly between the two."""
    dsn, topic = new_database(postgres), new_topic()
    env = {
        **FAST,
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPIC": topic,
    }
    bridge = bridge_factory(env)
    holder = await asyncpg.connect(dsn)
    try:
        await holder.execute(
            """
            CREATE FUNCTION hold_delete() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_lock(4242); RETURN NULL; END $$;
            CREATE TRIGGER hold_delete BEFORE DELETE ON outbox
              FOR EACH STATEMENT EXECUTE FUNCTION hold_delete();
            """
        )
        await holder.execute("SELECT pg_advisory_lock(4242)")
        sent = await send_many(bridge.url, 60)
        assert sent.statuses == Counter({202: 60})
        # Published (all 60 in Kafka), and the delete that follows is waiting.
        assert len(await kafka_event_ids(kafka.bootstrap, topic, 60, settle=0)) >= 60
        async with asyncio.timeout(30):
            while not await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM outbox%'"
            ):
                await asyncio.sleep(0.02)
        bridge.kill()
        # As after a crash: the connection that sent the delete is gone, the delete with it.
        await holder.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'DELETE FROM outbox%' AND pid <> pg_backend_pid()"
        )
        await holder.execute("DROP TRIGGER hold_delete ON outbox")
        await holder.execute("SELECT pg_advisory_unlock(4242)")
        assert await holder.fetchval("SELECT count(*) FROM outbox") == 60
    finally:
        await holder.close()

    again = bridge_factory(env)
    await wait_backlog_empty(again.url, timeout=120)
    in_kafka = await assert_all_delivered(dsn, kafka.bootstrap, topic, sent)
    copies = Counter(in_kafka)
    assert set(copies.values()) <= {1, 2}, "an event was published more than twice"
    assert sum(n - 1 for n in copies.values()) <= 60
    assert sum(n - 1 for n in copies.values()) >= 1, "the kill did not land between the two"
    # Consumers de-duplicate on the event_id header: every copy carries it.
    records = await read_topic(kafka.bootstrap, topic, len(in_kafka))
    for record in records:
        headers = dict(record.headers)
        assert headers["event_id"].decode() == json.loads(record.value)["event_id"]
