"""Signed webhooks against the real bridge: every template, every negative
preset, the trace to Kafka, the signed load test, saved requests.

Expected signatures come from tests/bridge_service/signing.py, written from
the providers' published schemes, never from the signer under test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from auren_tui.core.paths import Locations
from auren_tui.core.transport.connection import LocalConnection
from auren_tui.core.transport.loop import TunnelLoop
from auren_tui.core.webhooks import saved
from auren_tui.core.webhooks.client import PRESETS, Sender, build, run_suite
from auren_tui.core.webhooks.signing import PROVIDERS, Provider, masked, sign
from auren_tui.core.webhooks.templates import TEMPLATES, render
from bridge_service.storage.factory import DEFAULT_SQLITE_NAME
from tests.auren_tui.kafka_util import cli_env
from tests.bridge_service.conftest import new_topic, secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import SECRETS, healthkit_headers, oura_headers, whoop_headers
from tests.services.base import make_tempdir, remove_tree
from tests.services.kafka import Kafka

SECRET = {p: SecretStr(SECRETS[p]) for p in PROVIDERS}
NOW = 1_795_000_000.25

# ---- signing, independently checked ----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_signatures_match_the_published_schemes(provider: Provider) -> None:
    body = b'{"a": 1,  "spacing": "kept as sent"}'
    ours = sign(provider, body, SECRET[provider], now=NOW, msg_id="msg_1")
    if provider == "oura":
        expected = oura_headers(body, SECRETS["oura"], ts=NOW)
    elif provider == "whoop":
        expected = whoop_headers(body, SECRETS["whoop"], ts=NOW)
    else:
        expected = healthkit_headers(body, SECRETS["healthkit"], msg_id="msg_1", ts=NOW)
    assert ours == expected


def test_a_known_answer_vector() -> None:
    # Computed by hand from REFERENCE §3: hex HMAC-SHA256("secret", "1700000000" + body).
    body = b'{"x":1}'
    mac = hmac.new(b"secret", b"1700000000" + body, hashlib.sha256).hexdigest().upper()
    headers = sign("oura", body, SecretStr("secret"), now=1_700_000_000)
    assert headers["x-oura-signature"] == mac
    whoop = sign("whoop", body, SecretStr("secret"), now=1_700_000_000)
    raw = hmac.new(b"secret", b"1700000000000" + body, hashlib.sha256).digest()
    assert whoop["X-WHOOP-Signature"] == base64.b64encode(raw).decode()


def test_masked_headers_show_at_most_four_characters_of_the_signature() -> None:
    headers = sign("whoop", b"{}", SECRET["whoop"], now=NOW)
    shown = masked(headers, "whoop")
    assert shown["X-WHOOP-Signature"] == "…" + headers["X-WHOOP-Signature"][-4:]
    assert SECRETS["whoop"] not in json.dumps(shown)


def test_negative_builders_break_exactly_one_thing() -> None:
    body = render("oura")
    good = build("oura", body, SECRET["oura"], now=NOW)
    tampered = build("oura", body, SECRET["oura"], "tampered", now=NOW)
    assert tampered.headers == good.headers
    assert tampered.body != body
    assert json.loads(tampered.body) == {**json.loads(body), "tampered": True}
    stale = build("oura", body, SECRET["oura"], "stale", now=NOW)
    assert int(stale.headers["x-oura-timestamp"]) == int(NOW) - 3600
    enc = build("oura", body, SECRET["oura"], "wrong-encoding", now=NOW)
    raw = bytes.fromhex(good.headers["x-oura-signature"])
    assert enc.headers["x-oura-signature"] == base64.b64encode(raw).decode()
    assert "x-oura-signature" not in build("oura", body, SECRET["oura"], "unsigned").headers
    assert len(build("oura", body, SECRET["oura"], "oversized").body) > 256 * 1024


# ---- against a real bridge -------------------------------------------------------------------


class Bridge:
    def __init__(self, kafka: Kafka) -> None:
        self.topic = new_topic()
        self.workdir = make_tempdir("wh-bridge")
        self.proc = BridgeProcess(
            env={
                **secret_env(),
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "KAFKA_TOPIC": self.topic,
                "TERRA_CONSUMER_ENABLED": "false",
            },
            workdir=self.workdir,
        ).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.proc.port}"

    def stored(self, source: str) -> int:
        db = sqlite3.connect(self.workdir / "data" / DEFAULT_SQLITE_NAME)
        try:
            return int(
                db.execute("select count(*) from events where source = ?", (source,)).fetchone()[0]
            )
        finally:
            db.close()

    def close(self) -> None:
        self.proc.stop()
        remove_tree(self.workdir)


@pytest.fixture(scope="module")
def bridge(kafka: Kafka) -> Iterator[Bridge]:
    b = Bridge(kafka)
    try:
        yield b
    finally:
        b.close()


def _local(coro: Any) -> Any:
    with asyncio.Runner(loop_factory=lambda: TunnelLoop(LocalConnection())) as runner:
        return runner.run(coro)


def _env() -> dict[str, str]:
    return {f"AUREN_TUI_{p.upper()}_SECRET": SECRETS[p] for p in PROVIDERS}


def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    import subprocess

    from tests.auren_tui.kafka_util import BIN

    return subprocess.run(
        [str(BIN / "auren-tui"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**cli_env(home), **_env(), **(env or {})},
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_every_template_is_accepted(bridge: Bridge) -> None:
    host, port = bridge.address.split(":")

    async def go() -> list[tuple[str, str, int]]:
        out = []
        async with Sender(LocalConnection(), host, int(port)) as sender:
            for provider in PROVIDERS:
                for name in TEMPLATES[provider]:
                    request = build(provider, render(provider, name), SECRET[provider])
                    out.append((provider, name, (await sender.send(request)).status))
        return out

    results = _local(go())
    assert len(results) == sum(len(t) for t in TEMPLATES.values())
    assert [r for r in results if r[2] != 202] == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_negative_suite_answers_as_expected(bridge: Bridge, provider: Provider) -> None:
    host, port = bridge.address.split(":")

    async def go() -> Any:
        async with Sender(LocalConnection(), host, int(port)) as sender:
            return await run_suite(sender, provider, SECRET[provider], render(provider))

    results = _local(go())
    assert [r.preset.kind for r in results] == list(PRESETS)
    got = {r.preset.kind: (r.response.status, r.response.word) for r in results}
    assert got["valid"] == (202, "accepted")
    assert got["replay"] == (200, "duplicate")
    assert {k: v[0] for k, v in got.items() if k not in ("valid", "replay")} == {
        "unsigned": 403, "wrong-secret": 403, "tampered": 403, "stale": 403,
        "future": 403, "wrong-encoding": 403, "oversized": 413,
    }  # fmt: skip
    assert all(r.ok for r in results)
    replay = results[1].response.event_id
    assert replay is not None
    assert replay == results[0].response.event_id


def test_cli_check_is_a_deploy_gate(bridge: Bridge, tmp_path: Path) -> None:
    done = _cli(tmp_path, "webhook", "check", "--bridge", bridge.address, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 3 * len(PRESETS)
    assert all(r["ok"] for r in rows)
    assert "27/27 answered as expected" in done.stderr
    # With a secret the bridge does not know, genuine requests fail: exit 1.
    wrong = _cli(tmp_path, "webhook", "check", "--bridge", bridge.address, "--source", "oura",
                 env={"AUREN_TUI_OURA_SECRET": "not-the-bridge-secret"})  # fmt: skip
    assert wrong.returncode == 1
    assert "FAIL oura      valid" in wrong.stdout
    for text in (done.stdout, done.stderr, wrong.stdout, wrong.stderr):
        assert not any(secret in text for secret in SECRETS.values())


def test_cli_send_traces_the_event_into_kafka(bridge: Bridge, kafka: Kafka, tmp_path: Path) -> None:
    done = _cli(tmp_path, "webhook", "send", "whoop", "--event", "sleep.deleted",
                "--bridge", bridge.address, "--trace", "--topic", bridge.topic, "--json",
                "--bootstrap", kafka.bootstrap,
                env={"AUREN_TUI_HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == 202
    assert out["as_expected"] is True
    event_id = out["response"]["event_id"]
    where = out["kafka"]
    assert where is not None
    assert where["after_ms"] > 0
    # Read that exact offset independently: it is this event.
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def at_offset() -> bytes:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition(bridge.topic, where["partition"])
            consumer.assign([tp])
            consumer.seek(tp, where["offset"])
            async with asyncio.timeout(15):
                record = await consumer.getone()
            return record.value or b""
        finally:
            await consumer.stop()

    assert json.loads(asyncio.run(at_offset()))["event_id"] == event_id
    assert out["headers"]["X-WHOOP-Signature"].startswith("…")


def test_cli_send_negative_and_saved_requests(bridge: Bridge, tmp_path: Path) -> None:
    done = _cli(tmp_path, "webhook", "send", "healthkit", "--negative", "stale",
                "--bridge", bridge.address, "--save", "hk-stale")  # fmt: skip
    assert done.returncode == 0, done.stderr  # 403 was expected
    assert done.stdout.startswith("healthkit stale: 403 in ")
    locations = Locations(
        tmp_path / "config", tmp_path / "data", tmp_path / "state", tmp_path / "cache"
    )
    request = saved.load(locations, "hk-stale")
    assert request.provider == "healthkit"
    assert request.negative == "stale"
    text = saved.path_of(locations, "hk-stale").read_text()
    assert not any(secret in text for secret in SECRETS.values())
    again = _cli(tmp_path, "webhook", "send", "healthkit", "--request", "hk-stale",
                 "--bridge", bridge.address, "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == 403
    listed = _cli(tmp_path, "webhook", "saved")
    assert listed.stdout.split() == ["hk-stale"]


def test_a_broken_saved_request_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "requests"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text("provider: oura\nbody: |\n  {not json\n")
    done = _cli(tmp_path, "webhook", "send", "oura", "--request", "bad", "--bridge", "127.0.0.1:9")
    assert done.returncode == 2
    assert "bad.yaml: body is not valid JSON" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_secret_says_how_to_set_it(tmp_path: Path) -> None:
    env = {f"AUREN_TUI_{p.upper()}_SECRET": "" for p in PROVIDERS}
    done = _cli(tmp_path, "webhook", "send", "oura", "--bridge", "127.0.0.1:9", env=env)
    assert done.returncode != 0
    assert "auren-tui secret set local oura" in done.stderr or "keyring" in done.stderr
    assert "Traceback" not in done.stderr


def test_load_counts_equal_what_the_bridge_stored(kafka: Kafka, tmp_path: Path) -> None:
    fresh = Bridge(kafka)
    try:
        done = _cli(tmp_path, "webhook", "load", "oura", "--yes", "--requests", "400",
                    "--concurrency", "8", "--bridge", fresh.address, "--json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["statuses"] == {"202": 400}
        assert summary["done"] == 400
        assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
        assert fresh.stored("oura") == 400
        paced = _cli(tmp_path, "webhook", "load", "whoop", "--yes", "--requests", "60",
                     "--rate", "100", "--bridge", fresh.address, "--json")  # fmt: skip
        assert paced.returncode == 0, paced.stderr
        timing = json.loads(paced.stdout)
        assert timing["statuses"] == {"202": 60}
        assert timing["seconds"] >= 0.55  # 60 requests at 100/s cannot finish sooner
        assert fresh.stored("whoop") == 60
    finally:
        fresh.close()


def test_read_only_refuses_and_dry_run_sends_nothing(bridge: Bridge, tmp_path: Path) -> None:
    before = bridge.stored("healthkit")
    for args in (["send", "healthkit"], ["check"], ["load", "healthkit", "--yes"]):
        done = _cli(tmp_path, "webhook", *args, "--bridge", bridge.address, "--read-only")
        assert done.returncode == 1, args
        assert "read-only" in done.stderr
        assert "refused" in done.stderr
    dry = _cli(tmp_path, "webhook", "send", "healthkit", "--bridge", bridge.address,
               "--dry-run", "--read-only")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("POST /webhooks/healthkit (valid, ")
    assert "webhook-signature: …" in dry.stdout
    assert SECRETS["healthkit"] not in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing sent")
    unconfirmed = _cli(tmp_path, "webhook", "load", "healthkit", "--bridge", bridge.address)
    assert unconfirmed.returncode == 2
    assert "pass --yes" in unconfirmed.stderr
    assert bridge.stored("healthkit") == before
