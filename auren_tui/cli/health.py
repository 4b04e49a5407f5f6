"""``auren-tui health``: one refresh of a profile's stack, as a table or JSON;
``--watch``: refresh again and again, one line per transition.

Exit status: 0 when every service is healthy, 1 when one is not (or the
connection failed), 2 for a usage or configuration error. Problems print as
one line on stderr (``run_command`` turns exceptions into that line).

``--watch`` is for a cron job or a second terminal: a summary line, then one
line per alert as the TUI raises them (core/history/alerts.py, once per
transition, never per refresh), flushed at once; ``--json`` makes each line a
JSON object. It never rings nor notifies. The ``[alerts]`` rules in
config.toml choose which transitions print, but not ``enabled`` (nor a
profile's ``alerts = false``): those keep the TUI quiet, and whoever runs
``--watch`` asked for the lines. Ctrl-C and SIGTERM end it with exit 0;
``--count N`` ends it after N refreshes with the last refresh's status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from auren_tui.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    Commands,
    Context,
    UsageError,
    common_options,
)
from auren_tui.core.catalog import Catalog
from auren_tui.core.model import BridgeFigures, ServiceStatus, Snapshot, sorted_services

if TYPE_CHECKING:
    from auren_tui.core.history.model import Alert
    from auren_tui.core.session import Session


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="timeout of each check in seconds (default 3)",
    )
    parser.add_argument(
        "--catalog-port",
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="check service NAME on PORT instead (repeatable), e.g. redis=6380",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="check only these services (repeatable)",
    )
    parser.add_argument(
        "--no-docker", action="store_true", help="skip container state (service checks only)"
    )
    watch = parser.add_argument_group("watching")
    watch.add_argument(
        "--watch",
        action="store_true",
        help="keep refreshing: a summary line, then one line per transition (unhealthy, "
        "recovered, restart, circuit, backlog; [alerts] in config.toml picks them)",
    )
    watch.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="S",
        help="seconds between refreshes (default: [ui] refresh_seconds, 2)",
    )
    watch.add_argument(
        "--count", type=int, default=None, metavar="N", help="stop after N refreshes"
    )
    return parser


def register(commands: Commands) -> None:
    """Add ``health`` to the main parser's commands (handler set)."""
    parser = commands.add_parser(
        "health",
        parents=[common_options()],
        help="check every service once (exit 0 healthy, 1 not, 2 usage error), or --watch",
        description="One refresh of a profile's services: a table, or JSON with --json. "
        "With --watch, one line per transition until Ctrl-C.",
    )
    configure(parser)
    parser.set_defaults(handler=handle)


# ---- building the pieces ---------------------------------------------------------------


def apply_options(catalog: Catalog, ports: Sequence[str], only: Sequence[str]) -> Catalog:
    """The catalog with ``NAME=PORT`` overrides applied and restricted to ``only``."""
    known = {s.name for s in catalog.services}
    overrides: dict[str, int] = {}
    for item in ports:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or not 0 < int(value) < 65536:
            raise UsageError(f"--catalog-port {item!r}: expected NAME=PORT, e.g. redis=6380")
        if name not in known:
            raise UsageError(
                f"--catalog-port {item!r}: no service {name!r} ({', '.join(sorted(known))})"
            )
        overrides[name] = int(value)
    services = tuple(
        replace(s, port=overrides[s.name]) if s.name in overrides else s for s in catalog.services
    )
    wanted = {n.strip() for group in only for n in group.split(",") if n.strip()}
    unknown = wanted - known
    if unknown:
        raise UsageError(
            f"--only: no service {', '.join(sorted(unknown))} ({', '.join(sorted(known))})"
        )
    if wanted:
        services = tuple(s for s in services if s.name in wanted)
    return Catalog(services)


# ---- output -------------------------------------------------------------------------------


def _container_cell(status: ServiceStatus) -> str:
    c = status.container
    if c is None:
        return "-"
    cell = c.state
    if c.health:
        cell += f" ({c.health})"
    if c.restart_count:
        cell += f" x{c.restart_count} restarts"
    return cell


def _check_cell(status: ServiceStatus) -> str:
    check = status.check
    if check is None:
        return "-"
    cell = check.detail or ("ok" if check.ok else "failed")
    if check.latency_ms is not None:
        cell += f" · {check.latency_ms:.1f} ms"
    down = [f"{k} {v}" for k, v in status.components.items() if v in ("down", "open")]
    if down:
        cell += " · " + ", ".join(down)
    return cell


def _bridge_line(figures: BridgeFigures) -> str:
    if figures.error and figures.source == "none":
        return f"bridge figures: unavailable ({figures.error})"
    rates = figures.rate_by_source_status
    if rates or figures.source == "prometheus":
        parts = [f"{sum(rates.values()):.2f} webhooks/s"]
    else:  # one scrape of /metrics has no rate yet
        parts = ["rate unknown (one scrape)"]
    if figures.p95_seconds is not None:
        parts.append(f"p95 {figures.p95_seconds * 1000:.0f} ms")
    if figures.active_tasks is not None:
        parts.append(f"{figures.active_tasks:g} in flight")
    if figures.outbox_backlog is not None:
        parts.append(f"outbox {figures.outbox_backlog:g}")
    if figures.circuit_state:
        parts.append(f"kafka circuit {figures.circuit_state}")
    return f"bridge ({figures.source}): " + ", ".join(parts)


