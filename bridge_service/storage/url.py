"""What ``DATABASE_URL`` names: checked once, by the settings, before anything connects.

No heavy imports here: the settings validate the URL with this module and the
storage factory opens what it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


@dataclass(frozen=True)
class DatabaseUrl:
    """A supported database: PostgreSQL (an asyncpg DSN) or an SQLite file."""

    kind: Literal["postgresql", "sqlite"]
    dsn: str = ""
    path: Path | None = None


def parse_database_url(url: str) -> DatabaseUrl:
    """Classify ``url``, or raise ValueError with a message that never repeats it.

    ``postgres://``, ``postgresql://`` and ``postgresql+asyncpg://`` give
    PostgreSQL; ``sqlite:///relative/path`` or ``sqlite:////absolute/path``
    give SQLite (SQLAlchemy's forms). The URL may hold a password, so no
    message quotes it.
    """
    if not url.strip():
        raise ValueError(
            "is set but empty: unset it for the embedded SQLite, or give a postgresql:// URL"
        )
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise ValueError(
            "must start with postgresql:// or sqlite:/// (the value given has no "
            "recognisable scheme)"
        )
    scheme = scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        return DatabaseUrl("postgresql", dsn=f"postgresql://{rest}")
    if scheme in _SQLITE_SCHEMES:
        if not rest.startswith("/") or len(rest) < 2:
            raise ValueError(
                "for SQLite must look like sqlite:///relative/path or sqlite:////absolute/path"
            )
        return DatabaseUrl("sqlite", path=Path(rest[1:].split("?", 1)[0]))
    raise ValueError(f"scheme {scheme}:// is not supported: use postgresql:// or sqlite:///")
