"""Webhooks for a ``Backend`` and the CLI: the one pipeline that signs and sends.

secret -> build -> the replay rule -> send -> trace: the Webhooks screen and
``auren-tui webhook`` hand in an ``Outgoing`` (the form's values) and get a
``Sent`` back; ``preview`` shows what the form would send now. Each call
runs one coroutine on a ``TunnelLoop`` (``core.transport.loop.run_tunnelled``),
so every TCP connection it opens goes through the profile's SSH tunnels. Called
from thread workers only. The replay versions answer the same shapes without
a server, deterministically (snapshots, the demo).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from auren_tui.core.kafka.client import KafkaError
from auren_tui.core.transport.connection import Connection
from auren_tui.core.webhooks.client import (
    PRESETS,
    SUITE_ORDER,
    CheckResult,
    NegativeKind,
    WebhookRequest,
    WebhookResponse,
    build,
)
from auren_tui.core.webhooks.load import LoadSpec, LoadStats
from auren_tui.core.webhooks.signing import Provider, SigningError
from auren_tui.core.webhooks.trace import Traced

if TYPE_CHECKING:
    from auren_tui.core.secrets import SecretStore

OnResponse = Callable[[WebhookRequest, WebhookResponse], None]
"""Hears the answer (and what was sent) before a trace ends."""
OnProgress = Callable[[LoadStats], None]
TRACE_WITHIN = 10.0


@dataclass(frozen=True)
class Outgoing:
    """What the form (or the command line) asks to send; signed by the pipeline."""

    provider: Provider
    body: bytes
    kind: NegativeKind = "valid"
    last: WebhookRequest | None = None
    """The last genuine request sent: what a ``replay`` sends again."""


def prepare(
    out: Outgoing, secret: SecretStr, now: float | None = None
) -> tuple[WebhookRequest | None, WebhookRequest]:
    """The replay rule: ``(first, request)``. A replay with no genuine request of this
    provider before it sends one first (``first``), then those bytes and headers again."""
    last = out.last if out.last is not None and out.last.provider == out.provider else None
    if out.kind == "replay" and last is None:
        first = build(out.provider, out.body, secret, now=now)
        return first, build(out.provider, out.body, secret, "replay", last=first)
    return None, build(out.provider, out.body, secret, out.kind, last=last, now=now)


def preview(
    out: Outgoing, secret: SecretStr | None, unsigned_why: str, now: float
) -> tuple[WebhookRequest | None, str]:
    """The request the form would send now, and a note on what is special about it."""
    if secret is None:
        unsigned = build(out.provider, out.body, SecretStr(""), "unsigned")
        return unsigned, f"not signed: {unsigned_why}"
    try:
        first, request = prepare(out, secret, now)
    except SigningError as exc:
        return None, str(exc)
    if first is not None:
        return first, "replay: a genuine request is sent first, then these bytes and headers again"
    if out.kind == "replay":
        return request, "replay of the last genuine request sent (its own bytes and headers)"
    return request, ""


class SecretMissing(LookupError):
    """No secret for a provider: the message says how to set one (never a secret)."""


@dataclass(frozen=True)
class Sent:
    """One webhook sent, and where it went in Kafka when a trace was asked for."""

    request: WebhookRequest
    response: WebhookResponse
    traced: bool = False
    """A trace was asked for and armed before sending."""
    trace: Traced | None = None
    trace_error: str | None = None
    """Why no trace could be armed or followed (one line)."""

    def trace_line(self) -> str | None:
        if self.trace_error:
            return f"not traced: {self.trace_error}"
        if not self.traced:
            return None
        if self.trace is None:
            return f"not seen in Kafka within {TRACE_WITHIN:g} s"
        return self.trace.line()


def secret_env(provider: Provider) -> str:
    return f"AUREN_TUI_{provider.upper()}_SECRET"


def secret_for(
    profile: str, provider: Provider, store: Callable[[], SecretStore] | None = None
) -> SecretStr:
    """``AUREN_TUI_<PROVIDER>_SECRET`` first, else the keyring's ``<profile>/<provider>``
    (``store`` opens it, only when needed; default: the OS keyring)."""
    value = os.environ.get(secret_env(provider))
    if value:
        return SecretStr(value)
    if store is None:
        from auren_tui.core.secrets import SecretStore

        store = SecretStore
    stored = store().get(profile, provider)
    if stored is None:
        raise SecretMissing(
            f"no {provider} secret for profile {profile!r}: "
            f"`auren-tui secret set {profile} {provider}` (or set {secret_env(provider)})"
        )
    return stored


Address = tuple[str, int]
"""The bridge as the server sees it (``client.bridge_address``, or ``--bridge``)."""


def send(
    connection: Connection,
    bridge: Address,
    bootstrap: Callable[[], str],
    out: Outgoing,
    secret: SecretStr,
    trace_topic: str | None,
    on_response: OnResponse | None = None,
    *,
    strict_trace: bool = False,
) -> Sent:
    """Sign ``out`` (the replay rule included) and send it; with ``trace_topic``, follow
    a 202 into that topic. A trace that cannot be armed is ``Sent.trace_error``, or with
    ``strict_trace`` a ``KafkaError`` raised before anything is sent."""
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks.client import Sender
    from auren_tui.core.webhooks.trace import KafkaTrace

    first, request = prepare(out, secret)
    host, port = bridge

    async def go() -> Sent:
        async with contextlib.AsyncExitStack() as stack:
            trace: KafkaTrace | None = None
            error: str | None = None
            if trace_topic:
                try:
                    trace = await stack.enter_async_context(KafkaTrace(bootstrap(), trace_topic))
                except KafkaError as exc:
                    if strict_trace:
                        raise
                    error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            sender = await stack.enter_async_context(Sender(connection, host, port))
            if first is not None:
                await sender.send(first)
            if trace is not None:
                trace.mark_sent()
            response = await sender.send(request)
            if on_response is not None:
                on_response(request, response)
            if trace is None:
                return Sent(request, response, trace_error=error)
            found = None
            if response.status == 202 and response.event_id:
                found = await trace.find(response.event_id, within=TRACE_WITHIN)
            return Sent(request, response, traced=True, trace=found)
        raise AssertionError("unreachable")  # pragma: no cover

    result: Sent = run_tunnelled(connection, go)
    return result


def suite(
    connection: Connection, bridge: Address, runs: list[tuple[Provider, SecretStr, bytes]]
) -> list[CheckResult]:
    """The negative suite (``client.run_suite``) for each ``(provider, secret, body)``, in
    order, on one connection to the bridge through the tunnel."""
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks.client import Sender, run_suite

    host, port = bridge

    async def go() -> list[CheckResult]:
        results: list[CheckResult] = []
        async with Sender(connection, host, port) as sender:
            for provider, secret, body in runs:
                results += await run_suite(sender, provider, secret, body)
        return results

    results: list[CheckResult] = run_tunnelled(connection, go)
    return results


def load(
    connection: Connection,
    bridge: Address,
    spec: LoadSpec,
    secret: SecretStr,
    on_progress: OnProgress | None,
) -> LoadStats:
    """The signed load generator against the bridge, through the tunnel."""
    from auren_tui.core.transport.loop import local_end, run_tunnelled
    from auren_tui.core.webhooks.load import run_load

    host, port = bridge

    async def go() -> LoadStats:
        lhost, lport = await local_end(connection, host, port)
        return await run_load(lhost, lport, spec, secret, on_progress, authority=f"{host}:{port}")

    stats: LoadStats = run_tunnelled(connection, go)
    return stats


# ---- replay: canned answers ---------------------------------------------------------

REPLAY_SECRET = SecretStr("replay-secret-not-real-0000")
REPLAY_LATENCY_MS = 12.5


def _answer(kind: str, request: WebhookRequest) -> WebhookResponse:
    preset = PRESETS[kind]  # type: ignore[index]
    data: dict[str, Any] = {"status": preset.expect_word} if preset.expect_word else {}
    if preset.expect_status == 403:
        data = {"detail": "invalid signature"}
    elif preset.expect_status == 413:
        data = {"detail": "body too large"}
    else:
        data["event_id"] = f"{request.provider}-replay-0001"
    return WebhookResponse(preset.expect_status, json.dumps(data).encode(), REPLAY_LATENCY_MS)


def replay_send(out: Outgoing, trace_topic: str | None) -> Sent:
    _, request = prepare(out, REPLAY_SECRET)
    response = _answer(request.kind, request)
    if not trace_topic or response.status != 202:
        return Sent(request, response)
    found = Traced(response.event_id or "", 48.0, trace_topic, 1, 4242)
    return Sent(request, response, traced=True, trace=found)


def replay_suite(provider: Provider, body: bytes, secret: SecretStr) -> list[CheckResult]:
    out: list[CheckResult] = []
    last: WebhookRequest | None = None
    for kind in SUITE_ORDER:
        request = build(provider, body, secret, kind, last=last, now=1_795_000_000.0)
        if kind == "valid":
            last = request
        out.append(CheckResult(PRESETS[kind], request, _answer(kind, request)))
    return out


def replay_load(spec: LoadSpec, on_progress: OnProgress | None) -> LoadStats:
    stats = LoadStats(spec.requests, started_at=0.0)
    for i in range(spec.requests):
        stats.latencies_ms.append(1.0 + (i % 40) * 0.5)
        stats.statuses[202] += 1
    stats.finished_at = max(spec.requests / 1000, 0.001)
    if on_progress is not None:
        on_progress(stats)
    return stats
