"""Headless commands of ``auren-tui`` (no Textual here).

Each command module has ``register(commands)``, which adds its subparser and
sets ``handler`` (a ``Handler``) as a default; ``auren_tui.__main__`` adds
them one line each and hands the parsed arguments to ``run_command``. A
handler parses, makes one call on the session (``ctx.session(args)``, the
door the TUI uses too: ``core/session.py``) and prints the typed result.

The global options (``--debug``, ``--profile``, ``--ssh-config``,
``--read-only``) are declared once, in ``GLOBAL_OPTIONS``, and accepted before
and after a command's name.

Errors are one line on stderr: exit 2 for usage and config errors, 1 for
failures at run time; ``--debug`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

from auren_tui.core.config import ConfigError
from auren_tui.core.paths import Locations

if TYPE_CHECKING:
    from auren_tui.core.secrets import SecretStore
    from auren_tui.core.session import Session

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

    def session(self, args: argparse.Namespace) -> AbstractContextManager[Session]:
        """The one door: ``args.profile`` opened (config read once, profile resolved once,
        ``--read-only`` known), with this context's secret store."""
        from auren_tui.core.session import open_session

        read_only = bool(getattr(args, "read_only", False))
        return open_session(self.locations, args.profile, read_only=read_only, secrets=self.secrets)

    def confirm(self, question: str, refused: str) -> None:
        """``question [y/N]`` on a terminal; ``CliError(refused)`` unless answered yes."""
        print(f"{question} [y/N] ", end="", file=self.err, flush=True)
        if self.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError(refused)

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


# name: (flags, keyword arguments, help after the command's name, help before it)
GLOBAL_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any], str, str]] = {
    "debug": (
        ("--debug",),
        {"action": "store_true"},
        "show stack traces",
        "show stack traces on errors",
    ),
    "profile": (
        ("--profile",),
        {},
        "profile (default: ui.default_profile in config.toml, else local)",
        "profile to open (default: ui.default_profile, else local)",
    ),
    "ssh_config": (
        ("--ssh-config",),
        {"type": Path, "metavar": "FILE"},
        "read this SSH config instead of ~/.ssh/config (as ssh -F)",
        "read this SSH config instead of ~/.ssh/config (as ssh -F)",
    ),
    "read_only": (
        ("--read-only",),
        {"action": "store_true"},
        "refuse every action that changes the server",
        "disable every action that changes the server",
    ),
}
"""The options of ``auren-tui`` itself, accepted before and after a command's name."""
_DEFAULTS = {"debug": False, "profile": None, "read_only": False, "ssh_config": None}


def add_global_options(parser: argparse.ArgumentParser, *, read_only: bool = True) -> None:
    """The global options on the main parser (before the command's name)."""
    for name, (flags, kwargs, _, top_help) in GLOBAL_OPTIONS.items():
        if name != "read_only" or read_only:
            parser.add_argument(*flags, default=_DEFAULTS[name], help=top_help, **kwargs)


def common_options(*, read_only: bool = True) -> argparse.ArgumentParser:
    """The global options, for a command's parser: ``auren-tui restore x --read-only``
    means the same as ``auren-tui --read-only restore x``.

    Their default is SUPPRESS: argparse copies a subcommand's defaults over the
    values already parsed, so a default here would erase the option given before
    the command (``--read-only`` was lost that way). ``resolve_options`` fills in
    what was given nowhere.
    """
    parent = argparse.ArgumentParser(add_help=False)
    for name, (flags, kwargs, command_help, _) in GLOBAL_OPTIONS.items():
        if name != "read_only" or read_only:
            parent.add_argument(*flags, default=argparse.SUPPRESS, help=command_help, **kwargs)
    return parent


def resolve_options(args: argparse.Namespace) -> argparse.Namespace:
    """The global options given anywhere on the line, with defaults for the rest."""
    for name, default in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def host_port(option: str, given: str, example: str) -> tuple[str, int]:
    """``HOST:PORT`` given to ``option``; a usage error naming ``example`` otherwise."""
    host, sep, port = given.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"{option} {given!r}: expected HOST:PORT, e.g. {example}")
    return host, int(port)


def run_command(args: argparse.Namespace, ctx: Context | None = None) -> int:
    """Run the handler the parser chose; every error becomes one line and an exit status."""
    ctx = ctx or Context.from_env()
    resolve_options(args)
    ctx.locations = ctx.locations.with_ssh_config(args.ssh_config)
    handler: Handler = args.handler
    debug = bool(getattr(args, "debug", False))
    _quiet_libraries(debug, ctx)
    try:
        exit_status = handler(args, ctx)
        ctx.out.flush()  # a reader gone shows here, not in Python's flush at exit
        return exit_status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=ctx.err)
        return 130
    except BrokenPipeError:  # `| head`, whichever command: the reader has what it wanted
        quiet_stdout(ctx)
        return EXIT_OK
    except (CliError, ConfigError) as exc:
        code = exc.exit_code if isinstance(exc, CliError) else EXIT_USAGE
        _report(ctx, str(exc), exc, debug)
        return code
    except Exception as exc:
        status = _one_line_exit(exc)
        if status is not None:
            _report(ctx, str(exc), exc, debug)
            return status
        first = (str(exc).strip().splitlines() or [""])[0]
        more = "" if debug else " (run with --debug for details)"
        _report(ctx, f"unexpected {type(exc).__name__}: {first}{more}", exc, debug)
        return EXIT_FAILURE


def quiet_stdout(ctx: Context) -> None:
    """After a broken pipe: what is left unflushed goes nowhere (no "Exception
    ignored" from Python's flush at exit)."""
    if ctx.out is sys.stdout:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _quiet_libraries(debug: bool, ctx: Context) -> None:
    """Libraries' log records (paramiko's failed channels, aiokafka's reconnects)
    reach stderr only with ``--debug``; errors are reported as one line instead."""
    root = logging.getLogger()
    if not debug:
        # aiokafka logs every failed (re)connect; the status or error line says it once.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if debug:
        if not any(getattr(h, "auren_cli", False) for h in root.handlers):
            handler = logging.StreamHandler(ctx.err)
            handler.auren_cli = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)
            root.setLevel(logging.DEBUG)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())  # no "last resort" printing to stderr


# The core's errors that already are one line an operator can act on, with their exit
# status, the first match wins (UnknownService is a SpecError, but a usage error).
_ONE_LINE_ERRORS = (
    ("auren_tui.core.session", "ReadOnlyRefused", EXIT_FAILURE),
    ("auren_tui.core.session", "ConnectFailed", EXIT_FAILURE),
    ("auren_tui.core.secrets", "SecretError", EXIT_FAILURE),
    ("auren_tui.core.backend.webhooks", "SecretMissing", EXIT_FAILURE),
    ("auren_tui.core.kafka.client", "KafkaError", EXIT_FAILURE),
    ("auren_tui.core.restore.target", "UnknownService", EXIT_USAGE),
    ("auren_tui.core.restore.spec", "SpecError", EXIT_FAILURE),
    ("auren_tui.core.restore.errors", "RestoreError", EXIT_FAILURE),
    ("auren_tui.core.docker.client", "NoDocker", EXIT_FAILURE),
)


def _one_line_exit(exc: BaseException) -> int | None:
    """The exit status of one of the core's one-line errors, None for anything else."""
    # Only a loaded module can have raised one; importing it here would load keyring.
    for module_name, name, code in _ONE_LINE_ERRORS:
        cls = getattr(sys.modules.get(module_name), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return code
    return None


def _report(ctx: Context, message: str, exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=ctx.err)
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"{PROG}: error: {line}", file=ctx.err)
