"""Writing ``config.toml``: atomically, mode 0600, keeping the keys this version does not know."""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import tomli_w

from auren_tui.core.config.load import _SERVICE_KEYS, _SSH_KEYS, _parse, _Reader, load_config
from auren_tui.core.config.model import (
    LOCAL,
    AlertRules,
    AppConfig,
    ConfigError,
    HistoryPrefs,
    Profile,
    UiPrefs,
)
from auren_tui.core.paths import Locations


def _profile_table(p: Profile) -> dict[str, Any]:
    t: dict[str, Any] = {}
    if not p.is_local:
        if p.ssh_host:
            t["ssh_host"] = p.ssh_host
        if p.host:
            t["host"] = p.host
        if p.port is not None:
            t["port"] = p.port
        if p.user:
            t["user"] = p.user
        t["auth"] = p.auth
        if p.key_file is not None:
            t["key_file"] = str(p.key_file)
        if p.known_hosts is not None:
            t["known_hosts"] = str(p.known_hosts)
        if p.jump:
            t["jump"] = list(p.jump)
        if p.allow_proxy_command:
            t["allow_proxy_command"] = True
        if p.ssh_config is not None:
            t["ssh_config"] = str(p.ssh_config)
    if p.read_only or not p.is_local:
        t["read_only"] = p.read_only
    if not p.alerts:
        t["alerts"] = False
    if p.docker_host:
        t["docker_host"] = p.docker_host
    if p.docker_command != "docker":
        t["docker_command"] = p.docker_command
    if p.service_overrides:
        t["services"] = {s: _canonical(p.service_overrides[s]) for s in sorted(p.service_overrides)}
    return t


def _canonical(fields: Mapping[str, object]) -> dict[str, object]:
    """Known keys in a fixed order, so equal configs write equal files."""
    known = {k: fields[k] for k in _SERVICE_KEYS if k in fields}
    return known | {k: v for k, v in sorted(fields.items()) if k not in known}


def _to_toml(config: AppConfig) -> dict[str, Any]:
    ui: dict[str, Any] = {
        "theme": config.ui.theme,
        "refresh_seconds": float(config.ui.refresh_seconds),
        "read_only": config.ui.read_only,
    }
    if config.ui.default_profile is not None:
        ui["default_profile"] = config.ui.default_profile
    profiles = {}
    for name in sorted(config.profiles):
        table = _profile_table(config.profiles[name])
        if table or name != LOCAL:
            profiles[name] = table
    # Written whole, as [ui] is: the file shows every rule an operator can change.
    # After the profiles, so a file written before them keeps its shape above.
    alerts = asdict(config.alerts)
    alerts["backlog_threshold"] = float(config.alerts.backlog_threshold)
    history = {k: float(v) for k, v in asdict(config.history).items()}
    return {"ui": ui, "profiles": profiles, "alerts": alerts, "history": history}


def _keep_unknown(new: dict[str, Any], old: Mapping[str, Any], known: frozenset[str]) -> None:
    """Copy into ``new`` the keys of ``old`` this version does not know."""
    for k, v in old.items():
        if k not in known and k not in new:
            new[k] = v


_TOP_KEYS = frozenset({"ui", "alerts", "history", "profiles"})
_UI_KEYS = frozenset({"theme", "refresh_seconds", "read_only", "default_profile"})
_ALERTS_KEYS = frozenset(AlertRules.__dataclass_fields__)
_HISTORY_KEYS = frozenset(HistoryPrefs.__dataclass_fields__)
_PROFILE_KEYS = frozenset(
    {*_SSH_KEYS, "read_only", "docker_host", "alerts", "services"},
)


def _merge_unknown(doc: dict[str, Any], old: Mapping[str, Any]) -> None:
    _keep_unknown(doc, old, _TOP_KEYS)
    for table, known in (("ui", _UI_KEYS), ("alerts", _ALERTS_KEYS), ("history", _HISTORY_KEYS)):
        if isinstance(old.get(table), dict):
            _keep_unknown(doc[table], old[table], known)
    old_profiles = old.get("profiles")
    if not isinstance(old_profiles, dict):
        return
    for name, table in doc["profiles"].items():
        old_table = old_profiles.get(name)
        if not isinstance(old_table, dict):
            continue
        _keep_unknown(table, old_table, _PROFILE_KEYS)
        old_services = old_table.get("services")
        if not isinstance(old_services, dict):
            continue
        for service, fields in table.get("services", {}).items():
            if isinstance(old_services.get(service), dict):
                _keep_unknown(fields, old_services[service], frozenset(_SERVICE_KEYS))


def save_config(locations: Locations, config: AppConfig) -> None:
    """Write ``config.toml`` atomically (temp file + ``os.replace``), mode 0600.

    A failure at any point leaves the previous file as it was.
    """
    path = locations.config_file
    doc = _to_toml(config)
    _parse(doc, _Reader(path))  # what is written must load again: same checks, same errors
    with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        _merge_unknown(doc, tomllib.loads(path.read_bytes().decode("utf-8")))
    payload = tomli_w.dumps(doc).encode("utf-8")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every filesystem allows it.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_ui(locations: Locations, prefs: UiPrefs) -> None:
    """Remember the UI preferences (the TUI's ``save_prefs``); profiles are untouched."""
    config = load_config(locations)
    save_config(locations, replace(config, ui=prefs))


def set_theme(locations: Locations, theme: str) -> None:
    """Remember ``theme`` as the UI theme."""
    config = load_config(locations)
    save_config(locations, replace(config, ui=replace(config.ui, theme=theme)))
