"""Fixtures for the bridge: real processes on real services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import SECRETS
from tests.services.postgres import Postgres

BridgeFactory = Callable[..., BridgeProcess]


def secret_env() -> dict[str, str]:
    return {
        "OURA_WEBHOOK_SECRET": SECRETS["oura"],
        "WHOOP_WEBHOOK_SECRET": SECRETS["whoop"],
        "HEALTHKIT_WEBHOOK_SECRET": SECRETS["healthkit"],
    }


@pytest.fixture
def bridge_factory(tmp_path: Path) -> Iterator[BridgeFactory]:
    """Start bridges with the given environment; all are stopped after the test."""
    started: list[BridgeProcess] = []

    def make(env: dict[str, str] | None = None, wait_healthy: bool = True) -> BridgeProcess:
        workdir = tmp_path / f"bridge-{len(started)}"
        workdir.mkdir()
        bridge = BridgeProcess(env={**secret_env(), **(env or {})}, workdir=workdir)
        started.append(bridge)
        return bridge.start(wait_healthy=wait_healthy)

    yield make
    for b in started:
        b.stop()


def new_database(postgres: Postgres) -> str:
    """A fresh database on the session's PostgreSQL; returns its DSN."""
    name = f"bridge_{uuid.uuid4().hex[:10]}"
    postgres.psql(f"create database {name}")
    return postgres.dsn.rsplit("/", 1)[0] + f"/{name}"


def new_topic() -> str:
    return f"biometric-events-{uuid.uuid4().hex[:8]}"


async def topic_partitions(bootstrap: str, topic: str, timeout: float = 30) -> list[int]:
    """The partitions of ``topic`` (waits for it to exist, up to ``timeout``)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            described = await admin.describe_topics([topic])
            parts = [
                p["partition"] for d in described if d["error_code"] == 0 for p in d["partitions"]
            ]
            if parts or asyncio.get_running_loop().time() > deadline:
                return sorted(parts)
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 60, settle: float = 1.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning: waits for ``count``, then
    ``settle`` seconds more so a surplus (a duplicate) would be seen too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    records: list[ConsumerRecord[bytes, bytes]] = []
    async with asyncio.timeout(timeout + settle + 15):
        await consumer.start()
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            parts = await topic_partitions(bootstrap, topic, timeout)
            if not parts:
                return records
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            settle_until: float | None = None
            while True:
                now = asyncio.get_running_loop().time()
                if len(records) >= count and settle_until is None:
                    settle_until = now + settle
                if settle_until is not None and now > settle_until:
                    break
                if now > deadline and settle_until is None:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
        finally:
            await consumer.stop()
    return records


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault matrix's figures, when fault tests ran (README: bridge faults)."""
    from tests.bridge_service.load import FAULT_FIGURES

    if not FAULT_FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("bridge fault matrix")
    write(
        f"{'scenario':58} {'acked':>6} {'stored':>6} {'publ.':>6} {'kafka':>6} "
        f"{'lost':>5} {'db dup':>6} {'hostile':>7}"
    )
    for f in FAULT_FIGURES:
        write(
            f"{f.scenario:58} {f.acknowledged:6} {f.stored:6} {f.published:6} "
            f"{f.kafka_records:6} {f.lost:5} {f.duplicated_in_db:6} {f.hostile:7}"
        )
