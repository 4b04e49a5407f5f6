"""Profiles and UI preferences in ``config.toml`` (XDG config dir).

Never holds a secret: passwords, passphrases and webhook secrets live in the
OS keyring (core/secrets.py), named ``<profile>/<name>``.

The file, as ``save_config`` writes it::

    [ui]
    theme = "auren-dark"
    refresh_seconds = 2.0
    read_only = false
    default_profile = "prod"

    [profiles.prod]
    ssh_host = "prod-box"             # a Host of ~/.ssh/config (or host = "203.0.113.7")
    port = 22                         # host, port, user: written here, they win over the file
    user = "deploy"
    auth = "auto"                     # auto | agent | key | password
    key_file = "/home/me/.ssh/auren_ed25519"
    known_hosts = "/home/me/.ssh/known_hosts"
    jump = ["bastion"]                # ProxyJump hops (else the file's ProxyJump)
    allow_proxy_command = false       # run the file's ProxyCommand for this profile
    ssh_config = "/home/me/.ssh/config"  # default: ~/.ssh/config, then /etc/ssh/ssh_config
    read_only = true
    docker_host = "unix:///var/run/docker.sock"
    docker_command = "sudo -n docker" # how the SSH user runs docker (default "docker")

    [profiles.prod.services.bridge]   # overrides of core/catalog.py, per service
    container = "biometric-bridge-v2"
    port = 8890

Unknown keys are ignored on load and kept as they were on save, so a file
written by a newer version survives an older one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

import tomli_w

from auren_tui.core.catalog import Catalog, CheckKind
from auren_tui.core.paths import Locations

AuthKind = Literal["auto", "agent", "key", "password"]
AUTH_KINDS: tuple[str, ...] = get_args(AuthKind)
CHECK_KINDS: tuple[str, ...] = get_args(CheckKind)
LOCAL = "local"

# Profile names end up in TOML keys and keyring user names (``<profile>/<name>``).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_BAD_NAME = "names are letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"


class ConfigError(Exception):
    """A problem with the config file or a profile: one line naming the file and key."""


@dataclass(frozen=True)
class Profile:
    """One server (or ``local``)."""

    name: str
    host: str = ""  # "" with ssh_host: the HostName of ~/.ssh/config
    port: int | None = None  # None: ~/.ssh/config's Port, else 22
    user: str = ""  # "": ~/.ssh/config's User, else the local user
    auth: AuthKind = "auto"
    """auto: as ``ssh`` does (the agent unless IdentitiesOnly, then the identity
    files); agent: the agent only; key: ``key_file`` only; password."""
    key_file: Path | None = None
    known_hosts: Path | None = None  # default: ~/.ssh/config's UserKnownHostsFile
    read_only: bool = False
    docker_host: str | None = None  # the server's Docker socket, e.g. unix:///var/run/docker.sock
    docker_command: str = "docker"
    """How the SSH user runs the docker CLI on the server, e.g. ``sudo -n docker``."""
    ssh_host: str | None = None
    """A ``Host`` of the SSH config: HostName, User, Port, IdentityFile… come from it."""
    ssh_config: Path | None = None
    """The SSH config read (as ``ssh -F``); default ~/.ssh/config then /etc/ssh/ssh_config."""
    jump: tuple[str, ...] = ()
    """Jump hosts (``[user@]host[:port]`` or Host aliases); () = the config's ProxyJump."""
    allow_proxy_command: bool = False
    """Run the SSH config's ProxyCommand for this profile (never by default)."""
    catalog: Catalog = field(default_factory=Catalog)
    """The service catalog with ``service_overrides`` already applied."""
    service_overrides: dict[str, dict[str, object]] = field(default_factory=dict)
    """``[profiles.NAME.services.SERVICE]`` tables, as written in the file."""

    direct: bool = False
    """Reach services on this machine without SSH even though not named ``local``
    (the demo's profile; never read from or written to config.toml)."""

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL or self.direct

    @property
    def target(self) -> str:
        """``user@host:port`` as written (``ssh_host`` when no host is), ``this machine``
        for ``local``; jump hosts follow ``via``."""
        if self.is_local:
            return "this machine"
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        via = f" via {','.join(self.jump)}" if self.jump else ""
        return f"{user}{self.host or self.ssh_host or '?'}{port}{via}"


@dataclass(frozen=True)
class UiPrefs:
    theme: str = "auren-dark"
    refresh_seconds: float = 2.0
    read_only: bool = False
    default_profile: str | None = None


