"""Choose the storage backend from ``DATABASE_URL``."""

from __future__ import annotations

from pathlib import Path

from bridge_service.storage.base import Store
from bridge_service.storage.postgres import PostgresStore
from bridge_service.storage.sqlite import SqliteStore
from bridge_service.storage.url import parse_database_url

DEFAULT_SQLITE_NAME = "bridge.sqlite3"


def make_store(database_url: str | None, data_dir: Path) -> Store:
    """The store for ``database_url``; embedded SQLite in ``data_dir`` when None.

    See ``parse_database_url`` for the accepted forms. Anything else is a
    ValueError naming DATABASE_URL, never repeating the URL (it may hold a
    password). The settings validate the URL first, so a running bridge never
    gets here with a bad one.
    """
    if database_url is None:
        return SqliteStore(data_dir / DEFAULT_SQLITE_NAME)
    try:
        url = parse_database_url(database_url)
    except ValueError as exc:
        raise ValueError(f"DATABASE_URL {exc}") from None
    if url.kind == "postgresql":
        return PostgresStore(url.dsn)
    assert url.path is not None
    return SqliteStore(url.path)
