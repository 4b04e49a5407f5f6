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
        self._marks: list[str] = []
        self._queries: list[tuple[str, asyncio.Future[bytes | None]]] = []
        self._query_task: asyncio.Future[None] | None = None
        self._flusher: asyncio.Future[None] | None = None

    @staticmethod
    def key(source: str, event_id: str) -> str:
        return f"auren:dedup:{source}:{event_id}"

    async def seen(self, source: str, event_id: str) -> bool:
        """True only when Redis knows the event is already stored.

        Concurrent calls share one pipelined round trip (one per event-loop turn).
        """
        if self.client is None:
            return False
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._queries.append((self.key(source, event_id), future))
        if self._query_task is None or self._query_task.done():
            self._query_task = asyncio.ensure_future(self._run_queries())
        try:
            async with asyncio.timeout(self.timeout):
                old = await asyncio.shield(future)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)
            return False
        self.healthy = True
        return old == STORED

    async def _run_queries(self) -> None:
        assert self.client is not None
        await asyncio.sleep(0)  # let the requests of this loop turn join
        while self._queries:
            batch, self._queries = self._queries, []
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, _ in batch:
                        pipe.set(key, PENDING, nx=True, ex=PENDING_TTL, get=True)
                    results = await pipe.execute()
            except (RedisError, OSError) as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved: no "never retrieved" warning
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def stored(self, source: str, event_id: str) -> None:
        """Remember that the event is in the database (best effort)."""
        if self.client is None:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.set(self.key(source, event_id), STORED, ex=self.ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)

    def stored_soon(self, source: str, event_id: str) -> None:
        """Like ``stored``, batched: one pipelined round trip for all marks of a few ms."""
        if self.client is None:
            return
        self._marks.append(self.key(source, event_id))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        assert self.client is not None
        await asyncio.sleep(0.002)
        while self._marks:
            keys, self._marks = self._marks, []
            try:
                async with asyncio.timeout(self.timeout):
                    async with self.client.pipeline(transaction=False) as pipe:
                        for key in keys:
                            pipe.set(key, STORED, ex=self.ttl)
                        await pipe.execute()
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
