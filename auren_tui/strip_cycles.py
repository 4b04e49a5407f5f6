"""Textual's strips without reference cycles (a fix to Textual 8.2, applied at start).

``Strip.divide`` keeps its result in the strip's own cache, and when the cut is
the whole strip the result is ``[self]``; ``Strip.crop_extend`` caches ``self``
when nothing needs cutting. Either makes the strip a reference cycle, so every
strip the compositor draws (each with seven ``FIFOCache``s) is freed by the
garbage collector instead of by reference counting. On the Tail screen at
20,000 records/s that was a full collection freeing 52,000 objects in 127 ms
of CPU with the GIL held: the longest UI gap. Here a result that is the strip
itself is returned without being cached (nothing is lost: the cache would
only have said "itself").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from textual.strip import Strip

_MARK = "_auren_no_cycles"


def install() -> None:
    """Wrap ``Strip.divide`` and ``Strip.crop_extend`` once per process."""
    if getattr(Strip.divide, _MARK, False):
        return
    divide, crop_extend = Strip.divide, Strip.crop_extend

    def divide_without_cycle(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        strips = divide(self, cuts)
        if len(strips) == 1 and strips[0] is self:
            _forget(self, "_divide_cache")
        return strips

    def crop_extend_without_cycle(self: Strip, start: int, end: int, style: Style | None) -> Strip:
        strip = crop_extend(self, start, end, style)
        if strip is self:
            _forget(self, "_crop_extend_cache")
        return strip

    setattr(divide_without_cycle, _MARK, True)
    Strip.divide = divide_without_cycle  # type: ignore[method-assign]
    Strip.crop_extend = crop_extend_without_cycle  # type: ignore[method-assign]


def _forget(strip: Strip, cache: str) -> None:
    found: Any = getattr(strip, cache, None)
    if found is not None:
        found.clear()
