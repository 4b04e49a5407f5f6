"""Reading ``config.toml``: every value checked, errors naming the file and the key."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from auren_tui.core.config.model import (
    _NAME,
    AUTH_KINDS,
    CHECK_KINDS,
    LOCAL,
    AlertRules,
    AppConfig,
    AuthKind,
    ConfigError,
    HistoryPrefs,
    Profile,
    UiPrefs,
    check_docker_command,
    local_profile,
)
from auren_tui.core.paths import Locations


class _Reader:
    """Typed access to the parsed TOML, with errors naming the file and key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a table, got {_kind(value)}")
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, got {_kind(value)}")
        if "\n" in value or "\r" in value:
            raise self.fail(path, "must be a single line")
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {_kind(value)}")
        return value

    def port(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {_kind(value)}")
        if not 1 <= value <= 65535:
            raise self.fail(path, f"must be between 1 and 65535, got {value}")
        return value

    def number(
        self, data: Mapping[str, Any], key: str, path: str, low: float, high: float | None = None
    ) -> float | None:
        """A finite number in ``low..high`` (``high`` None: no upper bound)."""
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"must be a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, got {value}")
        if high is None and value < low:
            raise self.fail(path, f"must be at least {low:g}, got {value:g}")
        if high is not None and not low <= value <= high:
            raise self.fail(path, f"must be between {low:g} and {high:g}, got {value:g}")
        return float(value)

    def integer(
        self, data: Mapping[str, Any], key: str, path: str, low: int, high: int
    ) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"must be between {low} and {high}, got {value}")
        return value

    def word(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        """A non-empty string without whitespace (a host name, a user)."""
        value = self.string(data, key, path)
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise self.fail(path, f"must be a single word, got {value[:40]!r}")
        return value

    def jumps(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        """An array of ``[user@]host[:port]`` jump hosts (or SSH config aliases)."""
        from auren_tui.core.transport.sshconfig_syntax import SshConfigError, parse_jump

        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"must be an array of strings, got {_kind(value)}")
        for hop in value:
            try:
                parse_jump(hop)
            except SshConfigError as exc:
                raise self.fail(path, str(exc)) from None
        return tuple(value)

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]
    ) -> str | None:
        value = self.string(data, key, path)
        if value is not None and value not in allowed:
            raise self.fail(path, f"must be one of {', '.join(allowed)}, got {value[:40]!r}")
        return value


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def load_config(locations: Locations) -> AppConfig:
    """Read ``config.toml`` (a missing file is an empty config); ConfigError on bad input."""
    path = locations.config_file
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AppConfig()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _parse(data, _Reader(path))


def _parse(data: Mapping[str, Any], r: _Reader) -> AppConfig:
    profiles: dict[str, Profile] = {LOCAL: local_profile()}
    for name, table in r.table(data, "profiles", "profiles").items():
        key = f"profiles.{name}"
        if not _NAME.fullmatch(name):
            raise r.fail(
                f"profiles.{name[:40]!r}",
                "profile names are letters, digits, '-' and '_' (at most 64)",
            )
        if not isinstance(table, dict):
            raise r.fail(key, f"must be a table, got {_kind(table)}")
        profiles[name] = _parse_profile(name, table, r)

    ui_table = r.table(data, "ui", "ui")
    refresh = r.number(ui_table, "refresh_seconds", "ui.refresh_seconds", 0.1, 3600)
    default = r.string(ui_table, "default_profile", "ui.default_profile")
    if default is not None and default not in profiles:
        raise r.fail("ui.default_profile", f"no profile named {default[:40]!r}")
    ui = UiPrefs(
        theme=r.string(ui_table, "theme", "ui.theme") or UiPrefs.theme,
        refresh_seconds=UiPrefs.refresh_seconds if refresh is None else refresh,
        read_only=bool(r.boolean(ui_table, "read_only", "ui.read_only")),
        default_profile=default,
    )
    return AppConfig(
        profiles=profiles, ui=ui, alerts=_parse_alerts(data, r), history=_parse_history(data, r)
    )


ALERT_SWITCHES = ("enabled", "bell", "desktop", "unhealthy", "restart", "circuit", "backlog")
"""The ``[alerts]`` keys that are true or false (every field of AlertRules but two)."""


