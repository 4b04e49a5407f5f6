"""Build, send and check webhooks; the negative suite.

Async, meant for a ``TunnelLoop`` (core/transport/loop.py) in a worker thread or the
CLI: the bridge's server-side address is mapped to a local tunnel with the
profile's connection, so nothing here knows about SSH.
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from auren_tui.core.transport.connection import Connection

if TYPE_CHECKING:
    # Imported where used: every CLI command (a tail too) would pay ~100 ms for them.
    import httpx
    from pydantic import SecretStr

    from auren_tui.core.catalog import Catalog
    from bridge_service.schema import Accepted, Duplicate
from auren_tui.core.transport.loop import local_end
from auren_tui.core.webhooks.signing import (
    NATIVE,
    Encoding,
    Provider,
    masked,
    sign,
)

NegativeKind = Literal[
    "valid",
    "replay",
    "unsigned",
    "wrong-secret",
    "tampered",
    "stale",
    "future",
    "wrong-encoding",
    "oversized",
]


@dataclass(frozen=True)
class Preset:
    kind: NegativeKind
    title: str
    expect_status: int
    expect_word: str | None
    """The ``status`` field of the answer's JSON, when the contract names one."""

    @property
    def expected(self) -> str:
        """The answer the contract names, as shown everywhere: ``202 accepted``, ``403``."""
        return f"{self.expect_status}" + (f" {self.expect_word}" if self.expect_word else "")

    def accepts(self, response: WebhookResponse) -> bool:
        """Whether ``response`` is the answer this preset expects (status, then word)."""
        if response.status != self.expect_status:
            return False
        return self.expect_word is None or response.word == self.expect_word


PRESETS: dict[NegativeKind, Preset] = {
    p.kind: p
    for p in (
        Preset("valid", "genuine, fresh", 202, "accepted"),
        Preset("replay", "the last request again (same bytes, same headers)", 200, "duplicate"),
        Preset("unsigned", "no signature headers", 403, None),
        Preset("wrong-secret", "signed with another secret", 403, None),
        Preset("tampered", "body changed after signing", 403, None),
        Preset("stale", "timestamp an hour old", 403, None),
        Preset("future", "timestamp an hour ahead", 403, None),
        Preset("wrong-encoding", "signature hex <-> base64", 403, None),
        Preset("oversized", "body over the bridge's limit (default 256 KiB)", 413, None),
    )
}
SKEW_SECONDS = 3600


def check_kind(text: str) -> NegativeKind:
    for kind in PRESETS:
        if kind == text:
            return kind
    raise ValueError(f"unknown negative preset {text!r} (presets: {', '.join(PRESETS)})")


OVERSIZED_BYTES = 300 * 1024


@dataclass(frozen=True)
class WebhookRequest:
    """Exactly what is sent: these bytes, these headers, to this path."""

    provider: Provider
    body: bytes
    headers: dict[str, str]
    kind: NegativeKind = "valid"

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}"

    def shown_headers(self) -> dict[str, str]:
        return masked(self.headers, self.provider)


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: bytes
    latency_ms: float
    error: str | None = None
    """A transport failure (one line); ``status`` is 0 then."""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @cached_property
    def stored(self) -> Accepted | Duplicate | None:
        """The answer validated as the bridge's ``Accepted`` (202) or ``Duplicate`` (200)
        of ``bridge_service/schema.py``; None for any other answer (a refusal, or a body
        that is not what the contract says)."""
        from pydantic import ValidationError

        from bridge_service.schema import Accepted, Duplicate

        try:
            if self.status == 202:
                return Accepted.model_validate_json(self.body)
            if self.status == 200:
                return Duplicate.model_validate_json(self.body)
        except ValidationError:
            return None
        return None

    @property
    def word(self) -> str | None:
        """The answer's ``status`` (``accepted``, ``duplicate``) when the schema holds."""
        return None if self.stored is None else self.stored.status

    @property
    def event_id(self) -> str | None:
        return None if self.stored is None else self.stored.event_id

    @property
    def answer(self) -> str:
        """What came back, as ``expected`` is written: ``202 accepted``, ``403``, or the
        transport's error."""
        if self.error:
            return self.error
        return f"{self.status}" + (f" {self.word}" if self.word else "")

    def summary(self) -> str:
        if self.error:
            return f"failed after {self.latency_ms:.0f} ms: {self.error}"
        text = self.body.decode(errors="replace").strip()
        return f"{self.status} in {self.latency_ms:.1f} ms {text[:200]}"


