"""Drive signed webhooks at a bridge and check where they ended up."""

from __future__ import annotations

import asyncio
import json
import os
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
    bootstrap: str, topic: str, expect: int, timeout: float = 60, settle: float = 1.0
) -> list[str]:
    records = await read_topic(bootstrap, topic, expect, timeout=timeout, settle=settle)
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


# -- hostile traffic mixed into the fault tests ----------------------------------------

# What each kind of hostile request may be answered (0: connection closed, no answer;
# -1: connection refused or reset, as when the bridge is being killed).
HOSTILE_ALLOWED: dict[str, set[int]] = {
    "flood": {431, 0, -1},  # 3,000 headers
    "half-body": {0, 408, -1},  # a few bytes of a promised body, then hang up
    "huge-number": {422, -1},  # validly signed, 1e999 in it
    "nan": {422, -1},  # validly signed, NaN in it
    "twins": {200, 202, 503, -1},  # one genuine event twice at the same instant
}


async def _raw(host: str, port: int, data: bytes, hang_up_after: float | None = None) -> int:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return -1
    try:
        writer.write(data)
        await writer.drain()
        if hang_up_after is not None:
            await asyncio.sleep(hang_up_after)
            return 0
        async with asyncio.timeout(30):
            line = await reader.readline()
        return int(line.split(b" ", 2)[1]) if line else 0
    except (ConnectionResetError, BrokenPipeError):
        return -1
    finally:
        writer.close()


async def hostile_mix(url: str, stop: asyncio.Event, sent: Sent) -> Counter[str]:
    """Hostile and awkward requests in a loop until ``stop``: "kind status" counts.

    Genuine twins that were acknowledged join ``sent.acked``, so the fault
    tests check them for delivery like every other acknowledged event.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    counts: Counter[str] = Counter()
    flood = b"POST /webhooks/oura HTTP/1.1\r\nhost: b\r\n" + b"".join(
        b"x-%d: v\r\n" % i for i in range(3000)
    )
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            status = await _raw(host, int(port), flood + b"\r\n")
            counts[f"flood {status}"] += 1
            body = event_body("whoop")
            head = "".join(f"{k}: {v}\r\n" for k, v in sign("whoop", body).items())
            partial = (
                f"POST /webhooks/whoop HTTP/1.1\r\nhost: b\r\n{head}"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode() + body[:5]
            status = await _raw(host, int(port), partial, hang_up_after=0.05)
            counts[f"half-body {status}"] += 1
            for kind, token in (("huge-number", b"1e999"), ("nan", b"NaN")):
                bad = body[:-1] + b', "strain": ' + token + b"}"
                try:
                    r = await client.post(
                        "/webhooks/whoop", content=bad, headers=sign("whoop", bad)
                    )
                    counts[f"{kind} {r.status_code}"] += 1
                except httpx.HTTPError:
                    counts[f"{kind} -1"] += 1
            twin = event_body("oura")
            headers = sign("oura", twin)
            answers = await asyncio.gather(
                *(client.post("/webhooks/oura", content=twin, headers=headers) for _ in range(2)),
                return_exceptions=True,
            )
            for answer in answers:
                if isinstance(answer, httpx.Response):
                    counts[f"twins {answer.status_code}"] += 1
                    if answer.status_code in (200, 202):
                        sent.acked.add(answer.json()["event_id"])
                else:
                    counts["twins -1"] += 1
    return counts


def assert_hostile_refused(counts: Counter[str]) -> None:
    """Every hostile request got an answer its kind allows (never a 5xx but 503)."""
    assert counts, "no hostile traffic was sent"
    for key in counts:
        kind, status = key.rsplit(" ", 1)
        assert int(status) in HOSTILE_ALLOWED[kind], (key, counts)


# -- the fault matrix's figures ----------------------------------------------------------


@dataclass
class Figures:
    """What happened to the events of one fault scenario."""

    scenario: str
    acknowledged: int
    stored: int
    published: int
    kafka_records: int
    lost: int
    duplicated_in_db: int
    hostile: int = 0


FAULT_FIGURES: list[Figures] = []


def record_figures(
    acked: set[str], in_db: list[str], in_kafka: list[str], hostile: Counter[str] | None = None
) -> Figures:
    scenario = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0]
    figures = Figures(
        scenario=scenario,
        acknowledged=len(acked),
        stored=len(set(in_db)),
        published=len(set(in_kafka)),
        kafka_records=len(in_kafka),
        lost=len(acked - set(in_db)) + len(set(in_db) - set(in_kafka)),
        duplicated_in_db=len(in_db) - len(set(in_db)),
        hostile=sum((hostile or Counter()).values()),
    )
    FAULT_FIGURES.append(figures)
    return figures
