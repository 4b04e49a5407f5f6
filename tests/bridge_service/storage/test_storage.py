"""Both storage backends against the same contract, on real databases.

PostgreSQL tests run in a database created for this module, each test in a
fresh schema of it; SQLite tests each get a file under tmp_path. The outage
tests start their own PostgreSQL so they can stop it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from bridge_service.schema import Envelope
from bridge_service.storage.base import Backlog, StorageUnavailable, Store, UnstorableEvent
from bridge_service.storage.factory import make_store
from bridge_service.storage.postgres import PostgresStore
from bridge_service.storage.sqlite import SqliteStore
from tests.services.postgres import Postgres

pytestmark = pytest.mark.services  # real bridge processes, databases, Kafka

CANARY = "canary-pw-1234-do-not-print"

StoreMaker = Callable[[], Awaitable[Store]]


def envelope(event_id: str = "evt-1", source: str = "oura", **changes: object) -> Envelope:
    fields: dict[str, object] = {
        "event_id": event_id,
        "source": source,
        "user_id": "user-42",
        "event_type": "sleep.updated",
        "occurred_at": datetime(2025, 3, 1, 6, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        "received_at": datetime(2025, 3, 1, 4, 31, 0, 654321, tzinfo=UTC),
        "trace_id": "trace-abc",
        "payload": {"score": 87, "hrv": 45.25, "nested": {"list": [1, "two", None, True]}},
    }
    fields.update(changes)
    return Envelope.model_validate(fields)


def wire(env: Envelope) -> bytes:
    return env.model_dump_json().encode()


async def insert(store: Store, event_id: str, source: str = "oura") -> bool:
    env = envelope(event_id, source)
    return await store.insert(env, wire(env))


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database(postgres: Postgres) -> Iterator[str]:
    """DSN of a database that only this module uses."""
    name = f"storage_{uuid.uuid4().hex[:12]}"
    postgres.psql(f"CREATE DATABASE {name}")
    yield postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
    postgres.psql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where this test's stores live: a SQLite file, or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return tmp_path / "bridge.sqlite3"
    dsn: str = request.getfixturevalue("pg_database")
    return dsn


@pytest.fixture
async def new_store(target: str | Path) -> AsyncIterator[StoreMaker]:
    """Opens migrated stores on one database; each call is another instance."""
    opened: list[Store] = []
    if isinstance(target, str):
        # A fresh schema per test, chosen through the DSN's search_path.
        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(target)
        try:
            await conn.execute(f"CREATE SCHEMA {schema}")
        finally:
            await conn.close()
        target = f"{target}?search_path={schema}"

    async def make(migrate: bool = True) -> Store:
        store: Store = PostgresStore(target) if isinstance(target, str) else SqliteStore(target)
        await store.open()
        opened.append(store)
        if migrate:
            await store.migrate()
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(new_store: Callable[..., Awaitable[Store]]) -> Store:
    return await new_store()


# -- schema -----------------------------------------------------------------


async def test_migrate_is_idempotent(new_store: Callable[..., Awaitable[Store]]) -> None:
    store = await new_store(migrate=False)
    assert await store.migrate() == ["0001_initial"]
    assert await store.migrate() == []
    assert await store.count_events() == 0


async def test_concurrent_migrations_apply_once(
    new_store: Callable[..., Awaitable[Store]],
) -> None:
    stores = [await new_store(migrate=False) for _ in range(3)]
    results = await asyncio.gather(*(s.migrate() for s in stores))
    assert sorted(results) == [[], [], ["0001_initial"]]


# -- insert -----------------------------------------------------------------


async def test_insert_new_then_duplicate(store: Store) -> None:
    assert await insert(store, "evt-1") is True
    assert await insert(store, "evt-1") is False
    assert await store.count_events() == 1
    assert (await store.backlog()).count == 1


async def test_same_event_id_from_two_sources_is_two_events(store: Store) -> None:
    assert await insert(store, "evt-1", "oura") is True
    assert await insert(store, "evt-1", "whoop") is True
    assert await store.count_events() == 2
    assert await store.count_events("oura") == 1
    assert await store.count_events("terra") == 0
    assert (await store.backlog()).count == 2


async def test_concurrent_inserts_of_one_event_store_it_once(new_store: StoreMaker) -> None:
    stores = [await new_store() for _ in range(4)]
    results = await asyncio.gather(*(insert(stores[i % 4], "evt-race") for i in range(20)))
    assert results.count(True) == 1
    assert await stores[0].count_events() == 1
    assert (await stores[0].backlog()).count == 1


async def test_concurrent_inserts_each_get_their_own_answer(store: Store) -> None:
    """PostgreSQL stores the inserts of one loop turn in one statement: each caller
    still learns whether its own event was new, and each new one gets its outbox row."""
    assert await insert(store, "a") is True
    results = await asyncio.gather(*(insert(store, e) for e in ["a", "b", "c", "b", "d"]))
    assert results == [False, True, True, False, True]
    assert await store.event_ids() == ["a", "b", "c", "d"]
    assert (await store.backlog()).count == 4
    claimed = await store.claim(10, 30, "t")
    assert [row.event_id for row in claimed] == ["a", "b", "c", "d"]


async def test_a_row_the_database_refuses_never_fails_its_batch(store: Store) -> None:
    """An event whose data no store can hold (here built past the parser, which
    refuses such bodies first) fails alone: its neighbours in the same batch
    are stored, and the database stays available."""
    bad = [
        envelope("bad-inf", payload={"x": float("inf")}),
        envelope("bad-nan", payload={"x": float("nan")}),
        envelope("bad-surrogate", payload={"x": "\ud800"}),
    ]
    if store.backend == "postgresql":  # SQLite text holds NUL; PostgreSQL's does not
        bad.append(envelope("bad-nul", payload={"x": "a\u0000b"}))
    good = [envelope(f"good-{i}") for i in range(6)]
    mixed: list[Envelope] = []
    for i, refused in enumerate(bad):
        mixed += [good[i], refused]
    mixed.append(good[4])
    results = await asyncio.gather(
        *(store.insert(e, wire_or_raw(e)) for e in mixed), return_exceptions=True
    )
    for env, result in zip(mixed, results, strict=True):
        if env.event_id.startswith("bad"):
            assert isinstance(result, UnstorableEvent), (env.event_id, result)
            assert "\n" not in str(result)
        else:
            assert result is True, (env.event_id, result)
    assert await insert(store, "good-5") is True  # the store is still working
    stored = [e.event_id for e in mixed if e.event_id.startswith("good")] + ["good-5"]
    assert sorted(await store.event_ids()) == sorted(stored)
    assert (await store.backlog()).count == len(stored)


def wire_or_raw(env: Envelope) -> bytes:
    """The published value; envelopes pydantic cannot serialise get a stand-in (the
    database is what refuses them here)."""
    try:
        return wire(env)
    except ValueError:
        return b"{}"


async def test_a_second_copy_waits_for_the_first_copys_outcome(
    new_store: StoreMaker, target: str | Path
) -> None:
    """The same event twice in one batch: the copy is "duplicate" only once the
    first copy is durable; when the write fails, both copies fail."""
    store = await new_store()
    if isinstance(target, str):
        conn = await asyncpg.connect(target)
        schema = store._dsn.rsplit("search_path=", 1)[1]  # type: ignore[attr-defined]
        try:
            await conn.execute(
                f"""
                CREATE FUNCTION {schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF NEW.event_id LIKE 'doomed%' THEN RAISE EXCEPTION 'injected failure'; END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER refuse BEFORE INSERT ON {schema}.outbox
                  FOR EACH ROW EXECUTE FUNCTION {schema}.refuse();
                """
            )
        finally:
            await conn.close()
        failure: type[Exception] = StorageUnavailable
    else:
        db = sqlite3.connect(target)
        db.executescript(
            """
            CREATE TRIGGER refuse BEFORE INSERT ON outbox
            WHEN NEW.event_id LIKE 'doomed%'
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
            """
        )
        db.close()
        failure = UnstorableEvent  # SQLite reports a trigger's ABORT as a constraint error
    doomed = envelope("doomed-1")
    results = await asyncio.gather(
        store.insert(doomed, wire(doomed)),
        store.insert(doomed, wire(doomed)),
        insert(store, "fine-1"),
        store.insert(doomed, wire(doomed)),
        return_exceptions=True,
    )
    for copy in (results[0], results[1], results[3]):
        assert isinstance(copy, failure), results  # never "False": nothing was stored
    # A failed statement fails its batch (503, retried) unless the row alone was refused.
    assert results[2] is True or isinstance(results[2], StorageUnavailable), results
    assert await store.event_ids() == (["fine-1"] if results[2] is True else [])

    ok = envelope("twice-1")
    results = await asyncio.gather(store.insert(ok, wire(ok)), store.insert(ok, wire(ok)))
    assert results == [True, False]
    assert (await store.backlog()).count == len(await store.event_ids())


async def test_event_ids_in_insertion_order(store: Store) -> None:
    for event_id, source in [("b", "oura"), ("a", "whoop"), ("c", "oura")]:
        await insert(store, event_id, source)
    assert await store.event_ids() == ["b", "a", "c"]
    assert await store.event_ids("oura") == ["b", "c"]


async def test_get_event_round_trips_the_envelope(store: Store) -> None:
    env = envelope(payload={"text": "naïve ✓ 😀", "n": [1, 2.5, None], "ok": False})
    before = datetime.now(UTC)
    await store.insert(env, wire(env))
    found = await store.get_event("oura", "evt-1")
    assert found is not None
    stored, stored_at = found
    assert stored == env
    assert stored.occurred_at == env.occurred_at
    assert stored.received_at == env.received_at
    assert stored_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= stored_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert await store.get_event("whoop", "evt-1") is None


async def test_optional_fields_round_trip_as_none(store: Store) -> None:
    env = envelope(occurred_at=None, trace_id=None)
    await store.insert(env, wire(env))
    found = await store.get_event("oura", "evt-1")
    assert found is not None
    assert found[0] == env


async def test_naive_datetimes_are_taken_as_utc(store: Store) -> None:
    env = envelope(received_at=datetime(2025, 3, 1, 4, 31))
    await store.insert(env, wire(env))
    found = await store.get_event("oura", "evt-1")
    assert found is not None
    assert found[0].received_at == datetime(2025, 3, 1, 4, 31, tzinfo=UTC)


# -- outbox -----------------------------------------------------------------


async def test_claim_leases_rows_in_order(store: Store) -> None:
    for i in range(5):
        await insert(store, f"evt-{i}")
    first = await store.claim(3, lease_seconds=30, owner="relay-a")
    assert [r.event_id for r in first] == ["evt-0", "evt-1", "evt-2"]
    assert [r.id for r in first] == sorted(r.id for r in first)
    assert all(r.attempts == 0 and r.source == "oura" for r in first)
    assert first[0].value == wire(envelope("evt-0"))
    assert first[0].trace_id == "trace-abc"
    assert first[0].user_id == "user-42"
    second = await store.claim(10, lease_seconds=30, owner="relay-b")
    assert [r.event_id for r in second] == ["evt-3", "evt-4"]
    assert await store.claim(10, lease_seconds=30, owner="relay-c") == []


async def test_concurrent_claims_get_disjoint_rows(new_store: StoreMaker) -> None:
    stores = [await new_store() for _ in range(4)]
    for round_ in range(5):
        for i in range(40):
            await insert(stores[0], f"evt-{round_}-{i}")
        claims = await asyncio.gather(
            *(s.claim(15, lease_seconds=30, owner=f"relay-{n}") for n, s in enumerate(stores))
        )
        ids = [row.id for rows in claims for row in rows]
        assert len(ids) == len(set(ids)) == 40
        for n, (s, rows) in enumerate(zip(stores, claims, strict=True)):
            await s.mark_published([r.id for r in rows], owner=f"relay-{n}")
        assert (await stores[0].backlog()).count == 0


async def test_expired_lease_makes_rows_claimable_again(store: Store) -> None:
    await insert(store, "evt-1")
    [row] = await store.claim(10, lease_seconds=0.2, owner="relay-a")
    assert await store.claim(10, lease_seconds=30, owner="relay-b") == []
    await asyncio.sleep(0.3)
    [again] = await store.claim(10, lease_seconds=30, owner="relay-b")
    assert again.id == row.id
    # relay-a's lease is gone: its late acknowledgement must not delete the row.
    await store.mark_published([row.id], owner="relay-a")
    assert (await store.backlog()).count == 1
    await store.mark_published([row.id], owner="relay-b")
    assert (await store.backlog()).count == 0


async def test_extend_keeps_a_lease_only_for_its_owner(store: Store) -> None:
    await insert(store, "evt-1")
    [row] = await store.claim(10, lease_seconds=0.3, owner="relay-a")
    await store.extend([row.id], owner="relay-b", lease_seconds=30)  # not b's: no effect
    await store.extend([row.id], owner="relay-a", lease_seconds=30)
    await asyncio.sleep(0.4)
    # Past the first lease, but extended: nobody else may take it.
    assert await store.claim(10, lease_seconds=30, owner="relay-b") == []
    await store.mark_published([row.id], owner="relay-a")
    assert (await store.backlog()).count == 0


async def test_mark_published_by_another_owner_does_nothing(store: Store) -> None:
    await insert(store, "evt-1")
    await insert(store, "evt-2")
    rows = await store.claim(10, lease_seconds=30, owner="relay-a")
    await store.mark_published([r.id for r in rows], owner="relay-b")
    assert (await store.backlog()).count == 2
    await store.mark_published([rows[0].id], owner="relay-a")
    assert (await store.backlog()).count == 1
    await store.mark_published([], owner="relay-a")
    assert await store.count_events() == 2  # events stay; only the outbox row goes


async def test_release_counts_the_attempt_and_frees_the_row(store: Store) -> None:
    await insert(store, "evt-1")
    [row] = await store.claim(10, lease_seconds=30, owner="relay-a")
    await store.release([row.id], owner="relay-b", error="not mine")
    assert await store.claim(10, lease_seconds=30, owner="relay-b") == []
    await store.release([row.id], owner="relay-a", error="kafka down " * 1000)
    [again] = await store.claim(10, lease_seconds=30, owner="relay-b")
    assert (again.id, again.attempts) == (row.id, 1)
    await store.release([again.id], owner="relay-b", error="still down")
    [third] = await store.claim(10, lease_seconds=30, owner="relay-a")
    assert third.attempts == 2


async def test_backlog_counts_and_ages(store: Store) -> None:
    assert await store.backlog() == Backlog(count=0, oldest_age_seconds=None)
    await insert(store, "evt-1")
    await asyncio.sleep(0.25)
    await insert(store, "evt-2")
    backlog = await store.backlog()
    assert backlog.count == 2
    assert backlog.oldest_age_seconds is not None
    assert 0.2 <= backlog.oldest_age_seconds < 30
    await store.claim(10, lease_seconds=30, owner="relay-a")
    assert (await store.backlog()).count == 2  # leased rows are still unpublished


async def test_ping(store: Store) -> None:
    await store.ping()


# -- PostgreSQL failures ------------------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[Postgres]:
    """A PostgreSQL of this test's own, with a canary password, that it may stop."""
    pg = Postgres(password=CANARY)
    try:
        pg.start()
    except Exception as exc:
        pg.close()
        pytest.skip(f"cannot start a private PostgreSQL: {exc}".splitlines()[0])
    yield pg
    pg.close()


async def stop_server(pg: Postgres) -> None:
    """An outage: the server drops every client connection and goes away.

    A fast shutdown (SIGINT to the postmaster) disconnects clients at once; the
    harness's SIGTERM would wait for the pool's connections to leave.
    """
    assert pg.workdir is not None
    pid = int((pg.workdir / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGINT)
    await asyncio.to_thread(pg.stop)


def assert_clean(exc: StorageUnavailable, pg: Postgres) -> None:
    message = str(exc)
    assert CANARY not in message
    assert "\n" not in message
    assert f"{pg.host}:{pg.port}" in message


async def test_postgres_outage_fails_fast_and_recovers(private_postgres: Postgres) -> None:
    pg = private_postgres
    store = PostgresStore(pg.dsn, command_timeout=2, connect_timeout=2)
    try:
        await store.open()
        await store.migrate()
        assert await insert(store, "before") is True

        await stop_server(pg)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: insert(store, "during"),
            store.ping,
            store.backlog,
            lambda: store.claim(10, 30, "relay-a"),
        ]
        for call in calls:
            async with asyncio.timeout(5):  # a bound, not a performance claim
                with pytest.raises(StorageUnavailable) as info:
                    await call()
            assert_clean(info.value, pg)

        await asyncio.to_thread(pg.start)
        assert await insert(store, "after") is True
        assert await store.event_ids() == ["before", "after"]
    finally:
        await store.close()


async def test_postgres_down_at_open_then_recovers(private_postgres: Postgres) -> None:
    pg = private_postgres
    await stop_server(pg)
    store = PostgresStore(pg.dsn, command_timeout=2, connect_timeout=2)
    try:
        async with asyncio.timeout(10):
            with pytest.raises(StorageUnavailable) as info:
                await store.open()
            assert_clean(info.value, pg)
            with pytest.raises(StorageUnavailable) as info:
                await insert(store, "during")
            assert_clean(info.value, pg)

        await asyncio.to_thread(pg.start)
        assert await store.migrate() == ["0001_initial"]
        assert await insert(store, "after") is True
    finally:
        await store.close()


async def test_postgres_wrong_password_never_echoes_it(postgres: Postgres) -> None:
    dsn = postgres.dsn.replace(f":{postgres.password}@", f":{CANARY}@")
    store = PostgresStore(dsn, connect_timeout=2)
    try:
        with pytest.raises(StorageUnavailable) as info:
            await store.open()
        assert CANARY not in str(info.value)
        assert "InvalidPasswordError" in str(info.value)
        assert CANARY not in repr(store)
    finally:
        await store.close()


async def test_postgres_that_never_answers_times_out_at_open() -> None:
    # A socket that accepts connections (the kernel does) but never speaks.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = PostgresStore(
            f"postgresql://auren:{CANARY}@127.0.0.1:{port}/auren", connect_timeout=0.5
        )
        async with asyncio.timeout(5):
            with pytest.raises(StorageUnavailable, match="TimeoutError") as info:
                await store.open()
        assert CANARY not in str(info.value)
        await store.close()


