"""The flight recorder: every dashboard refresh, in a bounded SQLite file per profile.

One transaction per refresh (a killed TUI leaves the last complete refresh,
nothing half-written); WAL (``auren-tui history`` reads while the TUI
writes); ``auto_vacuum=INCREMENTAL`` (deleted rows give disk back).
:meth:`FlightRecorder.prune` (on open, every ``prune_every`` appends) bounds
age (``keep_seconds``), density (rows older than ``thin_after``: the first of
each ``thin_step``) and size (the oldest go until within 90 % of
``max_bytes``; the newest stays). Bodies: codec.py (~300 bytes a refresh).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auren_tui.core.health.recording import RecordingError
from auren_tui.core.history.codec import compress, decode, plain
from auren_tui.core.history.model import Pruned
from auren_tui.core.model import Snapshot
from auren_tui.core.paths import Locations

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PRUNE_EVERY = 500  # appends between two prunes (~17 minutes at the default 2 s refresh)
PRUNE_SECONDS = 2.0  # a prune's size loop stops after this; the next one carries on
_HEADROOM = 0.9  # a prune leaves the database at most this share of max_bytes
_PAGE_ROWS = 500  # rows fetched per query when iterating a window
_WAL_PAGES = 256  # checkpoint every ~1 MiB of WAL (SQLite's default is ~4 MiB)
_BROKEN_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_ROWS = "SELECT taken_at, body FROM refreshes"
# Transactions are ours (BEGIN ... COMMIT); one connection shared under the lock.
_connect = partial(sqlite3.connect, timeout=2.0, isolation_level=None, check_same_thread=False)

_SCHEMA = (
    "CREATE TABLE refreshes (taken_at REAL PRIMARY KEY, healthy INTEGER NOT NULL,"
    " body BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)


class HistoryError(ValueError):
    """A flight recording that cannot be read: one line naming the file."""


class _NotOurs(Exception):
    """A readable SQLite file that is not a flight recording of this version."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _vacuum(conn: sqlite3.Connection) -> None:
    # executescript steps it to the end; execute() would free one page (one step).
    conn.executescript("PRAGMA incremental_vacuum;")


