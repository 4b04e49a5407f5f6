"""Signed webhooks through SSH to the "server" namespace, as operators use them:
the bridge and Kafka listen only inside the server, and Kafka advertises
``auren-kafka:9092``, which resolves only there. The server is the session's
shared stack (tests/auren_tui/server_stack.py); its bridge publishes to the
default topic, so nothing names it on the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from auren_tui.core.webhooks.client import PRESETS
from tests.auren_tui.kafka_util import BIN, cli_env
from tests.auren_tui.server_stack import TOPIC, ServerStack
from tests.bridge_service.signing import SECRETS


@pytest.fixture(scope="module")
def home(stack: ServerStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config dir with profile ``srv`` for the server (key login, host key trusted)."""
    root = tmp_path_factory.mktemp("home")
    sshd = stack.sshd
    done = _cli(
        root, "profile", "add", "srv", "--host", sshd.host, "--port", str(sshd.port),
        "--user", sshd.key_user, "--key-file", str(sshd.key_path),
        "--known-hosts", str(sshd.write_known_hosts(root / "known_hosts")),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(home), **{f"AUREN_TUI_{p.upper()}_SECRET": s for p, s in SECRETS.items()}}
    return subprocess.run(
        [str(BIN / "auren-tui"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_bridge_is_only_reachable_inside_the_server(stack: ServerStack) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{stack.ns.server_ip}:{stack.bridge.port}/health", timeout=2)
    assert stack.bridge.status("/health") == 200


def test_negative_suite_over_ssh(home: Path) -> None:
    done = _cli(home, "webhook", "check", "--profile", "srv", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(done.stdout)
    assert {(r["provider"], r["check"]) for r in rows} == {
        (p, k) for p in ("oura", "whoop", "healthkit") for k in PRESETS
    }
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]
    assert done.stderr == "27/27 answered as expected\n"  # nothing else: no library noise


def test_send_and_trace_through_the_hidden_broker(home: Path) -> None:
    done = _cli(home, "webhook", "send", "oura", "--event", "daily_readiness.update",
                "--profile", "srv", "--trace", "--json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == 202
    assert out["kafka"] is not None, "the event never showed up in Kafka"
    where = out["kafka"]
    tailed = _cli(home, "tail", TOPIC, "--profile", "srv", "--from", str(where["offset"]),
                  "--partition", str(where["partition"]), "--count", "1", "--json")  # fmt: skip
    assert tailed.returncode == 0, tailed.stderr
    assert json.loads(tailed.stdout)["value"]["event_id"] == out["response"]["event_id"]


def test_signed_load_over_ssh(home: Path) -> None:
    done = _cli(home, "webhook", "load", "healthkit", "--yes", "--requests", "200",
                "--concurrency", "8", "--profile", "srv", "--json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["statuses"] == {"202": 200}
    for text in (done.stdout, done.stderr):
        assert not any(s in text for s in SECRETS.values())
