"""The PostgreSQL store's connections: one asyncpg pool, opened lazily, failures made plain.

Every database or network failure surfaces as ``StorageUnavailable`` with a
one-line message that names the server but never the password. The pool is
created lazily again after a failed ``open()``, and asyncpg reconnects dead
pool connections on acquire, so the store recovers by itself once PostgreSQL
is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from bridge_service.storage.base import StorageUnavailable, reason

# Errors that mean "the database did not do it"; all become StorageUnavailable.
DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,  # asyncio.TimeoutError is this class since 3.11
)

# Errors that mean "the database will never store this row" (SQLSTATE classes 22
# and 23, or a value asyncpg cannot encode): the event is refused, the database
# is fine, and the other rows of its batch must not share the failure.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.exceptions._base.DataError,  # client-side: invalid input for a query argument
    UnicodeError,
)


class PostgresPool:
    """The pool behind one ``PostgresStore``; ``connection()`` is how every query runs."""

    def __init__(
        self,
        dsn: str,
        min_size: int,
        max_size: int,
        command_timeout: float,
        connect_timeout: float,
    ) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self.command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._secrets = _dsn_secrets(dsn)
        self.target = _dsn_target(dsn)
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def open(self) -> None:
        """Create the pool; StorageUnavailable if PostgreSQL cannot be reached.

        After a failure the pool stays usable: the next call tries again.
        """
        self._closed = False
        await self._get()

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self.command_timeout)
        except DB_ERRORS:
            pool.terminate()  # the server is gone or slow: drop the sockets
        except asyncio.CancelledError:
            pool.terminate()
            raise

    async def _get(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StorageUnavailable(f"PostgreSQL at {self.target}: the store is closed")
        async with self._lock:
            if self._pool is None:
                try:
                    # The overall bound covers DNS and every min_size connection.
                    self._pool = await asyncio.wait_for(
                        asyncpg.create_pool(
                            self._dsn,
                            min_size=self._min_size,
                            max_size=self._max_size,
                            command_timeout=self.command_timeout,
                            timeout=self._connect_timeout,
                            server_settings=self._server_settings(),
                            reset=_keep_session,
                        ),
                        timeout=self._connect_timeout * 2 + 1,
                    )
                except DB_ERRORS as exc:
                    raise self.unavailable("connect", exc) from None
                except ValueError as exc:  # a malformed DSN
                    raise ValueError(self.redact(f"invalid PostgreSQL DSN: {exc}")) from None
            return self._pool

    def _server_settings(self) -> dict[str, str] | None:
        """Name the bridge in pg_stat_activity unless the DSN names it already."""
        try:
            query = parse_qs(urlsplit(self._dsn).query)
        except ValueError:
            query = {}
        return None if "application_name" in query else {"application_name": "auren-bridge"}

    @asynccontextmanager
    async def connection(
        self, what: str, *, pass_data_errors: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; any database failure becomes StorageUnavailable.

        ``pass_data_errors``: a refused row's error (``DATA_ERRORS``) reaches
        the caller as it is, to be told apart from the database being down.
        """
        pool = await self._get()
        try:
            async with pool.acquire(timeout=self.command_timeout) as conn:
                yield conn
        except DATA_ERRORS as exc:
            if pass_data_errors:
                raise
            raise self.unavailable(what, exc) from None
        except DB_ERRORS as exc:
            raise self.unavailable(what, exc) from None

    def unavailable(self, action: str, exc: BaseException) -> StorageUnavailable:
        """One line: which server, doing what, and the driver's reason (redacted)."""
        return StorageUnavailable(
            self.redact(f"PostgreSQL at {self.target} unavailable ({action}): {reason(exc)}")
        )

    def redact(self, text: str) -> str:
        """``text`` with every spelling of the DSN's password replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query: one round trip fewer per call.

    The store sets no session state (no SET, LISTEN, cursors or session
    advisory locks), and asyncpg still rolls back a transaction left open.
    """


def _dsn_target(dsn: str) -> str:
    """``host:port/database`` for messages: enough to act on, nothing secret."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the configured server"
    database = unquote(parts.path.lstrip("/")) or parts.username or ""
    return f"{host}:{port}/{database}"


def _dsn_secrets(dsn: str) -> list[str]:
    """Every spelling of the password in ``dsn``, longest first, for redaction."""
    secrets: set[str] = set()
    try:
        parts = urlsplit(dsn)
        if parts.password:
            secrets.update({parts.password, unquote(parts.password)})
        for value in parse_qs(parts.query).get("password", []):
            secrets.add(value)
    except ValueError:
        pass
    return sorted((s for s in secrets if s), key=len, reverse=True)
