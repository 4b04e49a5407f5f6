"""Where a profile's SSH connection goes: its hops, each resolved as ``ssh`` would.

A profile names a server (``host``) or a Host alias of the SSH config
(``ssh_host``); either way the SSH config applies to it, as it does for
``ssh`` and for docker's ``ssh://`` (core/transport/sshconfig.py resolves it). What
the profile writes wins over the file. The route is the jump hosts in order
(``jump`` in the profile, else the config's ProxyJump; a jump host's own
ProxyJump is followed too) and then the server.

Each hop keeps where each of its values came from, for ``auren-tui profile
show`` and for errors that name the config line to change.

Choices where OpenSSH has no single answer for us:

- a jump host logs in with what its own config block says (agent, identity
  files) and, after those, the profile's ``key_file``: a profile written
  without a config file still reaches its bastion;
- the profile's ``known_hosts`` (when written) is used for every hop;
- ``ProxyCommand`` is refused unless the profile sets ``allow_proxy_command``,
  and is only possible on the first hop (a later hop is reached through the
  previous one's channel, not through a local command);
- no ``ServerAliveInterval`` (OpenSSH: off) means 15 s here: dead peers must
  be noticed; ``ServerAliveCountMax`` defaults to 3 as in OpenSSH.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from auren_tui.core.config import AuthKind, Profile
from auren_tui.core.format import display_path
from auren_tui.core.transport.hostkeys import host_label
from auren_tui.core.transport.sshconfig import OPENSSH_DEFAULT, HostConfig, resolve
from auren_tui.core.transport.sshconfig_syntax import SshConfigError, parse_jump

PROFILE = "profile"
OUR_DEFAULT = "auren-tui default"
ALIVE_INTERVAL = 15
MAX_HOPS = 8


class RouteError(Exception):
    """The profile's route cannot be resolved: one line naming the file, line or key."""


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way, with everything needed to log in to it."""

    role: str  # "server", or "jump host bastion"
    alias: str  # the name looked up in the SSH config
    hostname: str
    port: int
    user: str
    auth: AuthKind
    identity_files: tuple[Path, ...]
    identities_only: bool
    certificate_files: tuple[Path, ...]
    known_hosts: tuple[Path, ...]
    connect_timeout: float | None
    alive_interval: int
    alive_count_max: int
    proxy_command: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``host`` or ``[host]:port``, as known_hosts names it."""
        return host_label(self.hostname, self.port)

    @property
    def who(self) -> str:
        return f"{self.user}@{self.label}"

    @property
    def is_server(self) -> bool:
        return self.role == "server"

    def named(self, what: str) -> str:
        """``what`` with the role: "jump host bastion ([10.0.0.1]:2222)" or the label."""
        return what if self.is_server else f"{self.role} ({what})"


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]  # jump hosts first, the server last
    warnings: tuple[str, ...] = ()
    jump_source: str = ""  # where the jump hosts were named

    @property
    def server(self) -> Hop:
        return self.hops[-1]

    @property
    def jumps(self) -> tuple[Hop, ...]:
        return self.hops[:-1]


def config_files(profile: Profile, override: Path | None = None) -> list[Path] | None:
    """The SSH config files read: ``--ssh-config``, else the profile's ``ssh_config``,
    else (None) ssh's own: ~/.ssh/config, then /etc/ssh/ssh_config."""
    chosen = override or profile.ssh_config
    return [chosen.expanduser()] if chosen is not None else None


def _lookup(alias: str, files: Sequence[Path] | None) -> HostConfig:
    try:
        return resolve(alias, files)
    except SshConfigError as exc:
        raise RouteError(str(exc)) from None
    except OSError as exc:
        raise RouteError(f"cannot read the SSH config: {exc.strerror or exc}") from None


def resolve_route(profile: Profile, ssh_config: Path | None = None) -> Route:
    """The hops of ``profile``'s connection (RouteError when the config is unusable).

    ``ssh_config`` (``--ssh-config``) replaces the profile's and ssh's own files."""
    files = config_files(profile, ssh_config)
    alias = profile.ssh_host or profile.host
    cfg = _lookup(alias, files)
    server = _hop(cfg, profile, "server", user=profile.user or None, port=profile.port)
    if profile.host:  # written in the profile: the address, whatever a HostName says
        server = _with(server, "hostname", profile.host)
    warnings = list(cfg.warnings)
    if profile.jump:
        specs, where = list(profile.jump), f"{PROFILE} jump"
    else:
        specs, where = list(cfg.proxy_jump), cfg.sources.get("proxy_jump", "")
    hops: list[Hop] = []
    for spec in specs:
        hops.extend(_jump(spec, where, profile, files, [alias], warnings))
    if hops and server.proxy_command:
        server = _with(server, "proxy_command", None)
    route = Route((*hops, server), tuple(dict.fromkeys(warnings)), where if specs else "")
    if len(route.hops) > MAX_HOPS:
        raise RouteError(f"{alias}: more than {MAX_HOPS - 1} jump hosts (a ProxyJump loop?)")
    for hop in route.hops[1:]:
        if hop.proxy_command:
            where = hop.sources.get("proxy_command", "the SSH config")
            raise RouteError(
                f"{where}: ProxyCommand for {hop.alias}, which is reached through a jump "
                "host: auren-tui runs a ProxyCommand only for the first hop"
            )
    return route


