"""Small pure formatting helpers shared by the TUI and the headless commands."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 12) -> str:
    """Unicode block sparkline of the last ``width`` values (gaps as spaces)."""
    tail = list(values)[-width:]
    known = [v for v in tail if v is not None]
    if not known:
        return " " * len(tail)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    out = []
    for v in tail:
        if v is None:
            out.append(" ")
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, int((v - low) / span * (len(BLOCKS) - 1)))])
    return "".join(out)


_DURATION = re.compile(r"([0-9]+)([smhd])")  # ASCII digits: \d takes "٣h" too
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int | None:
    """``30s``, ``15m``, ``1h``, ``7d`` (any case, spaces around) in seconds; None when
    ``text`` is not one (``tail --from 10m``, ``history --since 1h``)."""
    match = _DURATION.fullmatch(text.strip().lower())
    return None if match is None else int(match[1]) * _UNITS[match[2]]


def duration(seconds: float | None) -> str:
    """``3d4h``, ``5h12m``, ``7m3s``, ``42s``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def size(n: float | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}GiB"


def millis(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An error as one line: the docker SDK's ``explanation`` when it has one, else the
    message, else the type's name; whitespace collapsed, at most ``limit`` characters."""
    explanation = getattr(exc, "explanation", None)
    text = explanation if isinstance(explanation, str) and explanation else str(exc)
    return " ".join((text or type(exc).__name__).split())[:limit]


HINT_CHARS = 4
HINT_MIN_LENGTH = 4 * HINT_CHARS


def secret_hint(value: str, mark: str = "****") -> str:
    """The most of a secret ever shown: ``mark`` plus its last 4 characters, and those
    only when they are at most a quarter of it (16 characters or more)."""
    return f"{mark}{value[-HINT_CHARS:]}" if len(value) >= HINT_MIN_LENGTH else mark


def display_path(path: Path | str) -> str:
    """``path`` with the home directory shown as ``~``."""
    home, text = str(Path.home()), str(path)
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text
