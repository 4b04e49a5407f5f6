"""The auren-tui command line: headless commands, and launching the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from auren_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auren-tui",
        description="Terminal workstation for the AUREN biometric platform.",
    )
    parser.add_argument("--version", action="version", version=f"auren-tui {__version__}")
    parser.add_argument("--debug", action="store_true", help="show stack traces on errors")
    parser.add_argument("--theme", default="auren-dark", help="theme name (default auren-dark)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auren-tui`` script."""
    args = build_parser().parse_args(argv)
    from auren_tui.app import build_app

    build_app(theme=args.theme).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
