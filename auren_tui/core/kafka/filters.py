"""The tail's filter: ``field=value`` on JSON values, else a substring of the line.

``parse_filter`` reads what an operator types (``--filter``, the Tail screen's
``/``) with the one grammar of core/filtering.py into a ``Matcher`` of
``TailRecord``s (core/kafka/records.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auren_tui.core.filtering import parse_query
from auren_tui.core.kafka.records import NOT_JSON, TailRecord

Matcher = Callable[[TailRecord], bool]


def parse_filter(text: str) -> Matcher | None:
    """``field=value`` / ``field!=value`` on JSON values (dotted paths; a bare
    name also matches that key at any depth), else a case-insensitive substring
    of the record's line. Empty text: no filter (None)."""
    query = parse_query(text)
    if query is None:
        return None
    if query.name is not None:
        keys, wanted = query.name.split("."), query.wanted

        def by_field(record: TailRecord) -> bool:
            found = _lookup(record.json_value(), keys)
            return query.verdict(any(_same(v, wanted) for v in found))

        return by_field
    needle = query.text.lower()

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
