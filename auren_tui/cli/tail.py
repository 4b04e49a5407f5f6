"""``auren-tui tail`` and ``auren-tui topics``: Kafka from the command line.

Both reach the broker through the profile's connection (SSH tunnels for
every address the broker advertises), never commit offsets, and print one
record per line (``--json``: JSON lines). Exit status: 0 at ``--count`` or
the end, 1 when the broker or topic fails, 2 for usage errors; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from auren_tui.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    Commands,
    Context,
    UsageError,
    common_options,
    host_port,
)
from auren_tui.core.kafka.filters import parse_filter
from auren_tui.core.kafka.line_writer import PIPE_CLOSED, LineWriter
from auren_tui.core.kafka.start import RecordError, parse_start

if TYPE_CHECKING:
    from auren_tui.core.catalog import Catalog
    from auren_tui.core.kafka.consumer import TailRequest
    from auren_tui.core.kafka.filters import Matcher
    from auren_tui.core.session import Session
    from auren_tui.core.transport.connection import Connection

RECOVERED = "broker reachable again"


def register(commands: Commands) -> None:
    tail = commands.add_parser(
        "tail",
        parents=[common_options()],
        help="print Kafka records as they arrive (never commits offsets)",
        description="Tail Kafka topics through the profile's connection: one record per line.",
    )
    tail.add_argument("topics", nargs="+", metavar="TOPIC")
    _connection_options(tail)
    tail.add_argument(
        "--from",
        dest="start",
        default="end",
        metavar="POS",
        help="end (default), beginning, N (offset), -N (N back from the end in each "
        "partition), an ISO-8601 time, @EPOCH_MS, or a duration ago (10m, 2h)",
    )
    tail.add_argument(
        "--partition",
        type=int,
        action="append",
        default=[],
        help="only this partition (repeatable)",
    )
    tail.add_argument("--count", type=int, metavar="N", help="stop after N records shown")
    tail.add_argument(
        "--exit-at-end", action="store_true", help="stop at the end offsets taken at the start"
    )
    tail.add_argument(
        "--filter",
        default="",
        metavar="EXPR",
        help="field=value / field!=value on JSON values (e.g. source=oura), or a substring",
    )
    tail.add_argument("--json", action="store_true", help="JSON lines")
    tail.add_argument("--quiet", action="store_true", help="no status lines on stderr")
    tail.set_defaults(handler=handle_tail)

    topics = commands.add_parser(
        "topics",
        parents=[common_options()],
        help="list Kafka topics with partitions and offsets",
        description="Topics on the profile's broker: partitions, first and end offsets.",
    )
    _connection_options(topics)
    topics.add_argument("--all", action="store_true", help="include internal topics")
    topics.add_argument("--json", action="store_true", help="print JSON")
    topics.set_defaults(handler=handle_topics)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="broker address as the server sees it (default: the catalog's kafka service)",
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="connect timeout (default 15)"
    )


def bootstrap_for(catalog: Catalog, given: str | None) -> str:
    """The broker as the server sees it: ``--bootstrap``, else the catalog's kafka service."""
    if given:
        host_port("--bootstrap", given, "auren-kafka:9092")
        return given
    address = catalog.kafka_address()
    if address is None:
        raise UsageError("the profile's catalog has no kafka service; pass --bootstrap HOST:PORT")
    return address


def _check_timeout(args: argparse.Namespace) -> None:
    if not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")


def _open(session: Session, args: argparse.Namespace) -> tuple[Connection, str]:
    """The session's connection and the broker's address (a usage error without one)."""
    connection = session.connection()
    return connection, bootstrap_for(session.catalog, args.bootstrap)


def handle_topics(args: argparse.Namespace, ctx: Context) -> int:
    _check_timeout(args)
    with ctx.session(args) as session:
        topics = session.topics(
            bootstrap_for(session.catalog, args.bootstrap), args.timeout, args.all
        )
    if args.json:
        ctx.say(
            json.dumps(
                [
                    {
                        "topic": t.name,
                        "partitions": [
                            {"partition": p, "first": first, "end": end}
                            for p, (first, end) in sorted(t.partitions.items())
                        ],
                    }
                    for t in topics
                ],
                indent=2,
            )
        )
        return EXIT_OK
    width = max([len("TOPIC"), *(len(t.name) for t in topics)])
    ctx.say(f"{'TOPIC'.ljust(width)}  PARTITIONS  RECORDS  END OFFSETS")
    for t in topics:
        ends = ",".join(f"{p}:{end}" for p, (_, end) in sorted(t.partitions.items()))
        ctx.say(f"{t.name.ljust(width)}  {len(t.partitions):>10}  {t.records:>7}  {ends}")
    return EXIT_OK


