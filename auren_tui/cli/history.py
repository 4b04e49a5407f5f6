"""``auren-tui history``: what this workstation recorded of a profile's refreshes.

The dashboard appends every refresh to the profile's flight recorder
(``core/history/store.py``); this command reads it back — for the operator
paged at 03:10 who wants 02:40, or a script — without a connection: it
resolves the profile from ``config.toml`` only, opens the file read-only and
changes nothing, on the server or here. One line per refresh (a plain table,
the window's count at the end), or ``--json``: one JSON document, each
refresh on its own line, streamed (a week does not have to fit in memory).
Exit 0, also for an empty window; 1 when the file cannot be read; 2 for usage.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from auren_tui.cli import EXIT_OK, CliError, Commands, Context, UsageError, common_options
from auren_tui.core.format import duration_seconds
from auren_tui.core.model import Snapshot, sorted_services

if TYPE_CHECKING:
    from auren_tui.core.history.store import FlightRecorder

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
Window = tuple[float, float]  # since, until (unix time)


def register(commands: Commands) -> None:
    """Add ``history`` to the main parser's commands (handler set)."""
    parser = commands.add_parser(
        "history",
        parents=[common_options()],
        help="the refreshes this workstation recorded (read-only, no connection)",
        description="The profile's flight recorder, read back: one line per refresh, or JSON.",
    )
    parser.add_argument(
        "--since",
        default="1h",
        metavar="DURATION",
        help="how far back from now: 30s, 15m, 1h, 24h, 7d (default 1h)",
    )
    parser.add_argument(
        "--until",
        default=None,
        metavar="TIME",
        help="end of the window (default now): a duration ago (10m), a local time "
        "(02:40, yesterday's if still to come) or an ISO-8601 time (2026-12-01T02:40)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(handler=handle)


def parse_duration(option: str, text: str) -> float:
    """``30s``, ``15m``, ``1h``, ``7d`` in seconds; a one-line UsageError otherwise."""
    seconds = duration_seconds(text)
    if not seconds:  # None, or 0m
        raise UsageError(f"{option} {text!r}: expected a duration such as 15m, 1h, 7d")
    return float(seconds)


def parse_until(text: str, now: float) -> float:
    """``--until`` as unix time: ``now``, a duration ago, ``HH:MM[:SS]`` (local, the
    last one not after ``now``) or ISO 8601 (local unless it names its offset)."""
    raw = text.strip()
    if raw.lower() == "now":
        return now
    if duration_seconds(raw) is not None:
        return now - parse_duration("--until", raw)
    clock = _CLOCK.fullmatch(raw)
    try:
        if clock:
            today = datetime.fromtimestamp(now)
            parts = (int(clock[1]), int(clock[2]), int(clock[3] or 0))
            at = today.replace(hour=parts[0], minute=parts[1], second=parts[2], microsecond=0)
            seconds = at.timestamp()
            return seconds - 86400 if seconds > now else seconds
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        raise UsageError(
            f"--until {text!r}: expected a duration ago such as 10m, a local time such as "
            "02:40, or an ISO-8601 time such as 2026-12-01T02:40"
        ) from None


# ---- output -------------------------------------------------------------------------------


def _services_cell(snapshot: Snapshot) -> str:
    faults = [f"{s.name} {s.health}" for s in sorted_services(snapshot) if s.health != "healthy"]
    if faults:
        return ", ".join(faults)
    return f"all {len(snapshot.services)} healthy" if snapshot.services else "no services"


def table_line(snapshot: Snapshot, time_format: str) -> str:
    """One refresh: local time, webhooks/s, p95 ms, outbox, circuit, the services."""
    figures = snapshot.bridge
    rate = p95 = outbox = circuit = "-"
    if figures is not None:
        rates = figures.rate_by_source_status
        if rates or figures.source == "prometheus":  # one /metrics scrape has no rate
            rate = f"{sum(rates.values()):.2f}"
        if figures.p95_seconds is not None:
            p95 = f"{figures.p95_seconds * 1000:.0f}"
        if figures.outbox_backlog is not None:
            outbox = f"{figures.outbox_backlog:g}"
        circuit = figures.circuit_state or "-"
    at = time.strftime(time_format, time.localtime(snapshot.taken_at))
    return f"{at}  {rate:>10}  {p95:>6}  {outbox:>6}  {circuit:<9}  {_services_cell(snapshot)}"


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def print_table(ctx: Context, profile: str, snapshots: Iterable[Snapshot], window: Window) -> None:
    """The refreshes as a table, dated when the window crosses midnight; the count last."""
    since, until = window
    same_day = time.localtime(since)[:3] == time.localtime(until)[:3]
    time_format = "%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"
    count = 0
    for snapshot in snapshots:
        if not count:
            head = "TIME".ljust(8 if same_day else 19)
            ctx.say(f"{head}  WEBHOOKS/S  P95 MS  OUTBOX  CIRCUIT    SERVICES")
        ctx.say(table_line(snapshot, time_format))
        count += 1
    if not count:
        ctx.say(f"no refreshes recorded for profile {profile} since {_local(since)}")
        return
    noun = "refresh" if count == 1 else "refreshes"
    ctx.say(f"{count} {noun} of profile {profile} from {_local(since)} to {_local(until)}")


def print_json(ctx: Context, profile: str, snapshots: Iterable[Snapshot], window: Window) -> None:
    """``{"profile", "since", "until", "refreshes": [...]}``, a refresh per line: the
    recording format (``recording.snapshot_to_dict``) plus ``healthy``."""
    from auren_tui.core.health.recording import snapshot_to_dict

    head = {"profile": profile, "since": window[0], "until": window[1]}
    ctx.out.write(json.dumps(head)[:-1] + ', "refreshes": [')
    separator = "\n"
    for snapshot in snapshots:
        item = {"healthy": snapshot.healthy, **snapshot_to_dict(snapshot)}
        ctx.out.write(separator + json.dumps(item, separators=(",", ":")))
        separator = ",\n"
    ctx.out.write("\n]}\n")


# ---- the command -----------------------------------------------------------------------------


def _open(ctx: Context, args: argparse.Namespace) -> tuple[str, FlightRecorder]:
    """The profile's name (from config.toml alone: no connection) and its recorder.
    A recording whose profile is not in config.toml (the demo's, a removed
    profile's) is read all the same when named with ``--profile``."""
    from auren_tui.core.config import ConfigError
    from auren_tui.core.history.store import FlightRecorder, HistoryError

    try:
        with ctx.session(args) as session:
            name = session.name
    except ConfigError:
        asked = str(getattr(args, "profile", None) or "")
        try:
            recorded = bool(asked) and FlightRecorder.path_for(ctx.locations, asked).exists()
        except ValueError:  # not a profile's name at all
            recorded = False
        if not recorded:
            raise
        name = asked
    try:
        path = FlightRecorder.path_for(ctx.locations, name)
        return name, FlightRecorder(path, read_only=True)
    except HistoryError as exc:
        raise CliError(str(exc)) from None


def handle(args: argparse.Namespace, ctx: Context) -> int:
    """The ``history`` handler: raises UsageError/CliError, returns the exit status."""
    from auren_tui.core.history.store import HistoryError

    now = time.time()
    since = max(0.0, now - parse_duration("--since", args.since))  # 9999999d: since ever
    until = now if args.until is None else parse_until(args.until, now)
    if until < since:
        raise UsageError(
            f"--until {args.until!r} is before --since {args.since!r} ({_local(since)})"
        )
    name, recorder = _open(ctx, args)
    with recorder:
        snapshots = recorder.iter_between(since, until)
        try:
            (print_json if args.json else print_table)(ctx, name, snapshots, (since, until))
        except HistoryError as exc:
            raise CliError(str(exc)) from None
    return EXIT_OK