class FlightRecorder:
    """A profile's recorded refreshes (thread-safe: one lock, one connection).

    ``read_only=True`` never creates or changes the file; a missing one reads as
    empty. A damaged file: a writer moves it aside (``<name>.corrupt-<unix
    time>``) and starts afresh; a reader raises :class:`HistoryError` naming it.
    """

    def __init__(
        self,
        path: Path,
        *,
        keep_seconds: float = 7 * 86400.0,
        max_bytes: int = 100 * 2**20,
        thin_after: float = 86400.0,
        thin_step: float = 60.0,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self.path = Path(path)
        self.keep_seconds, self.max_bytes = float(keep_seconds), int(max_bytes)
        self.thin_after, self.thin_step = float(thin_after), float(thin_step)
        self.read_only, self.prune_every = read_only, max(1, prune_every)
        self._clock, self._lock = clock, threading.Lock()
        self._zdict: bytes | None = None  # the preset dictionary, once a refresh is in
        self._appended, self._closed = 0, False
        self._conn = self._open_reader() if read_only else self._open_writer()

    @staticmethod
    def path_for(locations: Locations, profile: str) -> Path:
        """Where ``profile``'s recording lives: ``<state dir>/history/<profile>.sqlite``."""
        if not profile or "/" in profile or profile.startswith("."):
            raise ValueError(f"flight recorder: invalid profile name {profile!r}")
        return locations.state_dir / "history" / f"{profile}.sqlite"

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            return self._connect_writer()
        except (sqlite3.DatabaseError, _NotOurs) as exc:
            if getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_NOTADB) not in _BROKEN_CODES:
                raise  # locked, full, unwritable: not the file's fault
            self._move_aside(exc)
            return self._connect_writer()

    def _connect_writer(self) -> sqlite3.Connection:
        # Created private; SQLite gives its -wal and -shm files the same mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        conn = _connect(self.path)
        try:
            deadline = time.monotonic() + PRUNE_SECONDS
            while not self._set_up(conn, last_try=time.monotonic() > deadline):
                time.sleep(0.01)  # another app is setting the same new file up
            self._zdict = self._load_zdict(conn)
            self._prune(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_up(self, conn: sqlite3.Connection, last_try: bool) -> bool:
        """WAL, and a new file's tables, under one write lock: two apps opening one new
        profile's file at once must not take each other's half-made file for another
        program's (and move it aside). False: the other one holds the lock, try again."""
        try:
            # Takes effect only on a file without tables, and never inside a transaction.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if last_try or exc.sqlite_errorcode not in _BUSY_CODES:
                raise
            return False
        try:
            if self._check_ours(conn):  # new: its tables
                for statement in _SCHEMA:
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_PAGES * 4096}")
        return True

    def _open_reader(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        uri = f"file:{quote(str(self.path.absolute()))}?mode=ro"
        conn = None
        try:
            conn = _connect(uri, uri=True)
            if not self._check_ours(conn):
                self._zdict = self._load_zdict(conn)
        except (sqlite3.Error, _NotOurs) as exc:
            if conn is not None:
                conn.close()
            why = _one_line(exc)
            raise HistoryError(f"{self.path}: not a readable flight recording ({why})") from None
        return conn

    @staticmethod
    def _check_ours(conn: sqlite3.Connection) -> bool:
        """True: empty (to set up); False: a recording of ours; else ``_NotOurs``."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and not tables:
            return True
        if version == SCHEMA_VERSION and {"refreshes", "meta"} <= tables:
            return False
        raise _NotOurs(f"schema version {version}, tables {', '.join(sorted(tables)) or 'none'}")

    @staticmethod
    def _load_zdict(conn: sqlite3.Connection) -> bytes | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'zdict'").fetchone()
        return None if row is None else bytes(row[0])

    def _move_aside(self, exc: BaseException) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):  # a stale WAL must never meet the new file
            if os.path.exists(f"{self.path}{suffix}"):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        why = _one_line(exc)
        log.warning("flight recorder %s damaged (%s): moved aside to %s", self.path, why, aside)

    def _writer(self) -> sqlite3.Connection:
        if self.read_only or self._conn is None:
            state = "open read-only" if self.read_only else "closed"
            raise RuntimeError(f"flight recorder {self.path} is {state}")
        return self._conn

    def append(self, snapshot: Snapshot) -> None:
        """Record one refresh in one transaction (same ``taken_at``: replaced)."""
        self.append_many((snapshot,))

    def append_many(self, snapshots: Iterable[Snapshot]) -> int:
        """Record refreshes, one transaction per ``prune_every`` at most, pruning as
        ``append`` would (a fast path for imports and tests); how many were recorded."""
        batch: list[tuple[Snapshot, bytes]] = []
        done = 0  # recorded so far
        for snapshot in snapshots:
            batch.append((snapshot, plain(snapshot)))
            if len(batch) >= self.prune_every - self._appended % self.prune_every:
                done += self._write(batch)
                batch = []
        return done + (self._write(batch) if batch else 0)

    def _write(self, batch: list[tuple[Snapshot, bytes]]) -> int:
        with self._lock:
            conn = self._writer()
            self._insert(conn, batch)
            before, self._appended = self._appended, self._appended + len(batch)
            if self._appended // self.prune_every > before // self.prune_every:
                self._prune(conn)
        return len(batch)

    def _insert(self, conn: sqlite3.Connection, batch: list[tuple[Snapshot, bytes]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            zdict = self._zdict
            if zdict is None:  # the file's dictionary, unless another app has set it since
                zdict = self._load_zdict(conn)
                if zdict is None:
                    zdict = batch[0][1]
                    conn.execute("INSERT INTO meta VALUES ('zdict', ?)", (zdict,))
            rows = [(s.taken_at, int(s.healthy), compress(raw, zdict)) for s, raw in batch]
            conn.executemany("INSERT OR REPLACE INTO refreshes VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._zdict = zdict

    def prune(self) -> Pruned:
        """Apply the age, density and size bounds now (see the module's docstring)."""
        with self._lock:
            return self._prune(self._writer())

    def _prune(self, conn: sqlite3.Connection) -> Pruned:
        started, now = time.monotonic(), self._clock()
        cut = now - self.keep_seconds
        expired = conn.execute("DELETE FROM refreshes WHERE taken_at < ?", (cut,)).rowcount
        thinned = 0
        if self.thin_step > 0:
            thinned = conn.execute(
                "DELETE FROM refreshes WHERE taken_at < :cut AND taken_at NOT IN ("
                " SELECT min(taken_at) FROM refreshes WHERE taken_at < :cut"
                " GROUP BY CAST(taken_at / :step AS INTEGER))",
                {"cut": now - self.thin_after, "step": self.thin_step},
            ).rowcount
        _vacuum(conn)
        capped = 0
        if self._db_bytes(conn) > self.max_bytes * _HEADROOM:
            capped = self._cap(conn, started + PRUNE_SECONDS)
        if expired or thinned or capped:
            # Passive: never waits for a reader; the file shrinks once none holds it.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return Pruned(expired, thinned, capped, time.monotonic() - started, self.size_bytes())

    def _cap(self, conn: sqlite3.Connection, deadline: float) -> int:
        """Delete the oldest rows in chunks until under the headroom; the newest stays."""
        target, deleted, last = self.max_bytes * _HEADROOM, 0, None
        while time.monotonic() < deadline:
            size = self._db_bytes(conn)
            rows = conn.execute("SELECT count(*) FROM refreshes").fetchone()[0]
            if size <= target or rows <= 1 or size == last:  # == last: nothing given back
                break
            last = size
            # Rows sized as the average; old, thinned rows hold more: a few rounds.
            chunk = min(rows - 1, max(16, int((size - target) * rows / size) + 1))
            deleted += conn.execute(
                "DELETE FROM refreshes WHERE taken_at IN ("
                " SELECT taken_at FROM refreshes ORDER BY taken_at LIMIT ?)",
                (chunk,),
            ).rowcount
            _vacuum(conn)
        return deleted

    @staticmethod
    def _db_bytes(conn: sqlite3.Connection) -> int:
        """The database's own size (what the file comes to once checkpointed)."""
        sql = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        return int(conn.execute(sql).fetchone()[0])

    def _query(self, sql: str, params: Any = ()) -> tuple[list[Any], bytes]:
        """Rows of ``sql`` and the dictionary to decode them (none: nothing recorded)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                if self._closed:
                    raise RuntimeError(f"flight recorder {self.path} is closed")
                return [], b""  # a reader of a file that does not exist
            try:
                if self._zdict is None and self._check_ours(conn) is False:
                    self._zdict = self._load_zdict(conn)  # a writer has started since
                if self._zdict is None:
                    return [], b""
                return conn.execute(sql, params).fetchall(), self._zdict
            except (sqlite3.DatabaseError, _NotOurs) as exc:
                raise HistoryError(f"{self.path}: unreadable: {_one_line(exc)}") from None

    def _decode(self, taken_at: float, body: bytes, zdict: bytes) -> Snapshot:
        try:
            return decode(body, zdict)
        except (zlib.error, ValueError, RecordingError) as exc:
            why = f"refresh at {taken_at} is unreadable: {_one_line(exc)}"
            raise HistoryError(f"{self.path}: {why}") from None

    def _one(self, sql: str, params: Any = ()) -> Snapshot | None:
        rows, zdict = self._query(sql, params)
        return self._decode(rows[0][0], rows[0][1], zdict) if rows else None

    def count(self) -> int:
        """How many refreshes are recorded."""
        rows, _ = self._query("SELECT count(*) FROM refreshes")
        return int(rows[0][0]) if rows else 0

    def first(self) -> Snapshot | None:
        """The oldest refresh recorded (None: none)."""
        return self._one(f"{_ROWS} ORDER BY taken_at LIMIT 1")

    def last(self) -> Snapshot | None:
        """The newest refresh recorded (None: none)."""
        return self._one(f"{_ROWS} ORDER BY taken_at DESC LIMIT 1")

    def at_or_before(self, t: float) -> Snapshot | None:
        """What the dashboard showed at unix time ``t`` (None: before the first)."""
        return self._one(f"{_ROWS} WHERE taken_at <= ? ORDER BY taken_at DESC LIMIT 1", (t,))

    def step(self, taken_at: float, delta: int) -> Snapshot | None:
        """The refresh ``|delta|`` steps before (``delta < 0``) or after (``> 0``) the time
        ``taken_at``, recorded or not; the one at ``taken_at`` for 0; None past either end."""
        order, op = ("DESC", "<") if delta < 0 else ("ASC", ">" if delta else "=")
        return self._one(
            f"{_ROWS} WHERE taken_at {op} ? ORDER BY taken_at {order} LIMIT 1 OFFSET ?",
            (taken_at, max(abs(delta) - 1, 0)),
        )

    def between(self, since: float, until: float, *, every: float = 0.0) -> list[Snapshot]:
        """Refreshes with ``since <= taken_at <= until``, oldest first (``every``: below)."""
        return list(self.iter_between(since, until, every=every))

    def iter_between(self, since: float, until: float, *, every: float = 0.0) -> Iterator[Snapshot]:
        """As :meth:`between`, a page at a time (a week exports in bounded memory); ``every
        > 0``: the first of each ``every``-second bucket (24 h need not decode 43,200)."""
        where = " AND taken_at <= :until"
        if every > 0:
            where += (
                " AND taken_at IN (SELECT min(taken_at) FROM refreshes"
                " WHERE taken_at BETWEEN :since AND :until GROUP BY CAST(taken_at / :every AS INT))"
            )
        where += f" ORDER BY taken_at LIMIT {_PAGE_ROWS}"
        params = {"after": since, "since": since, "until": until, "every": every}
        op = ">="  # then ">" the last row of the page before
        while True:
            rows, zdict = self._query(f"{_ROWS} WHERE taken_at {op} :after{where}", params)
            for taken_at, body in rows:
                yield self._decode(taken_at, body, zdict)
            if len(rows) < _PAGE_ROWS:
                return
            op, params["after"] = ">", rows[-1][0]

    def size_bytes(self) -> int:
        """The bytes the recording takes on disk: the file and its WAL (0 when missing)."""
        files = (self.path, Path(f"{self.path}-wal"))
        return sum(os.stat(f).st_size if os.path.exists(f) else 0 for f in files)

    def close(self) -> None:
        """Close the file (idempotent); the last connection folds the WAL into it."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> FlightRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
