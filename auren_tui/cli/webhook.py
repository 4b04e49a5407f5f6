"""``auren-tui webhook send|check|load|templates|saved``: signed webhooks, headless.

Secrets come from ``AUREN_TUI_<PROVIDER>_SECRET`` when set, else the keyring
(``auren-tui secret set PROFILE oura``); they are never printed. Requests go
to the bridge through the profile's connection. Exit status: ``send`` 0 when
the bridge answered as the preset expects, ``check`` 0 when every row did
(a deploy gate), 1 otherwise; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auren_tui.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    Commands,
    Context,
    UsageError,
    host_port,
)
from auren_tui.cli import common_options as _common
from auren_tui.core.config import ConfigError
from auren_tui.core.webhooks.client import (
    PRESETS,
    NegativeKind,
    WebhookRequest,
    check_kind,
)
from auren_tui.core.webhooks.signing import PROVIDERS, Provider, SigningError, check_provider

if TYPE_CHECKING:
    from collections.abc import Callable

    from auren_tui.core.backend.webhooks import Sent
    from auren_tui.core.catalog import Catalog
    from auren_tui.core.session import Session
    from auren_tui.core.webhooks.load import LoadSpec, LoadStats


def register(commands: Commands) -> None:
    top = commands.add_parser(
        "webhook",
        parents=[_common()],
        help="send signed webhooks to the bridge: one, the negative suite, or a load test",
        description="Signed webhooks exactly as Oura, WHOOP and the HealthKit app send them.",
    )
    actions = top.add_subparsers(dest="webhook_action", metavar="ACTION", required=True)

    send = actions.add_parser("send", parents=[_common()], help="send one webhook")
    send.add_argument("source", choices=PROVIDERS)
    body = send.add_mutually_exclusive_group()
    body.add_argument("--event", metavar="TEMPLATE", help="template (see `webhook templates`)")
    body.add_argument("--body", type=Path, metavar="FILE", help="send this file's bytes")
    body.add_argument("--request", metavar="NAME", help="a saved request")
    send.add_argument("--negative", choices=list(PRESETS), default="valid", help="break it")
    send.add_argument("--save", metavar="NAME", help="also save the request (no secret in it)")
    send.add_argument("--trace", action="store_true", help="follow a 202 into Kafka")
    send.add_argument("--topic", default="biometric-events", help="topic for --trace")
    send.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="Kafka for --trace, as the server sees it (default: the catalog's kafka service)",
    )
    send.add_argument("--json", action="store_true", help="print JSON")
    _target(send)
    send.set_defaults(handler=handle_send)

    check = actions.add_parser(
        "check", parents=[_common()], help="the negative suite for every provider (deploy gate)"
    )
    check.add_argument(
        "--source", action="append", choices=PROVIDERS, help="only this provider (repeatable)"
    )
    check.add_argument("--json", action="store_true", help="print JSON")
    _target(check)
    check.set_defaults(handler=handle_check)

    load = actions.add_parser("load", parents=[_common()], help="signed load test")
    load.add_argument("source", choices=PROVIDERS)
    load.add_argument("--requests", type=int, default=1000, metavar="N")
    load.add_argument("--concurrency", type=int, default=16, metavar="C")
    load.add_argument("--rate", type=float, metavar="R", help="requests/s in total (default: max)")
    load.add_argument("--event", metavar="TEMPLATE")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _target(load)
    load.set_defaults(handler=handle_load)

    templates = actions.add_parser("templates", parents=[_common()], help="list templates")
    templates.add_argument("source", nargs="?", choices=PROVIDERS)
    templates.set_defaults(handler=handle_templates)

    saved = actions.add_parser("saved", parents=[_common()], help="list saved requests")
    saved.set_defaults(handler=handle_saved)


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be sent; send nothing"
    )
    parser.add_argument(
        "--bridge",
        metavar="HOST:PORT",
        help="the bridge as the server sees it (default: the catalog's bridge service)",
    )


def _address(catalog: Catalog, given: str | None) -> tuple[str, int]:
    """The bridge as the server sees it: ``--bridge``, else the catalog's bridge service."""
    if given:
        return host_port("--bridge", given, "127.0.0.1:8889")
    from auren_tui.core.webhooks.client import bridge_address

    try:
        return bridge_address(catalog)
    except ValueError as exc:
        raise UsageError(f"{exc}; pass --bridge HOST:PORT") from None


