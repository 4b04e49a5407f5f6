"""The one door (core/session.py) and the webhook pipeline's rules, without services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from auren_tui.core.backend.webhooks import Outgoing, prepare, preview
from auren_tui.core.config import AppConfig, ConfigError, Profile, UiPrefs, save_config
from auren_tui.core.paths import Locations
from auren_tui.core.session import ReadOnlyRefused, open_session
from auren_tui.core.transport.connection import LocalConnection
from auren_tui.core.webhooks.client import PRESETS, WebhookResponse

SECRET = SecretStr("oura-test-secret-0123456789")
BODY = b'{"event_type": "create", "object_id": "x"}'


@pytest.fixture
def locations(tmp_path: Path) -> Locations:
    root = tmp_path / "home"
    return Locations(root / "config", root / "data", root / "state", root / "cache")


def _config(locations: Locations, *, ui_read_only: bool = False) -> None:
    prod = Profile(
        name="prod",
        host="203.0.113.7",
        read_only=True,
        service_overrides={"bridge": {"port": 8890}},
    )
    ui = UiPrefs(read_only=ui_read_only, default_profile="prod")
    save_config(locations, AppConfig(ui=ui).with_profile(prod))


def test_the_profile_is_resolved_once_with_its_catalog(locations: Locations) -> None:
    _config(locations)
    with open_session(locations) as session:
        assert session.name == "prod"  # ui.default_profile
        bridge = session.catalog.get("bridge")
        assert bridge is not None
        assert bridge.port == 8890
    with open_session(locations, "local") as session:
        assert session.profile.is_local
    with (
        pytest.raises(ConfigError, match="no profile named 'nope'"),
        open_session(locations, "nope"),
    ):
        pass


def test_read_only_says_which_setting_refused(locations: Locations) -> None:
    _config(locations, ui_read_only=True)
    with open_session(locations, "local", read_only=True) as session:
        assert session.read_only_reason() == "--read-only was given"
    with open_session(locations, "prod") as session:
        with pytest.raises(ReadOnlyRefused) as refused:
            session.refuse_if_read_only("restore")
        assert str(refused.value) == (
            "profile 'prod' is read-only (read_only = true): restore changes the server; "
            "refused (nothing was sent)"
        )
    with open_session(locations, "local") as session:
        assert session.read_only_reason() == "[ui] read_only = true in config.toml"


def test_the_connection_opens_on_first_use_and_closes_with_the_session(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(LocalConnection, "close", lambda self: closed.append(True))
    with open_session(locations) as session:
        assert session._connection is None  # nothing opened by merely opening the door
        assert session.connection() is session.connection()
    assert closed == [True]


def test_live_backend_close_closes_the_collectors_clients(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auren_tui.core.health.collector import Collector

    closed: list[str] = []
    monkeypatch.setattr(Collector, "close", lambda self: closed.append("collector"))
    monkeypatch.setattr(LocalConnection, "close", lambda self: closed.append("connection"))
    with open_session(locations, "local") as session:
        backend = session.backend()
        backend.start()
        backend.close()
    assert closed == ["collector", "connection"]


# ---- the webhook pipeline's rules -------------------------------------------------------


def test_a_replay_without_a_genuine_request_sends_one_first() -> None:
    first, request = prepare(Outgoing("oura", BODY, "replay"), SECRET, now=1_795_000_000.0)
    assert first is not None
    assert first.kind == "valid"
    assert request.kind == "replay"
    assert (request.body, request.headers) == (first.body, first.headers)
    # With a genuine request of another provider, still a fresh one first.
    other, whoop = prepare(Outgoing("whoop", BODY, "valid"), SecretStr("whoop-0123456789abcdef"))
    first, _ = prepare(Outgoing("oura", BODY, "replay", last=whoop), SECRET)
    assert first is not None
    assert other is None


def test_preview_says_what_is_special() -> None:
    request, note = preview(Outgoing("oura", BODY, "valid"), None, "no secret", 1.0)
    assert request is not None
    assert request.kind == "unsigned"
    assert note == "not signed: no secret"
    request, note = preview(Outgoing("oura", BODY, "replay"), SECRET, "", 1.0)
    assert request is not None
    assert request.kind == "valid"
    assert note.startswith("replay: a genuine request is sent first")
    request, note = preview(Outgoing("healthkit", BODY, "valid"), SECRET, "", 1.0)
    assert request is None
    assert "whsec_" in note


@pytest.mark.parametrize(
    ("kind", "status", "body", "ok"),
    [
        ("valid", 202, {"status": "accepted", "event_id": "e1"}, True),
        ("valid", 202, {"status": "accepted"}, False),  # no event_id: not the schema's answer
        ("replay", 200, {"status": "duplicate", "event_id": "e1"}, True),
        ("unsigned", 403, {"detail": "invalid signature"}, True),
        ("unsigned", 202, {"status": "accepted", "event_id": "e1"}, False),
    ],
)
def test_one_expected_policy(kind: Any, status: int, body: dict[str, str], ok: bool) -> None:
    import json

    response = WebhookResponse(status, json.dumps(body).encode(), 1.0)
    assert PRESETS[kind].accepts(response) is ok
    assert PRESETS["valid"].expected == "202 accepted"
    assert PRESETS["unsigned"].expected == "403"
