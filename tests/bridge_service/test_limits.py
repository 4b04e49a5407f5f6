"""Saturation: more than MAX_CONCURRENT_WEBHOOKS in flight gets 503 + Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from tests.bridge_service.conftest import BridgeFactory
from tests.bridge_service.signing import event_body, sign


async def test_saturation_answers_503_with_retry_after(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory({"MAX_CONCURRENT_WEBHOOKS": "2"})
    release = asyncio.Event()
    started = asyncio.Semaphore(0)

    def slow_body(body: bytes) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            yield body[:5]
            started.release()
            await release.wait()
            yield body[5:]

        return gen()

    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as client:
        bodies = [event_body("oura") for _ in range(2)]
        held = [
            asyncio.create_task(
                client.post(
                    "/webhooks/oura",
                    content=slow_body(b),
                    headers={**sign("oura", b), "content-length": str(len(b))},
                )
            )
            for b in bodies
        ]
        for _ in held:
            async with asyncio.timeout(10):
                await started.acquire()

        # Both slots are taken once the bridge has the first bytes of both.
        async def third() -> httpx.Response:
            body = event_body("oura")
            return await client.post("/webhooks/oura", content=body, headers=sign("oura", body))

        async with asyncio.timeout(10):
            while True:
                r = await third()
                if r.status_code == 503:
                    break
                assert r.status_code == 202  # a slot was still free: try again
        assert r.headers["retry-after"] == "1"
        ready = await client.get("/ready")
        assert ready.status_code == 503

        release.set()
        done = await asyncio.gather(*held)
        assert [d.status_code for d in done] == [202, 202]
        assert (await client.get("/ready")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'webhook_events_total{source="oura",status="busy"}' in metrics
