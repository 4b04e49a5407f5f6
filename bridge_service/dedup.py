"""The Redis fast path for duplicates. The database unique key stays the authority.

A key is first written as "pending" with a short TTL (so a crash between the
check and the database commit cannot make a real event look like a duplicate)
and becomes "stored" with the long TTL only after the commit. Only "stored"
short-circuits a request; anything else, or Redis being down, goes on to the
database.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("bridge.dedup")

PENDING = b"pending"
STORED = b"stored"
PENDING_TTL = 30


class Dedup:
    def __init__(self, client: Redis | None, ttl_seconds: int, timeout: float = 0.25) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.timeout = timeout
        self.healthy = client is not None
        self.last_error: str | None = None

    @staticmethod
    def key(source: str, event_id: str) -> str:
        return f"auren:dedup:{source}:{event_id}"

    async def seen(self, source: str, event_id: str) -> bool:
        """True only when Redis knows the event is already stored."""
        if self.client is None:
            return False
        try:
            async with asyncio.timeout(self.timeout):
                old = await self.client.set(
                    self.key(source, event_id), PENDING, nx=True, ex=PENDING_TTL, get=True
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)
            return False
        self.healthy = True
        return old == STORED

    async def stored(self, source: str, event_id: str) -> None:
        """Remember that the event is in the database (best effort)."""
        if self.client is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.set(self.key(source, event_id), STORED, ex=self.ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)

    async def forget(self, source: str, event_id: str) -> None:
        """Drop a pending mark after a failed store (best effort)."""
        if self.client is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.delete(self.key(source, event_id))
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)

    async def ping(self) -> bool:
        if self.client is None:
            return False
        try:
            async with asyncio.timeout(1.0):
                await self.client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)
            return False
        self.healthy = True
        return True

    def _down(self, exc: BaseException) -> None:
        if self.healthy:
            log.warning("redis unavailable, using the database alone: %s", type(exc).__name__)
        self.healthy = False
        self.last_error = type(exc).__name__