def handle_tail(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.kafka.consumer import TailRequest

    try:
        start = parse_start(args.start)
        matcher = parse_filter(args.filter)
    except RecordError as exc:
        raise UsageError(str(exc)) from None
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    _check_timeout(args)
    writer = _writer(args, matcher, ctx)  # forked before any thread or connection exists
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(ctx.session(args))
            connection, bootstrap = _open(session, args)
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
        request = TailRequest(
            bootstrap, args.topics, start, partitions=args.partition,
            exit_at_end=args.exit_at_end, connect_timeout=args.timeout, raw=True,
        )  # fmt: skip
        return _tail(args, ctx, connection, request, matcher, writer)


def _tail(
    args: argparse.Namespace,
    ctx: Context,
    connection: Connection,
    request: TailRequest,
    matcher: Matcher | None,
    writer: LineWriter | None,
) -> int:
    """Print the records of ``request``; a broker failure is raised once every record
    read so far is written."""
    from auren_tui.core.kafka.client import KafkaError
    from auren_tui.core.transport.loop import run_tunnelled

    failed: BaseException | None = None
    try:
        run_tunnelled(connection, lambda: _print(request, matcher, args, ctx, writer))
    except asyncio.CancelledError:
        if writer is None:
            raise
        # Cancelled by the writer's end: close() below says how it ended.
    except KafkaError as exc:
        failed = CliError(str(exc))
    except BrokenPipeError:  # `| head`: the reader has all it wanted
        with contextlib.suppress(OSError):  # no "Exception ignored" when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except BaseException:
        if writer is not None:
            writer.abandon()  # Ctrl-C: stop now, the lines in flight are not wanted
        raise
    # Every record read so far is written before the command ends, an error included.
    if writer is not None and writer.close() not in (0, PIPE_CLOSED):
        return EXIT_FAILURE  # the writer said why, in one line
    if failed is not None:
        raise failed
    return EXIT_OK


def _writer(args: argparse.Namespace, match: Matcher | None, ctx: Context) -> LineWriter | None:
    """The second process writing ``--json`` lines (core/kafka/line_writer.py), when the lines
    go to this process's own stdout and need no filter (a filter is matched here)."""
    if not args.json or match is not None or ctx.out is not sys.stdout:
        return None
    if threading.active_count() > 1:
        return None  # a fork copies one thread: never with others holding locks

    try:
        if sys.stdout.fileno() != 1:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    from auren_tui.core.kafka.json_lines import json_lines

    return LineWriter(json_lines)


async def _print(
    request: TailRequest,
    match: Matcher | None,
    args: argparse.Namespace,
    ctx: Context,
    writer: LineWriter | None = None,
) -> None:
    from auren_tui.core.kafka.consumer import Tail, TailStatus, tail_records
    from auren_tui.core.kafka.json_lines import json_lines

    left = args.count
    out = ctx.out
    frozen = False
    if writer is not None:
        # The writer ended early (stdout closed, or it failed): stop reading now,
        # even while the topic is quiet.
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None

        def stop(_status: int) -> None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)

        writer.on_exit(stop)
    # --json without a filter: straight from aiokafka's records, no object of ours each.
    fast = args.json and match is None
    async for item in Tail(request):
        if isinstance(item, TailStatus):
            quiet = item.state == "connecting" or (
                item.state == "live" and item.detail != RECOVERED
            )
            if not args.quiet and not quiet:
                ctx.warn(f"kafka {item.line()}")
            continue
        records: list[Any] = item if fast else tail_records(item)
        if match is not None:
            records = [r for r in records if match(r)]
        if left is not None:
            records = records[:left]
            left -= len(records)
        if not frozen:
            # Every record is freed by reference counting, but the allocations make
            # the collector walk the whole start-up heap (aiokafka, asyncio) again
            # and again: ~15 % of a fast tail's CPU. Frozen, it walks only the new.
            gc.collect()
            gc.freeze()
            frozen = True
        if records and writer is not None:
            writer.send(records)
        elif records:
            if fast:
                lines = json_lines(
                    [
                        (r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
                        for r in records
                    ]
                )
            else:
                lines = [r.json_line() if args.json else r.line() for r in records]
            lines.append("")
            out.write("\n".join(lines))
            out.flush()
        if left == 0:
            return
