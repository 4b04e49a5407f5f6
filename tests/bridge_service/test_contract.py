"""The response contract the TUI relies on, on both storage backends."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.bridge_service.conftest import new_database, secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import SECRETS, event_body, sign
from tests.services.postgres import Postgres

SOURCES = ["oura", "whoop", "healthkit"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bridge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BridgeProcess]:
    env = {**secret_env(), "OURA_VERIFICATION_TOKEN": "verify-me-please", "MAX_BODY_BYTES": "4096"}
    if request.param == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        env["DATABASE_URL"] = new_database(pg)
    proc = BridgeProcess(env=env, workdir=tmp_path_factory.mktemp(f"bridge-{request.param}"))
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


@pytest.mark.parametrize("source", SOURCES)
async def test_unsigned_and_wrong_secret_are_403(client: httpx.AsyncClient, source: str) -> None:
    body = event_body(source)
    unsigned = await client.post(
        f"/webhooks/{source}", content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["check"] == "missing_signature"
    assert "missing" in unsigned.json()["detail"]
    wrong_secret = "whsec_" + "A" * 44 if source == "healthkit" else "not-the-secret-0000"
    wrong = await client.post(
        f"/webhooks/{source}", content=body, headers=sign(source, body, secret=wrong_secret)
    )
    assert wrong.status_code == 403
    assert wrong.json()["check"] == "bad_signature"
    for value in SECRETS.values():
        assert value not in wrong.text


@pytest.mark.parametrize("source", SOURCES)
async def test_tampered_stale_and_future_are_403(client: httpx.AsyncClient, source: str) -> None:
    body = event_body(source)
    headers = sign(source, body)
    tampered = await client.post(f"/webhooks/{source}", content=body + b" ", headers=headers)
    assert (tampered.status_code, tampered.json()["check"]) == (403, "bad_signature")
    stale = await client.post(
        f"/webhooks/{source}", content=body, headers=sign(source, body, ts=time.time() - 600)
    )
    assert (stale.status_code, stale.json()["check"]) == (403, "stale_timestamp")
    future = await client.post(
        f"/webhooks/{source}", content=body, headers=sign(source, body, ts=time.time() + 600)
    )
    assert (future.status_code, future.json()["check"]) == (403, "future_timestamp")


async def test_not_json_is_400_and_missing_fields_422(client: httpx.AsyncClient) -> None:
    body = b"this is not json"
    r = await client.post("/webhooks/oura", content=body, headers=sign("oura", body))
    assert r.status_code == 400
    assert "JSON" in r.json()["detail"]
    body = json.dumps({"event_type": "create", "data_type": "sleep"}).encode()
    r = await client.post("/webhooks/oura", content=body, headers=sign("oura", body))
    assert r.status_code == 422
    assert "object_id" in r.json()["detail"]


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


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({"pad": "x" * 5000}).encode()
    r = await client.post("/webhooks/whoop", content=body, headers=sign("whoop", body))
    assert r.status_code == 413


async def test_oura_subscription_handshake(client: httpx.AsyncClient) -> None:
    ok = await client.get(
        "/webhooks/oura", params={"verification_token": "verify-me-please", "challenge": "c-123"}
    )
    assert ok.status_code == 200
    assert ok.json() == {"challenge": "c-123"}
    bad = await client.get(
        "/webhooks/oura", params={"verification_token": "nope", "challenge": "c-123"}
    )
    assert bad.status_code == 403


async def test_health_lists_components(client: httpx.AsyncClient, bridge: BridgeProcess) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy"
    comps = body["components"]
    assert comps["database"]["status"] == "up"
    assert comps["redis"] == {"status": "not configured"}
    assert comps["kafka"] == {"status": "not configured"}
    assert comps["providers"]["oura"]["secret_configured"] is True
    assert isinstance(comps["outbox"]["backlog"], int)
    assert comps["circuit"] == "closed"
    ready = await client.get("/ready")
    assert ready.status_code == 200


async def test_metrics_have_the_dashboard_names(client: httpx.AsyncClient) -> None:
    body = event_body("oura")
    await client.post("/webhooks/oura", content=body, headers=sign("oura", body))
    text = (await client.get("/metrics")).text
    assert 'webhook_events_total{source="oura",status="accepted"}' in text
    assert "webhook_process_duration_seconds_bucket{" in text
    assert "active_webhook_tasks " in text
    for name in (
        "bridge_outbox_backlog",
        "bridge_publish_attempts_total",
        "bridge_publish_failures_total",
        "bridge_kafka_circuit_state",
        "bridge_dedup_hits_total",
    ):
        assert name in text


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/webhooks/oura", "/webhooks/whoop", "/webhooks/healthkit", "/health"} <= set(
        spec["paths"]
    )


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


def test_provider_without_secret_is_always_403(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"OURA_WEBHOOK_SECRET": SECRETS["oura"]}  # WHOOP and HealthKit: none
    proc = BridgeProcess(env=env, workdir=tmp_path_factory.mktemp("nosecret"))
    proc.start()
    try:
        body = event_body("whoop")
        r = httpx.post(f"{proc.url}/webhooks/whoop", content=body, headers=sign("whoop", body))
        assert r.status_code == 403
        assert "no whoop secret" in r.json()["detail"]
        providers = proc.health()["components"]["providers"]  # type: ignore[index]
        assert providers["whoop"] == {"secret_configured": False}
        assert providers["oura"] == {"secret_configured": True}
    finally:
        proc.stop()
