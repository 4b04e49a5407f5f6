"""The load test form: requests, concurrency, rate; progress, req/s, histogram.

The screen runs the generator; this panel only asks (``Requested``) and shows
what it is given (``progress``, ``finished``).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, ProgressBar, Static

from auren_tui.core.api import BUCKETS_MS, LoadStats

BAR_WIDTH = 40
LABELS = [f"≤{b} ms" for b in BUCKETS_MS] + [f">{BUCKETS_MS[-1]} ms"]


@dataclass(frozen=True)
class LoadView:
    """What a progress report shows: taken on the generator's thread, immutable."""

    done: int
    total: int
    rate: float
    histogram: list[tuple[str, int]]


class Tally:
    """The latency histogram, counted incrementally: each progress report bins
    only the latencies that arrived since the last (a full ``histogram()`` every
    0.2 s would cost the generator O(n) per report)."""

    def __init__(self) -> None:
        self.counts = [0] * len(LABELS)
        self.seen = 0

    def view(self, stats: LoadStats) -> LoadView:
        latencies = stats.latencies_ms
        for value in latencies[self.seen :]:
            self.counts[bisect.bisect_left(BUCKETS_MS, value)] += 1
        self.seen = len(latencies)
        rows = list(zip(LABELS, self.counts, strict=True))
        return LoadView(stats.done, stats.total, stats.rate, rows)


class Reporter:
    """``on_progress`` for the generator: on its thread, an immutable view at most
    every ``every`` seconds (and the last one), handed to ``post``."""

    def __init__(self, post: Callable[[LoadView], object], every: float = 0.1) -> None:
        self.post = post
        self.every = every
        self.tally = Tally()
        # None, not 0.0: the monotonic clock starts near 0 at boot, so "0.0" would
        # swallow the first view on a machine up for less than ``every`` seconds.
        self.last: float | None = None

    def __call__(self, stats: LoadStats) -> None:
        now = time.monotonic()
        recent = self.last is not None and now - self.last < self.every
        if recent and stats.done < stats.total:
            return
        self.last = now
        self.post(self.tally.view(stats))


def bars(histogram: list[tuple[str, int]]) -> Text:
    """Horizontal bars, from the first to the last non-empty bucket."""
    used = [i for i, (_, n) in enumerate(histogram) if n]
    text = Text()
    if not used:
        return text
    top = max(n for _, n in histogram)
    for label, n in histogram[used[0] : used[-1] + 1]:
        width = round(n / top * BAR_WIDTH) if top else 0
        text.append(f"{label:>9} ")
        text.append("█" * width, style="bold")
        text.append(f" {n:,}\n")
    return text


class LoadPanel(Vertical):
    @dataclass(eq=False)
    class Requested(Message):
        requests: int
        concurrency: int
        rate: float | None

    def compose(self) -> ComposeResult:
        with Horizontal(id="load-form"):
            yield Label("requests")
            yield Input("1000", id="load-requests", type="integer")
            yield Label("concurrency")
            yield Input("16", id="load-concurrency", type="integer")
            yield Label("rate/s")
            yield Input("", placeholder="max", id="load-rate", type="number")
            yield Button("Start load", id="load-start", variant="warning")
        yield Static("", id="load-error")
        yield ProgressBar(id="load-progress", show_eta=False)
        yield Static("", id="load-rate-line")
        yield Static("", id="load-histogram")
        yield Static("", id="load-summary")

    def request(self) -> None:
        """Validate the form; post ``Requested`` or show why not."""
        error = self.query_one("#load-error", Static)
        try:
            requests = int(self.query_one("#load-requests", Input).value)
            concurrency = int(self.query_one("#load-concurrency", Input).value)
            raw_rate = self.query_one("#load-rate", Input).value.strip()
            rate = float(raw_rate) if raw_rate else None
        except ValueError:
            error.update("requests and concurrency are whole numbers; rate a number or empty")
            return
        if requests < 1 or concurrency < 1 or (rate is not None and rate <= 0):
            error.update("requests and concurrency at least 1; rate positive or empty (max)")
            return
        error.update("")
        self.post_message(self.Requested(requests, concurrency, rate))

    @on(Button.Pressed, "#load-start")
    def _start(self, event: Button.Pressed) -> None:
        event.stop()
        self.request()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request()

    def started(self, total: int, target: str) -> None:
        self.query_one(ProgressBar).update(total=total, progress=0)
        self.query_one("#load-rate-line", Static).update(f"0/{total:,} to {target}…")
        self.query_one("#load-histogram", Static).update("")
        self.query_one("#load-summary", Static).update("")
        self.query_one("#load-start", Button).disabled = True

    def progress(self, view: LoadView) -> None:
        self.query_one(ProgressBar).update(total=view.total, progress=view.done)
        self.query_one("#load-rate-line", Static).update(
            f"{view.done:,}/{view.total:,} · {view.rate:,.0f} req/s"
        )
        self.query_one("#load-histogram", Static).update(bars(view.histogram))

    def finished(self, stats: LoadStats) -> None:
        self.progress(LoadView(stats.done, stats.total, stats.rate, stats.histogram()))
        s = stats.summary()
        text = Text()
        text.append(
            f"{stats.done:,} requests in {s['seconds']} s: {s['requests_per_second']} req/s"
        )
        text.append(f"   p50 {s['p50_ms']} ms · p95 {s['p95_ms']} ms · p99 {s['p99_ms']} ms\n")
        statuses = ", ".join(f"{k}:{v}" for k, v in sorted(stats.statuses.items()))
        text.append(f"statuses {statuses or 'none'}", style="bold")
        if stats.errors:
            errors = ", ".join(f"{k}:{v}" for k, v in stats.errors.items())
            text.append(f"   errors {errors}", style="bold red")
        self.query_one("#load-summary", Static).update(text)
        self.query_one("#load-start", Button).disabled = False

    def failed(self, line: str) -> None:
        self.query_one("#load-summary", Static).update(Text(line, style="bold red"))
        self.query_one("#load-start", Button).disabled = False
