"""The tail as on the real server: Kafka advertises ``auren-kafka:9092``, a name
that exists only inside the server, reached through one SSH connection.

Also the broker going away mid-tail and a topic deleted while tailed. The server is
the session's shared stack (tests/auren_tui/server_stack.py): every test uses its
own topic, and the test that stops the broker starts it again before it ends.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auren_tui.core.kafka.client import list_topics
from auren_tui.core.kafka.consumer import Tail, TailRequest, TailStatus, TailThread
from auren_tui.core.kafka.records import TailRecord
from auren_tui.core.kafka.start import Start
from auren_tui.core.transport.connection import Connection
from auren_tui.core.transport.loop import TunnelLoop
from auren_tui.core.transport.open import open_connection
from tests.auren_tui.kafka_util import (
    committed_groups,
    create_topic,
    delete_topic,
    produce,
    run_cli,
    topic_name,
)
from tests.auren_tui.server_stack import ServerStack, locations
from tests.services.base import wait_until

INSIDE = "127.0.0.1:9092"  # the bootstrap address as the server sees it


@pytest.fixture
def conn(stack: ServerStack, tmp_path: Path) -> Iterator[Connection]:
    profile = stack.profile("hidden", stack.known_hosts(tmp_path / "known_hosts"))
    connection = open_connection(profile, locations(tmp_path))
    try:
        yield connection
    finally:
        connection.close()


def _on(conn: Connection, coro: Any) -> Any:
    """Run ``coro`` on a loop whose connections go through ``conn``."""
    with asyncio.Runner(loop_factory=lambda: TunnelLoop(conn)) as runner:
        return runner.run(coro)


def _seeded(conn: Connection, count: int = 12, partitions: int = 3) -> str:
    topic = topic_name("ssh")

    async def go() -> None:
        await create_topic(INSIDE, topic, partitions)
        await produce(
            INSIDE,
            topic,
            [
                {"value": {"source": "oura", "n": i}, "partition": i % partitions}
                for i in range(count)
            ],
        )

    _on(conn, go())
    return topic


def test_the_advertised_name_exists_only_inside_the_server(stack: ServerStack) -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("auren-kafka", 9092)
    inside = stack.ns.exec(["getent", "hosts", "auren-kafka"])
    assert inside.stdout.split()[0] == "127.0.0.1"


def test_a_plain_client_cannot_read_past_the_bootstrap(conn: Connection) -> None:
    """The control: through a tunnel to the bootstrap port alone, the advertised
    address is what breaks an unchanged client."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = _seeded(conn, count=3, partitions=1)
    host, port = conn.endpoint("127.0.0.1", 9092)

    async def plain() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=f"{host}:{port}", request_timeout_ms=3000)
        await consumer.start()  # the bootstrap connection works ...
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            async with asyncio.timeout(6):
                await consumer.getone()  # ... the broker's own address does not
        finally:
            await consumer.stop()

    with pytest.raises(TimeoutError):
        asyncio.run(plain())


def test_tail_through_ssh_reads_every_partition(conn: Connection) -> None:
    topic = _seeded(conn)

    async def read() -> list[TailRecord]:
        out: list[TailRecord] = []
        async with asyncio.timeout(60):
            async for item in Tail(
                TailRequest(INSIDE, [topic], Start("beginning"), exit_at_end=True)
            ):
                if not isinstance(item, TailStatus):
                    out.extend(item)
        return out

    records = _on(conn, read())
    assert sorted(r.json_value()["n"] for r in records) == list(range(12))
    assert {r.partition for r in records} == {0, 1, 2}
    assert _on(conn, committed_groups(INSIDE, topic)) == []


def test_cli_tail_over_ssh(stack: ServerStack, conn: Connection, tmp_path: Path) -> None:
    topic = _seeded(conn, count=5, partitions=1)
    home = tmp_path / "home"
    sshd = stack.sshd
    added = run_cli(
        home, "profile", "add", "srv", "--host", sshd.host, "--port", str(sshd.port),
        "--user", sshd.key_user, "--key-file", str(sshd.key_path),
        "--known-hosts", str(sshd.write_known_hosts(tmp_path / "kh")),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    done = run_cli(home, "tail", topic, "--profile", "srv", "--from", "beginning",
                   "--count", "5", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["value"]["n"] for line in done.stdout.splitlines()] == [0, 1, 2, 3, 4]


class Watch:
    """What a TailThread hands over, collected from its thread."""

    def __init__(self) -> None:
        self.records: list[TailRecord] = []
        self.statuses: list[TailStatus] = []

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


def test_broker_stopped_mid_tail_then_back(stack: ServerStack, conn: Connection) -> None:
    topic = _seeded(conn, count=0, partitions=1)
    watch = Watch()
    tail = TailThread(
        conn,
        TailRequest(INSIDE, [topic], Start("end")),
        watch.records.extend,
        watch.statuses.append,
    )
    tail.start()
    try:
        wait_until(lambda: "live" in watch.states(), 30, "the tail to go live")
        _on(conn, produce(INSIDE, topic, [{"value": b"before"}]))
        wait_until(lambda: len(watch.records) == 1, 30, "the first record")

        stack.kafka.stop()
        try:
            wait_until(lambda: "broker unreachable" in watch.states(), 30, "a broker-down status")
            down = next(s for s in watch.statuses if s.state == "broker unreachable")
            assert down.detail  # what failed, in one line
            assert "\n" not in down.line()
            assert tail.alive
        finally:
            stack.restart_kafka()  # the shared stack as this test found it
        wait_until(
            lambda: (
                watch.statuses[-1].state == "live"
                and watch.statuses[-1].detail == "broker reachable again"
            ),
            60,
            lambda: f"the tail to recover: {watch.statuses[-3:]}",
        )
        _on(conn, produce(INSIDE, topic, [{"value": b"after"}]))
        wait_until(lambda: len(watch.records) == 2, 60, "the record after the outage")
        assert [r.value for r in watch.records] == [b"before", b"after"]
        assert [r.offset for r in watch.records] == [0, 1]
    finally:
        tail.stop()
    assert not tail.alive


def test_topic_deleted_while_tailed(conn: Connection) -> None:
    topic = _seeded(conn, count=2, partitions=1)
    watch = Watch()
    tail = TailThread(
        conn,
        TailRequest(INSIDE, [topic], Start("beginning")),
        watch.records.extend,
        watch.statuses.append,
    )
    tail.start()
    try:
        wait_until(lambda: len(watch.records) == 2, 30, "the records")
        _on(conn, delete_topic(INSIDE, topic))
        wait_until(lambda: not tail.alive, 30, lambda: f"the tail to stop: {watch.statuses}")
    finally:
        tail.stop()
    last = watch.statuses[-1]
    assert last.state == "stopped"
    assert last.detail == f"topic {topic} was deleted on the broker"
    # The broker auto-creates topics (Kafka's default); the tail's own metadata
    # requests, made while the topic was gone, must not have brought it back.
    assert topic not in {t.name for t in _on(conn, list_topics(INSIDE))}
