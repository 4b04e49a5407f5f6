"""The hand-off between a worker thread and the UI: a locked buffer, taken in one go.

A worker (a Kafka tail, a ``docker logs`` follow) only appends here, never one
UI message per item; a UI timer drains everything at its own pace. Each worker
opened gets a new generation: what a replaced or closed one still sends is
dropped, and a worker whose open finished after the screen moved on is
refused by ``adopt`` (its caller stops it).

Besides the items, the worker may leave one note (its latest status, or why
it ended): a newer note replaces an older one, and ``drain`` hands it over once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Generic, TypeVar

T = TypeVar("T")
N = TypeVar("N")
H = TypeVar("H")


class Handoff(Generic[T, N, H]):
    """Items of type ``T`` and a note ``N`` from the worker whose handle is ``H``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        """Items kept at most between two drains (older ones are counted, not kept)."""
        self._lock = threading.Lock()
        self._generation = 0
        self._items: list[T] = []
        self._dropped = 0
        self._note: N | None = None
        self._handle: H | None = None

    def open(
        self, note: N | None = None
    ) -> tuple[int, Callable[[list[T]], None], Callable[[N], None]]:
        """A new generation, starting with ``note``, and the worker's callbacks for it
        (items, note); whatever earlier generations send is ignored from now on."""
        with self._lock:
            self._generation += 1
            self._items = []
            self._dropped = 0
            self._note = note
            generation = self._generation
        return generation, partial(self._add, generation), partial(self._set_note, generation)

    def _add(self, generation: int, items: list[T]) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._items.extend(items)
            # Nobody took anything for a while: what is older than the limit is gone anyway.
            excess = len(self._items) - self.limit
            if excess > 0:
                del self._items[:excess]
                self._dropped += excess

    def _set_note(self, generation: int, note: N) -> None:
        with self._lock:
            if generation == self._generation:
                self._note = note

    def drain(self) -> tuple[list[T], int, N | None]:
        """What arrived since the last drain: items, how many were dropped, the new note."""
        with self._lock:
            items, self._items = self._items, []
            dropped, self._dropped = self._dropped, 0
            note, self._note = self._note, None
        return items, dropped, note

    def adopt(self, generation: int, handle: H) -> bool:
        """Keep ``handle`` if its generation is still current (else the caller stops it)."""
        with self._lock:
            if generation != self._generation:
                return False
            self._handle = handle
            return True

    @property
    def handle(self) -> H | None:
        return self._handle

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def release(self, *, discard: bool = False) -> H | None:
        """End the current generation; its handle, for the caller to stop. With
        ``discard``, what it sent and was not drained yet is dropped too."""
        with self._lock:
            self._generation += 1
            if discard:
                self._items, self._dropped, self._note = [], 0, None
            handle, self._handle = self._handle, None
        return handle
