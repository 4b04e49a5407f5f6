"""The auren-tui command line: headless commands, and launching the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from auren_tui import __version__
from auren_tui.cli import (
    Parser,
    add_global_options,
    audit,
    demo,
    health,
    history,
    profile,
    resolve_options,
    restore,
    run_command,
    secret,
    tail,
    webhook,
)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
        prog="auren-tui",
        description="Terminal workstation for the AUREN biometric platform.",
    )
    parser.add_argument("--version", action="version", version=f"auren-tui {__version__}")
    add_global_options(parser)
    parser.add_argument(
        "--theme", default=None, help="theme for this run (default: the remembered one)"
    )
    # Headless commands: one line each; without one, the app starts.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    profile.register(commands)
    secret.register(commands)
    health.register(commands)
    tail.register(commands)
    webhook.register(commands)
    restore.register(commands)
    audit.register(commands)
    history.register(commands)
    demo.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auren-tui`` script."""
    args = resolve_options(build_parser().parse_args(argv))
    if args.command == "demo":
        from auren_tui.launch import launch_demo

        return launch_demo(args)
    if args.command is not None:
        return run_command(args)
    from auren_tui.launch import launch

    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
