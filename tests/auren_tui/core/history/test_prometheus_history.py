"""The History's bridge charts against the harness's real Prometheus scraping a real
bridge (SQLite, no Redis or Kafka: the charts need only its metrics) under
generated load: accepted webhooks of three providers, duplicates and forbidden ones.

Each chart's series must equal what a direct range query returns: the expected
values come from this file's own PromQL, sent with httpx to /api/v1/query_range
with the same start, end and step, and are compared point by point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.health.collector import Collector
from auren_tui.core.history.build import RECORDING, build_history
from auren_tui.core.history.model import CHART_KEYS, Chart
from auren_tui.core.history.prometheus import HistoryUnavailable, prometheus_charts
from auren_tui.core.model import Snapshot
from auren_tui.core.transport.connection import LocalConnection
from tests.bridge_service.conftest import secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign
from tests.services.base import ServiceUnavailable, silent_listener, unavailable, wait_until
from tests.services.prometheus import Prometheus

JOB = 'job="auren-test"'  # the harness Prometheus's scrape job
SAMPLES = 20  # scrapes (1 s apart) of every counter before the charts are compared


@dataclass
class Loaded:
    bridge: BridgeProcess
    prometheus: Prometheus
    recording: list[Snapshot] = field(default_factory=list)
    """Real snapshots of the bridge (from its /metrics), taken while the load ran."""

    @property
    def address(self) -> tuple[str, int]:
        return (self.prometheus.host, self.prometheus.port)


def _post_round(client: httpx.Client, n: int) -> None:
    """One webhook per provider, accepted; oura's sent twice (a duplicate); whoop's
    once more with a wrong secret (forbidden)."""
    for source in ("oura", "whoop", "healthkit"):
        body = event_body(source, n)
        url = f"/webhooks/{source}"
        assert client.post(url, content=body, headers=sign(source, body)).status_code == 202
        if source == "oura":
            assert client.post(url, content=body, headers=sign(source, body)).status_code == 200
        if source == "whoop":
            bad = sign(source, body, secret="whoop-not-the-secret")
            assert client.post(url, content=body, headers=bad).status_code == 403


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    bridge = BridgeProcess(env=secret_env(), workdir=tmp_path_factory.mktemp("history-bridge"))
    prom = Prometheus(targets=[])
    try:
        bridge.start()
        prom.targets = [f"127.0.0.1:{bridge.port}"]
        try:
            prom.start()
        except (ServiceUnavailable, OSError) as exc:
            unavailable(exc)
        loaded = Loaded(bridge, prom)
        catalog = Catalog((ServiceSpec("bridge", "Bridge", "", bridge.port, role="bridge"),))
        conn = LocalConnection(docker_host=f"unix://{bridge.workdir}/no-docker.sock")
        rounds = [0]
        with (
            httpx.Client(base_url=bridge.url, timeout=10) as client,
            Collector(conn, catalog, timeout=2) as collector,
        ):

            def enough() -> bool:
                # Traffic on every poll: each scrape then sees the counters move.
                rounds[0] += 1
                _post_round(client, rounds[0])
                loaded.recording.append(collector.collect())
                counts = prom.query(f"count_over_time(webhook_events_total{{{JOB}}}[5m])")
                return len(counts) == 5 and min(float(c["value"][1]) for c in counts) >= SAMPLES

            wait_until(enough, timeout=90, what="prometheus history of the bridge", interval=0.5)
        yield loaded
    finally:
        prom.close()
        bridge.stop()


def _direct(
    prom: Prometheus, promql: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """This test's own range query: httpx, no code of auren_tui's."""
    response = httpx.get(
        f"{prom.url}/api/v1/query_range",
        params={"query": promql, "start": f"{start:.0f}", "end": f"{end:.0f}", "step": f"{step:g}"},
        timeout=10,
    )
    body = response.json()
    assert body["status"] == "success", body
    assert body["data"]["resultType"] == "matrix"
    return list(body["data"]["result"])


def _points(values: list[list[object]], scale: float = 1.0) -> list[tuple[float, float]]:
    out = []
    for at, text in values:
        value = float(str(text))
        if math.isfinite(value):
            out.append((float(str(at)), value * scale))
    return out


def _expected(
    prom: Prometheus, start: float, end: float, step: float
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Chart key -> series label -> points, from this test's PromQL (rate over 60 s)."""

    def by_source(status: str) -> dict[str, list[tuple[float, float]]]:
        promql = f'sum by (source) (rate(webhook_events_total{{{JOB},status="{status}"}}[60s]))'
        return {
            r["metric"]["source"]: _points(r["values"])
            for r in _direct(prom, promql, start, end, step)
        }

    def one(promql: str, scale: float = 1.0) -> list[tuple[float, float]]:
        (result,) = _direct(prom, promql, start, end, step)
        return _points(result["values"], scale)

    buckets = f"sum by (le) (rate(webhook_process_duration_seconds_bucket{{{JOB}}}[60s]))"
    return {
        "accepted": by_source("accepted"),
        "duplicate": by_source("duplicate"),
        "forbidden": by_source("forbidden"),
        "latency": {
            "p50": one(f"histogram_quantile(0.5, {buckets})", 1000.0),
            "p95": one(f"histogram_quantile(0.95, {buckets})", 1000.0),
        },
        "outbox": {"backlog": one(f"sum(bridge_outbox_backlog{{{JOB}}})")},
        "circuit": {"circuit": one(f"max(bridge_kafka_circuit_state{{{JOB}}})")},
    }


def _as_dict(chart: Chart) -> dict[str, list[tuple[float, float]]]:
    return {s.label: list(s.points) for s in chart.series}


