from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.services.prometheus import Prometheus

METRICS = (
    b"# HELP auren_test_metric A constant.\n# TYPE auren_test_metric gauge\nauren_test_metric 42\n"
)


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/metrics":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(METRICS)))
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def metrics_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_prometheus_scrapes_the_target(
    prometheus_factory: Callable[..., Prometheus],
    metrics_target: str,
) -> None:
    prom = prometheus_factory(metrics_target)
    value = prom.wait_for_value("auren_test_metric", lambda v: v == 42, timeout=30)
    assert value == 42
    [sample] = prom.query("auren_test_metric")
    assert sample["metric"]["instance"] == metrics_target
    assert sample["metric"]["job"] == "auren-test"
    [target] = prom.active_targets()
    assert target["health"] == "up"


def test_prometheus_set_targets_and_close(
    prometheus_factory: Callable[..., Prometheus],
    metrics_target: str,
) -> None:
    prom = prometheus_factory([])
    assert prom.query("auren_test_metric") == []
    prom.set_targets([metrics_target])
    assert prom.wait_for_value("auren_test_metric", lambda v: v == 42, timeout=30) == 42
    workdir = prom.workdir
    prom.close()
    assert workdir is not None
    assert not workdir.exists()
    assert not prom.ready()
