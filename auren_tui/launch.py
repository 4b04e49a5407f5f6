"""Start the workstation: settings and clients built here, then handed to the app."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.config import ConfigError, load_config, save_ui
from auren_tui.core.paths import Locations
from auren_tui.core.session import Session, open_session

if TYPE_CHECKING:
    from auren_tui.app import AurenApp


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
    locations = Locations.from_env().with_ssh_config(getattr(args, "ssh_config", None))
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(
                open_session(locations, args.profile, read_only=args.read_only)
            )
        except ConfigError as exc:
            print(f"auren-tui: {exc}", file=sys.stderr)
            return 2
        return _run(args, session)


def _run(args: argparse.Namespace, session: Session) -> int:
    """The TUI on ``session``: its backend (built from the session) closed at the end."""
    locations = session.locations
    _log_to_file(locations, debug=getattr(args, "debug", False))
    prefs = session.config.ui
    if args.theme:
        prefs = dataclasses.replace(prefs, theme=args.theme)
    backend = session.backend()
    from auren_tui.app import build_app

    # First run: no config file and no profile asked for: offer the demo.
    first_run = not locations.config_file.exists() and not args.profile
    app = build_app(
        backend, prefs=prefs, save_prefs=partial(save_ui, locations), first_run=first_run,
        alerts=session.config.alert_rules(session.profile), notify_desktop=True,
    )  # fmt: skip
    previous = _unwind_on_signals()
    try:
        _run_app(app, backend)
    finally:
        _restore_signals(previous)
    if app.next_action == "demo":
        return launch_demo(argparse.Namespace(kafka_libs=None, no_docker=False, rate=4.0,
                                              debug=getattr(args, "debug", False)))  # fmt: skip
    return 0


def launch_demo(args: argparse.Namespace) -> int:
    """``auren-tui demo``: start the demo stack, open the workstation on it, stop it all."""
    from auren_tui.demo.kafka import DemoError
    from auren_tui.demo.stack import DemoStack

    locations = Locations.from_env()
    try:
        config = load_config(locations)
    except ConfigError as exc:
        print(f"auren-tui: {exc}", file=sys.stderr)
        return 2
    _log_to_file(locations, debug=getattr(args, "debug", False))
    stack = DemoStack(
        locations.data_dir / "demo",
        kafka_libs=args.kafka_libs,
        docker=not args.no_docker,
        rate=args.rate,
        say=lambda line: print(f"auren-tui demo: {line}", file=sys.stderr),
    )
    previous = _unwind_on_signals()
    try:
        try:
            stack.start()
        except DemoError as exc:
            print(f"auren-tui demo: error: {exc}", file=sys.stderr)
            return 1
        for note in stack.notes:
            print(f"auren-tui demo: {note}", file=sys.stderr)
        capture_demo_spec(stack, locations)
        profile = stack.profile()
        backend = LiveBackend(profile, locations, history=config.history)
        from auren_tui.app import build_app

        app = build_app(backend, prefs=config.ui, save_prefs=partial(save_ui, locations),
                        locations=locations, alerts=config.alert_rules(profile),
                        notify_desktop=True)  # fmt: skip
        _run_app(app, backend)
    finally:
        stack.stop()
        _restore_signals(previous)
    return 0


def _run_app(app: AurenApp, backend: LiveBackend) -> None:
    """Run the app, then close its backend and its desktop notifier however it ended
    (off the event loop: the notifier's close waits up to 2 s for its thread)."""
    try:
        app.run()
    finally:
        backend.close()
        if app.notifier is not None:
            app.notifier.close()


def _unwind_on_signals() -> dict[int, Any]:
    """SIGTERM and SIGHUP (the terminal closed) unwind like an exception, so every
    ``finally`` runs: the demo's processes (in sessions of their own, which a
    hangup does not reach), tunnels and SSH connections are closed. Python's
    default for both ends the process at once, leaving them behind."""
    return {sig: signal.signal(sig, _exit_on_sigterm) for sig in (signal.SIGTERM, signal.SIGHUP)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: the demo stops


def capture_demo_spec(stack: object, locations: Locations, wait: float = 20.0) -> None:
    """The demo container's known-good spec, once it is healthy (so R can restore it)."""
    import time

    from auren_tui.core.restore.audit import who_am_i
    from auren_tui.core.restore.spec import capture
    from auren_tui.core.restore.store import SpecStore
    from auren_tui.demo.stack import DemoStack

    assert isinstance(stack, DemoStack)
    if stack.web is None:
        return
    store = SpecStore(locations, "demo")
    if store.versions("web"):
        return
    client = stack.web.client
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        container = client.containers.get(stack.web.name)
        if (container.attrs["State"].get("Health") or {}).get("Status") == "healthy":
            image = client.images.get(container.attrs["Image"])
            spec, _ = capture("web", container.attrs, image.attrs, who_am_i())
            store.save(spec)
            return
        time.sleep(0.5)
