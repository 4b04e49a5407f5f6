"""Requests that cost nothing to send must cost the bridge almost nothing.

Each test speaks raw HTTP/1.1 over a socket to a real ``auren-bridge serve``,
as an attacker or a broken network would: header floods, bodies that never
arrive, idle sockets, clients that hang up mid-body. Saturation itself is
produced with a real PostgreSQL lock, so the slots are held by webhooks the
bridge is genuinely processing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.bridge_service.conftest import BridgeFactory, new_database
from tests.bridge_service.load import db_event_ids
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign
from tests.services.postgres import Postgres

QUICK = {"TERRA_CONSUMER_ENABLED": "false"}


def request_head(
    path: str, headers: dict[str, str], body_length: int | None = None, method: str = "POST"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: bridge"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body_length is not None:
        lines.append(f"content-length: {body_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@contextlib.asynccontextmanager
async def connect(
    bridge: BridgeProcess,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_answer(reader: asyncio.StreamReader, timeout: float = 30) -> tuple[int, bytes]:
    """The status and everything else until the server closes (0 = closed unanswered)."""
    async with asyncio.timeout(timeout):
        try:
            data = await reader.read(65536)
            rest = data
            while data:
                data = await reader.read(65536)
                rest += data
        except (ConnectionResetError, BrokenPipeError):
            return 0, b""
    if not rest:
        return 0, b""
    return int(rest.split(b" ", 2)[1]), rest


async def genuine(client: httpx.AsyncClient, source: str = "oura") -> httpx.Response:
    body = event_body(source)
    return await client.post(f"/webhooks/{source}", content=body, headers=sign(source, body))


# -- header floods --------------------------------------------------------------------


async def flood(bridge: BridgeProcess, headers: int, size: int = 8) -> int:
    """Send up to ``headers`` small headers; the status (0: closed without one)."""
    async with connect(bridge) as (reader, writer):
        value = "v" * size
        try:
            writer.write(b"POST /webhooks/oura HTTP/1.1\r\nhost: bridge\r\n")
            for start in range(0, headers, 500):
                chunk = "".join(f"x-{start + i}: {value}\r\n" for i in range(500))
                writer.write(chunk.encode())
                await writer.drain()
            writer.write(b"content-length: 2\r\n\r\n{}")
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        status, _ = await read_answer(reader)
    return status


def cpu_seconds(bridge: BridgeProcess) -> float:
    assert bridge._proc is not None
    assert bridge._proc.proc is not None
    stat = Path(f"/proc/{bridge._proc.proc.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_header_flood_is_refused_early_and_cheaply(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(QUICK)
    before = cpu_seconds(bridge)
    status = await flood(bridge, 200_000)
    # Refused with 431 (or a connection closed while we were still sending).
    assert status in (431, 0)
    print(f"200,000-header flood cost the bridge {cpu_seconds(bridge) - before:.3f} s of CPU")
    log = bridge.log_text()
    assert "more than 100 headers" in log
    assert "Traceback" not in log


async def test_flood_leaves_others_served_and_sigterm_obeyed(
    bridge_factory: BridgeFactory,
) -> None:
    bridge = bridge_factory(QUICK)
    stop = asyncio.Event()

    async def flooder() -> int:
        rounds = 0
        while not stop.is_set():
            with contextlib.suppress(OSError, TimeoutError):
                await flood(bridge, 30_000)
            rounds += 1
        return rounds

    flooders = [asyncio.create_task(flooder()) for _ in range(8)]
    try:
        async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
            for _ in range(20):
                assert (await client.get("/ready")).status_code == 200
                assert (await genuine(client)).status_code == 202
        # SIGTERM in the middle of the flood: a clean exit, not minutes of CPU.
        assert bridge._proc is not None
        bridge._proc.signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: -15 is a clean exit.
        assert await asyncio.to_thread(bridge.returncode) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in bridge.log_text()
    finally:
        stop.set()
        rounds = await asyncio.gather(*flooders, return_exceptions=True)
    assert all(isinstance(r, int) and r >= 1 for r in rounds), rounds


@pytest.mark.parametrize(
    ("what", "head"),
    [
        ("one endless header", b"x-long: " + b"a" * 2_000_000),
        ("a huge request line", b"x" * 2_000_000),
    ],
)
async def test_one_huge_header_or_url_is_refused(
    bridge_factory: BridgeFactory, what: str, head: bytes
) -> None:
    bridge = bridge_factory(QUICK)
    async with connect(bridge) as (reader, writer):
        if head.startswith(b"x-long"):
            writer.write(b"POST /webhooks/oura HTTP/1.1\r\n")
        else:
            writer.write(b"POST /")
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for i in range(0, len(head), 65536):
                writer.write(head[i : i + 65536])
                await writer.drain()
        status, _ = await read_answer(reader)
    assert status in (431, 0), what
    assert "431" in bridge.log_text() or status == 0


async def test_a_genuine_webhook_with_many_ordinary_headers_is_accepted(
    bridge_factory: BridgeFactory,
) -> None:
    bridge = bridge_factory(QUICK)
    body = event_body("whoop")
    extra = {f"x-forwarded-{i}": "proxy.example" for i in range(80)}
    async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
        r = await client.post(
            "/webhooks/whoop", content=body, headers={**extra, **sign("whoop", body)}
        )
    assert r.status_code == 202, r.text


async def test_repeated_or_odd_signature_headers_are_4xx(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(QUICK)
    body = event_body("oura")
    signed = sign("oura", body)
    twice = request_head("/webhooks/oura", signed, len(body))
    twice = twice.replace(
        b"x-oura-signature:", b"x-oura-signature: " + b"0" * 64 + b"\r\nx-oura-signature:", 1
    )
    async with connect(bridge) as (reader, writer):
        writer.write(twice + body)
        status, answer = await read_answer_one(reader)
    assert status == 400
    assert b"x-oura-signature header sent more than once" in answer

    odd = dict(signed, **{"x-oura-signature": "\xff\xfe" + "a" * 62})
    async with connect(bridge) as (reader, writer):
        writer.write(request_head("/webhooks/oura", odd, len(body)) + body)
        status, answer = await read_answer_one(reader)
    assert status == 403
    assert "Traceback" not in bridge.log_text()


async def read_answer_one(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP response (headers and a Content-Length body) on a kept-alive connection."""
    async with asyncio.timeout(30):
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), head + body


