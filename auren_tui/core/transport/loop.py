"""The tunnelled event loop: asyncio clients reaching the server through its connection.

The broker on the server advertises an address that exists only there
(``auren-kafka:9092``). aiokafka has no address translation, but it opens
every broker connection with the running loop's ``create_connection``; a
loop whose ``create_connection`` swaps each ``(host, port)`` for the local
end of an SSH tunnel to that address *as the server sees it* makes the
unchanged client work through the one SSH connection. So the consumer runs
on its own ``TunnelLoop`` (in the CLI's main thread, or in a thread of its
own under the TUI) and the broker needs no change. The webhook client (HTTP
to the bridge) runs on one the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from auren_tui.core.transport.connection import Connection


class TunnelLoop(asyncio.SelectorEventLoop):
    """An event loop whose TCP connections go through ``connection.endpoint``."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection
        self._local_ends: set[tuple[str, int]] = set()

    async def local_end(self, host: str, port: int) -> tuple[str, int]:
        """The local address reaching ``host:port`` as the server sees it.

        Addresses this loop handed out pass through unchanged, so a client
        that maps an address itself and then connects is not mapped twice.
        """
        if (host, port) in self._local_ends:
            return host, port
        # The SSH connection is blocking (it may be reconnecting): not on this loop.
        local = await self.run_in_executor(None, self.connection.endpoint, host, port)
        self._local_ends.add(local)
        return local

    async def create_connection(
        self, protocol_factory: Any, host: str | None = None, port: int | None = None, **kwargs: Any
    ) -> Any:
        if host is not None and port is not None:
            host, port = await self.local_end(host, int(port))
        return await super().create_connection(protocol_factory, host, port, **kwargs)  # type: ignore[arg-type]


async def local_end(connection: Connection, host: str, port: int) -> tuple[str, int]:
    """``connection.endpoint`` off the loop; on a ``TunnelLoop``, through it."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, TunnelLoop):
        return await loop.local_end(host, port)
    return await loop.run_in_executor(None, connection.endpoint, host, port)


def run_tunnelled(connection: Connection, coro: Callable[[], Any]) -> Any:
    """Run ``coro()`` to completion on a fresh ``TunnelLoop`` in this thread: every TCP
    connection it opens (Kafka, HTTP to the bridge) goes through ``connection``."""
    with asyncio.Runner(loop_factory=lambda: TunnelLoop(connection)) as runner:
        return runner.run(coro())
