"""Webhooks for a ``Backend``: the blocking calls the Webhooks screen makes.

Each call runs one coroutine on a ``TunnelLoop`` (``core.transport.loop.run_tunnelled``), so
every TCP connection it opens goes through the profile's SSH tunnels. Called
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

from auren_tui.core.catalog import Catalog
from auren_tui.core.kafka.client import KafkaError
from auren_tui.core.transport.connection import Connection
from auren_tui.core.webhooks.client import (
    PRESETS,
    SUITE_ORDER,
    CheckResult,
    WebhookRequest,
    WebhookResponse,
    bridge_address,
    build,
)
from auren_tui.core.webhooks.load import LoadSpec, LoadStats
from auren_tui.core.webhooks.signing import Provider
from auren_tui.core.webhooks.trace import Traced

if TYPE_CHECKING:
    from auren_tui.core.secrets import SecretStore

OnResponse = Callable[[WebhookResponse], None]
OnProgress = Callable[[LoadStats], None]
TRACE_WITHIN = 10.0


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


def target(catalog: Catalog) -> str:
    """The bridge as the server sees it, ``host:port``."""
    host, port = bridge_address(catalog)
    return f"{host}:{port}"


def send(
    connection: Connection,
    catalog: Catalog,
    bootstrap: Callable[[], str],
    request: WebhookRequest,
    trace_topic: str | None,
    on_response: OnResponse | None = None,
) -> Sent:
    """Send ``request``; with ``trace_topic``, follow a 202 into that topic."""
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks.client import Sender
    from auren_tui.core.webhooks.trace import KafkaTrace

    host, port = bridge_address(catalog)

    async def go() -> Sent:
        async with contextlib.AsyncExitStack() as stack:
            sender = await stack.enter_async_context(Sender(connection, host, port))
            trace: KafkaTrace | None = None
            error: str | None = None
            if trace_topic:
                try:
                    trace = await stack.enter_async_context(KafkaTrace(bootstrap(), trace_topic))
                except KafkaError as exc:
                    error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                else:
                    trace.mark_sent()
            response = await sender.send(request)
            if on_response is not None:
                on_response(response)
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
    connection: Connection, catalog: Catalog, provider: Provider, secret: SecretStr, body: bytes
) -> list[CheckResult]:
    """The negative suite for ``provider`` (``client.run_suite``) through the tunnel."""
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks.client import Sender, run_suite

    host, port = bridge_address(catalog)

    async def go() -> list[CheckResult]:
        async with Sender(connection, host, port) as sender:
            return await run_suite(sender, provider, secret, body)

    results: list[CheckResult] = run_tunnelled(connection, go)
    return results


def load(
    connection: Connection,
    catalog: Catalog,
    spec: LoadSpec,
    secret: SecretStr,
    on_progress: OnProgress | None,
) -> LoadStats:
    """The signed load generator against the bridge, through the tunnel."""
    from auren_tui.core.transport.loop import local_end, run_tunnelled
    from auren_tui.core.webhooks.load import run_load

    host, port = bridge_address(catalog)

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


def replay_send(request: WebhookRequest, trace_topic: str | None) -> Sent:
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
