"""What ``config.toml`` holds, as typed values: profiles, UI preferences, alert rules,
the flight recorder's bounds, the name rules."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from auren_tui.core.catalog import Catalog, CheckKind

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
    alerts: bool = True
    """``alerts = false``: no alerts for this profile (a noisy staging box);
    ``AppConfig.alert_rules`` applies it."""
    catalog: Catalog = field(default_factory=Catalog)
    """The service catalog, ``service_overrides`` applied (here, once, on construction)."""
    service_overrides: dict[str, dict[str, object]] = field(default_factory=dict)
    """``[profiles.NAME.services.SERVICE]`` tables, as written in the file."""

    direct: bool = False
    """Reach services on this machine without SSH even though not named ``local``
    (the demo's profile; never read from or written to config.toml)."""

    def __post_init__(self) -> None:
        # The one place overrides meet the catalog: every reader takes ``catalog``.
        if self.service_overrides:
            object.__setattr__(self, "catalog", self.catalog.with_overrides(self.service_overrides))

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


@dataclass(frozen=True)
class AlertRules:
    """``[alerts]``: which transitions interrupt the operator, and how.

    Each alert fires once per transition (core/history/alerts.py), so a rule that
    is on costs one line per event, not one per refresh.
    """

    enabled: bool = True
    """Every alert at once; also off for a profile with ``alerts = false``."""
    bell: bool = True
    """Ring the terminal bell (for errors and warnings, not for recoveries)."""
    desktop: bool = True
    """Post a desktop notification where a notification service exists."""
    unhealthy: bool = True
    """A service turning unhealthy, and recovering from it."""
    restart: bool = True
    """A container restarting (its restart count rises, or it started anew)."""
    circuit: bool = True
    """The bridge's Kafka circuit opening, and closing again."""
    backlog: bool = True
    """The outbox backlog above ``backlog_threshold`` for ``backlog_refreshes``."""
    backlog_threshold: float = 100
    """Events waiting in the outbox; above this counts (0: any backlog)."""
    backlog_refreshes: int = 3
    """Consecutive refreshes above the threshold before the alert (1..1000): one
    slow drain is not worth a bell, a backlog that stays is."""


@dataclass(frozen=True)
class HistoryPrefs:
    """``[history]``: how much the flight recorder keeps, per profile."""

    keep_days: float = 7
    """Refreshes older than this are pruned (0.01..365)."""
    max_mb: float = 100
    """The store's size cap in MiB (1..100000); the oldest refreshes go first."""


def local_profile() -> Profile:
    """The built-in profile: services on this machine, no SSH."""
    return Profile(name=LOCAL)  # no SSH: host, port, user and auth mean nothing here


@dataclass(frozen=True)
class AppConfig:
    """Everything in ``config.toml``; ``profiles`` always holds ``local``."""

    profiles: Mapping[str, Profile] = field(default_factory=lambda: {LOCAL: local_profile()})
    ui: UiPrefs = field(default_factory=UiPrefs)
    alerts: AlertRules = field(default_factory=AlertRules)
    history: HistoryPrefs = field(default_factory=HistoryPrefs)

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

    def resolve(self, name: str | None = None) -> Profile:
        """The profile a command or the TUI opens: ``name``, else ``ui.default_profile``,
        else the built-in ``local``; ConfigError (one line) if there is no such profile."""
        return self.profile(name or self.ui.default_profile or LOCAL)

    def alert_rules(self, profile: Profile) -> AlertRules:
        """The ``[alerts]`` rules for ``profile``: all off (``enabled=False``) when the
        profile says ``alerts = false``, the thresholds kept."""
        if profile.alerts:
            return self.alerts
        return replace(self.alerts, enabled=False)

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
