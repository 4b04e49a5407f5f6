"""The collector against real services: bridge, PostgreSQL, Redis, Kafka,
Prometheus and a Docker Engine running the test image under a catalog name."""

from __future__ import annotations

import contextlib
import math
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.docker.inspect import image_label, parse_docker_time
from auren_tui.core.docker.stats import cpu_percent, memory_usage
from auren_tui.core.health.bridge_figures import histogram_quantile
from auren_tui.core.health.checks import (
    check_http,
    check_kafka,
    check_postgres,
    check_redis,
    describe_error,
    kafka_api_versions_request,
    parse_api_versions_v0,
)
from auren_tui.core.health.collector import Collector, flatten_components, row_health
from auren_tui.core.model import (
    CheckResult,
    ContainerInfo,
    ServiceStatus,
    Snapshot,
    sorted_services,
)
from auren_tui.core.transport.connection import LocalConnection
from tests.bridge_service.conftest import secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign
from tests.services.base import (
    ServiceUnavailable,
    free_port,
    silent_listener,
    unavailable,
    wait_until,
)
from tests.services.docker import DockerEngine, wait_container_health
from tests.services.kafka import Kafka
from tests.services.postgres import Postgres
from tests.services.prometheus import Prometheus
from tests.services.redis import Redis

# ---- pure helpers ------------------------------------------------------------------------


def test_flatten_components_of_the_bridge_health_body() -> None:
    body = {
        "status": "degraded",
        "components": {
            "database": {"backend": "sqlite", "status": "up"},
            "redis": {"status": "down"},
            "kafka": {"status": "up", "circuit": "closed"},
            "outbox": {"backlog": 3, "oldest_age_seconds": 1.5},
            "circuit": "closed",
            "providers": {"oura": {"secret_configured": True}},
        },
    }
    assert flatten_components(body) == {
        "database": "up",
        "redis": "down",
        "kafka": "up",
        "outbox backlog": "3",
        "circuit": "closed",
    }
    # The original biometric service's shape: booleans.
    assert flatten_components({"components": {"redis": True, "kafka_producer": False}}) == {
        "redis": "up",
        "kafka_producer": "down",
    }
    assert flatten_components(None) == {}


def test_row_health_rules() -> None:
    spec = ServiceSpec("x", "X", "x", 1)
    ok = CheckResult(True, 1.0, "200 OK", 200, {"status": "healthy"})
    running = ContainerInfo(state="running", health="healthy")
    assert row_health(spec, ok, running, {}) == "healthy"
    assert row_health(spec, ok, None, {}) == "healthy"  # docker unavailable: the check decides
    assert row_health(spec, CheckResult(False, None, "connection refused"), running, {}) == (
        "unhealthy"
    )
    for state in ("restarting", "exited", "missing"):
        assert row_health(spec, ok, ContainerInfo(state=state), {}) == "unhealthy"
    assert row_health(spec, ok, replace(running, health="unhealthy"), {}) == "unhealthy"
    assert row_health(spec, ok, running, {"redis": "down"}) == "degraded"
    degraded = CheckResult(True, 1.0, "200 OK", 200, {"status": "degraded"})
    assert row_health(spec, degraded, running, {}) == "degraded"
    none = replace(spec, check="none")
    assert row_health(none, CheckResult(True, None, "no check"), None, {}) == "unknown"
    assert row_health(none, CheckResult(True, None, "no check"), running, {}) == "healthy"


def test_sorted_services_faults_first_then_catalog_order() -> None:
    def row(name: str, health: Any) -> ServiceStatus:
        return ServiceStatus(name, name, None, None, health)

    snap = Snapshot(
        0.0,
        (
            row("a", "healthy"),
            row("b", "unknown"),
            row("c", "unhealthy"),
            row("d", "degraded"),
            row("e", "unhealthy"),
            row("f", "healthy"),
        ),
    )
    assert [s.name for s in sorted_services(snap)] == ["c", "e", "d", "b", "a", "f"]