def _parse_alerts(data: Mapping[str, Any], r: _Reader) -> AlertRules:
    t = r.table(data, "alerts", "alerts")
    switches = {k: r.boolean(t, k, f"alerts.{k}") for k in ALERT_SWITCHES}
    threshold = r.number(t, "backlog_threshold", "alerts.backlog_threshold", 0)
    refreshes = r.integer(t, "backlog_refreshes", "alerts.backlog_refreshes", 1, 1000)
    given: dict[str, Any] = {k: v for k, v in switches.items() if v is not None}
    if threshold is not None:
        given["backlog_threshold"] = threshold
    if refreshes is not None:
        given["backlog_refreshes"] = refreshes
    return AlertRules(**given)


def _parse_history(data: Mapping[str, Any], r: _Reader) -> HistoryPrefs:
    t = r.table(data, "history", "history")
    keep_days = r.number(t, "keep_days", "history.keep_days", 0.01, 365)
    max_mb = r.number(t, "max_mb", "history.max_mb", 1, 100000)
    return HistoryPrefs(
        keep_days=HistoryPrefs.keep_days if keep_days is None else keep_days,
        max_mb=HistoryPrefs.max_mb if max_mb is None else max_mb,
    )


_SSH_KEYS = (
    "host",
    "port",
    "user",
    "auth",
    "key_file",
    "known_hosts",
    "ssh_host",
    "ssh_config",
    "jump",
    "allow_proxy_command",
    "docker_command",
)


def _parse_profile(name: str, t: Mapping[str, Any], r: _Reader) -> Profile:
    key = f"profiles.{name}"
    if name == LOCAL:
        for k in _SSH_KEYS:
            if k in t:
                raise r.fail(f"{key}.{k}", "the built-in local profile uses no SSH; remove it")
    host = r.word(t, "host", f"{key}.host")
    ssh_host = r.word(t, "ssh_host", f"{key}.ssh_host")
    if name != LOCAL and not host and not ssh_host:
        raise r.fail(
            f"{key}.host",
            "required (the server's name or address), or ssh_host (a Host of ~/.ssh/config)",
        )
    auth = r.choice(t, "auth", f"{key}.auth", AUTH_KINDS) or "auto"
    key_file = r.string(t, "key_file", f"{key}.key_file")
    if auth == "key" and not key_file:
        raise r.fail(f"{key}.key_file", 'required when auth = "key"')
    known_hosts = r.string(t, "known_hosts", f"{key}.known_hosts")
    ssh_config = r.string(t, "ssh_config", f"{key}.ssh_config")
    docker_command = r.string(t, "docker_command", f"{key}.docker_command")
    if docker_command is not None:
        check_docker_command(docker_command, lambda p: r.fail(f"{key}.docker_command", p))
    overrides = _parse_services(t, key, r)
    return Profile(
        name=name,
        host=host or "",
        port=r.port(t, "port", f"{key}.port"),
        user=r.word(t, "user", f"{key}.user") or "",
        auth=cast(AuthKind, auth),  # checked against AUTH_KINDS above
        key_file=Path(key_file).expanduser() if key_file else None,
        known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
        read_only=bool(r.boolean(t, "read_only", f"{key}.read_only")),
        docker_host=r.string(t, "docker_host", f"{key}.docker_host") or None,
        docker_command=docker_command or "docker",
        ssh_host=ssh_host,
        ssh_config=Path(ssh_config).expanduser() if ssh_config else None,
        jump=r.jumps(t, "jump", f"{key}.jump"),
        allow_proxy_command=bool(r.boolean(t, "allow_proxy_command", f"{key}.allow_proxy_command")),
        alerts=r.boolean(t, "alerts", f"{key}.alerts") is not False,
        service_overrides=overrides,
    )


_SERVICE_KEYS = ("container", "port", "check", "path", "host")


def _parse_services(t: Mapping[str, Any], key: str, r: _Reader) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for service, table in r.table(t, "services", f"{key}.services").items():
        skey = f"{key}.services.{service}"
        if not _NAME.fullmatch(service):
            raise r.fail(
                f"{key}.services.{service[:40]!r}",
                "service names are letters, digits, '-' and '_' (at most 64)",
            )
        if not isinstance(table, dict):
            raise r.fail(skey, f"must be a table, got {_kind(table)}")
        fields: dict[str, object] = {}
        for k in ("container", "path", "host"):
            value = r.string(table, k, f"{skey}.{k}")
            if value is not None:
                fields[k] = value
        port = r.port(table, "port", f"{skey}.port")
        if port is not None:
            fields["port"] = port
        check = r.choice(table, "check", f"{skey}.check", CHECK_KINDS)
        if check is not None:
            fields["check"] = check
        if fields:
            out[service] = fields
    return out