def _refuse(args: argparse.Namespace, session: Session) -> None:
    """Refused when read-only, before anything reaches the server (``--dry-run`` is not)."""
    if not args.dry_run:
        # Webhooks store events on the server; --dry-run shows what would be sent.
        session.refuse_if_read_only("sending webhooks")


def _show_request(ctx: Context, request: WebhookRequest) -> None:
    ctx.say(f"POST {request.path} ({request.kind}, {len(request.body)} bytes)")
    for key, value in request.shown_headers().items():
        ctx.say(f"{key}: {value}")
    ctx.say("")
    text = request.body.decode(errors="replace")
    ctx.say(text if len(text) <= 4000 else text[:4000] + f"… ({len(text) - 4000} more)")


def _body(args: argparse.Namespace, ctx: Context, provider: Provider) -> tuple[bytes, NegativeKind]:
    from auren_tui.core.webhooks import saved
    from auren_tui.core.webhooks.templates import render

    if args.body is not None:
        try:
            return args.body.read_bytes(), check_kind(args.negative)
        except OSError as exc:
            raise UsageError(f"--body {args.body}: {exc.strerror or exc}") from None
    if args.request:
        request = saved.load(ctx.locations, args.request)
        if request.provider != provider:
            raise UsageError(f"saved request {args.request!r} is for {request.provider}")
        negative = request.negative if args.negative == "valid" else check_kind(args.negative)
        return request.body.encode(), negative
    try:
        return render(provider, args.event), check_kind(args.negative)
    except SigningError as exc:
        raise UsageError(str(exc)) from None


