"""The one filter rule of the live screens' tables (plain Python, no Textual).

The same grammar as the Tail's (``core.kafka.filters.parse_filter``):

- ``field=value`` / ``field!=value``: the row's ``field`` is (or is not) ``value``;
  on a table both sides are compared regardless of case (the Dashboard shows
  ``UNHEALTHY`` for ``health=unhealthy``); a field the row lacks matches ``!=``.
- anything else: a case-insensitive substring of the row's fields, joined by
  spaces (what the Tail does with a record's line).
- empty text: no filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Fields = Mapping[str, str]
"""A row as the filter sees it: field name -> its text."""
RowMatcher = Callable[[Fields], bool]

_FIELD = re.compile(r"^([A-Za-z_][\w.-]*)(=|!=)(.*)$")


def row_filter(text: str) -> RowMatcher | None:
    """``text`` as a predicate on rows; None when it filters nothing out."""
    raw = text.strip()
    if not raw:
        return None
    match = _FIELD.match(raw)
    if match:
        name, op, wanted = match.group(1).lower(), match.group(2), match.group(3).strip().lower()

        def by_field(row: Fields) -> bool:
            value = row.get(name)
            hit = value is not None and value.lower() == wanted
            return hit if op == "=" else not hit

        return by_field
    needle = raw.lower()

    def by_text(row: Fields) -> bool:
        return needle in " ".join(row.values()).lower()

    return by_text
