"""``auren-tui secret set|list|delete``: secrets in the OS keyring, never on screen."""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from auren_tui.cli import CliError, Commands, Context, UsageError, common_options
from auren_tui.core.config import LOCAL, check_name, load_config

if TYPE_CHECKING:
    from pydantic import SecretStr


def register(commands: Commands) -> None:
    common = common_options()
    top = commands.add_parser(
        "secret",
        help="manage secrets in the OS keyring",
        description=(
            "Secrets (SSH password 'ssh_password', key passphrase 'key_passphrase', webhook "
            "secrets) live in the OS keyring as auren-tui / PROFILE/NAME, never in a file."
        ),
    )
    actions = top.add_subparsers(dest="secret_action", metavar="ACTION", required=True)

    put = actions.add_parser(
        "set",
        parents=[common],
        help="store a secret (prompts without echo, or reads stdin when it is not a terminal)",
    )
    put.add_argument("profile")
    put.add_argument("name")
    put.set_defaults(handler=cmd_set)

    lst = actions.add_parser("list", parents=[common], help="list secret names (never values)")
    lst.add_argument("profile", nargs="?")
    lst.set_defaults(handler=cmd_list)

    delete = actions.add_parser("delete", parents=[common], help="delete a secret")
    delete.add_argument("profile")
    delete.add_argument("name")
    delete.set_defaults(handler=cmd_delete)


def cmd_set(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.secrets import hint  # lazy: loads keyring

    profile = check_name(args.profile)
    name = check_name(args.name, "secret")
    with ctx.session(args) as session:  # the profile must exist
        store = session.secrets()
        store.check_backend()  # refuse before the operator types anything
        value = _read_value(ctx, f"{profile}/{name}")
        store.set(profile, name, value)

    ctx.say(f"stored {profile}/{name} ({hint(value)})")
    return 0


def _read_value(ctx: Context, what: str) -> SecretStr:
    if ctx.stdin.isatty():
        first = getpass.getpass(f"{what}: ")
        again = getpass.getpass(f"{what} (again): ")
        if first != again:
            raise UsageError("the two entries differ; nothing stored")
        value = first
    else:
        value = ctx.stdin.read()
        # One trailing newline is the `echo` that sent it, not part of the secret.
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    if not value:
        raise UsageError(f"empty secret for {what}; nothing stored")
    from pydantic import SecretStr

    return SecretStr(value)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    store = ctx.secrets()
    if args.profile is not None:
        profile = check_name(args.profile)
        names = store.names(profile)
        for name in names:
            ctx.say(name)
        if not names:
            print(f"no secrets stored for profile {profile}", file=ctx.err)
        return 0
    config = load_config(ctx.locations)
    found = False
    for profile in [LOCAL, *sorted(p for p in config.profiles if p != LOCAL)]:
        for name in store.names(profile):
            ctx.say(f"{profile}/{name}")
            found = True
    if not found:
        print("no secrets stored", file=ctx.err)
    return 0


def cmd_delete(args: argparse.Namespace, ctx: Context) -> int:
    profile = check_name(args.profile)
    name = check_name(args.name, "secret")
    if not ctx.secrets().delete(profile, name):
        raise CliError(f"no secret {profile}/{name} in the keyring")
    ctx.say(f"deleted {profile}/{name}")
    return 0
