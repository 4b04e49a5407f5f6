"""Drive signed webhooks at a bridge and check where they ended up."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx

from tests.bridge_service.conftest import read_topic
from tests.bridge_service.signing import event_body, sign

SOURCES = ("oura", "whoop", "healthkit")


@dataclass
class Sent:
    acked: set[str] = field(default_factory=set)  # event ids answered 202 or 200
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


async def send_many(url: str, count: int, concurrency: int = 20, sent: Sent | None = None) -> Sent:
    """``count`` unique, correctly signed webhooks from ``concurrency`` clients."""
    sent = sent or Sent()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            source = random.choice(SOURCES)
            body = event_body(source, i, user=f"u{i % 7}")
            try:
                r = await client.post(
                    f"/webhooks/{source}", content=body, headers=sign(source, body)
                )
            except httpx.HTTPError:
                sent.errors += 1  # connection refused/reset: not acknowledged
                continue
            sent.statuses[r.status_code] += 1
            if r.status_code in (200, 202):
                sent.acked.add(r.json()["event_id"])

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return sent


async def db_event_ids(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select event_id from events")
    finally:
        await conn.close()
    return [r["event_id"] for r in rows]


async def kafka_event_ids(
    bootstrap: str, topic: str, expect: int, timeout: float = 60
) -> list[str]:
    records = await read_topic(bootstrap, topic, expect, timeout=timeout)
    return [json.loads(r.value)["event_id"] for r in records]


async def wait_backlog_empty(url: str, timeout: float = 90) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    body = (await client.get("/health")).json()
                    if body["components"]["outbox"]["backlog"] == 0:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
