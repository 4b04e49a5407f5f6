"""One chart of the History screen: a plotext plot of a ``Chart``'s series over a window.

The x axis is wall-clock time (local ``HH:MM``, ``HH:MM:SS`` for short windows),
so "what happened at 02:40" reads off the axis; the server changes of the
audit log are vertical lines. Units are scaled for reading: seconds become
milliseconds upstream, bytes become MiB here, the circuit's 0/1/2 are named.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual_plotext import PlotextPlot

from auren_tui.core.api import Chart, Marker

PALETTE = ("cyan", "magenta", "green", "blue", "yellow", "red")
"""Series colours, in order (plotext's names: the same on every theme)."""

MARKER_COLOR = "orange"
"""Server changes (the timeline under the charts names them in the same colour)."""
TICKS = 5
MIB = 1024.0 * 1024.0


def clock_label(at: float, span: float) -> str:
    """``02:40`` (``02:40:15`` when the window is under an hour), local time."""
    return time.strftime("%H:%M:%S" if span < 3600 else "%H:%M", time.localtime(at))


class HistoryChart(PlotextPlot):
    """A chart's series, its markers and its note (``show``)."""

    DEFAULT_CSS = """
    HistoryChart { height: 12; width: 1fr; min-width: 40; }
    """

    def __init__(self, key: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key = key
        self.points = 0
        """How many points the last ``show`` plotted (for tests and the title)."""

    def show(
        self, chart: Chart | None, markers: Sequence[Marker], since: float, until: float
    ) -> None:
        plt = self.plt
        plt.clear_figure()
        span = max(1.0, until - since)
        plt.xlim(since, until)
        ticks = [since + span * i / (TICKS - 1) for i in range(TICKS)]
        plt.xticks(ticks, [clock_label(t, span) for t in ticks])
        title = chart.title if chart is not None else self.key
        self.points = 0
        scale, unit = _scale(chart)
        for i, series in enumerate(chart.series if chart is not None else ()):
            xs = [t for t, _ in series.points if since <= t <= until]
            ys = [v / scale for t, v in series.points if since <= t <= until]
            if not xs:
                continue
            self.points += len(xs)
            plt.plot(xs, ys, label=series.label, color=PALETTE[i % len(PALETTE)], marker="braille")
        if chart is not None and chart.key == "circuit":
            plt.ylim(-0.2, 2.2)
            plt.yticks([0, 1, 2], ["closed", "half", "open"])
        for marker in markers:
            if since <= marker.at <= until:
                plt.vline(marker.at, MARKER_COLOR)
        if not self.points:
            title = f"{title}: no data in this window"
            plt.ylim(0, 1)
            plt.yticks([])
        elif unit:
            title = f"{title} ({unit})"
        if chart is not None and chart.source == "recorder":
            title = f"{title} · recorded"
        plt.title(title)
        self.refresh()


def _scale(chart: Chart | None) -> tuple[float, str]:
    """What the values are divided by, and the unit shown in the title."""
    if chart is None:
        return 1.0, ""
    if chart.unit == "bytes":
        return MIB, "MiB"
    if chart.unit == "state":
        return 1.0, ""
    return 1.0, chart.unit