# -- SQLite specifics -------------------------------------------------------------


async def test_sqlite_creates_its_directory_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "bridge.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        await store.migrate()
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    assert names == {"0001_initial"}


async def test_sqlite_unusable_path_is_storage_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = SqliteStore(tmp_path / "file" / "bridge.sqlite3")
    with pytest.raises(StorageUnavailable, match=r"unavailable \(open\)"):
        await store.open()
    with pytest.raises(StorageUnavailable, match="not open"):
        await insert(store, "evt-1")


async def test_sqlite_write_lock_held_elsewhere_is_unavailable_then_clears(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bridge.sqlite3"
    store = SqliteStore(path, busy_timeout=0.2)
    await store.open()
    try:
        await store.migrate()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageUnavailable, match="database is locked"):
            await insert(store, "evt-1")
        other.execute("COMMIT")
        other.close()
        assert await insert(store, "evt-1") is True
    finally:
        await store.close()


# -- factory ------------------------------------------------------------------


def test_factory_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    store = make_store(None, tmp_path)
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "bridge.sqlite3"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/bridge.db", Path("relative/bridge.db")),
        ("sqlite:////abs/bridge.db", Path("/abs/bridge.db")),
        ("sqlite+aiosqlite:////abs/bridge.db", Path("/abs/bridge.db")),
    ],
)
def test_factory_sqlite_urls(url: str, path: Path, tmp_path: Path) -> None:
    store = make_store(url, tmp_path)
    assert isinstance(store, SqliteStore)
    assert store.path == path


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg", "PostgreSQL"])
def test_factory_postgres_urls(scheme: str, tmp_path: Path) -> None:
    store = make_store(f"{scheme}://auren:{CANARY}@db.example:6543/auren", tmp_path)
    assert isinstance(store, PostgresStore)
    assert store.backend == "postgresql"
    assert store.target == "db.example:6543/auren"
    assert CANARY not in repr(store)


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://auren:{CANARY}@db/auren",
        f"auren:{CANARY}@db/auren",
        f"{CANARY}",
        "sqlite://relative.db",
        "",
    ],
)
def test_factory_rejects_other_urls_without_echoing_them(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL") as info:
        make_store(url, tmp_path)
    assert CANARY not in str(info.value)
    assert "\n" not in str(info.value)
