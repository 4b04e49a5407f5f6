"""Throwaway PostgreSQL: initdb + postgres in a temp dir on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    free_port,
    make_tempdir,
    netns_prefix,
    remove_tree,
    wait_until,
)


def _pg_bindir() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ServiceUnavailable(
        "PostgreSQL not found: install it with `apt-get install postgresql` (or run `make test`)"
    )


def _run_as() -> str | None:
    """initdb and postgres refuse to run as root: use the postgres account."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ServiceUnavailable("no unprivileged user to run PostgreSQL as")


@dataclass
class Postgres:
    """One PostgreSQL cluster. ``dsn`` is ready to use once ``start()`` returns.

    ``stop()``/``start()`` keep the data (for outage tests); ``close()`` removes it.
    """

    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    user: str = "auren"
    password: str = "auren-test"  # generated cluster, loopback only
    database: str = "auren_test"
    workdir: Path | None = None
    _proc: ManagedProcess | None = field(default=None, repr=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def _chown(self, path: Path, run_as: str | None) -> None:
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, bindir: Path, run_as: str | None) -> None:
        assert self.workdir is not None
        self._chown(self.workdir, run_as)
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password)
        self._chown(pwfile, run_as)
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.workdir / "data"),
                "-U",
                self.user,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=run_as,
        )
        pwfile.unlink()
        if self.netns:
            # Clients come from outside the namespace, over the veth pair.
            with (self.workdir / "data" / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\n")

    def start(self) -> Postgres:
        bindir = _pg_bindir()
        if self.netns:
            find_binary("ip", "iproute2")
        run_as = _run_as()
        self.port = self.port or free_port()
        first = self.workdir is None
        if self.workdir is None:
            self.workdir = make_tempdir("postgres")
        if first:
            self._initdb(bindir, run_as)
        log = self.workdir / "postgres.log"
        log.touch()
        self._chown(log, run_as)
        self._proc = ManagedProcess(
            [
                str(bindir / "postgres"),
                "-D",
                str(self.workdir / "data"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(self.workdir),
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            log=log,
            netns=self.netns,
            user=run_as,
        )
        proc = self._proc.start()
        isready = [
            *netns_prefix(self.netns),
            str(bindir / "pg_isready"),
            "-q",
            "-h",
            self.host,
            "-p",
            str(self.port),
        ]
        wait_until(
            lambda: subprocess.run(isready, check=False).returncode == 0,
            timeout=30,
            what=f"postgres on {self.host}:{self.port}",
            proc=proc,
            log=log,
        )
        if first:
            subprocess.run(
                [
                    *netns_prefix(self.netns),
                    str(bindir / "createdb"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "PGPASSWORD": self.password},
            )
        return self

    def psql(self, sql: str) -> str:
        """Run SQL with psql and return its unaligned output."""
        out = subprocess.run(
            [
                *netns_prefix(self.netns),
                str(_pg_bindir() / "psql"),
                "-XAtq",
                "-d",
                self.dsn,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        """Fast shutdown (SIGINT): connected clients are dropped, as in a real outage."""
        if self._proc is not None:
            import signal

            self._proc.signal(signal.SIGINT)
            self._proc.stop()
            self._proc = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.workdir)
