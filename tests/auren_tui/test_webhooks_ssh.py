"""Signed webhooks through SSH to the "server" namespace, as operators use them:
the bridge and Kafka listen only inside the server, and Kafka advertises
``auren-kafka:9092``, which resolves only there."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auren_tui.core.webhooks.client import PRESETS
from tests.auren_tui.kafka_util import BIN, cli_env
from tests.auren_tui.server_stack import NsBridge
from tests.bridge_service.conftest import secret_env
from tests.bridge_service.signing import SECRETS
from tests.services.base import make_tempdir, remove_tree
from tests.services.kafka import Kafka
from tests.services.netns import ServerNamespace
from tests.services.sshd import Sshd

TOPIC = "biometric-events"  # the catalog's defaults: nothing to pass on the command line


@dataclass
class Server:
    ns: ServerNamespace
    kafka: Kafka
    sshd: Sshd
    bridge: NsBridge


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    ns = ServerNamespace()
    kafka = Kafka(host="127.0.0.1", port=9092, advertised_host="auren-kafka", advertised_port=9092)
    sshd = Sshd()
    workdir = make_tempdir("wh-ssh")
    bridge: NsBridge | None = None
    try:
        ns.start()
        ns.add_hosts({"auren-kafka": "127.0.0.1"})
        kafka.netns = ns.name
        kafka.start()
        env = {
            **secret_env(),
            "KAFKA_BOOTSTRAP_SERVERS": "auren-kafka:9092",
            "KAFKA_TOPIC": TOPIC,
            "TERRA_CONSUMER_ENABLED": "false",
        }
        (workdir / "bridge").mkdir()
        bridge = NsBridge(ns, env, workdir / "bridge").start()
        sshd.host, sshd.netns = ns.server_ip, ns.name
        sshd.start()
        yield Server(ns, kafka, sshd, bridge)
    finally:
        closers = [sshd.close, kafka.close, ns.close]
        if bridge is not None:
            closers.insert(0, bridge.stop)
        for close in closers:
            with contextlib.suppress(Exception):
                close()
        remove_tree(workdir)


@pytest.fixture(scope="module")
def home(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config dir with profile ``srv`` for the server (key login, host key trusted)."""
    root = tmp_path_factory.mktemp("home")
    sshd = server.sshd
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


def test_the_bridge_is_only_reachable_inside_the_server(server: Server) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{server.ns.server_ip}:{server.bridge.port}/health", timeout=2)
    assert server.bridge.status("/health") == 200


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
