"""``auren-tui health`` against real services, in a subprocess as operators run it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auren_tui.cli import Context, Parser, common_options, resolve_options
from auren_tui.cli.health import configure, handle
from auren_tui.core.paths import Locations
from tests.bridge_service.conftest import secret_env
from tests.bridge_service.process import BridgeProcess
from tests.services.base import ServiceUnavailable, unavailable
from tests.services.kafka import Kafka
from tests.services.postgres import Postgres
from tests.services.prometheus import Prometheus
from tests.services.redis import Redis

SERVICES = ("bridge", "postgres", "redis", "kafka", "prometheus")


@dataclass
class Ports:
    ports: dict[str, int]

    def args(self, **override: int) -> list[str]:
        merged = {**self.ports, **override}
        out = ["--only", ",".join(SERVICES), "--no-docker"]
        for name, port in merged.items():
            out += ["--catalog-port", f"{name}={port}"]
        return out


@pytest.fixture(scope="module")
def ports(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: Postgres,
    redis_server: Redis,
    kafka: Kafka,
) -> Iterator[Ports]:
    bridge = BridgeProcess(
        env={
            **secret_env(),
            "REDIS_URL": redis_server.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": f"biometric-events-{uuid.uuid4().hex[:8]}",
            "TERRA_CONSUMER_ENABLED": "false",
        },
        workdir=tmp_path_factory.mktemp("cli-bridge"),
    )
    prom = Prometheus()
    try:
        bridge.start()
        prom.targets = [f"127.0.0.1:{bridge.port}"]
        try:
            prom.start()
        except (ServiceUnavailable, OSError) as exc:
            unavailable(exc)
        yield Ports(
            {
                "bridge": bridge.port,
                "postgres": postgres.port,
                "redis": redis_server.port,
                "kafka": kafka.port,
                "prometheus": prom.port,
            }
        )
    finally:
        prom.close()
        bridge.stop()


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AUREN_TUI_HOME": str(home / "auren"),
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "auren-tui"), "health", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_json_all_healthy_exits_0(ports: Ports, tmp_path: Path) -> None:
    proc = _run(["--json", *ports.args()], tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["healthy"] is True
    assert [s["name"] for s in data["services"]] == list(SERVICES)
    for s in data["services"]:
        assert s["health"] == "healthy"
        assert s["check"]["ok"] is True
        assert s["check"]["latency_ms"] > 0
        assert s["container"] is None  # --no-docker
    assert data["bridge"]["error"] is None


def test_one_service_down_exits_1(ports: Ports, tmp_path: Path) -> None:
    down = Redis().start()
    down.stop()  # its port is now closed
    try:
        proc = _run(["--json", *ports.args(redis=down.port)], tmp_path)
        table = _run(ports.args(redis=down.port), tmp_path)
    finally:
        down.close()
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["healthy"] is False
    redis = next(s for s in data["services"] if s["name"] == "redis")
    assert redis["health"] == "unhealthy"
    assert redis["check"]["detail"] == "connection refused"
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "CONTAINER", "CHECK", "HEALTH"]
    assert lines[1].split()[0] == "redis"  # faults first
    assert lines[1].endswith("unhealthy")
    assert "connection refused" in lines[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--catalog-port", "nosuch=1"], "no service 'nosuch'"),
        (["--catalog-port", "redis=port"], "expected NAME=PORT"),
        (["--only", "redis,nosuch"], "--only: no service nosuch"),
        (["--profile", "nosuch"], "no profile named 'nosuch'"),
        (["--timeout", "0"], "--timeout must be a positive number"),
        (["--timeout", "soon"], "invalid float value"),
    ],
)
def test_usage_and_config_errors_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr


def test_table_in_process(ports: Ports, tmp_path: Path) -> None:
    parser = configure(Parser(prog="auren-tui health", parents=[common_options()]))
    args = resolve_options(parser.parse_args(ports.args()))
    out, err = io.StringIO(), io.StringIO()
    home = tmp_path / "auren"
    ctx = Context(
        Locations(home / "config", home / "data", home / "state", home / "cache"), out, err
    )
    assert handle(args, ctx) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines[1:6]] == list(SERVICES)
    assert all(line.endswith("healthy") for line in lines[1:6])
    assert lines[-1].startswith("bridge (")
    assert err.getvalue() == ""
    print(out.getvalue())  # shown with -s: what an operator sees