def test_cpu_percent_as_the_docker_cli() -> None:
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 2_000_000},
            "system_cpu_usage": 20_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 10_000_000},
    }
    assert cpu_percent(stats) == pytest.approx(20.0)
    one_shot = {**stats, "precpu_stats": {"cpu_usage": {}}}
    assert cpu_percent(one_shot) is None  # nothing to compare with
    assert cpu_percent(one_shot, previous=(1_500_000, 15_000_000)) == pytest.approx(20.0)


def test_memory_usage_without_page_cache() -> None:
    v2 = {"memory_stats": {"usage": 10_000, "limit": 1 << 30, "stats": {"inactive_file": 4_000}}}
    assert memory_usage(v2) == (6_000, 1 << 30)
    v1 = {"memory_stats": {"usage": 10_000, "limit": 5, "stats": {"total_inactive_file": 1_000}}}
    assert memory_usage(v1) == (9_000, 5)
    assert memory_usage({}) == (None, None)


def test_parse_docker_time() -> None:
    assert parse_docker_time("2024-05-01T12:00:00.123456789Z") == pytest.approx(1714564800.123456)
    assert parse_docker_time("2024-05-01T12:00:00Z") == 1714564800.0
    assert parse_docker_time("0001-01-01T00:00:00Z") is None  # never started
    assert parse_docker_time(None) is None


def test_image_label() -> None:
    attrs = {"Config": {"Image": "auren/bridge:prod"}, "Image": "sha256:" + "ab" * 32}
    assert image_label(attrs) == "auren/bridge:prod (abababababab)"
    assert image_label({"Config": {"Image": "sha256:" + "cd" * 32}, "Image": "sha256:" + "cd" * 32})
    assert image_label({}) == ""


def test_histogram_quantile_matches_prometheus() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    # rank 95 falls in (0.5, 1.0]: 0.5 + 0.5 * (95 - 90) / 10
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.95, {0.1: 0.0, math.inf: 0.0}) is None  # no observations
    assert histogram_quantile(0.99, {0.1: 1.0, math.inf: 10.0}) == 0.1  # in +Inf: last bound


def test_kafka_request_bytes_and_response_parsing() -> None:
    req = kafka_api_versions_request(7)
    # size, api_key 18, api_version 0, correlation id 7, client id "auren-tui"
    assert req == b"\x00\x00\x00\x13\x00\x12\x00\x00\x00\x00\x00\x07\x00\x09auren-tui"
    frame = b"\x00\x00\x00\x07" + b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x12\x00\x00\x00\x04"
    assert parse_api_versions_v0(frame, 7) == (0, 1)
    assert parse_api_versions_v0(b"\x00\x00\x00\x07\x00\x23\x00\x00\x00\x00", 7)[0] == 35


def test_describe_error_is_one_line() -> None:
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == (
        "connection refused"
    )
    assert describe_error(TimeoutError(), 3) == "timed out after 3.0 s"
    wrapped = httpx.ConnectError("[Errno 111] Connection refused")
    wrapped.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert describe_error(wrapped) == "connection refused"
    assert "\n" not in describe_error(RuntimeError("a\nb"))


# ---- raw checks against real services -------------------------------------------------------


def test_protocol_checks_against_real_services(
    postgres: Postgres, redis_server: Redis, kafka: Kafka
) -> None:
    pg = check_postgres(postgres.host, postgres.port)
    assert pg.ok, pg.detail
    assert pg.detail.startswith("accepting connections")
    r = check_redis(redis_server.host, redis_server.port)
    assert (r.ok, r.detail) == (True, "PONG")
    k = check_kafka(kafka.host, kafka.port)
    assert k.ok, k.detail
    assert k.detail.startswith("ApiVersions ok (")
    for res in (pg, r, k):
        assert res.latency_ms is not None
        assert 0 < res.latency_ms < 3000


