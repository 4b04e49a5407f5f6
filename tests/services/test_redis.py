from __future__ import annotations

import redis.asyncio as aioredis

from tests.services.base import tcp_open
from tests.services.redis import Redis


async def test_redis_ping_and_set(redis_server: Redis) -> None:
    client = aioredis.from_url(redis_server.url)
    try:
        assert await client.ping() is True
        assert await client.set("harness:k", "v", nx=True, ex=60) is True
        assert await client.set("harness:k", "v", nx=True, ex=60) is None
    finally:
        await client.aclose()


def test_redis_instance_is_gone_after_close() -> None:
    r = Redis().start()
    workdir, port = r.workdir, r.port
    assert r.ping()
    r.close()
    assert workdir is not None
    assert not workdir.exists()
    assert not tcp_open("127.0.0.1", port)
