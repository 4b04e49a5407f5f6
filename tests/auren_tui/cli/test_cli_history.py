"""``auren-tui history``: the real script on a recorder the test fills, no service.

It needs no connection: a profile whose server is a listener that counts
connections is read with none made, and Textual is never imported.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auren_tui.cli import UsageError
from auren_tui.cli.history import parse_duration, parse_until
from auren_tui.core.health.recording import snapshot_to_dict
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.model import BridgeFigures, Snapshot
from auren_tui.core.paths import Locations
from tests.auren_tui.data import stack

AUREN_TUI = str(Path(sys.executable).parent / "auren-tui")


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"AUREN_TUI_HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "TZ": "UTC", "HOME": str(home)}  # fmt: skip
    return subprocess.run(
        [AUREN_TUI, "history", *args], env=env, capture_output=True, text=True,
        timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_json(home: Path, *args: str) -> Any:
    """``history --json``: exit 0, and stdout one JSON document."""
    done = run(home, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def record(home: Path, profile: str, snapshots: list[Snapshot]) -> None:
    locations = Locations(home / "config", home / "data", home / "state", home / "cache")
    with FlightRecorder(FlightRecorder.path_for(locations, profile)) as recorder:
        for snapshot in snapshots:
            recorder.append(snapshot)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[Snapshot]]:
    """The built-in ``local`` profile's recording: three refreshes of the last ten
    minutes (the second with redis down and a backlog), one of two hours ago."""
    now = float(int(time.time()))
    slow = BridgeFigures({"oura/accepted": 4.5, "whoop/accepted": 1.25}, p95_seconds=0.2104,
                         outbox_backlog=17.0, circuit_state="open")  # fmt: skip
    snapshots = [
        stack(at=now - 7200),
        stack(at=now - 600),
        replace(stack(at=now - 300, redis_down=True), bridge=slow),
        stack(at=now - 60, bridge_health="degraded"),
    ]
    record(tmp_path, "local", snapshots)
    return tmp_path, snapshots


def test_the_table_is_a_line_per_refresh_and_the_count(
    recorded: tuple[Path, list[Snapshot]],
) -> None:
    home, snapshots = recorded
    done = run(home)  # default: the last hour
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["TIME", "WEBHOOKS/S", "P95", "MS", "OUTBOX", "CIRCUIT", "SERVICES"]
    clock = [time.strftime("%H:%M:%S", time.gmtime(s.taken_at)) for s in snapshots[1:]]
    assert [line.split()[0] for line in lines[1:4]] == clock
    assert lines[1].split()[1:] == ["6.30", "12", "0", "closed", "all", "8", "healthy"]
    assert lines[2].split()[1:] == ["5.75", "210", "17", "open", "redis", "unhealthy"]
    assert lines[3].split()[5:] == ["bridge", "degraded"]
    assert lines[4].startswith("3 refreshes of profile local from ")
    assert len(lines) == 5  # the refresh of two hours ago is outside the hour


def test_json_is_one_document_of_the_recording_format(
    recorded: tuple[Path, list[Snapshot]],
) -> None:
    home, snapshots = recorded
    document = run_json(home, "--since", "3h")
    assert document["profile"] == "local"
    assert document["until"] - document["since"] == pytest.approx(3 * 3600)
    assert abs(document["until"] - time.time()) < 30
    expected = json.loads(
        json.dumps([{"healthy": s.healthy, **snapshot_to_dict(s)} for s in snapshots])
    )
    assert document["refreshes"] == expected
    assert [r["healthy"] for r in document["refreshes"]] == [True, True, False, False]


def test_until_narrows_the_window(recorded: tuple[Path, list[Snapshot]]) -> None:
    home, snapshots = recorded
    times = [r["taken_at"] for r in run_json(home, "--since", "3h", "--until", "4m")["refreshes"]]
    assert times == [s.taken_at for s in snapshots[:3]]


def test_a_profile_never_recorded_is_an_empty_history_exit_0(tmp_path: Path) -> None:
    done = run(tmp_path, "--since", "7d")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no refreshes recorded for profile local since ")
    assert len(done.stdout.splitlines()) == 1
    assert run_json(tmp_path)["refreshes"] == []
    assert not (tmp_path / "state" / "history").exists()  # a reader creates nothing


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "1x"], "--since '1x': expected a duration such as 15m, 1h, 7d"),
        (["--since", "0m"], "--since '0m': expected a duration"),
        (["--since", "\u0663h"], "--since '\u0663h': expected a duration"),  # ٣: not ASCII
        (["--since=-1h"], "--since '-1h': expected a duration"),
        (["--until", "yesterday"], "--until 'yesterday': expected a duration ago"),
        (["--since", "5m", "--until", "10m"], "--until '10m' is before --since '5m'"),
    ],
)
def test_bad_windows_are_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    done = run(tmp_path, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"auren-tui: error: {expected}")


def test_durations_and_times() -> None:
    assert [parse_duration("--since", t) for t in ("30s", "15m", "1h", "24h", "7d")] == [
        30, 900, 3600, 86400, 7 * 86400
    ]  # fmt: skip
    now = time.mktime((2026, 12, 1, 3, 10, 0, 0, 0, -1))
    assert parse_until("now", now) == now
    assert parse_until("10m", now) == now - 600
    assert parse_until("02:40", now) == now - 30 * 60
    assert parse_until("03:20", now) == now + 10 * 60 - 86400  # still to come: yesterday's
    assert parse_until("2026-12-01T02:40", now) == now - 30 * 60
    utc = datetime(2026, 12, 1, 2, 40, tzinfo=UTC).timestamp()
    assert parse_until("2026-12-01T02:40:00+00:00", now) == utc  # its own offset
    with pytest.raises(UsageError, match=r"--since '1\.5h'"):
        parse_duration("--since", "1.5h")


def test_a_since_before_the_epoch_is_since_ever(
    recorded: tuple[Path, list[Snapshot]],
) -> None:
    home, snapshots = recorded
    out = run_json(home, "--since", "99999999999999999999d")
    assert out["since"] == 0
    assert len(out["refreshes"]) == len(snapshots)


def test_a_damaged_recording_is_one_line_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history" / "local.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage" * 300)
    done = run(tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"auren-tui: error: {path}: not a readable flight recording (file is not a database)"
    ]
    assert path.read_bytes() == b"\x00garbage" * 300  # read-only: left as it was


def test_a_remote_profile_is_read_without_connecting_or_textual(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    try:
        config = tmp_path / "config" / "config.toml"
        config.parent.mkdir(parents=True)
        port = server.getsockname()[1]
        config.write_text(f'[profiles.prod]\nhost = "127.0.0.1"\nport = {port}\nuser = "ops"\n')
        record(tmp_path, "prod", [stack(at=time.time() - 30, redis_down=True)])
        done = run(tmp_path, "--profile", "prod", "--read-only")
        assert done.returncode == 0, done.stderr
        assert "redis unhealthy" in done.stdout
        assert "1 refresh of profile prod from " in done.stdout
        code = (
            "import sys\n"
            "from auren_tui.__main__ import main\n"
            "assert main(['--profile', 'prod', 'history', '--json']) == 0\n"
            "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            "assert not bad, bad\n"
        )
        env = {"AUREN_TUI_HOME": str(tmp_path), "HOME": str(tmp_path)}
        imported = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                  text=True, timeout=60, check=False)  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever knocked
    finally:
        server.close()


def test_a_recording_without_its_profile_is_read_by_name(tmp_path: Path) -> None:
    """The demo's recording (its profile lives in code) or a removed profile's: read when
    named; a name with no recording and no profile is the usual one-line error."""
    record(tmp_path, "demo", [stack(at=time.time() - 30)])
    done = run(tmp_path, "--profile", "demo", "--since", "5m")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("1 refresh of profile demo")
    missing = run(tmp_path, "--profile", "nope")
    assert missing.returncode == 2
    assert missing.stderr == "auren-tui: error: no profile named 'nope' (profiles: local)\n"
