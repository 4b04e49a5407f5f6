"""Kafka records as the tail shows them: start positions, rendering, filters.

Plain data and pure functions; the consumer that produces ``TailRecord``s is
``core/kafka/consumer.py``. No Textual, no network.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

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
        """``to_dict`` as one compact JSON line (``json_line_of``)."""
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


# ---- JSON lines, at the speed of the consumer -------------------------------------------------

_valid_json = msgspec.json.Decoder(msgspec.Raw).decode
"""Checks a whole JSON text without building it (a raw copy): ~0.3 µs for a 300 B
envelope against ~3.5 µs for ``json.loads``, which also built every dict and string."""


def json_line_of(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    record: TailRecord | None = None,
) -> str:
    """One record as ``TailRecord.to_dict`` reads in compact JSON, written directly.

    Takes the fields rather than a ``TailRecord`` so that the CLI formats
    aiokafka's records as they come, without an object of ours per record. A
    JSON value without newlines is embedded as its own bytes once it is known
    to be valid UTF-8 JSON; anything else (text, binary, JSON msgspec refuses
    but ``json`` takes, such as a lone surrogate escape) goes the slow way,
    which is ``to_dict``: the same line either way.
    """
    if value is not None and b"\n" not in value and b"\r" not in value:
        try:
            text = value.decode()
            _valid_json(value)
        except (UnicodeDecodeError, msgspec.DecodeError):
            text = None
        if text is None:
            if record is None:
                record = TailRecord(
                    topic, partition, offset, timestamp_ms, key, value, tuple(headers or ())
                )
            if record.json_value() is not NOT_JSON:
                text = value.decode()  # json takes it: embedded as before
        if text is not None:
            if key is None:
                key_part = '"key":null,"key_encoding":null'
            else:
                key_text, key_encoding = _value_field(key, NOT_JSON)
                key_part = f'"key":{_string(key_text)},"key_encoding":"{key_encoding}"'
            return (
                f'{{"time":"{_iso_ms(timestamp_ms)}","timestamp_ms":{timestamp_ms},'
                f'"topic":{_string(topic)},"partition":{partition},'
                f'"offset":{offset},{key_part},"headers":{{{_headers_json(headers)}}},'
                f'"value_encoding":"json","value":{text}}}'
            )
    if record is None:
        record = TailRecord(
            topic, partition, offset, timestamp_ms, key, value, tuple(headers or ())
        )
    return _compact(record.to_dict())


def _headers_json(headers: Sequence[tuple[str, bytes]] | None) -> str:
    """The inside of ``"headers":{…}``: names in order, the last value of a repeated one."""
    if not headers:
        return ""
    names = tuple([k for k, _ in headers])
    prefixes = _header_prefixes.get(names)
    if prefixes is None:
        prefixes = _header_prefixes_for(names)
    if prefixes:
        return ",".join(
            [p + _string(render_bytes(v)) for p, (_, v) in zip(prefixes, headers, strict=True)]
        )
    pairs = {k: render_bytes(v) for k, v in headers}  # a repeated name: as to_dict's dict
    return ",".join([f"{_string(k)}:{_string(v)}" for k, v in pairs.items()])


_header_prefixes: dict[tuple[str, ...], tuple[str, ...]] = {}


def _header_prefixes_for(names: tuple[str, ...]) -> tuple[str, ...]:
    """``"name":`` per header for a set of names seen before (records of one producer
    carry the same ones); () when a name repeats. Bounded: a topic whose every record
    has other names just does not profit."""
    prefixes = tuple(f"{_string(k)}:" for k in names) if len(set(names)) == len(names) else ()
    if len(_header_prefixes) < 256:
        _header_prefixes[names] = prefixes
    return prefixes


class _Unusual(Exception):
    """A record the one-loop writer leaves to ``json_line_of``."""


_UNUSUAL = (
    _Unusual,
    UnicodeDecodeError,
    msgspec.DecodeError,
    TypeError,
    AttributeError,
    ValueError,
)
_seconds_iso: dict[int, str] = {}


def json_lines(rows: Iterable[Sequence[Any]]) -> list[str]:
    """``json_line_of`` of each row, in one loop: the CLI's hot path.

    A row is a record's fields in ``json_line_of``'s order (``topic,
    partition, offset, timestamp_ms, key, value, headers``), as a tuple or a
    list (what crosses the pipe to the line writer, core/kafka/line_writer.py).
    The usual record (a one-line UTF-8 JSON value, a printable key, printable
    header values under distinct names) is written inline with every lookup
    local; anything else goes through ``json_line_of``, so the lines are the
    same either way (tests/auren_tui/test_records_json_line.py). Half the cost
    of calling ``json_line_of`` per record (bench/tail.py).
    """
    lines: list[str] = []
    append, string, valid, seconds = lines.append, _string, _valid_json, _seconds_iso
    for row in rows:
        try:
            topic, partition, offset, stamp, key, value, headers = row
            if b"\n" in value or b"\r" in value:
                raise _Unusual
            valid(value)
            text = value.decode()
            second, ms = divmod(stamp, 1000)
            iso = seconds.get(second)
            if iso is None:
                if len(seconds) > 4096:
                    seconds.clear()
                iso = seconds[second] = _iso_second(second)
            if key is None:
                key_part = '"key":null,"key_encoding":null'
            else:
                key_text = key.decode()
                if not key_text.isprintable():
                    raise _Unusual
                key_part = f'"key":{string(key_text)},"key_encoding":"text"'
            parts = []
            for name, raw in headers:
                header = raw.decode()
                if not header.isprintable():
                    raise _Unusual
                parts.append(f"{string(name)}:{string(header)}")
            if len(parts) > 1 and len({name for name, _ in headers}) < len(parts):
                raise _Unusual  # a repeated name: the last value wins, as in to_dict
            append(
                f'{{"time":"{iso}.{ms:03d}Z","timestamp_ms":{stamp},'
                f'"topic":{string(topic)},"partition":{partition},"offset":{offset},'
                f'{key_part},"headers":{{{",".join(parts)}}},'
                f'"value_encoding":"json","value":{text}}}'
            )
        except _UNUSUAL:
            append(json_line_of(*row))
    return lines
