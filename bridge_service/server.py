"""Running the app under uvicorn, with the limits a port facing the internet needs.

uvicorn's HTTP/1.1 protocol has no limit on the number or size of request
headers, no deadline for a request's headers and no deadline for its body, and
it keeps a freshly opened connection that never sends a byte for ever. Each of
those lets a request that costs nothing to send cost the bridge a lot:

- a header flood (tens of thousands of headers) is parsed and stored in full;
- idle or slow sockets stay open indefinitely.

``GuardedHttpToolsProtocol`` closes those holes where the bytes arrive, before
any route runs: more than ``max_header_count`` headers or ``max_header_bytes``
of request line and headers get ``431`` and a closed connection; headers that
do not arrive within ``header_timeout_seconds`` of the connection (or of the
request's first byte) get ``408``; a body still incomplete a second after the
route's own deadline (``body_timeout_seconds``, answered ``408`` by the route)
closes the connection. Idle keep-alive connections close after
``keep_alive_seconds`` (uvicorn's own timer).

Workers (``--workers N``) receive the settings the parent validated, pickled
through the process pipe: they never read the environment or a ``.env``
again, so ``--env-file`` and command-line overrides hold in every worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import httptools
import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from bridge_service import logs
from bridge_service.config import Settings

log = logging.getLogger("bridge.http")

# The route answers a slow body with 408 at ``body_timeout_seconds``; the
# protocol closes the connection only if the route could not (a route that
# never reads its body, a client that ignores the answer).
_BODY_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class HttpLimits:
    """What one request may cost before any route sees it."""

    max_header_count: int = 100
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_count=settings.max_header_count,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
        )


class BridgeServerConfig(uvicorn.Config):
    """uvicorn's config plus the bridge's HTTP limits (pickled to each worker with it)."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a refused request."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and request deadlines."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: HttpLimits = getattr(config, "limits", HttpLimits())
        self._header_count = 0
        self._header_bytes = 0
        self._awaiting_headers = True
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection --------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a request is closed like a slow one.
        self._arm(self.limits.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the answer is written and the connection closing
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            return  # no upgrades here (ws="none"): the request is answered as plain HTTP
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused) or self._refused:
                return  # answered by _refuse
            self._refuse(400, "Bad Request", "a malformed HTTP request")
            return
        if self._awaiting_headers:
            # httptools buffers a header's name and value until the header ends:
            # count what arrived so one endless header cannot grow unbounded.
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes + 1024:
                self._refuse(431, "Request Header Fields Too Large", "headers too large")

    # -- parser callbacks --------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_count = 0
        self._header_bytes = 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout, self._headers_too_slow)

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        self._check_headers()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        self._check_headers()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._arm(self.limits.body_timeout + _BODY_GRACE_SECONDS, self._body_too_slow)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # -- limits ------------------------------------------------------------

    def _check_headers(self) -> None:
        if self._header_count > self.limits.max_header_count:
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"more than {self.limits.max_header_count} headers",
            )
            raise _Refused
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"request line and headers over {self.limits.max_header_bytes} bytes",
            )
            raise _Refused

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; keep-alive rules apply after it
        self._refuse(
            408,
            "Request Timeout",
            f"no complete request headers within {self.limits.header_timeout:g} s",
            quiet=self._header_bytes == 0,
        )

    def _body_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info(
            "closed a connection from %s: body not received within %g s",
            _peer(self.client),
            self.limits.body_timeout,
        )
        self._refused = True
        self.transport.close()

    def _refuse(self, status: int, reason: str, why: str, *, quiet: bool = False) -> None:
        """Answer ``status`` with one short line, close the connection, log once."""
        if self._refused:
            return
        self._refused = True
        self._disarm()
        if not quiet:
            log.info("refused a request from %s: %s (%d)", _peer(self.client), why, status)
        if self.transport.is_closing():
            return
        text = f"{why}\n".encode("ascii", "replace")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode("ascii"), len(text), text)
        )
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", "a malformed HTTP request")

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


def worker_app(settings: Settings) -> FastAPI:
    """The app of one worker process, built from the parent's validated settings."""
    from bridge_service.app import create_app

    logs.configure(settings.log_level, settings.service_name)
    return create_app(settings)


def server_config(settings: Settings) -> BridgeServerConfig:
    """The uvicorn config of ``auren-bridge serve`` (one place, tested)."""
    return BridgeServerConfig(
        functools.partial(worker_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=GuardedHttpToolsProtocol,
        ws="none",
        lifespan="on",
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        log_config=None,
        access_log=False,
        limits=HttpLimits.from_settings(settings),
    )


def serve(settings: Settings) -> bool:
    """Run the bridge until SIGTERM/SIGINT; one process or ``settings.workers``.

    False when it could not start (the port in use, a failed lifespan).
    """
    logs.configure(settings.log_level, settings.service_name)
    config = server_config(settings)
    if settings.workers > 1:
        # uvicorn.run() insists on an import string for workers, and each worker
        # would then build its settings from the environment again. The config
        # (with the validated settings) is pickled to each spawned worker instead.
        sock = config.bind_socket()
        supervisor = Multiprocess(config, sockets=[sock])
        try:
            supervisor.run()
        finally:
            sock.close()
        # A worker that could not start (its lifespan failed, ...) stops the parent.
        return not any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    server = uvicorn.Server(config)
    server.run()
    return server.started