def handle_send(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.cli.tail import bootstrap_for
    from auren_tui.core.backend.webhooks import Outgoing, prepare
    from auren_tui.core.webhooks import saved

    provider = check_provider(args.source)
    body, negative = _body(args, ctx, provider)
    if args.save:
        try:
            template = args.event if args.body is None and not args.request else None
            path = saved.save(
                ctx.locations,
                saved.SavedRequest(args.save, provider, body.decode(), template, negative),
            )
        except (ConfigError, UnicodeDecodeError) as exc:
            raise UsageError(f"--save {args.save!r}: {exc}") from None
        print(f"saved {path}", file=ctx.err)
    out = Outgoing(provider, body, negative)
    with ctx.session(args) as session:
        _refuse(args, session)
        if args.dry_run:
            _show_request(ctx, prepare(out, session.webhook_secret(provider))[1])
            ctx.say("dry run: nothing sent")
            return EXIT_OK
        bridge = _address(session.catalog, args.bridge)
        bootstrap = bootstrap_for(session.catalog, args.bootstrap) if args.trace else ""
        topic = args.topic if args.trace else None
        sent = session.send_webhook(out, bridge, topic, bootstrap)
    return _report_send(sent, ctx, args.json)


def _report_send(sent: Sent, ctx: Context, as_json: bool) -> int:
    request, response, traced = sent.request, sent.response, sent.trace
    negative = request.kind
    preset = PRESETS[negative]
    ok = preset.accepts(response)
    if as_json:
        out: dict[str, Any] = {
            "provider": request.provider,
            "negative": negative,
            "expected_status": preset.expect_status,
            "status": response.status,
            "as_expected": ok,
            "latency_ms": round(response.latency_ms, 2),
            "response": response.json()
            if response.json() is not None
            else response.body.decode(errors="replace"),
            "error": response.error,
            "headers": request.shown_headers(),
            "body_bytes": len(request.body),
        }
        if sent.traced:
            out["kafka"] = (
                None
                if traced is None
                else {
                    "after_ms": round(traced.after_ms, 1),
                    "topic": traced.topic,
                    "partition": traced.partition,
                    "offset": traced.offset,
                }
            )
        ctx.say(json.dumps(out, indent=2))
    else:
        ctx.say(f"{request.provider} {negative}: {response.summary()}")
        line = sent.trace_line()
        if line is not None:
            ctx.say(line)
    if sent.traced and traced is None and response.status == 202:
        return EXIT_FAILURE
    return EXIT_OK if ok else EXIT_FAILURE


def handle_check(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.webhooks.templates import render

    providers = [check_provider(p) for p in (args.source or PROVIDERS)]
    if args.dry_run:
        for provider in providers:
            for preset in PRESETS.values():
                line = f"{provider:<9} {preset.kind:<15} {preset.title}"
                ctx.say(f"{line} -> expect {preset.expected}")
        ctx.say("dry run: nothing sent")
        return EXIT_OK
    with ctx.session(args) as session:
        _refuse(args, session)
        bridge = _address(session.catalog, args.bridge)
        results = session.webhook_suite(bridge, [(p, render(p)) for p in providers])
    if args.json:
        ctx.say(json.dumps([
            {"provider": r.request.provider, "check": r.preset.kind, "ok": r.ok,
             "expected_status": r.preset.expect_status, "status": r.response.status,
             "error": r.response.error} for r in results], indent=2))  # fmt: skip
    else:
        for r in results:
            ctx.say(r.line())
    failed = [r for r in results if not r.ok]
    print(
        f"{len(results) - len(failed)}/{len(results)} answered as expected"
        + (f"; {len(failed)} did not" if failed else ""),
        file=ctx.err,
    )
    return EXIT_FAILURE if failed else EXIT_OK


def handle_load(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.webhooks.load import LoadSpec
    from auren_tui.core.webhooks.templates import render

    provider = check_provider(args.source)
    if args.requests < 1 or args.concurrency < 1:
        raise UsageError("--requests and --concurrency must be at least 1")
    if args.rate is not None and not args.rate > 0:
        raise UsageError("--rate must be a positive number of requests per second")
    try:
        render(provider, args.event)
    except SigningError as exc:
        raise UsageError(str(exc)) from None
    spec = LoadSpec(provider, args.requests, args.concurrency, args.rate, args.event)
    tty = ctx.err.isatty()

    def progress(stats: LoadStats) -> None:
        if tty:
            ctx.err.write(f"\r{stats.done}/{stats.total}  {stats.rate:,.0f} req/s   ")
            ctx.err.flush()

    with ctx.session(args) as session:
        _refuse(args, session)
        return _load(args, ctx, session, spec, progress)


def _load(
    args: argparse.Namespace,
    ctx: Context,
    session: Session,
    spec: LoadSpec,
    progress: Callable[[LoadStats], None],
) -> int:
    tty = ctx.err.isatty()
    rate = f" at {args.rate:g}/s" if args.rate else ""
    plan = (
        f"{args.requests} signed {spec.provider} webhooks{rate}, {args.concurrency} at a time, "
        f"to the bridge of profile {session.name!r}: each is stored as a new event"
    )
    if args.dry_run:
        ctx.say(plan)
        ctx.say("dry run: nothing sent")
        return EXIT_OK
    if not args.yes:
        if not ctx.stdin.isatty():
            raise UsageError(f"{plan}; not a terminal: pass --yes to confirm (or --dry-run)")
        ctx.confirm(f"{plan}. Go ahead?", "not confirmed; nothing sent")
    stats = session.webhook_load(_address(session.catalog, args.bridge), spec, progress)
    if tty:
        ctx.err.write("\n")
    summary = stats.summary()
    if args.json:
        ctx.say(json.dumps(summary, indent=2))
    else:
        ctx.say(
            f"{summary['done']} requests in {summary['seconds']} s: "
            f"{summary['requests_per_second']} req/s; p50 {summary['p50_ms']} ms, "
            f"p95 {summary['p95_ms']} ms, p99 {summary['p99_ms']} ms"
        )
        ctx.say("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items())))
        if stats.errors:
            ctx.say("errors: " + ", ".join(f"{k}: {v}" for k, v in stats.errors.items()))
    return EXIT_OK if not stats.errors else EXIT_FAILURE


def handle_templates(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.webhooks.templates import DEFAULT_TEMPLATE, template_names

    for provider in [args.source] if args.source else PROVIDERS:
        for name in template_names(provider):
            mark = " (default)" if name == DEFAULT_TEMPLATE[provider] else ""
            ctx.say(f"{provider} {name}{mark}")
    return EXIT_OK


def handle_saved(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.webhooks import saved

    found = saved.names(ctx.locations)
    if not found:
        print(f"no saved requests in {saved.requests_dir(ctx.locations)}", file=sys.stderr)
    for name in found:
        ctx.say(name)
    return EXIT_OK
