"""``TailRecord.json_line`` and ``line`` write their fields by hand for speed
(bench/tail.py): they must give exactly the lines the straightforward
``json.dumps``/``strftime`` versions gave."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from auren_tui.core.kafka.json_lines import json_line_of, json_lines
from auren_tui.core.kafka.records import NOT_JSON, TailRecord, render_bytes


def reference_text_line(record: TailRecord) -> str:
    """``TailRecord.line`` written plainly: a printable one-line value as sent, else
    compact JSON, else text or hex."""
    parts = [record.time.strftime("%H:%M:%S.%f")[:-3], record.where]
    if record.key is not None:
        parts.append(f"key={render_bytes(record.key)}")
    if record.headers:
        parts.append(
            "headers={" + ",".join(f"{k}={render_bytes(v)}" for k, v in record.headers) + "}"
        )
    text = record.value.decode("utf-8", "replace") if record.value is not None else ""
    parsed = record.json_value()
    if record.value is not None and render_bytes(record.value) == text and text.isprintable():
        parts.append(text)
    elif parsed is NOT_JSON:
        parts.append(render_bytes(record.value))
    else:
        parts.append(json.dumps(parsed, ensure_ascii=False, separators=(",", ":")))
    return " ".join(parts)


def reference_line(record: TailRecord) -> str:
    """The original implementation: ``to_dict`` through ``json.dumps``, the JSON value
    embedded as its own bytes when it has no newline."""
    value = record.value
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    if record.json_value() is NOT_JSON or value is None or b"\n" in value or b"\r" in value:
        return json.dumps(record.to_dict(), **compact)  # type: ignore[arg-type]
    head = record.to_dict()
    del head["value"], head["value_encoding"]
    text = json.dumps(head, **compact)  # type: ignore[arg-type]
    return f'{text[:-1]},"value_encoding":"json","value":{value.decode()}}}'


VALUES = [
    b'{"a":1}',
    b' {"a": "\xc3\xa9"}',
    b"[1,2]",
    b'"s"',
    b"3",
    b"null",
    b"true",
    b'{"x":\n1}',
    b"not json",
    b"\x00\xff",
    None,
    b"",
    b"0xabc",
    b'{"a":"\\u2028"}',
    b"NaN",
    b'{"t":"\t"} ',
    # Where a compiled check and json may disagree: each must give json's line.
    b'{"a":"\\ud800"}',  # a lone surrogate escape: json takes it
    b'{"a":1e999}',
    b'"\xff"',  # not UTF-8 inside a string
    b"\xef\xbb\xbf{}",  # a UTF-8 BOM
    b'{"a":1,}',
    b"[1,2] x",
    b"Infinity",
    b'{"a":01}',
]
KEYS = [None, b"u42", b"\x00\x01", b"0x12", b"", b"caf\xc3\xa9", b'"q"\\', b"\xe2\x80\xa8"]
HEADERS: list[tuple[tuple[str, bytes], ...]] = [
    (),
    (("trace", b"abc"),),
    (("a", b"\x00"), ("a", b"x"), ("b", b"")),
    (('\u00e9"', b"v\n"), ("source", b"oura")),
]
STAMPS = [0, -1, -999, -1000, -1001, 1, 999, 1000, 1_764_057_600_123, 4_102_444_799_999]


@pytest.mark.parametrize("seed", range(4))
def test_lines_are_the_reference_lines(seed: int) -> None:
    rnd = random.Random(seed)
    stamps = STAMPS + [rnd.randrange(-(10**12), 4 * 10**12) for _ in range(2000)]
    for i, stamp in enumerate(stamps):
        record = TailRecord(
            rnd.choice(["t", "é-topic", 'q"t']),
            rnd.randrange(8),
            rnd.randrange(10**9),
            stamp,
            KEYS[i % len(KEYS)],
            VALUES[i % len(VALUES)],
            HEADERS[(i // 3) % len(HEADERS)],
        )
        line = record.json_line()
        assert line == reference_line(record), record
        # The CLI's path: the same fields, straight from aiokafka's record.
        fields = (record.topic, record.partition, record.offset, stamp, record.key)
        assert json_line_of(*fields, record.value, list(record.headers) or None) == line
        # The rows as they cross the pipe to the line writer: MessagePack arrays.
        row = msgspec.msgpack.decode(
            msgspec.msgpack.encode((*fields, record.value, record.headers))
        )
        assert json_lines([row]) == [line]
        assert "\n" not in line
        assert record.line() == reference_text_line(record), record
