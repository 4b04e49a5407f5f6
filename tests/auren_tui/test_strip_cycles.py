"""Strips the compositor draws are freed by reference counting, not by the collector."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from auren_tui import strip_cycles


@pytest.fixture
def no_automatic_collections() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def garbage_after(use: Callable[[Strip], object]) -> int:
    """Objects only the collector could free once a strip used so is dropped."""
    strip = Strip([Segment("0123456789", Style(bold=True))], 10)
    use(strip)
    del strip
    return gc.collect()


WAYS: dict[str, Callable[[Strip], object]] = {
    "divided at its whole width": lambda s: s.divide([10]),
    "cut and extended to itself": lambda s: s.crop_extend(0, 10, None),
    "divided in two": lambda s: s.divide([4, 10]),
    "cropped": lambda s: s.crop(2, 6),
    "cropped to itself": lambda s: s.crop(0, 10),
}


@pytest.mark.usefixtures("no_automatic_collections")
@pytest.mark.parametrize("way", list(WAYS))
def test_a_strip_used_by_the_compositor_is_no_cycle(way: str) -> None:
    strip_cycles.install()
    assert garbage_after(WAYS[way]) == 0


@pytest.mark.usefixtures("no_automatic_collections")
def test_the_cache_still_answers_other_cuts() -> None:
    strip_cycles.install()
    strip = Strip([Segment("0123456789")], 10)
    halves = strip.divide([4, 10])
    assert strip.divide([4, 10]) is halves  # cached as before
    assert [s.text for s in halves] == ["0123", "456789"]
    assert strip.divide([10]) == [strip]
    assert strip.crop_extend(0, 10, None) is strip
    assert strip.crop_extend(0, 12, None).cell_length == 12