def _jump(
    spec: str,
    where: str,
    profile: Profile,
    files: Sequence[Path] | None,
    seen: list[str],
    warnings: list[str],
) -> list[Hop]:
    try:
        user, host, port = parse_jump(spec)
    except SshConfigError as exc:
        raise RouteError(f"{where}: {exc}") from None
    if host in seen or len(seen) >= MAX_HOPS:
        chain = " -> ".join([*seen, host])
        raise RouteError(f"{where}: jump hosts loop ({chain})")
    cfg = _lookup(host, files)
    warnings.extend(cfg.warnings)
    hop = _hop(cfg, profile, f"jump host {host}", user=user, port=port)
    before: list[Hop] = []
    for inner in cfg.proxy_jump:
        before.extend(
            _jump(inner, cfg.sources.get("proxy_jump", ""), profile, files, [*seen, host], warnings)
        )
    if before and hop.proxy_command:
        hop = _with(hop, "proxy_command", None)
    return [*before, hop]


def _hop(
    cfg: HostConfig, profile: Profile, role: str, *, user: str | None, port: int | None
) -> Hop:
    sources = dict(cfg.sources)
    server = role == "server"
    if user:
        sources["user"] = PROFILE if server else "ProxyJump"
    if port is not None:
        sources["port"] = PROFILE if server else "ProxyJump"
    identity_files = list(cfg.identity_files)
    if profile.key_file is not None:
        key = profile.key_file.expanduser()
        if server or key not in identity_files:
            # The profile's key first for the server (it wins); after the config's for a jump.
            identity_files = (
                [key, *[f for f in identity_files if f != key]]
                if server
                else [*identity_files, key]
            )
            if server:
                sources["identity_files"] = PROFILE
    auth: AuthKind = profile.auth if server else "auto"
    if auth == "key" and profile.key_file is not None:
        identity_files = [profile.key_file.expanduser()]
    known_hosts = cfg.user_known_hosts_files
    if profile.known_hosts is not None:
        known_hosts = (profile.known_hosts.expanduser(),)
        sources["known_hosts"] = PROFILE
    else:
        sources["known_hosts"] = cfg.sources.get("user_known_hosts_files", OPENSSH_DEFAULT)
    alive = cfg.server_alive_interval
    if alive <= 0:
        alive = ALIVE_INTERVAL
        sources["server_alive_interval"] = OUR_DEFAULT
    proxy_command = cfg.proxy_command
    if proxy_command and not profile.allow_proxy_command:
        where = cfg.sources.get("proxy_command", "the SSH config")
        raise RouteError(
            f"{where} sets a ProxyCommand for {cfg.alias}; auren-tui does not run it unless "
            f"profile {profile.name!r} allows it (allow_proxy_command = true)"
        )
    return Hop(
        role=role,
        alias=cfg.alias,
        hostname=cfg.hostname,
        port=port if port is not None else cfg.port,
        user=user or cfg.user,  # cfg.user: the config's, else the local user
        auth=auth,
        identity_files=tuple(identity_files),
        identities_only=cfg.identities_only or auth == "key",
        certificate_files=cfg.certificate_files,
        known_hosts=known_hosts,
        connect_timeout=cfg.connect_timeout,
        alive_interval=alive,
        alive_count_max=max(1, cfg.server_alive_count_max),
        proxy_command=proxy_command,
        sources=sources,
    )


def _with(hop: Hop, name: str, value: str | None) -> Hop:
    """``hop`` with ``hostname`` or ``proxy_command`` set by the profile."""
    sources = {**hop.sources, name: PROFILE}
    if name == "hostname":
        return replace(hop, hostname=value or hop.hostname, sources=sources)
    return replace(hop, proxy_command=value, sources=sources)


def describe(route: Route) -> list[tuple[str, str, str]]:
    """(setting, value, where it came from) for ``profile show``."""
    server = route.server
    src = server.sources

    def row(label: str, value: str, key: str) -> tuple[str, str, str]:
        return label, value, src.get(key, OPENSSH_DEFAULT)

    files = " ".join(display_path(p) for p in server.identity_files) or "-"
    rows = [
        row("hostname", server.hostname, "hostname"),
        row("port", str(server.port), "port"),
        row("user", server.user, "user"),
        ("auth", server.auth, src.get("auth", PROFILE)),
        row("identity files", files, "identity_files"),
        row("identities only", "yes" if server.identities_only else "no", "identities_only"),
        row(
            "certificates",
            " ".join(display_path(p) for p in server.certificate_files) or "(beside each key)",
            "certificate_files",
        ),
        row("known hosts", " ".join(display_path(p) for p in server.known_hosts), "known_hosts"),
        row(
            "connect timeout",
            f"{server.connect_timeout:g} s" if server.connect_timeout else "-",
            "connect_timeout",
        ),
        row(
            "keepalive",
            f"{server.alive_interval} s x {server.alive_count_max}",
            "server_alive_interval",
        ),
    ]
    jumps = ", ".join(f"{h.who}" for h in route.jumps) or "-"
    rows.append(("jump hosts", jumps, route.jump_source or "-"))
    if server.proxy_command:
        rows.append(("proxy command", server.proxy_command, src.get("proxy_command", "")))
    return rows
