"""Records as JSON lines (``auren-tui tail --json``), at the speed of the consumer.

The line of a record is ``TailRecord.to_dict`` in compact JSON
(core/kafka/records.py); ``json_line_of`` and ``json_lines`` write that same
line directly from the record's fields, without building the dict, and
tests/auren_tui/core/kafka/test_records_json_line.py holds them to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from auren_tui.core.kafka.records import (
    NOT_JSON,
    TailRecord,
    compact_json,
    iso_second,
    render_bytes,
    value_field,
)

# json.dumps(str, ensure_ascii=False) without the encoder's per-call set-up.
_string: Callable[[str], str] = json.encoder.encode_basestring

_valid_json = msgspec.json.Decoder(msgspec.Raw).decode
"""Checks a whole JSON text without building it (a raw copy): ~0.3 µs for a 300 B
envelope against ~3.5 µs for ``json.loads``, which also built every dict and string."""


def _iso_ms(timestamp_ms: int) -> str:
    """``TailRecord.time`` as ``to_dict`` writes it (``…T08:00:00.123Z``), the second cached."""
    seconds, ms = divmod(timestamp_ms, 1000)
    return f"{iso_second(seconds)}.{ms:03d}Z"


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
                key_text, key_encoding = value_field(key, NOT_JSON)
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
    return compact_json(record.to_dict())


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
    same either way (tests/auren_tui/core/kafka/test_records_json_line.py). Half the cost
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
                iso = seconds[second] = iso_second(second)
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
