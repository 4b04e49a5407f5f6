"""The bridge's status-code contract, in process: every route and the inputs that matter.

Each test builds the app as ``auren-bridge serve`` does (``create_app`` and its
lifespan: embedded SQLite in a temporary directory, no Redis, no Kafka) and
talks to it through ``httpx.ASGITransport``: no server process, no socket, no
harness service, so these run in the fast tier. What needs a real server (header
floods, slow or vanishing senders, uvicorn's limits), a real PostgreSQL or Kafka
lives in ``test_limits``, ``test_contract``, ``test_faults`` and ``test_e2e``.

Requests are signed by ``tests/bridge_service/signing.py``, written from the
providers' published schemes and independent of ``bridge_service.signatures``.
Bodies are compared byte for byte where the TUI or a provider reads them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bridge_service.app import create_app
from bridge_service.config import Settings
from bridge_service.schema import (
    Accepted,
    Challenge,
    Duplicate,
    Health,
    Problem,
    Readiness,
    SignatureProblem,
)
from bridge_service.state import Bridge
from tests.bridge_service.signing import SECRETS, event_body, sign

SOURCES = ["oura", "whoop", "healthkit"]
TOKEN = "verify-me-please"
BODY_LIMIT = 4096


class IsolatedSettings(Settings):
    """The bridge's settings from the arguments alone: no environment, no ``.env``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **_: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings(data_dir: Path, **changes: Any) -> Settings:
    """The test secrets and a small body limit; defaults for everything else."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "oura_webhook_secret": SECRETS["oura"],
        "whoop_webhook_secret": SECRETS["whoop"],
        "healthkit_webhook_secret": SECRETS["healthkit"],
        "oura_verification_token": TOKEN,
        "max_body_bytes": BODY_LIMIT,
        **changes,
    }
    return IsolatedSettings(**values)


class Served:
    """One app in this process: a client for it and the bridge its lifespan opened."""

    def __init__(self, client: httpx.AsyncClient, bridge: Bridge) -> None:
        self.client = client
        self.bridge = bridge

    async def post(self, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(f"/webhooks/{source}", content=body, headers=headers)

    async def signed(self, source: str, body: bytes | None = None) -> httpx.Response:
        body = event_body(source) if body is None else body
        return await self.post(source, body, sign(source, body))


@asynccontextmanager
async def serving(app_settings: Settings) -> AsyncIterator[Served]:
    """``create_app`` with its real lifespan running, reached through ASGITransport."""
    app = create_app(app_settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
                yield Served(client, app.state.bridge)
    finally:
        # The lifespan freezes what start-up left (a server's p99 guard); in a
        # test process that would keep every earlier test's objects for ever.
        gc.unfreeze()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(settings(tmp_path)) as s:
        yield s


def wire(body: dict[str, Any]) -> str:
    """A body as the bridge writes it (compact, keys in the order given)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


# -- accepted, duplicate --------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
async def test_new_event_is_202_then_a_retry_is_200_duplicate(served: Served, source: str) -> None:
    body = event_body(source)
    headers = sign(source, body)
    first = await served.post(source, body, headers)
    assert first.status_code == 202, first.text
    event_id = first.json()["event_id"]
    assert event_id
    assert first.text == wire({"status": "accepted", "event_id": event_id})
    assert first.headers["content-type"] == "application/json"
    # The provider retries later: a fresh timestamp (HealthKit: the same webhook-id).
    kw = {"msg_id": headers["webhook-id"]} if source == "healthkit" else {}
    again = await served.post(source, body, sign(source, body, ts=time.time() + 1, **kw))
    assert again.status_code == 200, again.text
    assert again.text == wire({"status": "duplicate", "event_id": event_id})
    assert await served.bridge.store.count_events(source) == 1


async def test_the_same_event_at_the_same_instant_is_stored_once(served: Served) -> None:
    for source in SOURCES:
        body = event_body(source)
        headers = sign(source, body)
        answers = await asyncio.gather(*(served.post(source, body, headers) for _ in range(6)))
        assert sorted(a.status_code for a in answers) == [200] * 5 + [202], source
        assert len({a.json()["event_id"] for a in answers}) == 1
    assert (await served.bridge.store.backlog()).count == len(SOURCES)


