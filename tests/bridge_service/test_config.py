"""Settings: the deployment's own environment must always start the bridge."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest

import bridge_service.__main__ as cli
from bridge_service.config import Settings
from tests.bridge_service.conftest import new_database, secret_env
from tests.bridge_service.load import db_event_ids
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import SECRETS, event_body, sign
from tests.services.base import wait_until
from tests.services.postgres import Postgres

BIN = Path(sys.executable).parent
CANARY = "canary-secret-Zq9xLw7pTt3m"

OLD_ENV = f"""\
# The .env the old bridge died on, plus keys that have nothing to do with it.
service_name=biometric-bridge
log_level=info
workers=1
port=8889
cors_origins=["https://app.auren.example","https://ops.auren.example"]
POSTGRES_URL=
GRAFANA_ADMIN_PASSWORD=something-else
NEUROS_MODEL=gpt-whatever
OURA_WEBHOOK_SECRET={CANARY}
"""


def run_cli(
    *args: str, env_file: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "auren-bridge"), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=env_file.parent,
        check=False,
    )


def test_old_env_file_is_accepted_and_masked(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(OLD_ENV.replace("POSTGRES_URL=\n", ""))
    out = run_cli("check-config", env_file=env_file)
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["service_name"] == "biometric-bridge"
    assert config["log_level"] == "INFO"
    assert config["cors_origins"] == ["https://app.auren.example", "https://ops.auren.example"]
    assert config["oura_webhook_secret"] == "****" + CANARY[-4:]
    assert CANARY not in out.stdout + out.stderr


@pytest.mark.services
def test_old_env_serves(tmp_path: Path) -> None:
    (tmp_path / "old.env").write_text(OLD_ENV.replace("POSTGRES_URL=\n", ""))
    # The old .env, verbatim.
    bridge = BridgeProcess(env={}, workdir=tmp_path, env_file=str(tmp_path / "old.env"))
    bridge.start()
    try:
        health = httpx.get(f"{bridge.url}/health", timeout=5).json()
        assert health["service"] == "biometric-bridge"
        assert health["components"]["providers"]["oura"]["secret_configured"] is True
    finally:
        bridge.stop()
    assert CANARY not in bridge.log_text()


def test_bad_port_is_one_line_exit_2_without_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(OLD_ENV.replace("port=8889", "port=not-a-port"))
    for command in ("check-config", "serve"):
        out = run_cli(command, env_file=env_file)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "PORT" in lines[0]
        assert "Traceback" not in out.stderr
        assert CANARY not in out.stdout + out.stderr
        assert "not-a-port" not in out.stderr  # input values are hidden too


def test_environment_beats_dotenv_in_any_case(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\n")
    out = run_cli(
        "check-config",
        env_file=env_file,
        env={
            "port": "9100",
            "Max_Concurrent_Webhooks": "7",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "POSTGRES_URL": f"postgresql://auren:{CANARY}@db:5432/auren",
            "WHOOP_WEBHOOK_SECRET": f"old-secret-aaaa,{CANARY}",
        },
    )
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["port"] == 9100
    assert config["max_concurrent_webhooks"] == 7
    assert config["cors_origins"] == ["https://a.example", "https://b.example"]
    assert config["database_url"] == "postgresql://auren:****@db:5432/auren"
    assert CANARY not in out.stdout


def test_invalid_secret_setting_never_echoes(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"MAX_BODY_BYTES={CANARY}\n")
    out = run_cli("check-config", env_file=env_file)
    assert out.returncode == 2
    assert "MAX_BODY_BYTES" in out.stderr
    assert CANARY not in out.stderr


# -- every bad setting, every command: one line naming it, exit 2 -------------------

BAD_SETTINGS = {
    "mysql URL": ({"DATABASE_URL": f"mysql://auren:{CANARY}@db/auren"}, "DATABASE_URL"),
    "URL without scheme": ({"DATABASE_URL": f"auren:{CANARY}@db/auren"}, "DATABASE_URL"),
    "empty URL": ({"POSTGRES_URL": ""}, "POSTGRES_URL"),
    "bad port": ({"PORT": "not-a-port"}, "PORT"),
    "bad header limit": ({"MAX_HEADER_COUNT": "3"}, "MAX_HEADER_COUNT"),
    "bad body timeout": ({"BODY_TIMEOUT_SECONDS": "-1"}, "BODY_TIMEOUT_SECONDS"),
}


def _one_line_exit_2(out: subprocess.CompletedProcess[str], *named: str) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for name in named:
        assert name in lines[0], lines[0]
    assert CANARY not in out.stdout + out.stderr
    return lines[0]


def run_main(
    *args: str, env_file: Path, env: dict[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> subprocess.CompletedProcess[str]:
    """``run_cli`` without the process: ``main()`` here, the settings' variables from
    ``env`` alone, the working directory the env file's."""
    names = {name.lower() for name in Settings.model_fields} | {"postgres_url"}
    for name in list(os.environ):
        if name.lower() in names:
            monkeypatch.delenv(name)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(env_file.parent)

    def never_serve(settings: Settings) -> int:
        raise AssertionError("the settings were accepted: this would serve")

    monkeypatch.setattr(cli, "_serve", never_serve)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--env-file", str(env_file), *args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def bad_setting(tmp_path: Path, case: str, where: str) -> tuple[Path, dict[str, str] | None]:
    """The env file (and environment) of one ``BAD_SETTINGS`` case."""
    values, _ = BAD_SETTINGS[case]
    env_file = tmp_path / "bridge.env"
    lines = "".join(f"{k}={v}\n" for k, v in values.items())
    env_file.write_text(f"OURA_WEBHOOK_SECRET={CANARY}\n" + (lines if where == "env file" else ""))
    return env_file, values if where == "environment" else None


