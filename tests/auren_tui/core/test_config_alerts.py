"""config.toml's [alerts], [history] and a profile's ``alerts``: parsed, checked, saved."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import pytest

from auren_tui.core.config import (
    LOCAL,
    AlertRules,
    AppConfig,
    ConfigError,
    HistoryPrefs,
    Profile,
    load_config,
    save_config,
    set_theme,
)
from auren_tui.core.paths import Locations
from tests.auren_tui.core.test_config import _write, locations  # noqa: F401 (a fixture)


def test_defaults_without_the_tables(locations: Locations) -> None:
    _write(locations, '[profiles.prod]\nhost = "h"\n')
    config = load_config(locations)
    assert config.alerts == AlertRules()
    assert config.history == HistoryPrefs()
    assert config.profile("prod").alerts is True
    assert config.alert_rules(config.profile("prod")) == AlertRules()
    assert AlertRules().backlog_threshold == 100
    assert AlertRules().backlog_refreshes == 3
    assert (HistoryPrefs().keep_days, HistoryPrefs().max_mb) == (7, 100)


def test_every_key_is_read(locations: Locations) -> None:
    _write(
        locations,
        """
[alerts]
enabled = true
bell = false
desktop = false
unhealthy = false
restart = false
circuit = false
backlog = false
backlog_threshold = 250
backlog_refreshes = 5

[history]
keep_days = 0.5
max_mb = 20

[profiles.prod]
host = "h"
alerts = false

