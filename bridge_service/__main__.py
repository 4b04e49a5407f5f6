"""The auren-bridge command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bridge_service import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auren-bridge",
        description="AUREN webhook bridge: verify provider webhooks, store once, publish to Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"auren-bridge {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auren-bridge`` script."""
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
