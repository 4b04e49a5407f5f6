"""POST /webhooks/{oura,whoop,healthkit}: verify → normalise → dedup → store → 202.

Verification runs on the raw bytes before anything parses them. No 2xx is
sent before the event and its outbox row are committed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from bridge_service.providers import InvalidPayload, normalise
from bridge_service.routes.deps import BridgeDep
from bridge_service.schema import Accepted, Challenge, Duplicate, Problem, SignatureProblem
from bridge_service.signatures import SignatureError, healthkit, oura, whoop
from bridge_service.state import Bridge
from bridge_service.storage.base import StorageUnavailable, UnstorableEvent

log = logging.getLogger("bridge.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Verifier = Callable[[Mapping[str, str], bytes, Sequence[bytes], float, float], None]
VERIFIERS: dict[str, Verifier] = {
    "oura": oura.verify,
    "whoop": whoop.verify,
    "healthkit": healthkit.verify,
}
# The headers each provider's verify() and normalise() read, as they arrive
# (lower-case bytes). Nothing else of a request's headers is ever looked at.
WANTED_HEADERS: dict[str, frozenset[bytes]] = {
    "oura": frozenset(h.lower().encode() for h in oura.HEADERS),
    "whoop": frozenset(h.lower().encode() for h in whoop.HEADERS),
    "healthkit": frozenset(h.lower().encode() for h in healthkit.HEADERS),
}


class BodyTooLarge(Exception):
    pass


class RepeatedHeader(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def provider_headers(request: Request, wanted: frozenset[bytes]) -> dict[str, str]:
    """The ``wanted`` headers in one pass over the raw list (linear in its length).

    A wanted header sent twice is refused: which copy was signed is ambiguous.
    """
    found: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        if raw_name in wanted:
            name = raw_name.decode("latin-1")
            if name in found:
                raise RepeatedHeader(name)
            found[name] = raw_value.decode("latin-1")
    return found


def _answer(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> Response:
    """``body`` (a ``bridge_service.schema`` model) as the JSON answer."""
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return _answer(status, Problem(detail=detail), headers)


def _unavailable() -> Response:
    return _problem(503, "database unavailable; retry later", {"Retry-After": "5"})


async def handle(bridge: Bridge, source: str, request: Request) -> Response:
    """The whole webhook path for one provider; one log line and metric per request.

    The body is read (within its deadline) before a concurrency slot is taken:
    slow or idle senders never hold a slot that a real webhook needs.
    """
    settings = bridge.settings
    started = time.perf_counter()
    outcome, response, event_id = "error", _problem(500, "internal error"), None
    try:
        body_or_answer = await _receive(bridge, request)
        if isinstance(body_or_answer, tuple):
            outcome, response = body_or_answer
            return response
        if bridge.in_flight >= settings.max_concurrent_webhooks:
            outcome = "busy"
            response = _problem(
                503, "too many webhooks in flight; retry shortly", {"Retry-After": "1"}
            )
            return response
        bridge.in_flight += 1
        bridge.metrics.active.inc()
        try:
            outcome, response, event_id = await _process(bridge, source, request, body_or_answer)
        finally:
            bridge.in_flight -= 1
            bridge.metrics.active.dec()
        return response
    finally:
        elapsed = time.perf_counter() - started
        bridge.metrics.duration.labels(source).observe(elapsed)
        bridge.metrics.events.labels(source, outcome).inc()
        log.info(
            "webhook",
            extra={
                "source": source,
                "status": outcome,
                "http_status": response.status_code,
                "event_id": event_id,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


async def _receive(bridge: Bridge, request: Request) -> bytes | tuple[str, Response]:
    """The body, or the outcome and answer when it did not arrive whole and in time."""
    settings = bridge.settings
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            return await read_body(request, settings.max_body_bytes)
    except BodyTooLarge:
        # No "Connection: close": closing while the client still sends would reset
        # the connection before it reads the 413. The server discards the rest of
        # the body, for at most the body deadline (the protocol then closes).
        return "too_large", _problem(413, f"body larger than {settings.max_body_bytes} bytes")
    except TimeoutError:
        return "timeout", _problem(
            408,
            f"body not received within {settings.body_timeout_seconds:g} s",
            {"Connection": "close"},
        )
    except ClientDisconnect:
        # An ordinary event on the internet: one line, no traceback, no answer.
        return "disconnected", Response(status_code=400)


async def _process(
    bridge: Bridge, source: str, request: Request, body: bytes
) -> tuple[str, Response, str | None]:
    settings = bridge.settings
    secrets = bridge.secrets.get(source, [])
    if not secrets:
        return (
            "unsigned",
            _problem(403, f"no {source} secret is configured: unsigned data is never accepted"),
            None,
        )
    try:
        headers = provider_headers(request, WANTED_HEADERS[source])
    except RepeatedHeader as exc:
        return (
            "invalid",
            _problem(400, f"{exc.name} header sent more than once"),
            None,
        )
    try:
        VERIFIERS[source](headers, body, secrets, time.time(), settings.signature_tolerance_seconds)
    except SignatureError as exc:
        problem = SignatureProblem(detail=exc.message, check=exc.check)
        return "forbidden", _answer(403, problem), None
    try:
        envelope = normalise(source, headers, body, datetime.now(UTC))
    except InvalidPayload as exc:
        return "invalid", _problem(exc.status, str(exc)), None
    event_id = envelope.event_id
    if await bridge.dedup.seen(source, event_id):
        bridge.metrics.dedup_hits.labels("redis").inc()
        return "duplicate", _answer(200, Duplicate(event_id=event_id)), event_id
    if not bridge.store_ready:
        await bridge.dedup.forget(source, event_id)
        return "unavailable", _unavailable(), event_id
    try:
        new = await bridge.store.insert(envelope, envelope.model_dump_json().encode())
    except StorageUnavailable:
        await bridge.dedup.forget(source, event_id)
        return "unavailable", _unavailable(), event_id
    except UnstorableEvent as exc:
        await bridge.dedup.forget(source, event_id)
        return "invalid", _problem(422, str(exc)), event_id
    bridge.dedup.stored_soon(source, event_id)
    if not new:
        bridge.metrics.dedup_hits.labels("database").inc()
        return "duplicate", _answer(200, Duplicate(event_id=event_id)), event_id
    bridge.relay.wake()
    return "accepted", _answer(202, Accepted(event_id=event_id)), event_id


def _openapi(source: str, required_headers: list[str]) -> dict[str, Any]:
    return {
        "parameters": [
            {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
            for h in required_headers
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Duplicate, "description": "Stored before (a retry); nothing written"},
    202: {"description": "Stored; will be published"},
    400: {"model": Problem, "description": "Body is not JSON, or a signature header sent twice"},
    408: {"model": Problem, "description": "Body not received within BODY_TIMEOUT_SECONDS"},
    403: {
        "model": SignatureProblem,
        "description": "Signature, timestamp or secret check failed",
    },
    413: {"model": Problem, "description": "Body too large"},
    422: {
        "model": Problem,
        "description": "Required fields missing, or a value the database cannot store",
    },
    503: {"model": Problem, "description": "Saturated or database unavailable (Retry-After)"},
}


@router.post(
    "/oura",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
    openapi_extra=_openapi("oura", ["x-oura-signature", "x-oura-timestamp"]),
)
async def oura_webhook(request: Request, bridge: BridgeDep) -> Response:
    """An Oura API v2 webhook (HMAC-SHA256 hex over timestamp + body)."""
    return await handle(bridge, "oura", request)


@router.post(
    "/whoop",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
    openapi_extra=_openapi("whoop", ["x-whoop-signature", "x-whoop-signature-timestamp"]),
)
async def whoop_webhook(request: Request, bridge: BridgeDep) -> Response:
    """A WHOOP API v2 webhook (HMAC-SHA256 base64 over timestamp + body)."""
    return await handle(bridge, "whoop", request)


@router.post(
    "/healthkit",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
    openapi_extra=_openapi("healthkit", ["webhook-id", "webhook-timestamp", "webhook-signature"]),
)
async def healthkit_webhook(request: Request, bridge: BridgeDep) -> Response:
    """A HealthKit batch from our iOS app (Standard Webhooks signature)."""
    return await handle(bridge, "healthkit", request)


@router.get(
    "/oura",
    response_model=Challenge,
    responses={403: {"model": Problem, "description": "Wrong or unconfigured token"}},
)
async def oura_verify(
    bridge: BridgeDep,
    verification_token: str = Query(default=""),
    challenge: str = Query(default="", max_length=1024),
) -> Response:
    """Oura's subscription handshake: echo the challenge when the token matches."""
    expected = bridge.settings.oura_verification_token
    if expected is None or not hmac.compare_digest(
        verification_token.encode(), expected.get_secret_value().encode()
    ):
        return _problem(403, "verification_token does not match")
    return _answer(200, Challenge(challenge=challenge))
