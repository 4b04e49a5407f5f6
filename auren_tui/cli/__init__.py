"""Headless commands of ``auren-tui`` (no Textual here).

Each command module has ``register(commands)``, which adds its subparser and
sets ``handler`` (a ``Handler``) as a default; ``auren_tui.__main__`` adds
them one line each and hands the parsed arguments to ``run_command``.

Errors are one line on stderr: exit 2 for usage and config errors, 1 for
failures at run time; ``--debug`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeAlias

from auren_tui.core.config import ConfigError
from auren_tui.core.paths import Locations

if TYPE_CHECKING:
    from auren_tui.core.secrets import SecretStore

PROG = "auren-tui"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure the command reports as one line, with its exit status."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """The command line or its input is wrong (exit 2)."""

    exit_code = EXIT_USAGE


def _secret_store() -> SecretStore:
    from auren_tui.core.secrets import SecretStore

    return SecretStore()


@dataclass
class Context:
    """What a command reads and writes; tests build their own."""

    locations: Locations
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    secrets: Callable[[], SecretStore] = _secret_store

    @classmethod
    def from_env(cls) -> Context:
        return cls(Locations.from_env())

    def say(self, line: str) -> None:
        print(line, file=self.out)

    def warn(self, line: str) -> None:
        print(f"{PROG}: warning: {line}", file=self.err)


Handler = Callable[[argparse.Namespace, Context], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


GLOBAL_OPTIONS = {"debug": False, "profile": None, "read_only": False, "ssh_config": None}
"""The options of ``auren-tui`` itself, accepted before and after a command's name."""


def common_options(*, read_only: bool = True) -> argparse.ArgumentParser:
    """The global options, for a command's parser: ``auren-tui restore x --read-only``
    means the same as ``auren-tui --read-only restore x``.

    Their default is SUPPRESS: argparse copies a subcommand's defaults over the
    values already parsed, so a default here would erase the option given before
    the command (``--read-only`` was lost that way). ``resolve_options`` fills in
    what was given nowhere.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show stack traces"
    )
    parent.add_argument(
        "--profile",
        default=argparse.SUPPRESS,
        help="profile (default: ui.default_profile in config.toml, else local)",
    )
    parent.add_argument(
        "--ssh-config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="read this SSH config instead of ~/.ssh/config (as ssh -F)",
    )
    if read_only:
        parent.add_argument(
            "--read-only",
            action="store_true",
            default=argparse.SUPPRESS,
            help="refuse every action that changes the server",
        )
    return parent


def resolve_options(args: argparse.Namespace) -> argparse.Namespace:
    """The global options given anywhere on the line, with defaults for the rest."""
    for name, default in GLOBAL_OPTIONS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def refuse_if_read_only(args: argparse.Namespace, ctx: Context, what: str) -> str:
    """The profile's name, after checking every way to ask for read-only: ``--read-only``
    (before or after the command), the profile's ``read_only`` and ``ui.read_only``.

    Refused (exit 1, one line saying which) before anything reaches the server.
    """
    from auren_tui.core.config import load_config

    config = load_config(ctx.locations)
    profile = config.profile(args.profile or config.ui.default_profile or "local")
    if args.read_only:
        why = "--read-only was given"
    elif profile.read_only:
        why = f"profile {profile.name!r} is read-only (read_only = true)"
    elif config.ui.read_only:
        why = "[ui] read_only = true in config.toml"
    else:
        return profile.name
    raise CliError(f"{why}: {what} changes the server; refused (nothing was sent)")


def run_command(args: argparse.Namespace, ctx: Context | None = None) -> int:
    """Run the handler the parser chose; every error becomes one line and an exit status."""
    ctx = ctx or Context.from_env()
    resolve_options(args)
    if args.ssh_config is not None:
        ctx.locations = replace(ctx.locations, ssh_config=args.ssh_config.expanduser().absolute())
    handler: Handler = args.handler
    debug = bool(getattr(args, "debug", False))
    _quiet_libraries(debug, ctx)
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=ctx.err)
        return 130
    except (CliError, ConfigError) as exc:
        code = exc.exit_code if isinstance(exc, CliError) else EXIT_USAGE
        _report(ctx, str(exc), exc, debug)
        return code
    except Exception as exc:
        if _is_secret_error(exc):
            _report(ctx, str(exc), exc, debug)
        else:
            first = (str(exc).strip().splitlines() or [""])[0]
            more = "" if debug else " (run with --debug for details)"
            _report(ctx, f"unexpected {type(exc).__name__}: {first}{more}", exc, debug)
        return EXIT_FAILURE


def _quiet_libraries(debug: bool, ctx: Context) -> None:
    """Libraries' log records (paramiko's failed channels, aiokafka's reconnects)
    reach stderr only with ``--debug``; errors are reported as one line instead."""
    root = logging.getLogger()
    if debug:
        if not any(getattr(h, "auren_cli", False) for h in root.handlers):
            handler = logging.StreamHandler(ctx.err)
            handler.auren_cli = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)
            root.setLevel(logging.DEBUG)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())  # no "last resort" printing to stderr


def _is_secret_error(exc: BaseException) -> bool:
    # Only a loaded module can have raised one; importing it here would load keyring.
    module = sys.modules.get("auren_tui.core.secrets")
    return module is not None and isinstance(exc, module.SecretError)


def _report(ctx: Context, message: str, exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=ctx.err)
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"{PROG}: error: {line}", file=ctx.err)