def local_profile() -> Profile:
    """The built-in profile: services on this machine, no SSH."""
    return Profile(name=LOCAL)  # no SSH: host, port, user and auth mean nothing here


@dataclass(frozen=True)
class AppConfig:
    """Everything in ``config.toml``; ``profiles`` always holds ``local``."""

    profiles: Mapping[str, Profile] = field(default_factory=lambda: {LOCAL: local_profile()})
    ui: UiPrefs = field(default_factory=UiPrefs)

    def __post_init__(self) -> None:
        if LOCAL not in self.profiles:
            object.__setattr__(self, "profiles", {LOCAL: local_profile(), **self.profiles})

    def profile(self, name: str) -> Profile:
        """The profile called ``name``; ConfigError (one line) if there is none."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"no profile named {name!r} (profiles: {known})") from None

    def with_profile(self, profile: Profile) -> AppConfig:
        """A copy with ``profile`` added or replaced."""
        profiles = dict(self.profiles)
        profiles[profile.name] = profile
        return replace(self, profiles=profiles)

    def without_profile(self, name: str) -> AppConfig:
        """A copy without ``name`` (and no longer its default); ``local`` stays."""
        if name == LOCAL:
            raise ConfigError("the built-in profile 'local' cannot be removed")
        self.profile(name)
        profiles = {k: v for k, v in self.profiles.items() if k != name}
        ui = self.ui
        if ui.default_profile == name:
            ui = replace(ui, default_profile=None)
        return replace(self, profiles=profiles, ui=ui)


def check_name(name: str, what: str = "profile") -> str:
    """``name`` if it is usable as a profile (or secret) name, else ConfigError."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid {what} name {name[:40]!r}: use up to 64 letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


# --------------------------------------------------------------------------- loading


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

    def word(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        """A non-empty string without whitespace (a host name, a user)."""
        value = self.string(data, key, path)
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise self.fail(path, f"must be a single word, got {value[:40]!r}")
        return value

    def jumps(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        """An array of ``[user@]host[:port]`` jump hosts (or SSH config aliases)."""
        from auren_tui.core.transport.sshconfig import SshConfigError, parse_jump

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
    refresh = ui_table.get("refresh_seconds", UiPrefs.refresh_seconds)
    if isinstance(refresh, bool) or not isinstance(refresh, int | float):
        raise r.fail("ui.refresh_seconds", f"must be a number, got {_kind(refresh)}")
    if not 0.1 <= refresh <= 3600:
        raise r.fail("ui.refresh_seconds", f"must be between 0.1 and 3600, got {refresh}")
    default = r.string(ui_table, "default_profile", "ui.default_profile")
    if default is not None and default not in profiles:
        raise r.fail("ui.default_profile", f"no profile named {default[:40]!r}")
    ui = UiPrefs(
        theme=r.string(ui_table, "theme", "ui.theme") or UiPrefs.theme,
        refresh_seconds=float(refresh),
        read_only=bool(r.boolean(ui_table, "read_only", "ui.read_only")),
        default_profile=default,
    )
    return AppConfig(profiles=profiles, ui=ui)


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
        catalog=Catalog().with_overrides(overrides),
        service_overrides=overrides,
    )


def check_docker_command(command: str, fail: Callable[[str], Exception]) -> list[str]:
    """The words of a ``docker_command``; ``fail(problem)`` is raised when unusable."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise fail(f"not a command line ({exc})") from None
    if not words or "\n" in command or any(c in command for c in ";&|`$<>"):
        raise fail(
            f"must be a plain command such as 'docker' or 'sudo -n docker', got {command[:60]!r}"
        )
    return words


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


# --------------------------------------------------------------------------- saving


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
    return {"ui": ui, "profiles": profiles}


def _keep_unknown(new: dict[str, Any], old: Mapping[str, Any], known: frozenset[str]) -> None:
    """Copy into ``new`` the keys of ``old`` this version does not know."""
    for k, v in old.items():
        if k not in known and k not in new:
            new[k] = v


_TOP_KEYS = frozenset({"ui", "profiles"})
_UI_KEYS = frozenset({"theme", "refresh_seconds", "read_only", "default_profile"})
_PROFILE_KEYS = frozenset(
    {*_SSH_KEYS, "read_only", "docker_host", "services"},
)


def _merge_unknown(doc: dict[str, Any], old: Mapping[str, Any]) -> None:
    _keep_unknown(doc, old, _TOP_KEYS)
    if isinstance(old.get("ui"), dict):
        _keep_unknown(doc["ui"], old["ui"], _UI_KEYS)
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
