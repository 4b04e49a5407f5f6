"""The Webhooks screen (3): against a real bridge on the harness's Kafka, through
a ``LiveBackend`` on the built-in local profile; read-only, invalid JSON and a
missing secret on small fakes.

A canary runs through every step: no secret value is ever in a screenshot or
in the screen's text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select, Static, TextArea

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import local_profile
from auren_tui.core.paths import Locations
from auren_tui.core.webhooks import saved
from auren_tui.core.webhooks.client import PRESETS, WebhookRequest
from auren_tui.core.webhooks.signing import PROVIDERS, Provider
from auren_tui.dialogs.webhook_dialogs import ConfirmLoad, NameRequest, PickRequest
from auren_tui.screens.tail import TailScreen
from auren_tui.screens.webhooks import WebhooksScreen
from auren_tui.widgets.record_log import RecordLog
from auren_tui.widgets.webhook_request import ResponseView
from auren_tui.widgets.webhook_suite import SuiteTable
from tests.auren_tui.core.webhooks.test_webhooks import Bridge
from tests.auren_tui.data import stack
from tests.auren_tui.kafka_util import create_topic
from tests.auren_tui.server_stack import wait_for
from tests.bridge_service.signing import SECRETS
from tests.services.kafka import Kafka

SIZE = (150, 40)
WRONG_SECRET = "oura-not-the-bridges-secret-at-all"


@pytest.fixture(scope="module")
def bridge(kafka: Kafka) -> Iterator[Bridge]:
    b = Bridge(kafka)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for p in PROVIDERS:
        monkeypatch.setenv(f"AUREN_TUI_{p.upper()}_SECRET", SECRETS[p])


def locations(tmp_path: Path) -> Locations:
    return Locations(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")


def live_app(
    bridge: Bridge, kafka: Kafka, tmp_path: Path, read_only: bool = False
) -> tuple[AurenApp, LiveBackend]:
    khost, _, kport = kafka.bootstrap.rpartition(":")
    bhost, _, bport = bridge.address.rpartition(":")
    overrides: dict[str, dict[str, object]] = {
        "kafka": {"host": khost, "port": int(kport)},
        "bridge": {"host": bhost, "port": int(bport)},
    }
    profile = local_profile()
    profile = replace(
        profile, catalog=profile.catalog.with_overrides(overrides), service_overrides=overrides
    )
    backend = LiveBackend(profile, locations(tmp_path), read_only=read_only)
    return build_app(backend, locations=locations(tmp_path)), backend


def screen_text(app: AurenApp) -> str:
    """Everything the screen shows or holds as text: statics, inputs, the body,
    notifications, and the rendered screenshot."""
    parts = [app.export_screenshot()]
    for widget in app.screen.query("*"):
        if isinstance(widget, Static):
            parts.append(str(widget.render()))
        elif isinstance(widget, Input):
            parts.append(widget.value)
        elif isinstance(widget, TextArea):
            parts.append(widget.text)
    parts += [n.message for n in app._notifications]
    return "\n".join(parts)


def canary(app: AurenApp) -> None:
    text = screen_text(app)
    for secret in [*SECRETS.values(), WRONG_SECRET]:
        assert secret not in text
        assert secret[:-4] not in text  # not even most of it


async def open_webhooks(app: AurenApp, pilot: Any, provider: Provider = "oura") -> WebhooksScreen:
    await wait_for(lambda: app.dashboard.connected, 15, "the local connection")
    await pilot.press("3")
    screen = app.screen
    assert isinstance(screen, WebhooksScreen)
    if provider != "oura":
        screen.query_one("#provider", Select).value = provider
    await wait_for(lambda: provider in screen.secrets or provider in screen.secret_errors, 5)
    return screen


def response(screen: WebhooksScreen) -> str:
    return str(screen.query_one(ResponseView).render())


def outcomes(screen: WebhooksScreen) -> dict[str, str]:
    table = screen.query_one(SuiteTable)
    return {kind: table.outcome(kind) for kind in PRESETS}


# ---- against the real bridge ---------------------------------------------------------


@pytest.mark.services
async def test_send_from_the_form_traces_into_kafka_and_opens_the_tail(
    bridge: Bridge, kafka: Kafka, tmp_path: Path, secrets_env: None
) -> None:
    with contextlib.suppress(Exception):  # the bridge may have created it already
        await create_topic(kafka.bootstrap, bridge.topic, 3)
    app, backend = live_app(bridge, kafka, tmp_path)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_webhooks(app, pilot, "whoop")
            screen.trace_topic = bridge.topic
            canary(app)
            preview = str(screen.query_one("#preview").render())
            assert "X-WHOOP-Signature: …" in preview
            assert f"{len(screen.body_text.encode()):,} bytes" in preview
            before = bridge.stored("whoop")
            await pilot.press("ctrl+s")
            await wait_for(lambda: "202" in response(screen), 15, lambda: response(screen))
            assert "accepted" in response(screen)
            canary(app)
            await wait_for(
                lambda: "in Kafka after" in response(screen), 20, lambda: response(screen)
            )
            assert f"{bridge.topic} partition" in response(screen)
            assert bridge.stored("whoop") == before + 1
            traced = screen.traced
            assert traced is not None
            canary(app)

            # The replay preset resends that genuine request: the bridge says duplicate.
            screen.query_one("#negative", Select).value = "replay"
            await wait_for(lambda: screen.kind == "replay", 5, "replay chosen")
            preview = str(screen.query_one("#preview").render())
            assert "replay of the last genuine request" in preview
            await pilot.press("ctrl+s")
            await wait_for(lambda: "duplicate" in response(screen), 15, lambda: response(screen))
            assert response(screen).startswith("200")
            assert bridge.stored("whoop") == before + 1
            screen.traced = traced

            await pilot.press("ctrl+t")  # works with the body editor focused
            await wait_for(lambda: isinstance(app.screen, TailScreen), 5, "the tail screen")
            tail = app.screen
            assert isinstance(tail, TailScreen)
            assert tail.topics == [bridge.topic]
            assert (tail.start.kind, tail.start.value) == ("offset", traced.offset)
            await wait_for(lambda: len(tail.ring) >= 1, 20, lambda: tail.status.line())
            assert any(r.offset == traced.offset for r in tail.ring)
            await wait_for(lambda: len(tail.query_one(RecordLog).records) == 1, 5, "drawn")
            (shown,) = tail.query_one(RecordLog).records
            assert (shown.partition, shown.offset) == (traced.partition, traced.offset)
            assert f"event_id={traced.event_id}" in str(tail.query_one("#tail-status").render())
            canary(app)
    finally:
        backend.close()


@pytest.mark.services
async def test_the_suite_is_green_and_a_wrong_secret_turns_valid_red(
    bridge: Bridge, kafka: Kafka, tmp_path: Path, secrets_env: None, monkeypatch: Any
) -> None:
    app, backend = live_app(bridge, kafka, tmp_path)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_webhooks(app, pilot, "healthkit")
            await pilot.press("ctrl+r")
            await wait_for(
                lambda: all(outcomes(screen).values()), 30, lambda: str(outcomes(screen))
            )
            assert set(outcomes(screen).values()) == {"good"}, outcomes(screen)
            canary(app)
    finally:
        backend.close()

    monkeypatch.setenv("AUREN_TUI_OURA_SECRET", WRONG_SECRET)
    app, backend = live_app(bridge, kafka, tmp_path)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_webhooks(app, pilot, "oura")
            await pilot.press("ctrl+r")
            await wait_for(
                lambda: all(outcomes(screen).values()), 30, lambda: str(outcomes(screen))
            )
            got = outcomes(screen)
            assert got["valid"] == "bad"
            assert got["replay"] == "bad"  # its genuine request never got in
            assert got["unsigned"] == got["oversized"] == "good"
            row = screen.query_one(SuiteTable).get_row("valid")
            assert "403" in str(row[3])
            canary(app)
    finally:
        backend.close()


@pytest.mark.services
async def test_a_small_load_completes_after_confirmation(
    bridge: Bridge, kafka: Kafka, tmp_path: Path, secrets_env: None
) -> None:
    app, backend = live_app(bridge, kafka, tmp_path)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_webhooks(app, pilot, "oura")
            before = bridge.stored("oura")
            screen.query_one("#load-requests", Input).value = "200"
            screen.query_one("#load-concurrency", Input).value = "8"
            await pilot.press("ctrl+l")
            await wait_for(lambda: isinstance(app.screen, ConfirmLoad), 5, "the confirmation")
            dialog = app.screen
            assert isinstance(dialog, ConfirmLoad)
            assert "Send 200 signed Oura webhooks" in dialog.text
            assert bridge.address in dialog.text
            last = [time.monotonic()]
            gaps: list[float] = []

            def beat() -> None:
                now = time.monotonic()
                gaps.append(now - last[0])
                last[0] = now

            app.set_interval(0.02, beat)
            await pilot.click("#yes")
            summary = screen.query_one("#load-summary", Static)
            await wait_for(lambda: "202:200" in str(summary.render()), 60, "202:200")
            text = str(summary.render())
            assert "p50" in text
            assert "p99" in text
            assert "≤" in str(screen.query_one("#load-histogram", Static).render())
            assert bridge.stored("oura") == before + 200
            canary(app)
    finally:
        backend.close()
    # The generator runs on its own thread and loop: the UI keeps ticking.
    print(f"\nload of 200: max UI tick gap {max(gaps) * 1000:.0f} ms over {len(gaps)} ticks")
    assert max(gaps) < 0.5


@pytest.mark.services
async def test_cancelling_the_confirmation_sends_nothing(
    bridge: Bridge, kafka: Kafka, tmp_path: Path, secrets_env: None
) -> None:
    app, backend = live_app(bridge, kafka, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_webhooks(app, pilot, "healthkit")
            before = bridge.stored("healthkit")
            await pilot.press("ctrl+l")
            await wait_for(lambda: isinstance(app.screen, ConfirmLoad), 5, "the confirmation")
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
            assert not screen.load_running
            assert bridge.stored("healthkit") == before
    finally:
        backend.close()


# ---- without a bridge -------------------------------------------------------------


class CountingReplay(ReplayBackend):
    """A replay that counts what would have changed the server."""

    def __init__(self, read_only: bool) -> None:
        super().__init__([stack()], profile_name="prod", read_only=read_only)
        self.calls: list[str] = []

    def send_webhook(self, request: WebhookRequest, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("send")
        return super().send_webhook(request, *args, **kwargs)

    def webhook_suite(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("suite")
        return super().webhook_suite(*args, **kwargs)

    def webhook_load(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("load")
        return super().webhook_load(*args, **kwargs)


async def test_read_only_refuses_send_suite_and_load(tmp_path: Path) -> None:
    backend = CountingReplay(read_only=True)
    app = build_app(backend, locations=locations(tmp_path))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_webhooks(app, pilot)
        assert "READ-ONLY" in str(screen.query_one("#wh-status").render())
        assert screen.query_one("#send").disabled
        await pilot.press("ctrl+s", "ctrl+r", "ctrl+l")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmLoad)
        messages = [n.message for n in app._notifications]
        assert sum("refused: read-only" in m for m in messages) == 3, messages
        assert backend.calls == []


async def test_invalid_json_disables_send_with_one_line(tmp_path: Path) -> None:
    backend = CountingReplay(read_only=False)
    app = build_app(backend, locations=locations(tmp_path))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_webhooks(app, pilot)
        screen.set_body('{"event_type": ')
        await pilot.pause()
        error = str(screen.query_one("#body-error").render())
        assert error.startswith("not valid JSON")
        assert "\n" not in error
        assert screen.query_one("#send").disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert backend.calls == []
        await pilot.press("ctrl+n")  # a fresh, valid body
        await pilot.pause()
        assert not screen.query_one("#send").disabled
        await pilot.press("ctrl+s")
        await wait_for(lambda: "202" in response(screen), 5, lambda: response(screen))
        assert backend.calls == ["send"]


async def test_a_missing_secret_says_how_to_set_it(tmp_path: Path, monkeypatch: Any) -> None:
    from auren_tui.core.secrets import SecretStore

    for p in PROVIDERS:
        monkeypatch.delenv(f"AUREN_TUI_{p.upper()}_SECRET", raising=False)
    monkeypatch.setattr(SecretStore, "get", lambda self, profile, name: None)
    backend = LiveBackend(local_profile(), locations(tmp_path))
    app = build_app(backend, locations=locations(tmp_path))
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await open_webhooks(app, pilot, "whoop")
            status = str(screen.query_one("#wh-status").render())
            assert "`auren-tui secret set local whoop`" in status
            assert "not signed" in str(screen.query_one("#preview").render())
            await pilot.press("ctrl+s")
            await wait_for(
                lambda: "auren-tui secret set local whoop" in response(screen), 5, "the line"
            )
    finally:
        backend.close()


async def test_save_and_open_a_request(tmp_path: Path) -> None:
    backend = CountingReplay(read_only=False)
    app = build_app(backend, locations=locations(tmp_path))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_webhooks(app, pilot)
        screen.query_one("#negative", Select).value = "stale"
        await pilot.pause()
        body = screen.body_text
        await pilot.press("ctrl+b")
        await wait_for(lambda: isinstance(app.screen, NameRequest), 5, "the name dialog")
        app.screen.query_one(Input).value = "my-stale"
        await pilot.press("enter")
        path = saved.path_of(locations(tmp_path), "my-stale")
        await wait_for(path.exists, 5, "the saved file")
        assert saved.load(locations(tmp_path), "my-stale").negative == "stale"

        await pilot.press("ctrl+n")
        screen.query_one("#negative", Select).value = "valid"
        await pilot.pause()
        assert screen.body_text != body
        await pilot.press("ctrl+o")
        await wait_for(lambda: isinstance(app.screen, PickRequest), 5, "the picker")
        await pilot.press("enter")
        await wait_for(lambda: screen.kind == "stale", 5, "the loaded request")
        assert screen.body_text.strip() == body.strip()
        assert screen.query_one("#negative", Select).value == "stale"


def test_progress_views_are_throttled_and_count_every_latency() -> None:
    from auren_tui.core.webhooks.load import LoadStats
    from auren_tui.widgets.webhook_load import Reporter, bars

    views: list[Any] = []
    report = Reporter(views.append, every=3600)
    stats = LoadStats(10)
    for i in range(4):
        stats.latencies_ms.append(0.5 + i * 30)
        stats.statuses[202] += 1
        report(stats)
    assert len(views) == 1  # the first; the rest within the interval
    for i in range(4, 10):
        stats.latencies_ms.append(0.5 + i * 30)
        stats.statuses[202] += 1
    report(stats)  # done == total: always reported
    assert len(views) == 2
    assert views[-1].histogram == stats.histogram()
    assert views[-1].done == 10
    drawn = bars(views[-1].histogram).plain
    assert drawn.splitlines()[0].strip().startswith("≤1 ms")
    assert "█" in drawn


async def test_the_webhooks_screen_from_the_command_palette(tmp_path: Path) -> None:
    app = build_app(CountingReplay(read_only=False), locations=locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"webhooks")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, WebhooksScreen), 5, "the webhooks screen")
        app.screen.set_focus(None)
        await pilot.press("1")
        await wait_for(lambda: not isinstance(app.screen, WebhooksScreen), 5, "the dashboard")
