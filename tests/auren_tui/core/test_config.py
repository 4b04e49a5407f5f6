"""config.toml: round trip, one-line errors naming file and key, atomic saves."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from auren_tui.core.catalog import Catalog
from auren_tui.core.config import (
    LOCAL,
    AppConfig,
    ConfigError,
    Profile,
    UiPrefs,
    load_config,
    save_config,
    save_ui,
    set_theme,
)
from auren_tui.core.paths import Locations


@pytest.fixture
def locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Locations:
    monkeypatch.setenv("AUREN_TUI_HOME", str(tmp_path / "home"))
    return Locations.from_env()


def _write(locations: Locations, text: str | bytes) -> Path:
    path = locations.config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


def _prod(**changes: object) -> Profile:
    overrides: dict[str, dict[str, object]] = {
        "bridge": {"container": "bridge-v2", "port": 8890},
        "redis": {"host": "10.0.0.5", "check": "redis"},
        "extra": {"container": "extra-svc", "port": 7000, "check": "http", "path": "/ok"},
    }
    fields: dict[str, object] = {
        "name": "prod",
        "host": "203.0.113.7",
        "port": 2222,
        "user": "deploy",
        "auth": "key",
        "key_file": Path("/keys/auren_ed25519"),
        "known_hosts": Path("/keys/known_hosts"),
        "read_only": True,
        "docker_host": "unix:///var/run/docker.sock",
        "catalog": Catalog().with_overrides(overrides),
        "service_overrides": overrides,
    }
    fields.update(changes)
    return Profile(**fields)  # type: ignore[arg-type]


def test_missing_file_gives_only_the_builtin_local_profile(locations: Locations) -> None:
    config = load_config(locations)
    assert list(config.profiles) == [LOCAL]
    assert config.profiles[LOCAL].is_local
    assert config.ui == UiPrefs()


def test_round_trip_keeps_every_field(locations: Locations) -> None:
    staging = Profile(name="staging", host="staging.example", user="ops", auth="password")
    config = (
        AppConfig()
        .with_profile(_prod())
        .with_profile(staging)
        .with_profile(
            Profile(
                name=LOCAL,
                read_only=True,
                service_overrides={"redis": {"port": 6380}},
                catalog=Catalog().with_overrides({"redis": {"port": 6380}}),
            )
        )
    )
    config = AppConfig(
        profiles=config.profiles,
        ui=UiPrefs(theme="auren-light", refresh_seconds=5, read_only=True, default_profile="prod"),
    )
    save_config(locations, config)
    loaded = load_config(locations)
    assert dict(loaded.profiles) == dict(config.profiles)
    assert loaded.ui == config.ui
    prod = loaded.profile("prod")
    bridge = prod.catalog.get("bridge")
    assert bridge is not None
    assert (bridge.container, bridge.port, bridge.path) == ("bridge-v2", 8890, "/health")
    extra = prod.catalog.get("extra")
    assert extra is not None
    assert (extra.container, extra.port, extra.path) == ("extra-svc", 7000, "/ok")
    redis = loaded.profile(LOCAL).catalog.get("redis")
    assert redis is not None
    assert redis.port == 6380
    # And saving what was loaded writes the same bytes.
    before = locations.config_file.read_bytes()
    save_config(locations, loaded)
    assert locations.config_file.read_bytes() == before


def test_file_format_is_the_documented_one(locations: Locations) -> None:
    save_config(locations, AppConfig().with_profile(_prod()))
    data = tomllib.loads(locations.config_file.read_text())
    assert data["profiles"]["prod"]["host"] == "203.0.113.7"
    assert data["profiles"]["prod"]["auth"] == "key"
    assert data["profiles"]["prod"]["services"]["bridge"] == {
        "container": "bridge-v2",
        "port": 8890,
    }
    assert LOCAL not in data["profiles"]  # nothing to say about local
    assert data["ui"]["theme"] == "auren-dark"


def test_saved_file_is_private(locations: Locations) -> None:
    save_config(locations, AppConfig().with_profile(_prod()))
    assert stat.S_IMODE(locations.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(locations.config_dir.stat().st_mode) == 0o700


def test_key_paths_with_tilde_are_expanded(locations: Locations) -> None:
    _write(
        locations,
        '[profiles.prod]\nhost = "h"\nauth = "key"\nkey_file = "~/.ssh/id"\nknown_hosts = "~/kh"\n',
    )
    prod = load_config(locations).profile("prod")
    assert prod.key_file == Path.home() / ".ssh" / "id"
    assert prod.known_hosts == Path.home() / "kh"


def test_unknown_keys_are_ignored_and_kept_on_save(locations: Locations) -> None:
    _write(
        locations,
        """
