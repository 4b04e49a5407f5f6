"""The one filter grammar of every live view (the Tail, the Dashboard, Containers).

What an operator types after ``/`` (or ``--filter``):

- ``field=value`` / ``field!=value``: the item's ``field`` is (or is not) ``value``;
  an item that lacks the field matches ``!=``;
- anything else: a case-insensitive substring of the item's text;
- empty text: no filter.

``parse_query`` reads the text once; each view says what "field" and "text"
mean for its items: a record's JSON value and line (core/kafka/filters.py), a
table row's columns (``row_filter`` here, where both sides compare regardless
of case: the Dashboard shows ``UNHEALTHY`` for ``health=unhealthy``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

_FIELD = re.compile(r"^([A-Za-z_][\w.-]*)(=|!=)(.*)$")


@dataclass(frozen=True)
class Query:
    """A parsed filter: by a field (``name``, ``op``, ``wanted``) or by text."""

    text: str
    name: str | None = None
    op: Literal["=", "!="] = "="
    wanted: str = ""

    def verdict(self, hit: bool) -> bool:
        """A field comparison's result under ``op``."""
        return hit if self.op == "=" else not hit


def parse_query(text: str) -> Query | None:
    """``text`` as a query; None when it filters nothing out."""
    raw = text.strip()
    if not raw:
        return None
    match = _FIELD.match(raw)
    if match is None:
        return Query(text=raw)
    op: Literal["=", "!="] = "=" if match.group(2) == "=" else "!="
    return Query(text=raw, name=match.group(1), op=op, wanted=match.group(3).strip())


Fields = Mapping[str, str]
"""A table row as the filter sees it: field name -> its text."""
RowMatcher = Callable[[Fields], bool]


def row_filter(text: str) -> RowMatcher | None:
    """``text`` as a predicate on table rows; None when it filters nothing out."""
    query = parse_query(text)
    if query is None:
        return None
    if query.name is not None:
        name, wanted = query.name.lower(), query.wanted.lower()

        def by_field(row: Fields) -> bool:
            value = row.get(name)
            return query.verdict(value is not None and value.lower() == wanted)

        return by_field
    needle = query.text.lower()

    def by_text(row: Fields) -> bool:
        return needle in " ".join(row.values()).lower()

    return by_text
