"""``auren-tui health``: one refresh of a profile's stack, as a table or JSON.

Exit status: 0 when every service is healthy, 1 when one is not (or the
connection failed), 2 for a usage or configuration error. Problems print as
one line on stderr (``run_command`` turns exceptions into that line).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace

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
    return parser


def register(commands: Commands) -> None:
    """Add ``health`` to the main parser's commands (handler set)."""
    parser = commands.add_parser(
        "health",
        parents=[common_options()],
        help="check every service once (exit 0 healthy, 1 not, 2 usage error)",
        description="One refresh of a profile's services: a table, or JSON with --json.",
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
    with ctx.session(args) as session:
        catalog = apply_options(session.catalog, args.catalog_port, args.only)
        snapshot = session.collect(catalog, timeout=timeout, docker=not args.no_docker)
    ctx.say(snapshot_json(snapshot) if args.json else format_table(snapshot))
    for error in snapshot.errors:
        ctx.warn(error)
    return EXIT_OK if snapshot.healthy else EXIT_FAILURE