def test_checks_refuse_the_wrong_protocol(redis_server: Redis, postgres: Postgres) -> None:
    # Each check on another service's port fails with one line, quickly.
    assert not check_postgres(redis_server.host, redis_server.port, timeout=1).ok
    wrong = check_kafka(postgres.host, postgres.port, timeout=1)
    assert not wrong.ok
    assert "\n" not in wrong.detail
    assert not check_redis(postgres.host, postgres.port, timeout=1).ok


def test_checks_of_a_closed_port_say_connection_refused() -> None:
    port = free_port()
    for fn in (check_postgres, check_redis, check_kafka):
        res = fn("127.0.0.1", port)
        assert (res.ok, res.detail, res.latency_ms) == (False, "connection refused", None)
    res = check_http("127.0.0.1", port, "/health")
    assert (res.ok, res.detail) == (False, "connection refused")


@pytest.mark.services
def test_redis_noauth_counts_as_answering() -> None:
    r = Redis().start()
    try:
        with socket.create_connection((r.host, r.port), timeout=5) as sock:
            sock.sendall(b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$3\r\npw1\r\n")
            assert sock.recv(64).startswith(b"+OK")
        res = check_redis(r.host, r.port)
        assert res.ok
        assert "authentication" in res.detail
    finally:
        r.close()


# ---- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    bridge: BridgeProcess
    prometheus: Prometheus
    engine: DockerEngine
    container_name: str
    base: tuple[ServiceSpec, ...]

    def catalog(self, *extra: ServiceSpec, prometheus_port: int | None = None) -> Catalog:
        """The harness catalog plus ``extra``; Prometheus moved to ``prometheus_port``."""
        base = tuple(
            replace(s, port=prometheus_port) if s.role == "prometheus" and prometheus_port else s
            for s in self.base
        )
        return Catalog((*base, *extra))


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: Postgres,
    redis_server: Redis,
    kafka: Kafka,
    docker_engine: DockerEngine,
    test_image: str,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("collector-bridge")
    bridge = BridgeProcess(
        env={
            **secret_env(),
            "REDIS_URL": redis_server.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": f"biometric-events-{uuid.uuid4().hex[:8]}",
            "TERRA_CONSUMER_ENABLED": "false",
        },
        workdir=workdir,
    )
    prom = Prometheus(targets=[])
    client = docker_engine.client()
    name = f"auren-tui-web-{uuid.uuid4().hex[:6]}"
    port = free_port()
    container = None
    try:
        bridge.start()
        prom.targets = [f"127.0.0.1:{bridge.port}"]
        try:
            prom.start()
        except (ServiceUnavailable, OSError) as exc:
            unavailable(exc)
        container = client.containers.run(
            test_image,
            detach=True,
            network_mode="host",
            environment={"PORT": str(port)},
            name=name,
        )
        wait_container_health(container, "healthy", timeout=30)
        yield Stack(
            bridge,
            prom,
            docker_engine,
            name,
            (
                ServiceSpec("bridge", "Bridge", "", bridge.port, role="bridge"),
                ServiceSpec("postgres", "PostgreSQL", "", postgres.port, check="postgres", path=""),
                ServiceSpec("redis", "Redis", "", redis_server.port, check="redis", path=""),
                ServiceSpec("kafka", "Kafka", "", kafka.port, check="kafka", path="", role="kafka"),
                ServiceSpec(
                    "prometheus", "Prometheus", "", prom.port, path="/-/ready", role="prometheus"
                ),
                ServiceSpec("web", "Web (container)", name, port),
                ServiceSpec("sidecar", "Sidecar (container only)", name, 0, check="none", path=""),
            ),
        )
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        client.close()
        prom.close()
        bridge.stop()


def _conn(stack: Stack) -> LocalConnection:
    return LocalConnection(docker_host=stack.engine.base_url)


def _post_webhooks(url: str, count: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(count):
            source = ("oura", "whoop", "healthkit")[i % 3]
            body = event_body(source, i)
            r = client.post(f"/webhooks/{source}", content=body, headers=sign(source, body))
            assert r.status_code == 202, r.text


def _wait_for(what: str, fn: Callable[[], Any], timeout: float = 45) -> Any:
    seen: list[Any] = [None]

    def ok() -> bool:
        seen[0] = fn()
        return bool(seen[0])

    wait_until(ok, timeout=timeout, what=what, interval=0.5)
    return seen[0]


def test_all_rows_healthy_with_latency_and_container_info(stack: Stack) -> None:
    with Collector(_conn(stack), stack.catalog()) as collector:
        snap = collector.collect()
    by = {s.name: s for s in snap.services}
    assert [s.name for s in snap.services] == [s.name for s in stack.base]
    assert snap.errors == ()
    for s in snap.services:
        assert s.health == "healthy", (s.name, s.check, s.container)
        assert s.check is not None
        if s.name != "sidecar":
            assert s.check.ok
            assert s.check.latency_ms is not None
            assert 0 < s.check.latency_ms < 3000
    assert by["sidecar"].check == CheckResult(True, None, "no check")
    assert by["bridge"].check is not None
    assert by["bridge"].check.status_code == 200
    assert by["bridge"].components == {
        "database": "up",
        "redis": "up",
        "kafka": "up",
        "outbox backlog": "0",
        "circuit": "closed",
    }
    # Docker: rows without a container name have none; the test container is filled in.
    assert by["redis"].container is None
    assert by["web"].check is not None
    assert by["web"].check.body == {"status": "healthy"}  # busybox serves no JSON type
    web = by["web"].container
    assert web is not None
    assert web.state == "running"
    assert web.health == "healthy"
    assert web.started_at is not None
    assert time.time() - 600 < web.started_at <= time.time() + 1
    assert web.restart_count == 0
    assert web.image.startswith("auren-test/health:1 (")
    assert snap.healthy


def test_container_cpu_and_memory_without_holding_up_the_refresh(stack: Stack) -> None:
    """Docker stats take up to 1 s: a refresh waits ``stats_wait`` at most and the
    figures arrive by a later refresh; one_shot has no precpu, so CPU% needs two samples."""
    with Collector(_conn(stack), stack.catalog(), stats_wait=0.2) as collector:
        durations: list[float] = []

        def figures() -> Any:
            began = time.monotonic()
            web = {s.name: s for s in collector.collect().services}["web"].container
            durations.append(time.monotonic() - began)
            assert web is not None
            return web if web.cpu_percent is not None and web.mem_bytes else None

        web = _wait_for("container CPU and memory figures", figures, timeout=30)
    assert 0 <= web.cpu_percent <= 100 * 64
    assert web.mem_bytes > 0
    assert web.mem_limit is None or web.mem_limit >= web.mem_bytes
    assert len(durations) >= 2
    assert max(durations) < 0.2 + 0.8, durations  # never the full second of a stats call


def test_missing_container_is_unhealthy(stack: Stack) -> None:
    ghost = ServiceSpec("ghost", "Ghost", f"auren-nowhere-{uuid.uuid4().hex[:6]}", 0, check="none")
    with Collector(_conn(stack), stack.catalog(ghost)) as collector:
        snap = collector.collect()
    row = {s.name: s for s in snap.services}["ghost"]
    assert row.container == ContainerInfo(state="missing")
    assert row.health == "unhealthy"
    assert sorted_services(snap)[0].name == "ghost"


def test_restart_loop_is_unhealthy_with_its_restart_count(stack: Stack, test_image: str) -> None:
    """The incident: a container that exits at start, restarted by Docker again and again."""
    name = f"auren-tui-loop-{uuid.uuid4().hex[:6]}"
    client = stack.engine.client()
    container = client.containers.run(
        test_image,
        command=["/bin/sh", "-c", "exit 3"],
        detach=True,
        network_mode="host",
        name=name,
        restart_policy={"Name": "always"},
    )
    try:
        spec = ServiceSpec("looping", "Looping", name, 0, check="none", path="")
        with Collector(_conn(stack), stack.catalog(spec)) as collector:

            def looping() -> Any:
                row = {s.name: s for s in collector.collect().services}["looping"]
                c = row.container
                return row if c and c.restart_count >= 2 and c.state != "running" else None

            row = _wait_for("a restart loop", looping, timeout=30)
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        client.close()
    assert row.health == "unhealthy"
    assert row.container.state in {"restarting", "exited"}


def test_stopped_service_is_unhealthy_with_one_line(stack: Stack) -> None:
    private = Redis().start()
    try:
        spec = ServiceSpec("cache", "Cache", "", private.port, check="redis", path="")
        with Collector(_conn(stack), stack.catalog(spec)) as collector:
            before = {s.name: s for s in collector.collect().services}["cache"]
            private.stop()
            snap = collector.collect()
    finally:
        private.close()
    assert before.health == "healthy"
    row = {s.name: s for s in snap.services}["cache"]
    assert row.health == "unhealthy"
    assert row.check is not None
    assert row.check.detail == "connection refused"
    assert sorted_services(snap)[0].name == "cache"
    assert not snap.healthy


def test_slow_services_do_not_serialize_the_refresh(stack: Stack) -> None:
    with silent_listener() as port_a, silent_listener() as port_b:
        slow = (
            ServiceSpec("slow-a", "Slow A", "", port_a, check="redis", path=""),
            ServiceSpec("slow-b", "Slow B", "", port_b, check="kafka", path=""),
            ServiceSpec("slow-c", "Slow C", "", port_a, check="http"),
        )
        with Collector(_conn(stack), stack.catalog(*slow), timeout=1.0) as collector:
            began = time.monotonic()
            snap = collector.collect()
            took = time.monotonic() - began
    rows = {s.name: s for s in snap.services}
    for name in ("slow-a", "slow-b", "slow-c"):
        assert rows[name].health == "unhealthy"
        check = rows[name].check
        assert check is not None
        assert check.detail == "timed out after 1.0 s"
    assert took < 2.5, f"three 1 s timeouts took {took:.2f} s: checks ran one after another"


def test_docker_unreachable_is_one_error_line(stack: Stack, tmp_path: Path) -> None:
    conn = LocalConnection(docker_host=f"unix://{tmp_path}/no-docker.sock")
    with Collector(conn, stack.catalog()) as collector:
        snap = collector.collect()
    assert len(snap.errors) == 1
    assert snap.errors[0].startswith("docker: ")
    assert "\n" not in snap.errors[0]
    assert all(s.container is None for s in snap.services)
    assert {s.name: s.health for s in snap.services}["web"] == "healthy"  # its check answers


@pytest.mark.services
def test_degraded_bridge(tmp_path: Path) -> None:
    """The bridge's own /health says degraded (its Redis is down): the row is degraded."""
    cache = Redis().start()
    bridge = BridgeProcess(env={**secret_env(), "REDIS_URL": cache.url}, workdir=tmp_path)
    try:
        bridge.start()
        cache.stop()
        catalog = Catalog((ServiceSpec("bridge", "Bridge", "", bridge.port, role="bridge"),))
        with Collector(LocalConnection(docker_host="unix:///nonexistent"), catalog, False) as c:
            row = _wait_for(
                "bridge degraded",
                lambda: next(s for s in c.collect().services if s.health == "degraded"),
                timeout=20,
            )
    finally:
        bridge.stop()
        cache.close()
    assert row.components["redis"] == "down"
    assert row.check.ok


def test_bridge_figures_from_prometheus(stack: Stack) -> None:
    with Collector(_conn(stack), stack.catalog()) as collector:

        def figures() -> Any:
            # Keep traffic flowing: a rate needs two scrapes that saw the counter change.
            _post_webhooks(stack.bridge.url, 3)
            b = collector.collect().bridge
            if b is None or b.source != "prometheus" or b.p95_seconds is None:
                return None
            if b.p50_seconds is None:
                return None
            return b if b.rate_by_source_status.get("oura/accepted", 0) > 0 else None

        fig = _wait_for("prometheus rates of the bridge", figures, timeout=60)
    assert fig.source == "prometheus"
    assert fig.error is None
    assert {"oura/accepted", "whoop/accepted", "healthkit/accepted"} <= set(
        fig.rate_by_source_status
    )
    assert 0 < fig.p95_seconds < 5
    # Both quantiles come from one query (a label tells them apart): the median is
    # its own figure, not the p95 again (which interpolates higher in the same bucket).
    assert 0 < fig.p50_seconds <= fig.p95_seconds
    assert fig.p50_seconds != fig.p95_seconds
    assert fig.active_tasks == 0
    assert fig.outbox_backlog is not None
    assert fig.circuit_state == "closed"
    # A selector narrows every query to one scrape job; a wrong one finds nothing.
    with Collector(_conn(stack), stack.catalog(), bridge_selector='job="auren-test"') as c:
        narrowed = c.collect().bridge
    assert narrowed is not None
    assert narrowed.source == "prometheus"
    with Collector(_conn(stack), stack.catalog(), False, bridge_selector='job="nope"') as c:
        nothing = c.collect().bridge
    assert nothing is not None
    assert nothing.error == "prometheus has no bridge metrics (is it scraping the bridge?)"


def test_bridge_figures_from_metrics_when_prometheus_is_absent(stack: Stack) -> None:
    catalog = stack.catalog(prometheus_port=free_port())  # nothing listens there
    with Collector(_conn(stack), catalog) as collector:
        first = collector.collect().bridge
        _post_webhooks(stack.bridge.url, 9)
        second = collector.collect().bridge
    assert first is not None
    assert second is not None
    assert (first.source, second.source) == ("metrics", "metrics")
    assert first.rate_by_source_status == {}  # one scrape has no rate
    assert first.circuit_state == "closed"
    assert first.active_tasks == 0
    assert second.rate_by_source_status["oura/accepted"] > 0
    assert second.rate_by_source_status["whoop/accepted"] > 0
    assert second.p95_seconds is not None
    assert second.p50_seconds is not None
    assert 0 < second.p50_seconds <= second.p95_seconds
    assert first.p50_seconds is None  # one scrape has no deltas either
    assert second.error is None


def test_bridge_figures_error_without_fallback(stack: Stack) -> None:
    catalog = stack.catalog(prometheus_port=free_port())
    with Collector(_conn(stack), catalog, prometheus_fallback_metrics=False) as collector:
        began = time.monotonic()
        snap = collector.collect()
        took = time.monotonic() - began
    assert snap.bridge is not None
    assert snap.bridge.error is not None
    assert snap.bridge.error.startswith("prometheus: connection refused")
    assert "\n" not in snap.bridge.error
    assert took < 2.0  # no retry with back-off on a refused connection
    assert {s.name: s.health for s in snap.services}["prometheus"] == "unhealthy"


@contextlib.contextmanager
def _endless_http(drip: float) -> Iterator[int]:
    """An HTTP server that answers 200 and then never ends its body (chunked),
    sending a chunk every ``drip`` seconds."""
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    while not stop.is_set():
                        conn.sendall(b"5\r\nhello\r\n")
                        stop.wait(drip)
                except OSError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        server.close()


@pytest.mark.parametrize("drip", [0.0005, 0.3])
def test_an_http_check_of_an_endpoint_that_never_stops_sending_ends(drip: float) -> None:
    """It used to read for ever (each read within the timeout, the whole never),
    freezing the dashboard's refreshes."""
    import concurrent.futures

    with _endless_http(drip) as port, concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(check_http, "127.0.0.1", port, "/health", 1.0)
        res = future.result(timeout=30)  # a hang fails here, not the whole run
    assert not res.ok
    assert "did not end within 1.0 s" in res.detail