# -- signatures -------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
async def test_unsigned_and_wrong_secret_are_403(served: Served, source: str) -> None:
    body = event_body(source)
    unsigned = await served.post(source, body, {"content-type": "application/json"})
    assert unsigned.status_code == 403
    assert unsigned.json()["check"] == "missing_signature"
    assert list(unsigned.json()) == ["detail", "check"]
    assert "missing" in unsigned.json()["detail"]
    wrong_secret = "whsec_" + "A" * 44 if source == "healthkit" else "not-the-secret-0000"
    wrong = await served.post(source, body, sign(source, body, secret=wrong_secret))
    assert (wrong.status_code, wrong.json()["check"]) == (403, "bad_signature")
    for value in SECRETS.values():
        assert value not in wrong.text


@pytest.mark.parametrize("source", SOURCES)
async def test_tampered_stale_and_future_are_403(served: Served, source: str) -> None:
    body = event_body(source)
    tampered = await served.post(source, body + b" ", sign(source, body))
    assert (tampered.status_code, tampered.json()["check"]) == (403, "bad_signature")
    stale = await served.post(source, body, sign(source, body, ts=time.time() - 600))
    assert (stale.status_code, stale.json()["check"]) == (403, "stale_timestamp")
    future = await served.post(source, body, sign(source, body, ts=time.time() + 600))
    assert (future.status_code, future.json()["check"]) == (403, "future_timestamp")
    assert await served.bridge.store.count_events() == 0


@pytest.mark.parametrize(
    ("source", "dropped", "check"),
    [
        ("oura", "x-oura-timestamp", "missing_timestamp"),
        ("whoop", "X-WHOOP-Signature-Timestamp", "missing_timestamp"),
        ("healthkit", "webhook-timestamp", "missing_timestamp"),
        ("healthkit", "webhook-id", "missing_signature"),
    ],
)
async def test_a_missing_signature_header_names_its_check(
    served: Served, source: str, dropped: str, check: str
) -> None:
    body = event_body(source)
    headers = {k: v for k, v in sign(source, body).items() if k != dropped}
    r = await served.post(source, body, headers)
    assert (r.status_code, r.json()["check"]) == (403, check)
    assert dropped.lower() in r.json()["detail"].lower()


async def test_a_signature_header_sent_twice_is_400(served: Served) -> None:
    body = event_body("oura")
    headers = [*sign("oura", body).items(), ("x-oura-timestamp", "1")]
    r = await served.client.post("/webhooks/oura", content=body, headers=headers)
    assert r.status_code == 400
    assert r.text == wire({"detail": "x-oura-timestamp header sent more than once"})


async def test_a_provider_without_a_secret_is_always_403(tmp_path: Path) -> None:
    unsigned = settings(tmp_path, whoop_webhook_secret=None, healthkit_webhook_secret=None)
    async with serving(unsigned) as s:
        r = await s.signed("whoop")
        assert r.status_code == 403
        assert r.text == wire(
            {"detail": "no whoop secret is configured: unsigned data is never accepted"}
        )
        providers = (await s.client.get("/health")).json()["components"]["providers"]
        assert providers["whoop"] == {"secret_configured": False}
        assert providers["oura"] == {"secret_configured": True}


# -- bodies -------------------------------------------------------------------------


async def test_not_json_is_400_and_missing_fields_422(served: Served) -> None:
    r = await served.signed("oura", b"this is not json")
    assert r.status_code == 400
    assert "JSON" in r.json()["detail"]
    assert list(r.json()) == ["detail"]
    missing = json.dumps({"event_type": "create", "data_type": "sleep"}).encode()
    r = await served.signed("oura", missing)
    assert r.status_code == 422
    assert "object_id" in r.json()["detail"]


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"{", b"\xff\xfe"])
async def test_json_that_is_not_an_object_is_4xx(served: Served, body: bytes) -> None:
    r = await served.signed("whoop", body)
    assert r.status_code in (400, 422), r.text
    assert "\n" not in r.json()["detail"]


