"""Where a tail starts: ``end``, ``beginning``, an offset, N back, or a time.

``parse_start`` reads what an operator types (``--from``, the topic picker);
the consumer (core/kafka/consumer.py) seeks each partition to the ``Start``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from auren_tui.core.format import duration_seconds

StartKind = Literal["end", "beginning", "offset", "back", "time"]


class RecordError(ValueError):
    """Bad tail input (a start position): one line, says what is wrong."""


@dataclass(frozen=True)
class Start:
    """Where a tail starts, in every partition it reads."""

    kind: StartKind = "end"
    value: int = 0
    """The offset (``offset``), how many back (``back``) or epoch ms (``time``)."""

    def describe(self) -> str:
        if self.kind in ("end", "beginning"):
            return self.kind
        if self.kind == "offset":
            return f"offset {self.value}"
        if self.kind == "back":
            return f"{self.value} back from the end"
        return "time " + datetime.fromtimestamp(self.value / 1000, UTC).isoformat()


def parse_start(text: str, now_ms: int | None = None) -> Start:
    """``end``, ``beginning``, ``N`` (offset), ``-N`` (N back from the end),
    an ISO-8601 time, ``@EPOCH_MS``, or ``10m``/``2h`` (that long ago)."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered in ("end", "latest", "now"):
        return Start("end")
    if lowered in ("beginning", "earliest", "start"):
        return Start("beginning")
    if re.fullmatch(r"\d+", raw):
        return Start("offset", int(raw))
    if re.fullmatch(r"-\d+", raw):
        return Start("back", int(raw[1:]))
    if re.fullmatch(r"@\d+", raw):
        return Start("time", int(raw[1:]))
    ago = duration_seconds(lowered)
    if ago is not None:
        now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        return Start("time", max(0, now - ago * 1000))  # 9999999d: from the first record
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise RecordError(
            f"start position {text!r}: expected end, beginning, an offset N, -N (N back), "
            "an ISO-8601 time, @EPOCH_MS or a duration ago like 10m"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Start("time", int(when.timestamp() * 1000))