def build(
    provider: Provider,
    body: bytes,
    secret: SecretStr,
    kind: NegativeKind = "valid",
    *,
    last: WebhookRequest | None = None,
    now: float | None = None,
) -> WebhookRequest:
    """The request for ``kind``: genuine, or broken in exactly one way."""
    at = time.time() if now is None else now
    if kind == "replay":
        if last is None:
            raise ValueError("replay needs a request sent before it")
        return replace(last, kind="replay")
    if kind == "unsigned":
        return WebhookRequest(provider, body, {"content-type": "application/json"}, kind)
    if kind == "wrong-secret":
        from pydantic import SecretStr

        other = SecretStr(_random_secret(provider))
        return WebhookRequest(provider, body, sign(provider, body, other, now=at), kind)
    if kind == "tampered":
        headers = sign(provider, body, secret, now=at)
        return WebhookRequest(provider, _tamper(body), headers, kind)
    if kind in ("stale", "future"):
        skew = -SKEW_SECONDS if kind == "stale" else SKEW_SECONDS
        return WebhookRequest(provider, body, sign(provider, body, secret, now=at + skew), kind)
    if kind == "wrong-encoding":
        flipped: Encoding = "base64" if NATIVE[provider] == "hex" else "hex"
        headers = sign(provider, body, secret, now=at, encoding=flipped)
        return WebhookRequest(provider, body, headers, kind)
    if kind == "oversized":
        big = _pad(body, OVERSIZED_BYTES)
        return WebhookRequest(provider, big, sign(provider, big, secret, now=at), kind)
    return WebhookRequest(provider, body, sign(provider, body, secret, now=at), "valid")


def _random_secret(provider: Provider) -> str:
    if provider == "healthkit":
        import base64

        return "whsec_" + base64.b64encode(pysecrets.token_bytes(32)).decode()
    return pysecrets.token_hex(16)


def _tamper(body: bytes) -> bytes:
    """Still valid JSON (so only the signature can fail), one field changed."""
    try:
        data = json.loads(body)
    except ValueError:
        return body + b" "
    if isinstance(data, dict):
        data["tampered"] = True
        return json.dumps(data).encode()
    return body + b" "


def _pad(body: bytes, size: int) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data["padding"] = "x" * size
        return json.dumps(data).encode()
    return body + b" " * size


def bridge_address(catalog: Catalog) -> tuple[str, int]:
    """The bridge's address as the server sees it (the catalog's bridge service)."""
    address = catalog.bridge_address()
    if address is None:
        raise ValueError("the profile's catalog has no bridge service")
    return address


@dataclass
class Sender:
    """Sends requests to the bridge through the connection's tunnel."""

    connection: Connection
    host: str
    port: int
    timeout: float = 10.0
    _client: httpx.AsyncClient | None = field(default=None, repr=False)

    async def __aenter__(self) -> Sender:
        import httpx

        lhost, lport = await local_end(self.connection, self.host, self.port)
        self._client = httpx.AsyncClient(base_url=f"http://{lhost}:{lport}", timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        assert self._client is not None, "async with Sender(...) first"
        import httpx

        started = time.perf_counter()
        try:
            answer = await self._client.post(
                request.path, content=request.body, headers=request.headers
            )
        except httpx.HTTPError as exc:
            took = (time.perf_counter() - started) * 1000
            return WebhookResponse(0, b"", took, f"{type(exc).__name__}: {exc}".strip(": "))
        took = (time.perf_counter() - started) * 1000
        return WebhookResponse(answer.status_code, answer.content, took)


@dataclass(frozen=True)
class CheckResult:
    preset: Preset
    request: WebhookRequest
    response: WebhookResponse

    @property
    def ok(self) -> bool:
        return self.preset.accepts(self.response)

    def line(self) -> str:
        p = self.preset
        mark = "ok  " if self.ok else "FAIL"
        return (
            f"{mark} {self.request.provider:<9} {p.kind:<15} expected {p.expected:<13} "
            f"got {self.response.answer}"
        )


SUITE_ORDER: tuple[NegativeKind, ...] = tuple(PRESETS)


async def run_suite(
    sender: Sender, provider: Provider, secret: SecretStr, body: bytes
) -> list[CheckResult]:
    """Every preset in order; the replay resends the genuine request."""
    results: list[CheckResult] = []
    last: WebhookRequest | None = None
    for kind in SUITE_ORDER:
        request = build(provider, body, secret, kind, last=last)
        if kind == "valid":
            last = request
        results.append(CheckResult(PRESETS[kind], request, await sender.send(request)))
    return results