@pytest.mark.parametrize("token", [b"1e999", b"-1E+999", b"NaN", b"Infinity", b"-Infinity"])
async def test_numbers_json_cannot_hold_are_422_and_spare_their_neighbours(
    served: Served, token: bytes
) -> None:
    def hostile() -> bytes:
        body = json.loads(event_body("oura"))
        return json.dumps(body)[:-1].encode() + b', "score": ' + token + b"}"

    bodies = [hostile() if i % 3 == 1 else event_body("oura") for i in range(9)]
    answers = await asyncio.gather(*(served.signed("oura", b) for b in bodies))
    for i, answer in enumerate(answers):
        if i % 3 == 1:
            assert answer.status_code == 422, answer.text
            assert "cannot be stored" in answer.json()["detail"]
            assert "\n" not in answer.json()["detail"]
        else:
            assert answer.status_code == 202, answer.text
    assert (await served.signed("oura", hostile())).status_code == 422
    assert (await served.client.get("/ready")).status_code == 200


async def test_oversized_body_is_413(served: Served) -> None:
    body = json.dumps({"pad": "x" * BODY_LIMIT}).encode()
    r = await served.signed("whoop", body)
    assert r.status_code == 413
    assert r.text == wire({"detail": f"body larger than {BODY_LIMIT} bytes"})


async def test_oversized_body_without_a_length_is_413(served: Served) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    r = await served.client.post("/webhooks/oura", content=chunks(), headers=sign("oura", b""))
    assert r.status_code == 413


# -- routes, methods, busy, database down ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/webhooks/terra", 404),
        ("POST", "/webhooks/unknown", 404),
        ("GET", "/nothing-here", 404),
        ("GET", "/webhooks/whoop", 405),
        ("PUT", "/webhooks/oura", 405),
        ("POST", "/health", 405),
    ],
)
async def test_unknown_providers_paths_and_methods(
    served: Served, method: str, path: str, status: int
) -> None:
    body = event_body("oura")
    r = await served.client.request(method, path, content=body, headers=sign("oura", body))
    assert r.status_code == status
    assert r.json() == {"detail": "Not Found" if status == 404 else "Method Not Allowed"}


async def test_saturated_is_503_with_retry_after(served: Served) -> None:
    served.bridge.in_flight = served.bridge.settings.max_concurrent_webhooks
    r = await served.signed("oura")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert r.text == wire({"detail": "too many webhooks in flight; retry shortly"})
    ready = await served.client.get("/ready")
    assert ready.status_code == 503
    assert ready.text == wire({"ready": False, "reason": "saturated"})
    served.bridge.in_flight = 0
    assert (await served.signed("oura")).status_code == 202