future_table = { x = 1 }
[ui]
theme = "auren-light"
sparkles = true
[profiles.prod]
host = "h"
user = "u"
jump_host = "bastion"
[profiles.prod.services.bridge]
port = 9999
weight = 3
""",
    )
    config = load_config(locations)
    assert config.ui.theme == "auren-light"
    bridge = config.profile("prod").catalog.get("bridge")
    assert bridge is not None
    assert bridge.port == 9999
    set_theme(locations, "auren-dark")
    data = tomllib.loads(locations.config_file.read_text())
    assert data["future_table"] == {"x": 1}
    assert data["ui"] == {
        "theme": "auren-dark",
        "refresh_seconds": 2.0,
        "read_only": False,
        "sparkles": True,
    }
    assert data["profiles"]["prod"]["jump_host"] == "bastion"
    assert data["profiles"]["prod"]["services"]["bridge"] == {"port": 9999, "weight": 3}


BAD = [
    pytest.param("[profiles.prod\nhost = 1", "", "invalid TOML", id="invalid-toml"),
    pytest.param(b"[ui]\ntheme = '\xff'\n", "", "not UTF-8", id="not-utf8"),
    pytest.param("profiles = 3", "profiles", "must be a table", id="profiles-not-table"),
    pytest.param("[profiles]\nprod = 3", "profiles.prod", "must be a table", id="profile-scalar"),
    pytest.param(
        '[profiles."bad name"]\nhost = "h"', "profiles.'bad name'", "names are", id="bad-name"
    ),
    pytest.param("[profiles.prod]\nuser = 'u'", "profiles.prod.host", "required", id="no-host"),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nport = '22'",
        "profiles.prod.port",
        "must be an integer, got a string",
        id="port-string",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nport = 70000",
        "profiles.prod.port",
        "between 1 and 65535, got 70000",
        id="port-too-big",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nport = 0", "profiles.prod.port", "between 1", id="port-0"
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nport = true",
        "profiles.prod.port",
        "got a boolean",
        id="port-bool",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nauth = 'kerberos'",
        "profiles.prod.auth",
        "must be one of auto, agent, key, password, got 'kerberos'",
        id="auth-unknown",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nauth = 'key'",
        "profiles.prod.key_file",
        'required when auth = "key"',
        id="key-without-file",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nuser = 7", "profiles.prod.user", "string", id="user-int"
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nread_only = 'yes'",
        "profiles.prod.read_only",
        "true or false",
        id="read-only-string",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\nservices = 1",
        "profiles.prod.services",
        "must be a table",
        id="services-scalar",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\n[profiles.prod.services.bridge]\nport = 0",
        "profiles.prod.services.bridge.port",
        "between 1 and 65535",
        id="service-port",
    ),
    pytest.param(
        "[profiles.prod]\nhost = 'h'\n[profiles.prod.services.bridge]\ncheck = 'ping'",
        "profiles.prod.services.bridge.check",
        "must be one of http",
        id="service-check",
    ),
    pytest.param(
        "[profiles.local]\nhost = 'h'", "profiles.local.host", "uses no SSH", id="local-host"
    ),
    pytest.param("[ui]\ntheme = 3", "ui.theme", "string", id="theme-int"),
    pytest.param(
        "[ui]\nrefresh_seconds = 'fast'", "ui.refresh_seconds", "a number", id="refresh-str"
    ),
    pytest.param("[ui]\nrefresh_seconds = 0", "ui.refresh_seconds", "between", id="refresh-0"),
    pytest.param(
        "[ui]\ndefault_profile = 'nope'",
        "ui.default_profile",
        "no profile named 'nope'",
        id="default-missing",
    ),
    pytest.param("ui = []", "ui", "must be a table, got an array", id="ui-array"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_bad_input_is_one_line_naming_file_and_key(
    locations: Locations, text: str | bytes, key: str, problem: str
) -> None:
    path = _write(locations, text)
    with pytest.raises(ConfigError) as info:
        load_config(locations)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    if key:
        assert f": {key}: " in message
    assert problem in message


def test_save_refuses_what_would_not_load_again(locations: Locations) -> None:
    save_config(locations, AppConfig().with_profile(_prod()))
    before = locations.config_file.read_bytes()
    with pytest.raises(ConfigError, match=r"profiles\.bad\.port: must be between"):
        save_config(locations, AppConfig().with_profile(Profile(name="bad", host="h", port=0)))
    assert locations.config_file.read_bytes() == before


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failed_save_leaves_the_old_file_intact(
    locations: Locations, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    save_config(locations, AppConfig().with_profile(_prod()))
    before = locations.config_file.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if failing == "write":
        # Fails after part of the new content went to the temp file.
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, *args: object, **kwargs: object) -> None:
                self._f = real_fdopen(*args, **kwargs)  # type: ignore[call-overload]

            def __enter__(self) -> HalfWriter:
                return self

            def __exit__(self, *exc: object) -> None:
                self._f.close()

            def fileno(self) -> int:
                return int(self._f.fileno())

            def write(self, data: bytes) -> int:
                self._f.write(data[: len(data) // 2])
                self._f.flush()
                raise OSError(28, "No space left on device")

        monkeypatch.setattr("auren_tui.core.config.save.os.fdopen", HalfWriter)
    else:
        monkeypatch.setattr(f"auren_tui.core.config.save.os.{failing}", boom)
    changed = AppConfig().with_profile(_prod(host="198.51.100.1"))
    with pytest.raises(ConfigError) as info:
        save_config(locations, changed)
    monkeypatch.undo()
    assert "No space left on device" in str(info.value)
    assert str(locations.config_file) in str(info.value)
    assert locations.config_file.read_bytes() == before
    assert sorted(p.name for p in locations.config_dir.iterdir()) == ["config.toml"]
    assert load_config(locations).profile("prod").host == "203.0.113.7"


def test_interrupted_save_removes_its_temp_file(
    locations: Locations, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("auren_tui.core.config.save.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_config(locations, AppConfig().with_profile(_prod()))
    monkeypatch.undo()
    assert list(locations.config_dir.iterdir()) == []


def test_set_theme_and_save_ui_keep_the_profiles(locations: Locations) -> None:
    save_config(locations, AppConfig().with_profile(_prod()))
    set_theme(locations, "auren-light")
    config = load_config(locations)
    assert config.ui.theme == "auren-light"
    assert config.profile("prod") == _prod()
    save_ui(locations, UiPrefs(theme="auren-dark", refresh_seconds=1.5, default_profile="prod"))
    config = load_config(locations)
    assert config.ui == UiPrefs(theme="auren-dark", refresh_seconds=1.5, default_profile="prod")
    assert config.profile("prod") == _prod()


def test_set_theme_on_a_fresh_install_creates_the_file(locations: Locations) -> None:
    set_theme(locations, "auren-light")
    assert load_config(locations).ui.theme == "auren-light"


def test_without_profile_forgets_the_default_and_keeps_local(locations: Locations) -> None:
    config = AppConfig(profiles={LOCAL: Profile(name=LOCAL), "prod": _prod()})
    config = AppConfig(profiles=config.profiles, ui=UiPrefs(default_profile="prod"))
    smaller = config.without_profile("prod")
    assert list(smaller.profiles) == [LOCAL]
    assert smaller.ui.default_profile is None
    with pytest.raises(ConfigError, match="cannot be removed"):
        smaller.without_profile(LOCAL)
    with pytest.raises(ConfigError, match="no profile named 'prod'"):
        smaller.without_profile("prod")


def test_config_never_has_a_place_for_secrets() -> None:
    # Secrets live in the keyring; a Profile has no field that could hold one.
    names = {f for f in Profile.__dataclass_fields__}
    assert not {n for n in names if "pass" in n or "secret" in n or "token" in n}


def test_local_is_always_there() -> None:
    config = AppConfig(profiles={"prod": _prod()})
    assert set(config.profiles) == {LOCAL, "prod"}
    assert config.profile(LOCAL).is_local