# -- slow, half-sent and idle ---------------------------------------------------------


async def test_body_that_never_arrives_is_408(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory({**QUICK, "BODY_TIMEOUT_SECONDS": "1"})
    body = event_body("oura")
    async with connect(bridge) as (reader, writer):
        writer.write(request_head("/webhooks/oura", sign("oura", body), len(body)) + body[:5])
        status, answer = await read_answer(reader)
    assert status == 408
    assert b"body not received within 1 s" in answer
    assert b"connection: close" in answer.lower()


async def test_idle_and_slow_senders_never_hold_a_real_webhook(
    bridge_factory: BridgeFactory,
) -> None:
    """300 sockets that sent a few bytes of a promised body and 200 that sent
    nothing: every slot stays free for genuine webhooks."""
    bridge = bridge_factory({**QUICK, "MAX_CONCURRENT_WEBHOOKS": "100"})
    body = event_body("oura")
    head = request_head("/webhooks/oura", sign("oura", body), len(body))
    attackers: list[asyncio.StreamWriter] = []
    try:
        for i in range(500):
            _, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
            if i < 300:
                writer.write(head + body[:3])
                await writer.drain()
            attackers.append(writer)
        async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
            waits = []
            for source in ("oura", "whoop", "healthkit") * 4:
                started = time.perf_counter()
                r = await genuine(client, source)
                waits.append(time.perf_counter() - started)
                assert r.status_code == 202, r.text
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
        print(f"genuine webhook among 500 idle/slow sockets: longest {max(waits) * 1000:.0f} ms")
    finally:
        for writer in attackers:
            writer.close()


async def test_connections_that_send_nothing_are_closed(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory({**QUICK, "HEADER_TIMEOUT_SECONDS": "1", "KEEP_ALIVE_SECONDS": "1"})
    # A fresh connection that never sends a byte.
    async with connect(bridge) as (reader, _writer):
        status, _ = await read_answer(reader, timeout=15)
    assert status in (0, 408)
    # Headers that never finish.
    async with connect(bridge) as (reader, writer):
        writer.write(b"POST /webhooks/oura HTTP/1.1\r\nhost: b\r\n")
        status, answer = await read_answer(reader, timeout=15)
    assert status == 408
    assert b"no complete request headers within 1 s" in answer
    # A kept-alive connection left idle after its answer.
    async with connect(bridge) as (reader, writer):
        writer.write(request_head("/ready", {}, method="GET"))
        status, _ = await read_answer_one(reader)
        assert status == 200
        closed, _ = await read_answer(reader, timeout=15)
    assert closed == 0


async def test_client_disconnecting_mid_body_is_one_short_line(
    bridge_factory: BridgeFactory,
) -> None:
    bridge = bridge_factory(QUICK)
    body = event_body("oura")
    for _ in range(3):
        async with connect(bridge) as (_reader, writer):
            writer.write(request_head("/webhooks/oura", sign("oura", body), len(body)) + body[:7])
            await writer.drain()
    async with httpx.AsyncClient(base_url=bridge.url, timeout=10) as client:
        assert (await genuine(client)).status_code == 202

        async def disconnect_lines() -> list[dict[str, object]]:
            lines = [json.loads(x) for x in bridge.log_text().splitlines() if x.startswith("{")]
            return [x for x in lines if x.get("status") == "disconnected"]

        async with asyncio.timeout(10):
            while len(await disconnect_lines()) < 3:
                await asyncio.sleep(0.05)
    assert "Traceback" not in bridge.log_text()
    assert '"traceback"' not in bridge.log_text()


# -- saturation (slots held by webhooks the database is really processing) -------------


async def test_saturation_answers_503_with_retry_after(
    bridge_factory: BridgeFactory, postgres: Postgres
) -> None:
    dsn = new_database(postgres)
    bridge = bridge_factory({**QUICK, "DATABASE_URL": dsn, "MAX_CONCURRENT_WEBHOOKS": "2"})
    blocker = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as client:
            tx = blocker.transaction()
            await tx.start()
            # Inserts wait on this lock: the two webhooks hold both slots meanwhile.
            await blocker.execute("LOCK TABLE events IN SHARE MODE")
            held = [asyncio.create_task(genuine(client)) for _ in range(2)]
            async with asyncio.timeout(4):
                while (await client.get("/health")).json()["in_flight"] < 2:
                    await asyncio.sleep(0.02)
            third = await genuine(client)
            assert third.status_code == 503
            assert third.headers["retry-after"] == "1"
            assert (await client.get("/ready")).status_code == 503
            await tx.rollback()
            done = await asyncio.gather(*held)
            assert [d.status_code for d in done] == [202, 202]
            assert (await client.get("/ready")).status_code == 200
            metrics = (await client.get("/metrics")).text
            assert 'webhook_events_total{source="oura",status="busy"}' in metrics
    finally:
        await blocker.close()
    assert len(await db_event_ids(dsn)) == 2


async def test_an_oversized_body_sent_whole_still_reads_its_413(
    bridge_factory: BridgeFactory,
) -> None:
    """A client that sends its whole (too large) body before reading must get the 413,
    not a reset: the bridge discards the rest rather than closing under it."""
    bridge = bridge_factory(QUICK)
    body = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    for _ in range(3):
        async with connect(bridge) as (reader, writer):
            writer.write(request_head("/webhooks/oura", sign("oura", body), len(body)))
            writer.write(body)
            await writer.drain()
            status, answer = await read_answer_one(reader)
        assert status == 413, answer
        assert b"body larger than" in answer
