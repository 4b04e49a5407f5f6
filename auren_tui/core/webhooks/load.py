"""A signed load test: every request a fresh, uniquely signed webhook.

wrk with Lua cannot sign, so the old load test only ever measured 403s. This
generator renders a new body (unique event ids, fresh timestamps) and signs
it for every request, on keep-alive HTTP/1.1 connections spoken directly on
asyncio streams: httpx costs ~0.3 ms of CPU per request, which would make
the generator the bottleneck long before the bridge.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from auren_tui.core.webhooks.signing import Provider, sign
from auren_tui.core.webhooks.templates import render

# Latency histogram bucket upper bounds, ms.
BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class LoadSpec:
    provider: Provider
    requests: int
    concurrency: int = 16
    rate: float | None = None
    """Requests per second in total (None: as fast as answers come)."""
    template: str | None = None
    timeout: float = 10.0


@dataclass
class LoadStats:
    total: int
    started_at: float = field(default_factory=time.perf_counter)
    finished_at: float | None = None
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.perf_counter()) - self.started_at

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def histogram(self) -> list[tuple[str, int]]:
        counts = [0] * (len(BUCKETS_MS) + 1)
        for value in self.latencies_ms:
            counts[bisect.bisect_left(BUCKETS_MS, value)] += 1
        labels = [f"≤{b} ms" for b in BUCKETS_MS] + [f">{BUCKETS_MS[-1]} ms"]
        return list(zip(labels, counts, strict=True))

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.total,
            "done": self.done,
            "seconds": round(self.elapsed, 3),
            "requests_per_second": round(self.rate, 1),
            "p50_ms": _round(self.percentile(50)),
            "p95_ms": _round(self.percentile(95)),
            "p99_ms": _round(self.percentile(99)),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run_load(
    host: str,
    port: int,
    spec: LoadSpec,
    secret: SecretStr,
    on_progress: Callable[[LoadStats], None] | None = None,
    progress_every: float = 0.2,
    authority: str | None = None,
) -> LoadStats:
    """Send ``spec.requests`` signed webhooks to ``host:port`` (a local address;
    ``authority`` is the Host header, the bridge's address as the server sees it)."""
    stats = LoadStats(spec.requests)
    path = f"/webhooks/{spec.provider}".encode()
    host_header = (authority or f"{host}:{port}").encode()
    next_index = 0
    interval = 1.0 / spec.rate if spec.rate else 0.0

    def take() -> int | None:
        nonlocal next_index
        if next_index >= spec.requests:
            return None
        next_index += 1
        return next_index - 1

    async def worker() -> None:
        conn = _Conn(host, port)
        try:
            while (index := take()) is not None:
                if interval:
                    delay = stats.started_at + index * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                body = render(spec.provider, spec.template, index)
                headers = sign(spec.provider, body, secret)
                head = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n%s\r\n" % (
                    path,
                    host_header,
                    len(body),
                    "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode(),
                )
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(spec.timeout):
                        status = await conn.request(head, body)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.close()
                    stats.errors[type(exc).__name__] += 1
                    continue
                stats.latencies_ms.append((time.perf_counter() - started) * 1000)
                stats.statuses[status] += 1
        finally:
            conn.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(progress_every)
            if on_progress is not None:
                on_progress(stats)

    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, spec.concurrency))))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        stats.finished_at = time.perf_counter()
    if on_progress is not None:
        on_progress(stats)
    return stats
