"""A small circuit breaker in front of Kafka.

closed → (threshold consecutive failures) → open → (reset_seconds) → half-open
→ one trial: success closes, failure opens again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._on_change = on_change
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.last_error: str | None = None

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.reset_seconds:
            self._set(State.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """May a call go through now? (Open: no. Half-open: yes, one trial.)"""
        return self.state is not State.OPEN

    def seconds_until_retry(self) -> float:
        if self._state is not State.OPEN:
            return 0.0
        return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

    def success(self) -> None:
        self._failures = 0
        self.last_error = None
        if self._state is not State.CLOSED:
            self._set(State.CLOSED)

    def failure(self, error: str) -> None:
        self._failures += 1
        self.last_error = error
        if self._state is State.HALF_OPEN or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set(State.OPEN)

    def _set(self, state: State) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
