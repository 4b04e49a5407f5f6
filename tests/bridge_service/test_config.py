"""Settings: the deployment's own environment must always start the bridge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.bridge_service.process import BridgeProcess

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


def test_old_env_serves(tmp_path: Path) -> None:
    (tmp_path / "none.env").write_text(OLD_ENV.replace("POSTGRES_URL=\n", ""))
    bridge = BridgeProcess(env={}, workdir=tmp_path)
    # BridgeProcess reads none.env from its workdir: the old .env, verbatim.
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
