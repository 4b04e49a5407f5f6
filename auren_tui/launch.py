"""Start the workstation: settings and clients built here, then handed to the app."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from functools import partial

from auren_tui.core.config import ConfigError, load_config, save_ui
from auren_tui.core.paths import Locations
from auren_tui.core.session import LiveBackend


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