@pytest.mark.parametrize("command", ["check-config", "migrate", "serve"])
@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
@pytest.mark.parametrize("where", ["env file", "environment"])
def test_every_bad_setting_in_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, case: str, where: str
) -> None:
    env_file, env = bad_setting(tmp_path, case, where)
    out = run_main(command, env_file=env_file, env=env, monkeypatch=monkeypatch)
    _one_line_exit_2(out, BAD_SETTINGS[case][1])


@pytest.mark.parametrize("command", ["check-config", "migrate", "serve"])
@pytest.mark.parametrize("where", ["env file", "environment"])
def test_a_bad_setting_as_operators_meet_it(tmp_path: Path, command: str, where: str) -> None:
    """The same in the installed script's own process: one line on stderr, exit 2."""
    env_file, env = bad_setting(tmp_path, "mysql URL", where)
    _one_line_exit_2(run_cli(command, env_file=env_file, env=env), "DATABASE_URL")


@pytest.mark.parametrize("command", ["check-config", "migrate", "serve"])
def test_env_file_not_utf8_is_one_line(tmp_path: Path, command: str) -> None:
    env_file = tmp_path / "latin1.env"
    env_file.write_bytes(
        f"OURA_WEBHOOK_SECRET={CANARY}\nSERVICE_NAME=br\xfccke\n".encode("latin-1")
    )
    line = _one_line_exit_2(run_cli(command, env_file=env_file), str(env_file), "UTF-8")
    assert "br" not in line.split(str(env_file))[-1]  # the content is not echoed


@pytest.mark.parametrize("command", ["check-config", "migrate", "serve"])
def test_named_env_file_that_does_not_exist(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "prod.env"
    _one_line_exit_2(run_cli(command, env_file=missing), str(missing), "does not exist")


def test_default_env_file_may_be_absent(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "auren-bridge"), "check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["database_url"] is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql://auren:{CANARY}@db:5432/auren",
            "postgresql://auren:****@db:5432/auren",
        ),
        (
            f"postgresql://auren@db:5432/auren?password={CANARY}&sslmode=require",
            "postgresql://auren@db:5432/auren?password=****&sslmode=require",
        ),
        (
            f"postgresql://db/auren?user=auren&PASSWORD={CANARY}&sslpassword={CANARY}",
            "postgresql://db/auren?user=auren&PASSWORD=****&sslpassword=****",
        ),
        (
            f"postgresql://auren:{CANARY}@db/auren?password={CANARY}",
            "postgresql://auren:****@db/auren?password=****",
        ),
        (f"postgresql://auren:{CANARY}@[::1:5432/auren", "****"),  # unparsable: all hidden
    ],
)
def test_check_config_never_prints_a_password(tmp_path: Path, url: str, shown: str) -> None:
    env_file = tmp_path / "bridge.env"
    env_file.write_text("")
    out = run_cli(
        "check-config",
        env_file=env_file,
        env={"DATABASE_URL": url, "REDIS_URL": f"redis://:{CANARY}@cache:6379/0"},
    )
    if out.returncode == 2:  # an unparsable URL may be refused outright: still no secret
        _one_line_exit_2(out, "DATABASE_URL")
        return
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["database_url"] == shown
    assert config["redis_url"] == "redis://:****@cache:6379/0"
    assert CANARY not in out.stdout + out.stderr


# -- workers see exactly the settings the parent validated --------------------------


def _worker_pids(parent: int) -> list[int]:
    """The uvicorn workers (multiprocessing spawn children) of ``parent``."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


def test_workers_use_the_env_file_and_overrides(tmp_path: Path, postgres: Postgres) -> None:
    dsn = new_database(postgres)
    # A ./.env with wrong values sits in the working directory: workers that
    # read it would answer 403 (other secret) and store into SQLite.
    (tmp_path / ".env").write_text(
        "OURA_WEBHOOK_SECRET=the-wrong-secret-from-dot-env\nDATABASE_URL=sqlite:///wrong.db\n"
    )
    env_file = tmp_path / "prod.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in secret_env().items()) + f"DATABASE_URL={dsn}\n"
    )
    bridge = BridgeProcess(
        env={"TERRA_CONSUMER_ENABLED": "false"},
        workdir=tmp_path,
        env_file=str(env_file),
        args=("--workers", "2"),
    )
    bridge.start()
    try:
        assert bridge._proc is not None
        assert bridge._proc.proc is not None
        parent = bridge._proc.proc.pid
        wait_until(lambda: len(_worker_pids(parent)) == 2, timeout=30, what="two workers")
        workers = _worker_pids(parent)
        assert len(workers) == 2
        sent = 0
        # Stop one worker at a time, so each in turn must answer alone (briefly:
        # uvicorn's supervisor replaces a worker that misses its 5 s health check).
        for stopped, serving in (workers, workers[::-1]):
            os.kill(stopped, signal.SIGSTOP)
            try:
                for _ in range(5):
                    body = event_body("oura")
                    with httpx.Client(base_url=bridge.url, timeout=10) as client:
                        r = client.post("/webhooks/oura", content=body, headers=sign("oura", body))
                    assert r.status_code == 202, (serving, r.status_code, r.text)
                    sent += 1
            finally:
                os.kill(stopped, signal.SIGCONT)
        assert len(asyncio.run(db_event_ids(dsn))) == sent
        assert not (tmp_path / "wrong.db").exists()
    finally:
        bridge.stop()
    assert SECRETS["oura"] not in bridge.log_text()
