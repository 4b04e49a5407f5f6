from __future__ import annotations

import os
import subprocess

import asyncpg
import pytest

from tests.services.base import tcp_open
from tests.services.postgres import Postgres


async def test_postgres_answers_sql(postgres: Postgres) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("select 1 + 41") == 42
        version = await conn.fetchval("show server_version")
        assert int(version.split(".")[0]) >= 13
    finally:
        await conn.close()


def test_postgres_instance_is_gone_after_close() -> None:
    pg = Postgres().start()
    workdir, port = pg.workdir, pg.port
    assert workdir is not None
    assert workdir.exists()
    assert pg.psql("select 'up'") == "up"
    pg.close()
    assert not workdir.exists()
    assert not tcp_open("127.0.0.1", port)
    left = subprocess.run(["pgrep", "-f", "--", f"-p {port}"], capture_output=True, check=False)
    assert left.returncode == 1, "a postgres process survived close()"


@pytest.mark.skipif(os.geteuid() != 0, reason="stop/start keeps data; same as root")
def test_postgres_keeps_data_across_restart() -> None:
    pg = Postgres().start()
    try:
        pg.psql("create table t (x int); insert into t values (7)")
        pg.stop()
        assert not tcp_open("127.0.0.1", pg.port)
        pg.start()
        assert pg.psql("select x from t") == "7"
    finally:
        pg.close()
