"""Kafka records as the tail shows them: start positions, rendering, filters.

Plain data and pure functions; the consumer that produces ``TailRecord``s is
``core/kafka.py``. No Textual, no network.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

StartKind = Literal["end", "beginning", "offset", "back", "time"]


class RecordError(ValueError):
    """Bad tail input (a start position or a filter): one line, says what is wrong."""


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


_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    rel = _RELATIVE.match(lowered)
    if rel:
        now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        return Start("time", now - int(rel.group(1)) * _UNITS[rel.group(2)] * 1000)
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
            return _compact(parsed)
        return render_bytes(self.value)

    def line(self) -> str:
        """One line for a terminal: time, where, key, headers, compact value."""
        seconds, ms = divmod(self.timestamp_ms, 1000)
        parts = [f"{_iso_second(seconds)[11:]}.{ms:03d}", self.where]
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
        value, encoding = _value_field(self.value, self.json_value())
        key, key_encoding = _value_field(self.key, NOT_JSON)
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
        """``to_dict`` as one compact JSON line.

        A JSON value without newlines is embedded as its own bytes (it was just
        parsed, so it is valid), and the fields around it are written directly
        rather than through a dict and ``json.dumps``: the same line, at a
        fraction of the cost (``bench/tail.py``).
        """
        value = self.value
        parsed = self.json_value()
        if parsed is NOT_JSON or value is None or b"\n" in value or b"\r" in value:
            return _compact(self.to_dict())
        key = self.key
        if key is None:
            key_part = '"key":null,"key_encoding":null'
        else:
            key_text, key_encoding = _value_field(key, NOT_JSON)
            key_part = f'"key":{_string(key_text)},"key_encoding":"{key_encoding}"'
        headers = self.headers
        if not headers:
            header_part = ""
        elif len(headers) == len({k for k, _ in headers}):
            header_part = ",".join([f"{_string(k)}:{_string(render_bytes(v))}" for k, v in headers])
        else:  # a repeated name: the last value wins, as in to_dict's dict
            pairs = {k: render_bytes(v) for k, v in headers}
            header_part = ",".join([f"{_string(k)}:{_string(v)}" for k, v in pairs.items()])
        return (
            f'{{"time":"{_iso_ms(self.timestamp_ms)}","timestamp_ms":{self.timestamp_ms},'
            f'"topic":{_string(self.topic)},"partition":{self.partition},'
            f'"offset":{self.offset},{key_part},"headers":{{{header_part}}},'
            f'"value_encoding":"json","value":{value.decode()}}}'
        )


# json.dumps(str, ensure_ascii=False) without the encoder's per-call set-up.
_string: Callable[[str], str] = json.encoder.encode_basestring
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@functools.lru_cache(maxsize=64)
def _iso_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()[:19]


def _iso_ms(timestamp_ms: int) -> str:
    """``TailRecord.time`` as ``to_dict`` writes it (``…T08:00:00.123Z``), the second cached."""
    seconds, ms = divmod(timestamp_ms, 1000)
    return f"{_iso_second(seconds)}.{ms:03d}Z"


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


def _value_field(data: bytes | None, parsed: Any) -> tuple[Any, str | None]:
    if data is None:
        return None, None
    if parsed is not NOT_JSON:
        return parsed, "json"
    text = render_bytes(data)
    if text.startswith("0x") and not data.startswith(b"0x"):
        return data.hex(), "hex"
    return text, "text"


# ---- filters -------------------------------------------------------------------------------

Matcher = Callable[[TailRecord], bool]
_FIELD = re.compile(r"^([A-Za-z_][\w.-]*)(=|!=)(.*)$")


def parse_filter(text: str) -> Matcher | None:
    """``field=value`` / ``field!=value`` on JSON values (dotted paths; a bare
    name also matches that key at any depth), else a case-insensitive substring
    of the record's line. Empty text: no filter (None)."""
    raw = text.strip()
    if not raw:
        return None
    match = _FIELD.match(raw)
    if match:
        path, op, wanted = match.group(1), match.group(2), match.group(3).strip()
        keys = path.split(".")

        def by_field(record: TailRecord) -> bool:
            found = _lookup(record.json_value(), keys)
            hit = any(_same(v, wanted) for v in found)
            return hit if op == "=" else not hit

        return by_field
    needle = raw.lower()

    def by_text(record: TailRecord) -> bool:
        return needle in record.line().lower()

    return by_text


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() == str(value).lower()
    if value is None:
        return wanted in ("null", "None", "")
    if isinstance(value, dict | list):
        return False
    return str(value) == wanted


def _lookup(data: Any, keys: list[str]) -> list[Any]:
    if data is NOT_JSON:
        return []
    node = data
    for key in keys:
        if isinstance(node, dict) and key in node:
            node = node[key]
        else:
            node = NOT_JSON
            break
    if node is not NOT_JSON:
        return [node]
    if len(keys) == 1:
        return list(_anywhere(data, keys[0]))
    return []


def _anywhere(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                yield v
            yield from _anywhere(v, key)
    elif isinstance(data, list):
        for item in data:
            yield from _anywhere(item, key)
