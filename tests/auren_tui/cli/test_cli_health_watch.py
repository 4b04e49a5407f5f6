"""``auren-tui health --watch`` against a real Redis that goes away and comes back.

The watch runs as operators run it (a subprocess, lines read as they are flushed).
How many refreshes it has done is read off a second, always-up Redis in its catalog
(``witness``): every refresh PINGs it once, and Redis counts the PINGs it served
(``INFO commandstats``), so "five more refreshes" is a condition to wait on.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auren_tui.core.catalog import Catalog
from auren_tui.core.config import LOCAL, AlertRules, AppConfig, Profile, save_config
from auren_tui.core.paths import Locations
from tests.services.base import ServiceUnavailable, unavailable, wait_until
from tests.services.redis import Redis

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def pings(redis: Redis) -> int:
    """PINGs ``redis`` has answered (INFO itself is no PING: reading does not count)."""
    with socket.create_connection((redis.host, redis.port), timeout=5) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        header, _, body = data.partition(b"\r\n")  # "$<length>", then the text
        while len(body) < int(header[1:]):
            body += s.recv(65536)
    found = re.search(rb"cmdstat_ping:calls=(\d+)", body)
    return int(found.group(1)) if found else 0


class Watch:
    """``auren-tui health --watch`` in a subprocess; ``lines`` grows as it prints."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "AUREN_TUI_HOME": str(home / "auren"),
        }
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "auren-tui"), "health", "--watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def matching(self, pattern: str) -> list[str]:
        return [line for line in list(self.lines) if re.search(pattern, line)]

    def wait_for(self, pattern: str, timeout: float = 20) -> None:
        wait_until(
            lambda: bool(self.matching(pattern)),
            timeout=timeout,
            what=lambda: f"a line matching {pattern!r}; got {self.lines}",
            proc=self.proc,  # type: ignore[arg-type]
        )

    def end(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send ``sig``; the exit status and stderr once it ended."""
        self.proc.send_signal(sig)
        return self.finish()

    def finish(self) -> tuple[int, str]:
        try:
            code = self.proc.wait(timeout=20)
        finally:
            self.kill()
        self._reader.join(10)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Redis, Redis]]:
    """The Redis that fails (``redis``) and the witness, both private to the test."""
    redis, witness = Redis(), Redis()
    try:
        redis.start()
        witness.start()
    except (ServiceUnavailable, OSError) as exc:
        redis.close()
        witness.close()
        unavailable(exc)
    yield redis, witness
    redis.close()
    witness.close()


def _configure(
    home: Path,
    redis: Redis,
    witness: Redis,
    *,
    alerts: AlertRules | None = None,
    profile_alerts: bool = True,
) -> None:
    """config.toml: the local profile's catalog with both Redis, the rules given."""
    overrides: dict[str, dict[str, object]] = {
        "redis": {"port": redis.port},
        "witness": {"port": witness.port, "check": "redis"},
    }
    local = Profile(
        name=LOCAL,
        service_overrides=overrides,
        catalog=Catalog().with_overrides(overrides),
        alerts=profile_alerts,
    )
    root = home / "auren"
    locations = Locations(root / "config", root / "data", root / "state", root / "cache")
    save_config(locations, AppConfig(profiles={LOCAL: local}, alerts=alerts or AlertRules()))


WATCH = ("--interval", "0.2", "--only", "redis,witness", "--no-docker")


def _refreshes(witness: Redis, more: int) -> None:
    """Wait until the watch has done ``more`` refreshes from now."""
    start = pings(witness)
    wait_until(lambda: pings(witness) >= start + more, timeout=30, what=f"{more} refreshes")


@pytest.mark.services
def test_one_line_per_transition_over_many_refreshes(
    watched: tuple[Redis, Redis], tmp_path: Path
) -> None:
    redis, witness = watched
    # Alerts off for the profile quiet the TUI; --watch still prints (its module says why).
    _configure(tmp_path, redis, witness, profile_alerts=False)
    watch = Watch(tmp_path, *WATCH)
    try:
        watch.wait_for("watching 2 services")
        _refreshes(witness, 3)
        redis.stop()
        watch.wait_for("  unhealthy  redis  ")
        _refreshes(witness, 5)  # still down, five refreshes later: no second line
        assert len(watch.matching("unhealthy")) == 1
        redis.start()
        watch.wait_for("  recovered  redis  ")
        _refreshes(witness, 5)
        code, err = watch.end(signal.SIGTERM)
    finally:
        watch.kill()
    assert code == 0, err
    assert err == ""
    assert len(watch.lines) == 3, watch.lines
    summary, down, up = watch.lines
    assert re.fullmatch(f"{TIME}  watching 2 services: all healthy", summary), summary
    assert re.fullmatch(f"{TIME}  unhealthy  redis  redis unhealthy: connection refused", down)
    assert re.fullmatch(f"{TIME}  recovered  redis  redis recovered", up), up


@pytest.mark.services
def test_a_rule_switched_off_prints_nothing(watched: tuple[Redis, Redis], tmp_path: Path) -> None:
    redis, witness = watched
    _configure(tmp_path, redis, witness, alerts=AlertRules(unhealthy=False))
    watch = Watch(tmp_path, *WATCH)
    try:
        watch.wait_for("watching 2 services")
        redis.stop()
        _refreshes(witness, 5)
        redis.start()
        _refreshes(witness, 5)
        code, err = watch.end(signal.SIGINT)  # Ctrl-C: a clean end too
    finally:
        watch.kill()
    assert (code, err) == (0, "")
    assert len(watch.lines) == 1, watch.lines


@pytest.mark.services
def test_count_and_json(watched: tuple[Redis, Redis], tmp_path: Path) -> None:
    redis, witness = watched
    _configure(tmp_path, redis, witness)
    before = pings(witness)
    watch = Watch(tmp_path, *WATCH, "--count", "3", "--json")
    try:
        code, err = watch.finish()
    finally:
        watch.kill()
    assert (code, err) == (0, "")  # at --count: as `health`, 0 when all is healthy
    assert pings(witness) == before + 3
    assert len(watch.lines) == 1
    line = json.loads(watch.lines[0])
    assert line["summary"] == "watching 2 services: all healthy"
    assert line["profile"] == LOCAL
    assert line["healthy"] is True
    assert re.fullmatch(TIME, line["at"])


@pytest.mark.services
def test_count_ends_with_the_last_status_and_json_alerts(
    watched: tuple[Redis, Redis], tmp_path: Path
) -> None:
    redis, witness = watched
    _configure(tmp_path, redis, witness)
    watch = Watch(tmp_path, *WATCH, "--count", "1000", "--json")
    try:
        watch.wait_for('"summary"')
        redis.stop()
        watch.wait_for('"rule": "unhealthy"')
        code, err = watch.end(signal.SIGTERM)
    finally:
        watch.kill()
    assert (code, err) == (0, "")
    alert = json.loads(watch.lines[1])
    assert {k: v for k, v in alert.items() if k != "at"} == {
        "rule": "unhealthy",
        "subject": "redis",
        "severity": "error",
        "text": "redis unhealthy: connection refused",
    }
    # Down at the end of --count: exit 1, as `health` says of an unhealthy stack.
    watch = Watch(tmp_path, *WATCH, "--count", "2")
    try:
        code, err = watch.finish()
    finally:
        watch.kill()
    assert (code, err) == (1, "")
    assert watch.matching("watching 2 services: 1 unhealthy \\(redis\\)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "3"], "--count goes with --watch"),
        (["--interval", "1"], "--interval goes with --watch"),
        (["--watch", "--count", "0"], "--count must be at least 1"),
        (["--watch", "--interval", "0"], "--interval must be a positive number"),
        (["--watch", "--interval", "-1"], "--interval must be a positive number"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AUREN_TUI_HOME": str(tmp_path / "auren"),
    }
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "auren-tui"), "health", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
