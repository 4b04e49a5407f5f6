"""The dashboard's bridge panel: event rates, p50/p95, tasks, outbox and circuit.

Read from Prometheus when it scrapes the bridge, else (if allowed) from the
bridge's own /metrics, where rates come from two scrapes in a row. Blocking:
the collector runs it on one of its refresh's threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.health.checks import describe_error
from auren_tui.core.model import BridgeFigures

CIRCUIT_STATES = {0: "closed", 1: "half_open", 2: "open"}
EVENTS = "webhook_events_total"
DURATION_BUCKET = "webhook_process_duration_seconds_bucket"
GAUGES = ("active_webhook_tasks", "bridge_outbox_backlog", "bridge_kafka_circuit_state")

Endpoint = Callable[[ServiceSpec], tuple[str, int]]


@dataclass
class _Scrape:
    """Counter values of one /metrics scrape, kept to compute rates at the next."""

    at: float  # monotonic
    events: dict[str, float] = field(default_factory=dict)  # "source/status" -> count
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count


class BridgePanel:
    """The bridge's figures; ``endpoint`` maps a service to where it is reached.

    ``bridge_selector`` is a PromQL label matcher (``job="biometric-bridge"``)
    added to every bridge metric, for a Prometheus that scrapes more than one
    exporter of the same metric names (the old bridge exports them too).
    """

    def __init__(
        self,
        catalog: Catalog,
        endpoint: Endpoint,
        *,
        timeout: float,
        bridge_selector: str,
        prometheus_fallback_metrics: bool,
    ) -> None:
        self.catalog = catalog
        self.endpoint = endpoint
        self.timeout = timeout
        self.bridge_selector = bridge_selector
        self.prometheus_fallback_metrics = prometheus_fallback_metrics
        self._prev_scrape: _Scrape | None = None

    def figures(self, bridge: ServiceSpec, http: httpx.Client) -> BridgeFigures:
        """The panel's figures, or ``source="none"`` with every problem met, in one line."""
        problems: list[str] = []
        prom = self.catalog.by_role("prometheus")
        if prom is None:
            problems.append("no prometheus in the catalog")
        else:
            try:
                figures = self._from_prometheus(prom)
            except Exception as exc:
                problems.append(f"prometheus: {describe_error(exc, self.timeout)}")
            else:
                if figures is not None:
                    return figures
                problems.append("prometheus has no bridge metrics (is it scraping the bridge?)")
        if self.prometheus_fallback_metrics:
            try:
                return self._from_metrics(bridge, http)
            except Exception as exc:
                problems.append(f"bridge /metrics: {describe_error(exc, self.timeout)}")
        return BridgeFigures(source="none", error="; ".join(problems))

    def _from_prometheus(self, spec: ServiceSpec) -> BridgeFigures | None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        host, port = self.endpoint(spec)
        sel = "{" + self.bridge_selector + "}" if self.bridge_selector else ""
        extra = f",{self.bridge_selector}" if self.bridge_selector else ""
        # The library retries 3 times with back-off by default: seconds lost per refresh.
        prom = PrometheusConnect(
            f"http://{host}:{port}", disable_ssl=True, retry=Retry(total=0), timeout=self.timeout
        )
        try:

            def query(promql: str) -> list[dict[str, Any]]:
                result: list[dict[str, Any]] = prom.custom_query(promql)
                return result

            # The three gauges in one round trip (each is one through an SSH tunnel).
            found = query(f'{{__name__=~"{"|".join(GAUGES)}"{extra}}}')
            if not found:
                return None
            gauges = {
                name: [g for g in found if g.get("metric", {}).get("__name__") == name]
                for name in GAUGES
            }
            rates = query(f"sum by (source,status) (rate({EVENTS}{sel}[1m]))")
            quantiles = query(quantiles_promql(f"sum by (le) (rate({DURATION_BUCKET}{sel}[5m]))"))
        finally:
            prom.close()
        by_key: dict[str, float] = {}
        for r in rates:
            value = _num(r)
            if value is not None:
                labels = r.get("metric") or {}
                by_key[f"{labels.get('source', '')}/{labels.get('status', '')}"] = value
        by_q = {(q.get("metric") or {}).get("quantile"): _num(q) for q in quantiles}
        return BridgeFigures(
            rate_by_source_status=by_key,
            p50_seconds=by_q.get("0.5"),
            p95_seconds=by_q.get("0.95"),
            active_tasks=_first(gauges["active_webhook_tasks"], total=True),
            outbox_backlog=_first(gauges["bridge_outbox_backlog"], total=True),
            circuit_state=_circuit(_first(gauges["bridge_kafka_circuit_state"], worst=True)),
            source="prometheus",
        )

    def _from_metrics(self, spec: ServiceSpec, http: httpx.Client) -> BridgeFigures:
        from prometheus_client.parser import text_string_to_metric_families

        host, port = self.endpoint(spec)
        response = http.get(f"http://{host}:{port}/metrics")
        response.raise_for_status()
        now = time.monotonic()
        scrape = _Scrape(at=now)
        gauges: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                if s.name == EVENTS:
                    key = f"{s.labels.get('source', '')}/{s.labels.get('status', '')}"
                    scrape.events[key] = scrape.events.get(key, 0.0) + s.value
                elif s.name == DURATION_BUCKET:
                    le = float(s.labels["le"])
                    scrape.buckets[le] = scrape.buckets.get(le, 0.0) + s.value
                elif s.name in GAUGES:
                    gauges[s.name] = s.value
        prev, self._prev_scrape = self._prev_scrape, scrape
        rates: dict[str, float] = {}
        p50: float | None = None
        p95: float | None = None
        if prev is not None and now > prev.at:
            dt = now - prev.at
            rates = {
                k: _increase(v, prev.events.get(k, 0.0)) / dt for k, v in scrape.events.items()
            }
            deltas = {
                le: _increase(v, prev.buckets.get(le, 0.0)) for le, v in scrape.buckets.items()
            }
            p50 = histogram_quantile(0.5, deltas)
            p95 = histogram_quantile(0.95, deltas)
        circuit = gauges.get("bridge_kafka_circuit_state")
        return BridgeFigures(
            rate_by_source_status=rates,
            p50_seconds=p50,
            p95_seconds=p95,
            active_tasks=gauges.get("active_webhook_tasks"),
            outbox_backlog=gauges.get("bridge_outbox_backlog"),
            circuit_state=_circuit(circuit),
            source="metrics",
        )