[profiles.local]
alerts = true
""",
    )
    config = load_config(locations)
    assert config.alerts == AlertRules(
        enabled=True,
        bell=False,
        desktop=False,
        unhealthy=False,
        restart=False,
        circuit=False,
        backlog=False,
        backlog_threshold=250.0,
        backlog_refreshes=5,
    )
    assert config.history == HistoryPrefs(keep_days=0.5, max_mb=20.0)
    assert config.profile("prod").alerts is False
    assert config.profile(LOCAL).alerts is True


def test_a_profile_with_alerts_off_gets_them_disabled(locations: Locations) -> None:
    _write(
        locations,
        '[alerts]\nbacklog_threshold = 7\n[profiles.prod]\nhost = "h"\nalerts = false\n',
    )
    config = load_config(locations)
    prod = config.alert_rules(config.profile("prod"))
    assert prod.enabled is False
    assert prod.backlog_threshold == 7  # the rest as configured
    assert config.alert_rules(config.profile(LOCAL)).enabled is True


BAD = [
    pytest.param("alerts = 1", "alerts", "must be a table, got an integer", id="alerts-scalar"),
    pytest.param("history = []", "history", "must be a table, got an array", id="history-array"),
    pytest.param(
        "[alerts]\nbell = 'yes'", "alerts.bell", "true or false, got a string", id="bell-str"
    ),
    pytest.param("[alerts]\nenabled = 1", "alerts.enabled", "true or false", id="enabled-int"),
    pytest.param(
        "[alerts]\nbacklog_threshold = -1",
        "alerts.backlog_threshold",
        "must be at least 0, got -1",
        id="threshold-negative",
    ),
    pytest.param(
        "[alerts]\nbacklog_threshold = 'many'",
        "alerts.backlog_threshold",
        "must be a number, got a string",
        id="threshold-str",
    ),
    pytest.param(
        "[alerts]\nbacklog_threshold = nan",
        "alerts.backlog_threshold",
        "must be a finite number",
        id="threshold-nan",
    ),
    pytest.param(
        "[alerts]\nbacklog_threshold = true",
        "alerts.backlog_threshold",
        "got a boolean",
        id="threshold-bool",
    ),
    pytest.param(
        "[alerts]\nbacklog_refreshes = 0",
        "alerts.backlog_refreshes",
        "must be between 1 and 1000, got 0",
        id="refreshes-0",
    ),
    pytest.param(
        "[alerts]\nbacklog_refreshes = 1001",
        "alerts.backlog_refreshes",
        "between 1 and 1000",
        id="refreshes-big",
    ),
    pytest.param(
        "[alerts]\nbacklog_refreshes = 2.5",
        "alerts.backlog_refreshes",
        "must be an integer, got a number",
        id="refreshes-float",
    ),
    pytest.param(
        "[history]\nkeep_days = 0",
        "history.keep_days",
        "must be between 0.01 and 365, got 0",
        id="keep-days-0",
    ),
    pytest.param(
        "[history]\nkeep_days = 400", "history.keep_days", "between 0.01 and 365", id="keep-long"
    ),
    pytest.param(
        "[history]\nmax_mb = 0.5",
        "history.max_mb",
        "must be between 1 and 100000, got 0.5",
        id="max-mb-small",
    ),
    pytest.param(
        "[history]\nmax_mb = 'big'", "history.max_mb", "must be a number", id="max-mb-str"
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nalerts = 'off'",
        "profiles.prod.alerts",
        "true or false",
        id="profile-alerts-str",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_bad_input_is_one_line_naming_file_and_key(
    locations: Locations, text: str, key: str, problem: str
) -> None:
    path = _write(locations, text)
    with pytest.raises(ConfigError) as info:
        load_config(locations)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: ")
    assert problem in message


def test_unknown_keys_are_ignored_and_kept_on_save(locations: Locations) -> None:
    # As everywhere in config.toml: a newer version's key survives this one.
    _write(
        locations,
        "[alerts]\nbell = false\nsound = 'ping'\n[history]\nmax_mb = 5\ncompress = true\n",
    )
    config = load_config(locations)
    assert config.alerts == AlertRules(bell=False)
    assert config.history == HistoryPrefs(max_mb=5)
    set_theme(locations, "auren-light")
    data = tomllib.loads(locations.config_file.read_text())
    assert data["alerts"]["sound"] == "ping"
    assert data["alerts"]["bell"] is False
    assert data["history"] == {"keep_days": 7.0, "max_mb": 5.0, "compress": True}


def test_round_trip(locations: Locations) -> None:
    rules = AlertRules(
        enabled=False, desktop=False, restart=False, backlog_threshold=0, backlog_refreshes=1000
    )
    history = HistoryPrefs(keep_days=0.01, max_mb=100000)
    config = replace(
        AppConfig()
        .with_profile(Profile(name="prod", host="h", alerts=False))
        .with_profile(Profile(name=LOCAL, alerts=False)),
        alerts=rules,
        history=history,
    )
    save_config(locations, config)
    loaded = load_config(locations)
    assert loaded.alerts == rules
    assert loaded.history == history
    assert loaded.profile("prod").alerts is False
    assert loaded.profile(LOCAL).alerts is False
    assert dict(loaded.profiles) == dict(config.profiles)
    before = locations.config_file.read_bytes()
    save_config(locations, loaded)
    assert locations.config_file.read_bytes() == before


def test_tables_are_written_whole_as_ui_is(locations: Locations) -> None:
    save_config(locations, AppConfig().with_profile(Profile(name="prod", host="h")))
    data = tomllib.loads(locations.config_file.read_text())
    assert data["alerts"] == {
        "enabled": True,
        "bell": True,
        "desktop": True,
        "unhealthy": True,
        "restart": True,
        "circuit": True,
        "backlog": True,
        "backlog_threshold": 100.0,
        "backlog_refreshes": 3,
    }
    assert data["history"] == {"keep_days": 7.0, "max_mb": 100.0}
    assert "alerts" not in data["profiles"]["prod"]  # written only when off
    assert LOCAL not in data["profiles"]


def test_save_refuses_rules_that_would_not_load_again(locations: Locations) -> None:
    with pytest.raises(ConfigError, match=r": alerts\.backlog_refreshes: must be between"):
        save_config(locations, replace(AppConfig(), alerts=AlertRules(backlog_refreshes=0)))
    with pytest.raises(ConfigError, match=r": history\.max_mb: must be between"):
        save_config(locations, replace(AppConfig(), history=HistoryPrefs(max_mb=0)))
    assert not locations.config_file.exists()
