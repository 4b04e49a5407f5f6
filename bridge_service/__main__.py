"""The auren-bridge command line: serve, migrate, check-config.

Settings come from the environment and ``.env``; an invalid value ends the
command with one line naming the variable, and exit code 2 — never a stack
trace with the value in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from bridge_service import __version__
from bridge_service.config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2
EXIT_START = 3  # the service could not start (port in use, ...)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auren-bridge",
        description="AUREN webhook bridge: verify provider webhooks, store once, publish to Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"auren-bridge {__version__}")
    parser.add_argument(
        "--env-file",
        default=None,
        help="dotenv file to read (default: ./.env when it exists; a named file must exist)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (default: HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default: PORT or 8889)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS or 1)")
    sub.add_parser("migrate", help="apply pending database migrations and exit")
    sub.add_parser("check-config", help="print the effective configuration, secrets masked")
    return parser


def _settings(env_file: str | None, overrides: dict[str, object] | None = None) -> Settings:
    # The default .env may be absent; a file the operator named must exist.
    settings = load_settings(env_file or ".env", required=env_file is not None)
    if overrides:
        data = {k: v for k, v in overrides.items() if v is not None}
        if data:
            try:
                settings = Settings.model_validate({**settings.model_dump(), **data})
            except Exception as exc:  # ValidationError, one line
                from pydantic import ValidationError

                from bridge_service.config import describe

                if isinstance(exc, ValidationError):
                    raise ConfigError(describe(exc)) from None
                raise
    return settings


async def _migrate(settings: Settings) -> list[str]:
    from bridge_service.storage.factory import make_store

    url = settings.database_url.get_secret_value() if settings.database_url else None
    store = make_store(url, settings.data_dir)
    await store.open()
    try:
        return await store.migrate()
    finally:
        await store.close()


def _serve(settings: Settings) -> int:
    from bridge_service.server import serve

    return 0 if serve(settings) else EXIT_START


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``auren-bridge`` script."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    try:
        if args.command == "serve":
            settings = _settings(
                args.env_file, {"host": args.host, "port": args.port, "workers": args.workers}
            )
            return _serve(settings)
        settings = _settings(args.env_file)
        if args.command == "check-config":
            print(json.dumps(settings.masked(), indent=2, default=str))
            return 0
        if args.command == "migrate":
            from bridge_service.storage.base import StorageUnavailable

            try:
                applied = asyncio.run(_migrate(settings))
            except StorageUnavailable as exc:
                print(f"auren-bridge: database unavailable: {exc}", file=sys.stderr)
                return 1
            print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
            return 0
    except ConfigError as exc:
        print(f"auren-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
