"""The tail's filter: ``field=value`` on JSON values, else a substring of the line.

``parse_filter`` reads what an operator types (``--filter``, the Tail screen's
``/``) into a ``Matcher`` of ``TailRecord``s (core/kafka/records.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from auren_tui.core.kafka.records import NOT_JSON, TailRecord

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