def quantiles_promql(buckets: str, quantiles: tuple[float, ...] = (0.5, 0.95)) -> str:
    """One query for several quantiles of ``buckets`` (a ``sum by (le) (rate(...))``).

    Each result carries its quantile in a ``quantile`` label ("0.5", "0.95"):
    one round trip instead of one per quantile (each is one through the SSH tunnel).
    """
    return " or ".join(
        f'label_replace(histogram_quantile({q:g}, {buckets}), "quantile", "{q:g}", "", "")'
        for q in quantiles
    )


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's ``histogram_quantile`` over cumulative ``{le: count}`` buckets."""
    ordered = sorted(buckets.items())
    if not ordered or not math.isinf(ordered[-1][0]) or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(ordered):
        if count >= rank:
            if math.isinf(le):
                return ordered[i - 1][0] if i > 0 else None
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return None


def _increase(now: float, before: float) -> float:
    return now if now < before else now - before  # a smaller value: the counter was reset


def _num(sample: dict[str, Any]) -> float | None:
    try:
        value = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _first(
    samples: Iterable[dict[str, Any]], total: bool = False, worst: bool = False
) -> float | None:
    values = [v for v in (_num(s) for s in samples) if v is not None]
    if not values:
        return None
    if total:
        return sum(values)
    return max(values) if worst else values[0]


def _circuit(value: float | None) -> str | None:
    if value is None:
        return None
    return CIRCUIT_STATES.get(int(value), f"state {value:g}")