def format_table(snapshot: Snapshot) -> str:
    """The snapshot as a plain-text table, faults first."""
    rows = [("SERVICE", "CONTAINER", "CHECK", "HEALTH")]
    rows += [
        (s.name, _container_cell(s), _check_cell(s), s.health) for s in sorted_services(snapshot)
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
        for r in rows
    ]
    if snapshot.bridge is not None:
        lines.append("")
        lines.append(_bridge_line(snapshot.bridge))
    return "\n".join(lines)


def snapshot_json(snapshot: Snapshot) -> str:
    """The recording format (``recording.snapshot_to_dict``) plus ``healthy``, indented."""
    from auren_tui.core.health.recording import snapshot_to_dict

    return json.dumps({"healthy": snapshot.healthy, **snapshot_to_dict(snapshot)}, indent=2)


# ---- the command -----------------------------------------------------------------------------


def handle(args: argparse.Namespace, ctx: Context) -> int:
    """The ``health`` handler: raises UsageError/CliError, returns the exit status."""
    # Imported here: httpx alone costs ~0.6 s, which other commands need not pay.
    from auren_tui.core.health.checks import DEFAULT_TIMEOUT

    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if not timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    _check_watch_options(args)
    if args.watch:
        return watch(args, ctx, timeout)
    with ctx.session(args) as session:
        catalog = apply_options(session.catalog, args.catalog_port, args.only)
        snapshot = session.collect(catalog, timeout=timeout, docker=not args.no_docker)
    ctx.say(snapshot_json(snapshot) if args.json else format_table(snapshot))
    for error in snapshot.errors:
        ctx.warn(error)
    return EXIT_OK if snapshot.healthy else EXIT_FAILURE


# ---- --watch ---------------------------------------------------------------------------------


def _check_watch_options(args: argparse.Namespace) -> None:
    for option, value in (("--interval", args.interval), ("--count", args.count)):
        if value is not None and not args.watch:
            raise UsageError(f"{option} goes with --watch")
    if args.interval is not None and not args.interval > 0:
        raise UsageError("--interval must be a positive number of seconds")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")


def utc(at: float) -> str:
    """``2026-12-03T03:10:04Z``: the time column of ``--watch``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_line(alert: Alert, as_json: bool = False) -> str:
    """``2026-12-03T03:10:04Z  unhealthy  redis  redis unhealthy: connection refused``."""
    if as_json:
        fields = ("rule", "subject", "severity", "text")
        return json.dumps({"at": utc(alert.at), **{k: getattr(alert, k) for k in fields}})
    return f"{utc(alert.at)}  {alert.rule:<9}  {alert.subject}  {alert.text}"


def summary_line(snapshot: Snapshot, summary: str, profile: str, as_json: bool = False) -> str:
    """The first line of ``--watch``: ``2026-12-03T03:10:04Z  watching 9 services: …``."""
    if as_json:
        return json.dumps(
            {
                "at": utc(snapshot.taken_at),
                "summary": summary,
                "profile": profile,
                "healthy": snapshot.healthy,
            }
        )
    return f"{utc(snapshot.taken_at)}  {summary}"


class _Stopped(BaseException):
    """SIGTERM, raised where the watch is (a BaseException, as KeyboardInterrupt, so no
    ``except Exception`` on the way swallows it): unwinds it, closing the session."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def watch(args: argparse.Namespace, ctx: Context, timeout: float) -> int:
    """``health --watch``: exit 0 on Ctrl-C or SIGTERM; at ``--count``, as ``health``."""
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if on_main else None
    try:
        with contextlib.ExitStack() as stack:
            session = stack.enter_context(ctx.session(args))
            catalog = apply_options(session.catalog, args.catalog_port, args.only)
            collect = _collector(session, catalog, timeout, not args.no_docker, stack)
            return _watch(args, ctx, session, collect)
    except (KeyboardInterrupt, _Stopped):
        return EXIT_OK
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _collector(
    session: Session, catalog: Catalog, timeout: float, docker: bool, stack: contextlib.ExitStack
) -> Callable[[], Snapshot]:
    """One refresh at a time; with Docker, one collector kept for the whole watch (its
    Docker client and stats samples carry over from one refresh to the next)."""
    if not docker:
        return lambda: session.collect(catalog, timeout=timeout, docker=False)
    from auren_tui.core.health.collector import Collector

    collector = stack.enter_context(Collector(session.connection(), catalog, timeout=timeout))
    return collector.collect


def _watch(
    args: argparse.Namespace, ctx: Context, session: Session, collect: Callable[[], Snapshot]
) -> int:
    from auren_tui.core.history.alerts import AlertWatch

    interval = args.interval or session.config.ui.refresh_seconds
    # The rule switches apply; "enabled" only quiets the TUI (see the module).
    rules = replace(session.config.alert_rules(session.profile), enabled=True)
    alerts = AlertWatch(rules)
    shown_errors: tuple[str, ...] = ()
    refreshes = 0
    while True:
        snapshot = collect()
        refreshes += 1
        raised = alerts.feed(snapshot)
        if refreshes == 1:
            summary = alerts.summary(snapshot)
            _emit(ctx, summary_line(snapshot, summary, session.name, args.json))
        for alert in raised:
            _emit(ctx, alert_line(alert, args.json))
        # The refresh's own problems (Docker unreachable) once each, not every refresh.
        for error in snapshot.errors:
            if error not in shown_errors:
                ctx.warn(error)
        shown_errors = snapshot.errors
        if args.count is not None and refreshes >= args.count:
            return EXIT_OK if snapshot.healthy else EXIT_FAILURE
        time.sleep(interval)  # after the refresh landed: refreshes never pile up


def _emit(ctx: Context, line: str) -> None:
    print(line, file=ctx.out, flush=True)  # a pipe or a log file sees each line at once
