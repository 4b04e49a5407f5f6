"""Kafka records as the tail shows them: ``TailRecord`` and how its bytes are rendered.

Plain data and pure functions; the consumer that produces ``TailRecord``s is
core/kafka/consumer.py. Where a tail starts: core/kafka/start.py; filters:
core/kafka/filters.py; the ``--json`` lines: core/kafka/json_lines.py.
No Textual, no network.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TailRecord:
    """One record as read: bytes untouched, rendering done on demand."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    _parsed: Any = field(default=None, compare=False, repr=False)
    """The value parsed as JSON once asked for (None: not yet). A slot, not a list:
    one object fewer per record for the garbage collector to walk in a full ring."""

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def json_value(self) -> Any:
        """The value parsed as JSON, or ``NOT_JSON`` (parsed once, then kept)."""
        if self._parsed is None:
            object.__setattr__(self, "_parsed", _parse_json(self.value))  # frozen: a cache
        return self._parsed

    def value_text(self, pretty: bool = False) -> str:
        """The value: JSON (indented when ``pretty``), text, or hex for binary."""
        parsed = self.json_value()
        if parsed is not NOT_JSON:
            if pretty:
                return json.dumps(parsed, indent=2, ensure_ascii=False)
            return compact_json(parsed)
        return render_bytes(self.value)

    def line(self) -> str:
        """One line for a terminal: time, where, key, headers, compact value."""
        seconds, ms = divmod(self.timestamp_ms, 1000)
        parts = [f"{iso_second(seconds)[11:]}.{ms:03d}", self.where]
        if self.key is not None:
            parts.append(f"key={render_bytes(self.key)}")
        if self.headers:
            parts.append(
                "headers={" + ",".join(f"{k}={render_bytes(v)}" for k, v in self.headers) + "}"
            )
        parts.append(self.value_line())
        return " ".join(parts)

    def value_line(self) -> str:
        """The value on one line. Printable one-line text (compact JSON included) is
        shown as sent, without parsing it: at thousands of records a second, parsing
        each value, and keeping what was parsed, is most of a screen's CPU and of
        its garbage collections. Multi-line JSON is compacted; binary is hex."""
        if self.value is not None:
            try:
                text = self.value.decode()
            except UnicodeDecodeError:
                return "0x" + self.value.hex()
            if text.isprintable():
                return text
        return self.value_text()

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON: the value as JSON when it is, else text or hex."""
        value, encoding = value_field(self.value, self.json_value())
        key, key_encoding = value_field(self.key, NOT_JSON)
        return {
            "time": self.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "timestamp_ms": self.timestamp_ms,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": key,
            "key_encoding": key_encoding,
            "headers": {k: render_bytes(v) for k, v in self.headers},
            "value": value,
            "value_encoding": encoding,
        }

    def json_line(self) -> str:
        """``to_dict`` as one compact JSON line (``json_line_of``)."""
        from auren_tui.core.kafka.json_lines import json_line_of  # it builds TailRecords

        return json_line_of(
            self.topic,
            self.partition,
            self.offset,
            self.timestamp_ms,
            self.key,
            self.value,
            self.headers,
            self,
        )


compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""JSON on one line without spaces, as ``value_text`` and ``to_dict``'s lines write it."""


@functools.lru_cache(maxsize=64)
def iso_second(seconds: int) -> str:
    """``2024-01-01T08:00:00``: a record's second, cached (records come in bursts)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()[:19]


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJson()


def _parse_json(data: bytes | None) -> Any:
    if not data or data[:1] not in b'{["-0123456789tfn ':
        return NOT_JSON
    try:
        return json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        return NOT_JSON


def render_bytes(data: bytes | None) -> str:
    """Text when it is printable UTF-8, else ``0x…`` hex; ``null`` for None."""
    if data is None:
        return "null"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "0x" + data.hex()
    if text.isprintable():
        return text
    return "0x" + data.hex()


def value_field(data: bytes | None, parsed: Any) -> tuple[Any, str | None]:
    """A key or value for ``to_dict``: (JSON, "json"), (text, "text") or (hex, "hex")."""
    if data is None:
        return None, None
    if parsed is not NOT_JSON:
        return parsed, "json"
    text = render_bytes(data)
    if text.startswith("0x") and not data.startswith(b"0x"):
        return data.hex(), "hex"
    return text, "text"
