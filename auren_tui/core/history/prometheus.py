"""The bridge's charts from Prometheus range queries (prometheus-api-client).

Blocking: the caller runs it in a worker thread, over the SSH connection's
tunnel to Prometheus (``address`` is the tunnel's local end).

Resolution. A window is drawn with about 240 points (a terminal plot is at
most a couple of hundred columns wide; more points only cost time through
the tunnel): ``step = max(1 s, round(window / 240))``, a whole second as
Prometheus's API and the client round to one: 4 s for 15 min, 15 s for 1 h,
90 s for 6 h, 6 min for 24 h. Start and end are aligned down to multiples
of the step, as Grafana does, so two refreshes of a window sample the same
instants and a line does not wobble between them (the price: the newest
point lags by less than a step).

Rate window: ``max(2 * step, 60 s)``. At least two steps, so every counter
increase falls in some point's window (a window shorter than the step
skips whatever happened between points); at least 60 s, so it spans four
scrapes at the usual 15 s interval (``rate`` needs two; one lost scrape
must not blank a point). Two steps rather than Grafana's four keep a burst
visible at 24 h (a 12 min average, not a 24 min one).
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from auren_tui.core.health.bridge_figures import DURATION_BUCKET, EVENTS
from auren_tui.core.health.checks import describe_error
from auren_tui.core.history.model import Chart, Series
from auren_tui.core.history.series import BRIDGE_KEYS, CIRCUIT_SERIES, OUTBOX_SERIES, chart

POINTS = 240
"""About how many points a window is drawn with."""

MIN_RATE_WINDOW = 60.0
"""Seconds: the shortest ``rate()`` window (four scrapes at 15 s)."""

QUANTILES = (("p50", 0.5), ("p95", 0.95))

_LATENCY_LABEL = "quantile"
_LABEL_OF = {
    "accepted": "source",
    "duplicate": "source",
    "forbidden": "source",
    "latency": _LATENCY_LABEL,
}
"""The label naming a chart's series in its query's results."""
_FIXED_LABEL = {"outbox": OUTBOX_SERIES, "circuit": CIRCUIT_SERIES}
"""Charts of one aggregated series (its result has no label)."""


class HistoryUnavailable(Exception):
    """Prometheus cannot draw the bridge's charts; the message is one line, for a note."""


def step_for(window: float) -> float:
    """The step of a window's range queries, in whole seconds (about 240 points)."""
    return max(1.0, float(round(window / POINTS)))


def rate_window(step: float) -> float:
    """The ``rate()`` window for ``step``: ``max(2 * step, 60 s)`` (see the module's note)."""
    return max(2.0 * step, MIN_RATE_WINDOW)


def aligned(since: float, until: float, step: float) -> tuple[float, float]:
    """``since`` and ``until`` rounded down to multiples of ``step``: the range queried."""
    return math.floor(since / step) * step, math.floor(until / step) * step


def queries(selector: str, step: float) -> dict[str, str]:
    """Chart key -> the PromQL of its range query (shown by the screen as it is sent).

    ``selector`` is a label matcher (``job="biometric-bridge"``) added to every
    metric, for a Prometheus that also scrapes the old bridge's same names.
    """
    extra = f",{selector}" if selector else ""
    sel = f"{{{selector}}}" if selector else ""
    window = f"[{rate_window(step):g}s]"

    def events(status: str) -> str:
        return f'sum by (source) (rate({EVENTS}{{status="{status}"{extra}}}{window}))'

    buckets = f"sum by (le) (rate({DURATION_BUCKET}{sel}{window}))"
    # Both quantiles in one query (a label tells them apart): one round trip per chart.
    latency = " or ".join(
        f"label_replace(histogram_quantile({q:g}, {buckets}) * 1000, "
        f'"{_LATENCY_LABEL}", "{name}", "", "")'
        for name, q in QUANTILES
    )
    return {
        "accepted": events("accepted"),
        "duplicate": events("duplicate"),
        "forbidden": events("forbidden"),
        "latency": latency,
        "outbox": f"sum(bridge_outbox_backlog{sel})",
        # The worst state of any bridge process, as the dashboard shows it.
        "circuit": f"max(bridge_kafka_circuit_state{sel})",
    }


def prometheus_charts(
    address: tuple[str, int],
    since: float,
    until: float,
    *,
    bridge_selector: str = "",
    timeout: float = 5.0,
) -> tuple[Chart, ...]:
    """The bridge's charts (accepted ... circuit) between ``since`` and ``until``.

    ``HistoryUnavailable`` (one line) when Prometheus does not answer, rejects a
    query, or has no bridge metrics in the window: the caller then draws the
    recording and says why. NaN and infinite values (a quantile with no
    webhooks to rank) are gaps.
    """
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    if until <= since:
        raise ValueError(f"an empty window: since {since} is not before until {until}")
    step = step_for(until - since)
    start, end = aligned(since, until, step)
    host, port = address
    # The library retries 3 times with back-off by default: a dead tunnel would cost minutes.
    prom = PrometheusConnect(
        f"http://{host}:{port}", disable_ssl=True, retry=Retry(total=0), timeout=timeout
    )
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for key, promql in queries(bridge_selector, step).items():
            try:
                results[key] = prom.custom_query_range(
                    promql,
                    start_time=datetime.fromtimestamp(start, UTC),
                    end_time=datetime.fromtimestamp(end, UTC),
                    step=str(int(step)),
                )
            except Exception as exc:
                raise HistoryUnavailable(_reason(key, exc, timeout)) from None
    finally:
        prom.close()
    charts = tuple(
        chart(key, _series(key, results.get(key) or []), "prometheus") for key in BRIDGE_KEYS
    )
    if not any(c.series for c in charts):
        matching = f" matching {bridge_selector}" if bridge_selector else ""
        raise HistoryUnavailable(
            f"no bridge metrics{matching} in this window (is it scraping the bridge?)"
        )
    return tuple(c if c.series else replace(c, note="none in this window") for c in charts)


def _series(key: str, result: list[dict[str, Any]]) -> list[Series]:
    out: list[Series] = []
    for item in result:
        labels = item.get("metric") or {}
        label = _FIXED_LABEL.get(key) or str(labels.get(_LABEL_OF.get(key, ""), ""))
        points: list[tuple[float, float]] = []
        for pair in item.get("values") or []:
            try:
                at, value = float(pair[0]), float(pair[1])
            except (IndexError, TypeError, ValueError):
                continue
            if math.isfinite(value):
                points.append((at, value))
        out.append(Series(label or "?", tuple(points)))
    return sorted(out, key=lambda s: s.label)


def _reason(key: str, exc: Exception, timeout: float) -> str:
    """One line: what went wrong with the ``key`` chart's query."""
    from prometheus_api_client.exceptions import PrometheusApiClientException

    if isinstance(exc, PrometheusApiClientException):
        detail = _prometheus_error(str(exc))
        if detail:
            return f"the {key} query was rejected (check bridge_selector): {detail}"[:300]
    return describe_error(exc, timeout)


def _prometheus_error(message: str) -> str:
    """Prometheus's own ``error`` (what an operator can act on: a bad bridge_selector)
    from the library's ``HTTP Status Code 400 (b'{...}')``; "" if it is not there."""
    opening = message.find("(b")
    if opening < 0 or not message.endswith(")"):
        return ""
    try:
        body = json.loads(ast.literal_eval(message[opening + 1 : -1]))
    except (ValueError, SyntaxError):
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return " ".join(str(error).split()) if error else ""