async def test_database_down_is_503_and_unhealthy(served: Served) -> None:
    await served.bridge.store.close()
    r = await served.signed("healthkit")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.text == wire({"detail": "database unavailable; retry later"})
    ready = await served.client.get("/ready")
    assert ready.status_code == 503
    assert ready.text == wire({"ready": False, "reason": "database unavailable"})
    health = await served.client.get("/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    database = body["components"]["database"]
    assert list(database) == ["backend", "status", "error"]
    assert database["status"] == "down"
    assert "not open" in database["error"]
    assert body["components"]["outbox"] == {"backlog": None, "oldest_age_seconds": None}


# -- Oura's handshake -------------------------------------------------------------------


async def test_oura_subscription_handshake(served: Served) -> None:
    ok = await served.client.get(
        "/webhooks/oura", params={"verification_token": TOKEN, "challenge": "c-123"}
    )
    assert ok.status_code == 200
    assert ok.text == wire({"challenge": "c-123"})
    bad = await served.client.get(
        "/webhooks/oura", params={"verification_token": "nope", "challenge": "c-123"}
    )
    assert bad.status_code == 403
    assert bad.text == wire({"detail": "verification_token does not match"})
    too_long = await served.client.get(
        "/webhooks/oura", params={"verification_token": TOKEN, "challenge": "c" * 1025}
    )
    assert too_long.status_code == 422


async def test_oura_handshake_without_a_configured_token_is_403(tmp_path: Path) -> None:
    async with serving(settings(tmp_path, oura_verification_token=None)) as s:
        r = await s.client.get("/webhooks/oura", params={"verification_token": ""})
        assert r.status_code == 403


# -- health, ready, metrics, openapi ------------------------------------------------


async def test_health_lists_every_component_in_order(served: Served) -> None:
    r = await served.client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert r.text == wire(
        {
            "status": "healthy",
            "service": "biometric-bridge",
            "components": {
                "database": {"backend": "sqlite", "status": "up"},
                "redis": {"status": "not configured"},
                "kafka": {"status": "not configured"},
                "outbox": {"backlog": 0, "oldest_age_seconds": None},
                "circuit": "closed",
                "providers": {
                    "oura": {"secret_configured": True},
                    "whoop": {"secret_configured": True},
                    "healthkit": {"secret_configured": True},
                    "terra": {"via": "kafka", "topic": "terra-biometric-events"},
                },
            },
            "in_flight": 0,
        }
    )
    assert body["components"]["outbox"]["backlog"] == 0
    await served.signed("oura")
    outbox = (await served.client.get("/health")).json()["components"]["outbox"]
    assert outbox["backlog"] == 1
    assert isinstance(outbox["oldest_age_seconds"], float)
    ready = await served.client.get("/ready")
    assert (ready.status_code, ready.text) == (200, wire({"ready": True}))


async def test_health_names_kafka_down_with_its_circuit(tmp_path: Path) -> None:
    # Configured but nothing listens there: the relay never connects.
    kafka_down = settings(
        tmp_path,
        kafka_bootstrap_servers="127.0.0.1:9",
        terra_consumer_enabled=False,
        publish_timeout_seconds=0.5,
    )
    async with serving(kafka_down) as s:
        r = await s.client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded"
        kafka = body["components"]["kafka"]
        assert list(kafka)[:2] == ["status", "circuit"]
        assert kafka["status"] == "down"
        assert set(kafka) <= {"status", "circuit", "last_error"}


async def test_metrics_have_the_dashboard_names(served: Served) -> None:
    await served.signed("oura")
    r = await served.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'webhook_events_total{source="oura",status="accepted"} 1.0' in text
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


async def test_openapi_lists_every_route(served: Served) -> None:
    spec = (await served.client.get("/openapi.json")).json()
    assert {
        "/webhooks/oura",
        "/webhooks/whoop",
        "/webhooks/healthkit",
        "/health",
        "/ready",
        "/metrics",
    } <= set(spec["paths"])


# -- the shared schema ------------------------------------------------------------------


async def test_answers_round_trip_through_the_shared_schema(tmp_path: Path) -> None:
    """What auren-tui validates with ``bridge_service.schema`` is what was sent."""
    kafka = settings(tmp_path, kafka_bootstrap_servers="127.0.0.1:9", publish_timeout_seconds=0.5)
    async with serving(kafka) as s:
        s.bridge.breaker.last_error = "KafkaConnectionError"
        body = event_body("oura")
        answers: list[tuple[httpx.Response, type[BaseModel]]] = [
            (await s.client.get("/health"), Health),
            (await s.client.get("/ready"), Readiness),
            (await s.post("oura", body, sign("oura", body)), Accepted),
            (await s.post("oura", body, sign("oura", body)), Duplicate),
            (await s.post("oura", body, {}), SignatureProblem),
            (await s.post("oura", b"[", sign("oura", b"[")), Problem),
            (await s.client.get("/webhooks/oura", params={"verification_token": TOKEN}), Challenge),
        ]
        await s.bridge.store.close()
        answers.append((await s.client.get("/health"), Health))
        answers.append((await s.client.get("/ready"), Readiness))
    for answer, model in answers:
        assert wire(model.model_validate_json(answer.content).model_dump()) == answer.text


def test_the_schema_imports_nothing_but_pydantic() -> None:
    code = (
        "import sys, bridge_service.schema\n"
        "heavy = {'fastapi', 'starlette', 'textual', 'asyncpg', 'aiosqlite', 'redis', 'aiokafka'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
