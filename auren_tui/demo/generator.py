"""Demo traffic: signed webhooks to the bridge and Terra records into Kafka.

A thread with its own event loop: Oura, WHOOP and HealthKit in turn at
``rate`` per second (a few duplicates and one bad signature now and then, so
the figures show more than one status), and a Terra record every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from auren_tui.core.transport.connection import LocalConnection
from auren_tui.core.webhooks.client import Sender, WebhookRequest, build
from auren_tui.core.webhooks.signing import PROVIDERS
from auren_tui.core.webhooks.templates import TEMPLATES, render


class Generator:
    def __init__(
        self, bridge: str, bootstrap: str | None, secrets: dict[str, str], rate: float = 4.0
    ) -> None:
        host, _, port = bridge.rpartition(":")
        self.host, self.port = host, int(port)
        self.bootstrap = bootstrap
        self.secrets = {p: SecretStr(v) for p, v in secrets.items()}
        self.rate = rate
        self.sent = 0
        self.terra = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-generator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run(self._main())

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._webhooks())]
        if self.bootstrap:
            tasks.append(asyncio.create_task(self._terra()))
        await asyncio.to_thread(self._stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _webhooks(self) -> None:
        last: WebhookRequest | None = None
        async with Sender(LocalConnection(), self.host, self.port, timeout=5) as sender:
            n = 0
            while True:
                provider = PROVIDERS[n % len(PROVIDERS)]
                template = random.choice(list(TEMPLATES[provider]))  # noqa: S311 - demo data
                roll = random.random()  # noqa: S311
                if roll < 0.05 and last is not None:
                    request = build(last.provider, last.body, self.secrets[last.provider], "replay",
                                    last=last)  # fmt: skip
                elif roll < 0.08:
                    request = build(provider, render(provider, template, n), self.secrets[provider],
                                    "wrong-secret")  # fmt: skip
                else:
                    request = build(provider, render(provider, template, n), self.secrets[provider])
                    last = request
                with contextlib.suppress(Exception):
                    await sender.send(request)
                    self.sent += 1
                n += 1
                await asyncio.sleep(1 / self.rate)

    async def _terra(self) -> None:
        from aiokafka import AIOKafkaProducer

        assert self.bootstrap is not None
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            while True:
                with contextlib.suppress(Exception):
                    await producer.send_and_wait("terra-biometric-events", _terra_record())
                    self.terra += 1
                await asyncio.sleep(3)
        finally:
            await producer.stop()


def _terra_record() -> bytes:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": random.choice(["activity", "sleep", "body", "daily"]),  # noqa: S311
        "user": {"user_id": f"terra-user-{random.randint(1, 20):02d}", "provider": "GARMIN"},  # noqa: S311
        "data": [{"metadata": {"start_time": now, "end_time": now},
                  "heart_rate_data": {"summary": {"avg_hr_bpm": random.randint(55, 95)}}}],  # noqa: S311
    }  # fmt: skip
    return json.dumps(record).encode()
