"""Small readings of ``docker inspect`` output shared by the screens: times and images."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_docker_time(value: object) -> float | None:
    """Docker's RFC 3339 time with nanoseconds → unix time (None for "never")."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, frac = text.split(".", 1)
        digits = "".join(ch for ch in frac if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{frac[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def image_label(attrs: dict[str, Any]) -> str:
    """``tag (short id)``: the name the container was run with, and what it really is."""
    tag = str((attrs.get("Config") or {}).get("Image") or "")
    short = str(attrs.get("Image") or "").removeprefix("sha256:")[:12]
    if tag and short and not short.startswith(tag.removeprefix("sha256:")[:12]):
        return f"{tag} ({short})"
    return tag or short
