"""Choose the storage backend from ``DATABASE_URL``."""

from __future__ import annotations

import re
from pathlib import Path

from bridge_service.storage.base import Store
from bridge_service.storage.postgres import PostgresStore
from bridge_service.storage.sqlite import SqliteStore

DEFAULT_SQLITE_NAME = "bridge.sqlite3"

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def make_store(database_url: str | None, data_dir: Path) -> Store:
    """The store for ``database_url``; embedded SQLite in ``data_dir`` when None.

    ``postgres://``, ``postgresql://`` and ``postgresql+asyncpg://`` give
    PostgreSQL; ``sqlite:///relative/path`` or ``sqlite:////absolute/path``
    give SQLite. Anything else is a ValueError whose message never repeats the
    URL (it may hold a password).
    """
    if database_url is None:
        return SqliteStore(data_dir / DEFAULT_SQLITE_NAME)
    scheme, sep, rest = database_url.strip().partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise ValueError(
            "DATABASE_URL must start with postgresql:// or sqlite:/// (the value given has no "
            "recognisable scheme)"
        )
    scheme = scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        return PostgresStore(f"postgresql://{rest}")
    if scheme in _SQLITE_SCHEMES:
        # sqlite:///relative/file or sqlite:////absolute/file (SQLAlchemy's form).
        if not rest.startswith("/") or len(rest) < 2:
            raise ValueError(
                "DATABASE_URL for SQLite must look like sqlite:///relative/path "
                "or sqlite:////absolute/path"
            )
        path = rest[1:].split("?", 1)[0]
        return SqliteStore(Path(path))
    raise ValueError(
        f"DATABASE_URL scheme {scheme}:// is not supported: use postgresql:// or sqlite:///"
    )
