"""``auren-tui profile add|list|show|remove|trust``: the servers in config.toml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from auren_tui.cli import CliError, Commands, Context, UsageError, common_options
from auren_tui.core.config import (
    AUTH_KINDS,
    LOCAL,
    AppConfig,
    Profile,
    check_docker_command,
    check_name,
    load_config,
    save_config,
)
from auren_tui.core.session import Session, open_session
from auren_tui.core.transport.sshconfig_syntax import SshConfigError, parse_jump

if TYPE_CHECKING:
    from pydantic import SecretStr

    from auren_tui.core.config import AuthKind


def register(commands: Commands) -> None:
    common = common_options()
    top = commands.add_parser(
        "profile",
        help="manage server profiles",
        description="Server profiles in config.toml (secrets live in the OS keyring).",
    )
    actions = top.add_subparsers(dest="profile_action", metavar="ACTION", required=True)

    # Its own --read-only is the profile's setting, not the global option.
    add = actions.add_parser(
        "add", parents=[common_options(read_only=False)], help="add a server profile"
    )
    add.add_argument("name", help="profile name (letters, digits, - and _)")
    add.add_argument(
        "--ssh-host",
        help="a Host of your SSH config: HostName, User, Port, keys, ProxyJump come from it",
    )
    add.add_argument("--host", help="server name or address (needed without --ssh-host)")
    add.add_argument("--port", type=_port, help="SSH port (default: the SSH config's, else 22)")
    add.add_argument("--user", help="SSH user (default: the SSH config's, else yours)")
    add.add_argument(
        "--auth",
        choices=AUTH_KINDS,
        help="auto (as ssh: agent, then identity files), agent, key (with --key-file) or "
        "password (default: key with --key-file, else auto)",
    )
    add.add_argument(
        "--jump",
        action="append",
        default=[],
        metavar="[USER@]HOST[:PORT]",
        help="a jump host (repeat for several, in order; default: the SSH config's ProxyJump)",
    )
    add.add_argument(
        "--allow-proxy-command",
        action="store_true",
        help="run the SSH config's ProxyCommand for this profile (never done otherwise)",
    )
    add.add_argument(
        "--profile-ssh-config",
        dest="profile_ssh_config",
        type=Path,
        metavar="FILE",
        help="the SSH config this profile always reads (default ~/.ssh/config)",
    )
    add.add_argument(
        "--docker-command",
        help='how the SSH user runs docker on the server (default "docker", e.g. "sudo -n docker")',
    )
    add.add_argument("--key-file", type=Path, help="private key file (auth key)")
    add.add_argument(
        "--known-hosts", type=Path, help="known_hosts file (default ~/.ssh/known_hosts)"
    )
    add.add_argument(
        "--read-only",
        dest="profile_read_only",
        action="store_true",
        help="make the profile read-only: nothing on it is ever changed",
    )
    add.add_argument(
        "--docker-host", help="the server's Docker socket, e.g. unix:///var/run/docker.sock"
    )
    add.set_defaults(handler=cmd_add)

    lst = actions.add_parser("list", parents=[common], help="list profiles")
    lst.set_defaults(handler=cmd_list)

    show = actions.add_parser("show", parents=[common], help="show one profile (no secrets)")
    show.add_argument("name")
    show.set_defaults(handler=cmd_show)

    remove = actions.add_parser("remove", parents=[common], help="remove a profile and its secrets")
    remove.add_argument("name")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    remove.set_defaults(handler=cmd_remove)

    trust = actions.add_parser(
        "trust", parents=[common], help="check and record the server's SSH host key"
    )
    trust.add_argument("name")
    trust.add_argument("--yes", "-y", action="store_true", help="trust without asking")
    trust.set_defaults(handler=cmd_trust)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text[:20]!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, got {value}")
    return value


# --------------------------------------------------------------------------- add


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.secrets import KEY_PASSPHRASE, SSH_PASSWORD  # lazy: loads keyring

    name = check_name(args.name)
    if name == LOCAL:
        raise UsageError("'local' is the built-in profile for this machine; choose another name")
    config = load_config(ctx.locations)
    if name in config.profiles:
        raise UsageError(
            f"profile {name!r} already exists (remove it first: `auren-tui profile remove {name}`)"
        )
    auth: AuthKind = args.auth or ("key" if args.key_file else "auto")
    if auth == "key" and args.key_file is None:
        raise UsageError("--auth key needs --key-file PATH")
    if args.key_file is not None and auth not in ("key", "auto"):
        raise UsageError(f"--key-file is only used with --auth key or auto (not {auth})")
    if args.host is None and args.ssh_host is None:
        raise UsageError("give --host (the server) or --ssh-host (a Host of your SSH config)")
    words = {}
    given = (("--host", args.host), ("--user", args.user), ("--ssh-host", args.ssh_host))
    for flag, value in given:
        if value is None:
            continue
        value = value.strip()
        if not value or any(c.isspace() for c in value):
            raise UsageError(f"{flag} must be a single word, got {value[:40]!r}")
        words[flag] = value
    jumps = tuple(args.jump)
    for hop in jumps:
        try:
            parse_jump(hop)
        except SshConfigError as exc:
            raise UsageError(f"--jump: {exc}") from None
    docker_command = args.docker_command
    if docker_command is not None:
        check_docker_command(docker_command, lambda p: UsageError(f"--docker-command: {p}"))
    docker_host = args.docker_host
    if docker_host is not None and not docker_host.startswith(("unix://", "tcp://")):
        raise UsageError(
            f"--docker-host must start with unix:// or tcp://, got {docker_host[:60]!r}"
        )
    key_file = _absolute(args.key_file)
    profile = Profile(
        name=name,
        host=words.get("--host", ""),
        port=args.port,
        user=words.get("--user", ""),
        auth=auth,
        key_file=key_file,
        known_hosts=_absolute(args.known_hosts),
        read_only=args.profile_read_only,
        docker_host=docker_host,
        docker_command=docker_command or "docker",
        ssh_host=words.get("--ssh-host"),
        ssh_config=_absolute(args.profile_ssh_config),
        jump=jumps,
        allow_proxy_command=args.allow_proxy_command,
    )
    save_config(ctx.locations, config.with_profile(profile))
    ro = ", read-only" if profile.read_only else ""
    ctx.say(f"added profile {name}: {profile.target}, auth {auth}{ro}")
    from auren_tui.core.transport.sshroute import RouteError, resolve_route  # lazy: loads paramiko

    try:
        route = resolve_route(profile, ctx.locations.ssh_config)
    except RouteError as exc:
        ctx.warn(f"the SSH config cannot be used as it is: {exc}")
    else:
        server = route.server
        via = "".join(f" via {h.who}" for h in route.jumps)
        ctx.say(f"connects to {server.who}{via} (`auren-tui profile show {name}` says why)")
    if key_file is not None and not key_file.is_file():
        ctx.warn(f"key file {key_file} does not exist (yet)")
    if auth == "password":
        ctx.say(f"store the SSH password: auren-tui secret set {name} {SSH_PASSWORD}")
    elif auth == "key":
        ctx.say(f"if the key has a passphrase: auren-tui secret set {name} {KEY_PASSPHRASE}")
    ctx.say(f"then check the server's host key: auren-tui profile trust {name}")
    return 0


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


# --------------------------------------------------------------------------- list / show


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    config = load_config(ctx.locations)
    rows = [("", "NAME", "TARGET", "AUTH", "READ-ONLY")]
    for p in _ordered(config):
        mark = "*" if p.name == config.ui.default_profile else ""
        auth = "-" if p.is_local else p.auth
        rows.append((mark, p.name, p.target, auth, "yes" if p.read_only else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        ctx.say("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _ordered(config: AppConfig) -> list[Profile]:
    return [config.profiles[LOCAL]] + [
        config.profiles[n] for n in sorted(config.profiles) if n != LOCAL
    ]


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    """The profile as the connection will use it: each SSH value resolved (profile,
    then the SSH config, then defaults) with where it came from."""
    with open_session(ctx.locations, args.name, secrets=ctx.secrets) as session:
        _show(session, ctx)
    return 0


def _show(session: Session, ctx: Context) -> None:
    p, config = session.profile, session.config
    lines: list[tuple[str, str]] = [("name", p.name)]
    if p.is_local:
        lines.append(("target", "this machine (no SSH)"))
    else:
        lines.append(("ssh host", p.ssh_host or "-"))
    lines += [
        ("read-only", "yes" if p.read_only else "no"),
        ("docker host", p.docker_host or "-"),
        ("docker cmd", p.docker_command),
        ("default", "yes" if config.ui.default_profile == p.name else "no"),
        ("secrets", _secret_names(session)),
    ]
    for label, value in lines:
        ctx.say(f"{label + ':':<17}{value}")
    if not p.is_local:
        _show_route(p, ctx)
    ctx.say("services:")
    for s in p.catalog.services:
        mark = "  (overridden)" if s.name in p.service_overrides else ""
        check = f"{s.check} {s.path}".rstrip()
        ctx.say(f"  {s.name:<11}{s.container:<22}{s.host}:{s.port:<7}{check}{mark}")


def _show_route(p: Profile, ctx: Context) -> None:
    from auren_tui.core.transport.sshroute import (  # lazy: paramiko
        RouteError,
        describe,
        resolve_route,
    )

    try:
        route = resolve_route(p, ctx.locations.ssh_config)
    except RouteError as exc:
        raise CliError(f"profile {p.name!r}: {exc}") from None
    ctx.say("ssh (resolved):")
    for label, value, source in describe(route):
        ctx.say(f"  {label + ':':<17}{value}  [{source}]")
    for hop in route.jumps:
        ctx.say(f"  {hop.role}: {hop.who}, known hosts {' '.join(map(str, hop.known_hosts))}")
    for warning in route.warnings:
        ctx.warn(warning)


def _secret_names(session: Session) -> str:
    from auren_tui.core.secrets import SecretError  # lazy: loads keyring

    try:
        names = session.secrets().names(session.name)
    except SecretError as exc:
        return f"(keyring unavailable: {exc})"
    return ", ".join(names) if names else "(none)"


# --------------------------------------------------------------------------- remove


def cmd_remove(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.secrets import SecretError  # lazy: loads keyring

    name = args.name
    if name == LOCAL:
        raise UsageError("the built-in profile 'local' cannot be removed")
    config = load_config(ctx.locations)
    config.profile(name)
    if not args.yes:
        if not ctx.stdin.isatty():
            raise UsageError(
                f"not removing profile {name!r}: stdin is not a terminal to confirm on; pass --yes"
            )
        question = f"Remove profile {name!r} and its secrets from the keyring?"
        ctx.confirm(question, f"profile {name!r} not removed")
    save_config(ctx.locations, config.without_profile(name))
    ctx.say(f"removed profile {name}")
    try:
        deleted = ctx.secrets().delete_all(name)
    except SecretError as exc:
        ctx.warn(f"its secrets may still be in the keyring: {exc}")
        return 0
    if deleted:
        ctx.say(f"deleted its secrets: {', '.join(deleted)}")
    return 0


# --------------------------------------------------------------------------- trust


def cmd_trust(args: argparse.Namespace, ctx: Context) -> int:
    with open_session(ctx.locations, args.name, secrets=ctx.secrets) as session:
        profile = session.profile
        if profile.is_local:
            raise UsageError(
                "'local' reaches this machine without SSH: there is no host key to trust"
            )
        # Lazy: paramiko loads for this command only.
        from auren_tui.core.transport.trust import trust_host

        def secret(name: str) -> SecretStr | None:
            return session.secrets().get(profile.name, name)

        return trust_host(
            profile, ctx.locations, assume_yes=args.yes, out=ctx.out, inp=ctx.stdin, secrets=secret
        )
