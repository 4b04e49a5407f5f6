"""Throwaway Apache Kafka: one KRaft node (broker + controller), small heap.

The jars come from Maven Central through ``tests/services/kafka/pom.xml`` and
are cached in ``.cache/kafka/libs`` (git-ignored, kept between runs).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from auren_tui.demo.kafka import JVM_OPTS, new_cluster_id, write_kraft_config
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
        advertised = (self.advertised_host or self.host, self.advertised_port or self.port)
        return write_kraft_config(
            self.workdir, self.host, self.port, self._controller_port, advertised,
            extra={"log.flush.interval.messages": "100000"},
        )  # fmt: skip

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
