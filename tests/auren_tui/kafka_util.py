"""Helpers the tail tests share: topics, producing known records, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BIN = Path(sys.executable).parent


def topic_name(prefix: str = "tail") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    records: list[dict[str, Any]],
) -> None:
    """Each record: ``value`` (bytes | dict), optional ``key``, ``partition``,
    ``headers`` [(str, bytes)], ``timestamp_ms``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = []
        for r in records:
            value = r["value"]
            if isinstance(value, dict):
                value = json.dumps(value).encode()
            futures.append(
                await producer.send(
                    topic,
                    value=value,
                    key=r.get("key"),
                    partition=r.get("partition"),
                    headers=r.get("headers"),
                    timestamp_ms=r.get("timestamp_ms"),
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def committed_groups(bootstrap: str, topic: str) -> list[str]:
    """Consumer groups with an offset committed for ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = []
        for group in await admin.list_consumer_groups():
            group_id = group[0]
            offsets = await admin.list_consumer_group_offsets(group_id)
            if any(tp.topic == topic for tp in offsets):
                found.append(group_id)
        return found
    finally:
        await admin.close()


def cli_env(home: Path) -> dict[str, str]:
    # PYTHONFAULTHANDLER: a command that hangs can be asked where (``stacks_of``).
    return {
        **os.environ,
        "AUREN_TUI_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",
    }


def stacks_of(proc: subprocess.Popen[bytes]) -> str:
    """Where a hung command is: SIGABRT makes faulthandler print every thread's stack
    (``cli_env``); the process ends with it. Its stderr, for a failure message."""
    proc.send_signal(signal.SIGABRT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return (err or b"").decode(errors="replace")


def run_cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real ``auren-tui`` script."""
    return subprocess.run(
        [str(BIN / "auren-tui"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(home),
        check=False,
    )
