"""Start the workstation: settings and clients built here, then handed to the app."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from functools import partial

from auren_tui.core.config import ConfigError, load_config, save_ui
from auren_tui.core.paths import Locations
from auren_tui.core.session import LiveBackend


def _log_to_file(locations: Locations, debug: bool) -> None:
    """The TUI owns the terminal: logs go to the state dir (never a secret in them)."""
    locations.state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(locations.log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # paramiko's INFO lines (every connect and auth) are noise unless debugging.
    logging.getLogger("paramiko").setLevel(logging.DEBUG if debug else logging.WARNING)


def launch(args: argparse.Namespace) -> int:
    """Open the TUI on a profile. Config errors end here in one line (exit 2)."""
    locations = Locations.from_env()
    try:
        config = load_config(locations)
        name = args.profile or config.ui.default_profile or "local"
        profile = config.profile(name)
    except ConfigError as exc:
        print(f"auren-tui: {exc}", file=sys.stderr)
        return 2
    _log_to_file(locations, debug=getattr(args, "debug", False))
    prefs = config.ui
    if args.theme:
        prefs = dataclasses.replace(prefs, theme=args.theme)
    backend = LiveBackend(profile, locations, read_only=args.read_only or prefs.read_only)
    from auren_tui.app import build_app

    app = build_app(backend, prefs=prefs, save_prefs=partial(save_ui, locations))
    try:
        app.run()
    finally:
        backend.close()
    return 0
