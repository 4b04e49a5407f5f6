"""Two helpers of a refresh's thread pools: milliseconds taken, a result or its stand-in."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def ms_since(began: float) -> float:
    """Milliseconds since ``began`` (a ``time.perf_counter()``), to the microsecond."""
    return round((time.perf_counter() - began) * 1000.0, 3)


def result_or(future: Future[T], on_error: Callable[[BaseException], T]) -> T:
    """The future's result, or what ``on_error`` makes of its exception."""
    try:
        return future.result()
    except Exception as exc:
        return on_error(exc)