def _same(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> bool:
    return [t for t, _ in got] == [t for t, _ in want] and all(
        math.isclose(g, w, rel_tol=1e-9, abs_tol=0.0)
        for (_, g), (_, w) in zip(got, want, strict=True)
    )


@pytest.mark.services
@pytest.mark.parametrize(
    ("window", "step", "lag", "fewest"),
    # 1 s and 4 s steps; the 15 min window's ends unaligned. ``fewest``: points with
    # data in each series (the load ran for the last ~30 s only).
    [(120, 1.0, 2.0, 10), (900, 4.0, 2.7, 3)],
)
def test_charts_equal_a_direct_range_query(
    loaded: Loaded, window: float, step: float, lag: float, fewest: int
) -> None:
    until = time.time() - lag  # in the past: both queries see the same, complete scrapes
    since = until - window
    charts = prometheus_charts(loaded.address, since, until, bridge_selector=JOB)
    start, end = math.floor(since / step) * step, math.floor(until / step) * step
    expected = _expected(loaded.prometheus, start, end, step)
    assert [c.key for c in charts] == list(CHART_KEYS[:6])
    for chart in charts:
        assert chart.source == "prometheus"
        got, want = _as_dict(chart), expected[chart.key]
        assert sorted(got) == sorted(want), chart.key
        for label, points in want.items():
            assert len(points) >= fewest, (chart.key, label, len(points))  # a real comparison
            assert _same(got[label], points), (chart.key, label, got[label][-3:], points[-3:])
            assert all((t - start) % step == 0 and start <= t <= end for t, _ in got[label])
    by = {c.key: c for c in charts}
    assert sorted(_as_dict(by["accepted"])) == ["healthkit", "oura", "whoop"]
    assert list(_as_dict(by["duplicate"])) == ["oura"]
    assert list(_as_dict(by["forbidden"])) == ["whoop"]
    assert max(v for _, v in by["duplicate"].series[0].points) > 0
    assert max(v for _, v in by["forbidden"].series[0].points) > 0
    assert all(v == 0 for _, v in by["circuit"].series[0].points)  # closed throughout
    latency = _as_dict(by["latency"])
    p95 = dict(latency["p95"])
    assert latency["p50"]
    for at, p50 in latency["p50"]:
        assert 0 < p50 <= p95[at], at


@pytest.mark.services
@pytest.mark.parametrize(
    ("selector", "reason", "words"),
    [
        ('job="nope"', 'no bridge metrics matching job="nope" in this window (is it scraping '
         "the bridge?)", ""),
        # Prometheus's own words, unquoted from the library's message (a bytes repr).
        ("job=nope", "the accepted query was rejected (check bridge_selector): ",
         'parse error: unexpected identifier "nope"'),
    ],
)  # fmt: skip
def test_a_wrong_selector_is_one_line(
    loaded: Loaded, selector: str, reason: str, words: str
) -> None:
    until = time.time() - 2
    with pytest.raises(HistoryUnavailable) as raised:
        prometheus_charts(loaded.address, until - 120, until, bridge_selector=selector)
    message = str(raised.value)
    assert message.startswith(reason)
    assert words in message
    assert "\n" not in message
    assert "\\" not in message
    assert len(message) <= 300


@pytest.mark.services
def test_a_stopped_prometheus_falls_back_to_the_recording(loaded: Loaded, tmp_path: Path) -> None:
    stopped = Prometheus(targets=[f"127.0.0.1:{loaded.bridge.port}"])
    try:
        stopped.start()
    except (ServiceUnavailable, OSError) as exc:
        stopped.close()
        unavailable(exc)
    stopped.stop()
    try:
        address = (stopped.host, stopped.port)
        until = time.time()
        began = time.monotonic()
        with pytest.raises(HistoryUnavailable, match=r"^connection refused$"):
            prometheus_charts(address, until - 900, until, bridge_selector=JOB)
        assert time.monotonic() - began < 2  # no retries with back-off
        history = build_history(
            since=until - 900, until=until, snapshots=loaded.recording, prometheus=address,
            audit_path=tmp_path / "audit.log", profile="test", bridge_selector=JOB,
        )  # fmt: skip
    finally:
        stopped.close()
    assert history.notes == (
        "Prometheus: connection refused; bridge charts from this workstation's recording",
    )
    assert [c.key for c in history.charts] == list(CHART_KEYS)
    assert all(c.source == "recorder" and c.note == RECORDING for c in history.charts)
    accepted = history.chart("accepted")
    assert accepted is not None
    assert [s.label for s in accepted.series] == ["healthkit", "oura", "whoop"]
    # Rates need two scrapes of /metrics: every refresh but the first has them.
    assert len(accepted.series[1].points) == len(loaded.recording) - 1
    assert history.markers == ()


@pytest.mark.services
def test_a_prometheus_that_never_answers_times_out(loaded: Loaded) -> None:
    with silent_listener() as port:
        began = time.monotonic()
        with pytest.raises(HistoryUnavailable, match=r"^timed out after 1\.0 s$"):
            prometheus_charts(("127.0.0.1", port), time.time() - 900, time.time(), timeout=1.0)
        assert time.monotonic() - began < 3


@pytest.mark.services
def test_build_history_with_prometheus(loaded: Loaded) -> None:
    until = time.time() - 2
    history = build_history(
        since=until - 120, until=until, snapshots=loaded.recording, prometheus=loaded.address,
        audit_path=None, profile="test", bridge_selector=JOB,
    )  # fmt: skip
    assert history.notes == ()
    assert [c.key for c in history.charts] == list(CHART_KEYS)
    assert [c.source for c in history.charts] == ["prometheus"] * 6 + ["recorder"] * 3
    assert [c.note for c in history.charts[6:]] == [RECORDING] * 3
    direct = prometheus_charts(loaded.address, until - 120, until, bridge_selector=JOB)
    assert history.charts[:6] == direct
