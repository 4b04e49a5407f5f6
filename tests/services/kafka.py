"""Throwaway Apache Kafka: one KRaft node (broker + controller), small heap.

The jars come from Maven Central through ``tests/services/kafka/pom.xml`` and
are cached in ``.cache/kafka/libs`` (git-ignored, kept between runs).
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.services.base import (
    CACHE,
    REPO,
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    free_port,
    make_tempdir,
    netns_prefix,
    remove_tree,
    tcp_open,
    wait_until,
)

LIBS = CACHE / "kafka" / "libs"
POM = REPO / "tests" / "services" / "kafka" / "pom.xml"
JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]


def new_cluster_id() -> str:
    """A KRaft cluster id that never starts with "-" (the storage tool's argument
    parser would take it for an option: a 1-in-64 failure to start)."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def ensure_jars() -> Path:
    """Resolve the Kafka jars once (``make test`` does this too)."""
    if LIBS.exists() and any(LIBS.glob("kafka_2.13-*.jar")):
        return LIBS
    mvn = find_binary("mvn", "maven")
    LIBS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={LIBS}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceUnavailable(
            f"could not resolve the Kafka jars with Maven: {result.stdout[-500:]}"
        )
    return LIBS


@dataclass
class Kafka:
    """A single-node KRaft cluster.

    ``advertised_host`` lets a test make the broker advertise a name that only
    exists inside a network namespace (as ``auren-kafka`` on the real server).
    """

    host: str = "127.0.0.1"
    port: int = 0
    advertised_host: str | None = None
    advertised_port: int | None = None
    netns: str | None = None
    workdir: Path | None = None
    _proc: ManagedProcess | None = field(default=None, repr=False)
    _controller_port: int = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def _write_config(self) -> Path:
        assert self.workdir is not None
        adv_host = self.advertised_host or self.host
        adv_port = self.advertised_port or self.port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self._controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self._controller_port}",
            "advertised.listeners": f"PLAINTEXT://{adv_host}:{adv_port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "log.flush.interval.messages": "100000",
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.workdir / "log4j2.yaml").write_text(
            "Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n"
            "      PatternLayout:\n        Pattern: '[%d] %p %m (%c)%n'\n"
            "  Loggers:\n    Root:\n      level: WARN\n      AppenderRef:\n        - ref: STDOUT\n"
            "    Logger:\n      - name: kafka.server.KafkaRaftServer\n        level: INFO\n"
        )
        return path

    def _java(self) -> list[str]:
        java = find_binary("java", "openjdk-17-jre-headless")
        return [
            java,
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.workdir}/log4j2.yaml",
            "-cp",
            f"{ensure_jars()}/*",
        ]

    def start(self) -> Kafka:
        first = self.workdir is None
        if self.workdir is None:
            self.workdir = make_tempdir("kafka")
        if not self.port:
            self.port = free_port()
        if not self._controller_port:
            self._controller_port = free_port()
        config = self._write_config()
        if first:
            cluster_id = new_cluster_id()
            fmt = subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise ServiceUnavailable(f"kafka storage format failed: {fmt.stdout}{fmt.stderr}")
        log = self.workdir / "kafka.log"
        self._proc = ManagedProcess(
            [*self._java(), "kafka.Kafka", str(config)], log=log, netns=self.netns
        )
        proc = self._proc.start()
        wait_until(
            self._ready,
            timeout=90,
            what=f"kafka on {self.host}:{self.port}",
            interval=0.2,
            proc=proc,
            log=log,
        )
        return self

    def _ready(self) -> bool:
        if self.netns is None:
            return tcp_open(self.host, self.port) and "started" in (
                (self.workdir / "kafka.log").read_text(errors="replace")  # type: ignore[operator]
            )
        out = subprocess.run(
            [*netns_prefix(self.netns), "bash", "-c", f"echo > /dev/tcp/{self.host}/{self.port}"],
            capture_output=True,
            check=False,
        )
        return out.returncode == 0 and "started" in (
            (self.workdir / "kafka.log").read_text(errors="replace")  # type: ignore[operator]
        )

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop(timeout=30)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL the broker (for fault tests); ``start()`` brings it back."""
        import signal

        if self._proc is not None:
            self._proc.signal(signal.SIGKILL)
            assert self._proc.proc is not None
            self._proc.proc.wait(10)
            self._proc = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.workdir)
