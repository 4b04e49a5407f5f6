"""Schema migrations: numbered SQL files, one variant per backend.

``NNNN_name.postgresql.sql`` and ``NNNN_name.sqlite.sql`` are the same logical
step; a store applies the pending ones in order and records each name (without
the backend suffix) in ``schema_migrations``. A migration never changes once
released: a schema change is a new file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Backend = Literal["postgresql", "sqlite"]

# Both backends create this before looking for pending migrations.
SCHEMA_MIGRATIONS_POSTGRESQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SCHEMA_MIGRATIONS_SQLITE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
)
"""


@dataclass(frozen=True)
class Migration:
    name: str  # e.g. "0001_initial"
    sql: str


def load(backend: Backend) -> list[Migration]:
    """The migrations for ``backend``, in the order they must be applied."""
    suffix = f".{backend}.sql"
    found = [
        Migration(name=entry.name.removesuffix(suffix), sql=entry.read_text(encoding="utf-8"))
        for entry in resources.files(__package__).iterdir()
        if entry.name.endswith(suffix)
    ]
    return sorted(found, key=lambda m: m.name)


def split_statements(sql: str) -> list[str]:
    """Split a SQLite script into statements (the sqlite3 module runs one at a time).

    ``executescript`` would do it but commits first, which would take the
    migration out of its transaction.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_code(buffer):
        statements.append(buffer.strip())
    return statements


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())
