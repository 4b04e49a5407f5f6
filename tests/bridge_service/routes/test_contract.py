"""The storage-dependent part of the response contract, on PostgreSQL, over a real server.

The whole status-code contract runs in process on SQLite (``test_routes``).
What depends on the database (duplicates, concurrent copies of one event, a
value the database refuses, the health of its component) runs here again
against ``auren-bridge serve`` on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.bridge_service.conftest import new_database, secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign
from tests.services.postgres import Postgres

pytestmark = pytest.mark.services  # real bridge processes, databases, Kafka

SOURCES = ["oura", "whoop", "healthkit"]


@pytest.fixture(scope="module")
def bridge(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    env = {**secret_env(), "MAX_BODY_BYTES": "4096", "DATABASE_URL": new_database(postgres)}
    proc = BridgeProcess(env=env, workdir=tmp_path_factory.mktemp("bridge-postgresql"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def client(bridge: BridgeProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("source", SOURCES)
async def test_new_event_is_accepted_then_duplicate(
    client: httpx.AsyncClient, bridge: BridgeProcess, source: str
) -> None:
    body = event_body(source)
    headers = sign(source, body)
    first = await client.post(f"/webhooks/{source}", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"
    event_id = first.json()["event_id"]
    assert event_id
    # The provider retries later: fresh timestamp (and for HealthKit, same webhook-id).
    kw = {"msg_id": headers["webhook-id"]} if source == "healthkit" else {}
    again = await client.post(
        f"/webhooks/{source}", content=body, headers=sign(source, body, ts=time.time() + 1, **kw)
    )
    assert again.status_code == 200, again.text
    assert again.json() == {"status": "duplicate", "event_id": event_id}


@pytest.mark.parametrize("token", [b"1e999", b"-1E+999", b"NaN", b"Infinity", b"-Infinity"])
async def test_numbers_json_cannot_hold_are_422_and_spare_their_neighbours(
    client: httpx.AsyncClient, token: bytes
) -> None:
    """Validly signed, sent in the same instant as genuine webhooks: the hostile
    body gets 422 with a one-line reason, every neighbour 202, and the
    database stays available (PostgreSQL used to answer 503 for ever)."""

    def hostile() -> bytes:
        body = json.loads(event_body("oura"))
        return json.dumps(body)[:-1].encode() + b', "score": ' + token + b"}"

    bodies = [hostile() if i % 3 == 1 else event_body("oura") for i in range(9)]
    answers = await asyncio.gather(
        *(client.post("/webhooks/oura", content=b, headers=sign("oura", b)) for b in bodies)
    )
    for i, answer in enumerate(answers):
        if i % 3 == 1:
            assert answer.status_code == 422, answer.text
            detail = answer.json()["detail"]
            assert "cannot be stored" in detail
            assert "\n" not in detail
        else:
            assert answer.status_code == 202, answer.text
    # Retried by the provider: still 422, never a 503 that would be retried for days.
    again = hostile()
    retry = await client.post("/webhooks/oura", content=again, headers=sign("oura", again))
    assert retry.status_code == 422
    assert (await client.get("/ready")).status_code == 200


async def test_the_same_event_twice_at_the_same_instant(client: httpx.AsyncClient) -> None:
    for source in SOURCES:
        body = event_body(source)
        headers = sign(source, body)
        answers = await asyncio.gather(
            *(client.post(f"/webhooks/{source}", content=body, headers=headers) for _ in range(4))
        )
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 202], source
        assert len({a.json()["event_id"] for a in answers}) == 1


async def test_concurrent_same_event_stored_once(client: httpx.AsyncClient) -> None:
    body = event_body("whoop")
    results = await asyncio.gather(
        *(
            client.post("/webhooks/whoop", content=body, headers=sign("whoop", body))
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(202) == 1
    assert codes.count(200) == 19
    assert len({r.json()["event_id"] for r in results}) == 1


async def test_health_names_the_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["components"]["database"] == {"backend": "postgresql", "status": "up"}
    assert isinstance(r.json()["components"]["outbox"]["backlog"], int)
    assert (await client.get("/ready")).status_code == 200
