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
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auren_tui.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    Commands,
    Context,
    UsageError,
    refuse_if_read_only,
)
from auren_tui.cli import common_options as _common
from auren_tui.core.config import ConfigError
from auren_tui.core.webhooks.client import (
    PRESETS,
    NegativeKind,
    WebhookRequest,
    build,
    check_kind,
)
from auren_tui.core.webhooks.signing import PROVIDERS, Provider, SigningError, check_provider

if TYPE_CHECKING:
    from pydantic import SecretStr

    from auren_tui.core.catalog import Catalog
    from auren_tui.core.transport.connection import Connection


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


def secret_for(ctx: Context, profile: str, provider: Provider) -> SecretStr:
    from auren_tui.core.backend.webhooks import SecretMissing
    from auren_tui.core.backend.webhooks import secret_for as lookup

    try:
        return lookup(profile, provider, ctx.secrets)
    except SecretMissing as exc:
        raise CliError(str(exc)) from None


def _address(catalog: Catalog, given: str | None) -> tuple[str, int]:
    if given:
        host, sep, port = given.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"--bridge {given!r}: expected HOST:PORT, e.g. 127.0.0.1:8889")
        return host, int(port)
    from auren_tui.core.webhooks.client import bridge_address

    try:
        return bridge_address(catalog)
    except ValueError as exc:
        raise UsageError(f"{exc}; pass --bridge HOST:PORT") from None


def _profile_name(args: argparse.Namespace, ctx: Context) -> str:
    """The profile's name; refuses when it (or ``--read-only``) is read-only: sending
    webhooks stores events on the server."""
    from auren_tui.core.config import load_config

    if not args.dry_run:
        # Webhooks store events on the server; --dry-run shows what would be sent.
        return refuse_if_read_only(args, ctx, "sending webhooks")
    config = load_config(ctx.locations)
    return config.profile(args.profile or config.ui.default_profile or "local").name


def _open(args: argparse.Namespace, ctx: Context) -> tuple[str, Connection, Catalog]:
    from auren_tui.cli.health import open_profile

    if not getattr(args, "debug", False):
        # aiokafka logs every failed connect; the error line says it once.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    name = _profile_name(args, ctx)
    connection, catalog = open_profile(name, ctx)
    return name, connection, catalog


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
    from auren_tui.core.kafka.client import KafkaError
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks import saved
    from auren_tui.core.webhooks.client import Sender

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
    if args.dry_run:
        secret = secret_for(ctx, _profile_name(args, ctx), provider)
        if negative == "replay":
            first = build(provider, body, secret)
            _show_request(ctx, build(provider, body, secret, "replay", last=first))
        else:
            _show_request(ctx, build(provider, body, secret, negative))
        ctx.say("dry run: nothing sent")
        return EXIT_OK
    profile, connection, catalog = _open(args, ctx)
    try:
        secret = secret_for(ctx, profile, provider)
        host, port = _address(catalog, args.bridge)
        bootstrap = bootstrap_for(catalog, args.bootstrap) if args.trace else ""

        async def go() -> dict[str, Any]:
            async with Sender(connection, host, port) as sender:
                if negative == "replay":
                    first = build(provider, body, secret)
                    await sender.send(first)
                    request = build(provider, body, secret, "replay", last=first)
                else:
                    request = build(provider, body, secret, negative)
                if not args.trace:
                    return {"request": request, "response": await sender.send(request)}
                from auren_tui.core.webhooks.trace import KafkaTrace

                async with KafkaTrace(bootstrap, args.topic) as trace:
                    trace.mark_sent()
                    response = await sender.send(request)
                    found = None
                    if response.status == 202 and response.event_id:
                        found = await trace.find(response.event_id)
                    return {
                        "request": request,
                        "response": response,
                        "trace": found,
                        "traced": True,
                    }

        result = run_tunnelled(connection, go)
    except KafkaError as exc:
        raise CliError(str(exc)) from None
    finally:
        connection.close()
    return _report_send(result, ctx, args.json, negative)


def _report_send(
    result: dict[str, Any], ctx: Context, as_json: bool, negative: NegativeKind
) -> int:
    request, response = result["request"], result["response"]
    preset = PRESETS[negative]
    ok = response.status == preset.expect_status and (
        preset.expect_word is None or response.word == preset.expect_word
    )
    traced = result.get("trace")
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
        if result.get("traced"):
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
        if result.get("traced"):
            ctx.say(traced.line() if traced else "not seen in Kafka within 10 s")
    if result.get("traced") and traced is None and response.status == 202:
        return EXIT_FAILURE
    return EXIT_OK if ok else EXIT_FAILURE


def handle_check(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.transport.loop import run_tunnelled
    from auren_tui.core.webhooks.client import Sender, run_suite
    from auren_tui.core.webhooks.templates import render

    providers = [check_provider(p) for p in (args.source or PROVIDERS)]
    if args.dry_run:
        for provider in providers:
            for preset in PRESETS.values():
                want = f"{preset.expect_status}" + (
                    f" {preset.expect_word}" if preset.expect_word else ""
                )
                ctx.say(f"{provider:<9} {preset.kind:<15} {preset.title} -> expect {want}")
        ctx.say("dry run: nothing sent")
        return EXIT_OK
    profile, connection, catalog = _open(args, ctx)
    try:
        host, port = _address(catalog, args.bridge)
        secrets = {p: secret_for(ctx, profile, p) for p in providers}

        async def go() -> list[Any]:
            results = []
            async with Sender(connection, host, port) as sender:
                for provider in providers:
                    results += await run_suite(
                        sender, provider, secrets[provider], render(provider)
                    )
            return results

        results = run_tunnelled(connection, go)
    finally:
        connection.close()
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
    from auren_tui.core.transport.loop import local_end, run_tunnelled
    from auren_tui.core.webhooks.load import LoadSpec, LoadStats, run_load
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

    name = _profile_name(args, ctx)
    rate = f" at {args.rate:g}/s" if args.rate else ""
    plan = (
        f"{args.requests} signed {provider} webhooks{rate}, {args.concurrency} at a time, to the "
        f"bridge of profile {name!r}: each is stored as a new event"
    )
    if args.dry_run:
        ctx.say(plan)
        ctx.say("dry run: nothing sent")
        return EXIT_OK
    if not args.yes:
        if not ctx.stdin.isatty():
            raise UsageError(f"{plan}; not a terminal: pass --yes to confirm (or --dry-run)")
        print(f"{plan}. Go ahead? [y/N] ", end="", file=ctx.err, flush=True)
        if ctx.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CliError("not confirmed; nothing sent")
    profile, connection, catalog = _open(args, ctx)
    try:
        secret = secret_for(ctx, profile, provider)
        host, port = _address(catalog, args.bridge)

        async def go() -> LoadStats:
            lhost, lport = await local_end(connection, host, port)
            return await run_load(lhost, lport, spec, secret, progress, authority=f"{host}:{port}")

        stats = run_tunnelled(connection, go)
    finally:
        connection.close()
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
