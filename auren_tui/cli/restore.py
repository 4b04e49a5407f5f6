"""``auren-tui spec capture|show|diff|history`` and ``auren-tui restore``.

``restore`` changes the server: it is refused in read-only mode, prints the
diff and the steps first, needs the service name typed back (or ``--yes``)
and does nothing with ``--dry-run``. Exit status: 0 restored (or dry run), 1
rolled back or failed, 2 usage/config errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from auren_tui.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    Commands,
    Context,
    UsageError,
)
from auren_tui.cli import common_options as _common

if TYPE_CHECKING:
    from auren_tui.core.restore.spec import RunSpec
    from auren_tui.core.restore.target import DockerTarget


def register(commands: Commands) -> None:
    top = commands.add_parser(
        "spec", parents=[_common()], help="known-good run specs of the stack's containers"
    )
    actions = top.add_subparsers(dest="spec_action", metavar="ACTION", required=True)
    capture = actions.add_parser(
        "capture", parents=[_common()], help="record it from docker inspect"
    )
    capture.add_argument("service")
    capture.add_argument(
        "--force", action="store_true", help="even if the container is not healthy"
    )
    capture.set_defaults(handler=handle_capture)
    show = actions.add_parser("show", parents=[_common()], help="print the known-good spec")
    show.add_argument("service")
    show.add_argument("--version", type=int, help="an older version")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=handle_show)
    diff = actions.add_parser(
        "diff", parents=[_common()], help="running container vs known-good (exit 1 if they differ)"
    )
    diff.add_argument("service")
    diff.set_defaults(handler=handle_diff)
    history = actions.add_parser("history", parents=[_common()], help="every captured version")
    history.add_argument("service")
    history.set_defaults(handler=handle_history)

    restore = commands.add_parser(
        "restore",
        parents=[_common()],
        help="re-create a container from its known-good spec (diff, health wait, rollback)",
    )
    restore.add_argument("service")
    restore.add_argument("--dry-run", action="store_true", help="show the diff and steps only")
    restore.add_argument("--yes", action="store_true", help="do not ask to type the name")
    restore.add_argument("--stop-timeout", type=int, default=10, metavar="S")
    restore.add_argument("--health-timeout", type=float, default=60.0, metavar="S")
    restore.add_argument(
        "--prune", action="store_true", help="instead: remove -failed- containers beyond the last 3"
    )
    restore.add_argument(
        "--break-lock",
        action="store_true",
        help="instead: show who holds the restore lock and remove it (type the container's name)",
    )
    restore.set_defaults(handler=handle_restore)


# ---- shared ----------------------------------------------------------------------------------


@contextlib.contextmanager
def open_target(
    args: argparse.Namespace, ctx: Context, changes: str = ""
) -> Iterator[DockerTarget]:
    """The profile's Docker Engine, catalog, spec store and secrets
    (``core.restore.target``), refused first (nothing opened) when ``changes`` names a
    change and the session is read-only; closed on leaving. Its errors are one line
    each (``run_command``): an unknown service exit 2, the rest exit 1."""
    from auren_tui.core.restore.target import DockerTarget

    with ctx.session(args) as session:
        if changes:
            session.refuse_if_read_only(changes)
        profile = session.profile
        target = DockerTarget(
            session.connection(), session.catalog, profile.name, session.locations,
            session.secrets, local=profile.is_local, where=profile.target,
        )  # fmt: skip
        try:
            yield target
        finally:
            target.close()


def _health(container: dict[str, Any]) -> str:
    """``healthy``, ``running``, ``restarting``, … plus the restart count when not 0."""
    from auren_tui.core.restore.target import health_word

    word = health_word(container)
    restarts = int(container.get("RestartCount") or 0)
    return f"{word}, {restarts} restarts" if restarts else word


# ---- spec ------------------------------------------------------------------------------------


def handle_capture(args: argparse.Namespace, ctx: Context) -> int:
    with open_target(args, ctx) as target:
        saved, health, secrets = target.capture(args.service, args.force)
    where = target.store.path(saved.service, saved.version)
    note = f", {secrets} env secrets in the keyring" if secrets else ""
    ctx.say(f"captured {saved.service} v{saved.version} ({health}){note}: {where}")
    return EXIT_OK


def describe(spec: RunSpec) -> list[str]:
    from auren_tui.core.restore.spec import SecretRef

    lines = [
        f"{spec.service} v{spec.version}: container {spec.container}",
        f"  captured  {spec.captured_at} by {spec.captured_by}",
        f"  image     {spec.image_id}"
        + (f" ({', '.join(spec.image_refs)})" if spec.image_refs else ""),
        f"  command   {json.dumps(spec.entrypoint)} {json.dumps(spec.cmd)}",
        f"  restart   {spec.restart_policy}",
        f"  network   {spec.network_mode}",
    ]
    lines += [
        f"  port      {k} -> {', '.join(f'{ip}:{p}' for ip, p in v)}" for k, v in spec.ports.items()
    ]
    lines += [f"  mount     {m}" for m in spec.mounts]
    for key, value in sorted(spec.env.items()):
        shown = f"(keyring {value.name})" if isinstance(value, SecretRef) else value
        lines.append(f"  env       {key}={shown}")
    lines += [f"  label     {k}={v}" for k, v in sorted(spec.labels.items())]
    if spec.healthcheck:
        lines.append(f"  health    {json.dumps(spec.healthcheck.get('test'))}")
    return lines


def handle_show(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.restore.store import SpecStore

    with ctx.session(args) as session:
        spec = SpecStore(ctx.locations, session.name).load(args.service, args.version)
    ctx.say(json.dumps(spec.to_json(), indent=2) if args.json else "\n".join(describe(spec)))
    return EXIT_OK


def handle_diff(args: argparse.Namespace, ctx: Context) -> int:
    with open_target(args, ctx) as target:
        known, changes, container = target.running_diff(args.service)
    ctx.say(f"{known.container} ({_health(container)}) against known-good v{known.version}:")
    for change in changes:
        ctx.say("  " + change.line())
    if not changes:
        ctx.say("  no differences")
    return EXIT_FAILURE if changes else EXIT_OK


def handle_history(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.restore.store import SpecStore

    with ctx.session(args) as session:
        specs = SpecStore(ctx.locations, session.name).history(args.service)
    if not specs:
        raise CliError(f"no known-good spec for {args.service}")
    for spec in specs:
        ctx.say(f"v{spec.version}  {spec.captured_at}  {spec.captured_by}  {spec.image_id[:19]}")
    return EXIT_OK


# ---- restore ---------------------------------------------------------------------------------


def handle_restore(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.restore.engine import STEPS

    what = "breaking a lock" if args.break_lock else "pruning" if args.prune else "restore"
    with open_target(args, ctx, "" if args.dry_run else what) as target:
        name = target.container_of(args.service)
        if args.break_lock:
            return _break_lock(args, ctx, target, name)
        if args.prune:
            return _prune(args, ctx, target, name)
        known = target.store.load(args.service)
        restorer = target.restorer(
            known,
            lambda step, state, detail: _progress(ctx, step, state, detail),
            args.stop_timeout, args.health_timeout,
        )  # fmt: skip
        recovery = restorer.recovery_plan()
        if recovery is not None:
            # Recovery changes the server: shown first, and confirmed with the restore.
            for line in recovery.lines():
                ctx.say(line)
            if recovery.disagreement:
                raise CliError(
                    "journal and server disagree: nothing changed. Check `docker ps -a` on "
                    f"the server; `auren-tui restore {args.service} --break-lock` releases the "
                    "lock once you have put things right"
                )
        if recovery is not None and recovery.keeps_new:
            ctx.say(f"then {name} is already restored: nothing more to do")
        else:
            ctx.say(f"restore {name} to known-good v{known.version} ({known.image_id[:19]}):")
            if restorer.current() is None:
                ctx.say(f"  no container named {name}: it will be created")
            elif recovery is None:
                _, changes, _ = target.running_diff(args.service)
                for change in changes:
                    ctx.say("  " + change.line())
                if not changes:
                    ctx.say("  the running container already matches the spec")
            for step, text in STEPS:
                ctx.say(f"  {step:7} {text}")
        if args.dry_run:
            ctx.say("dry run: nothing changed")
            return EXIT_OK
        if not _confirm(args, ctx, args.service):
            raise CliError("not confirmed; nothing changed")
        outcome = restorer.run(recover=recovery is not None)
    if outcome.recovered:
        ctx.say(f"note: {outcome.recovered}")
    if outcome.lock_held:
        ctx.say(f"warning: {outcome.lock_held}")
    if outcome.result == "recovered":
        return EXIT_OK
    if outcome.result == "restored":
        kept = f"; the failed one is kept as {outcome.failed_name}" if outcome.failed_name else ""
        ctx.say(f"restored {name} from v{known.version}: healthy{kept}")
        return EXIT_OK
    ctx.say(f"{outcome.result}: {outcome.reason}")
    return EXIT_FAILURE


def _break_lock(args: argparse.Namespace, ctx: Context, target: DockerTarget, name: str) -> int:
    """Show who holds the restore lock, and remove it once the name is typed back."""
    restorer = target.locker(args.service)
    holder = restorer.lock_holder()
    if holder is None:
        ctx.say(f"{name} has no restore lock: nothing to break")
        return EXIT_OK
    ctx.say(f"the restore lock of {name} is held by {holder}")
    if restorer.pending() is not None:
        ctx.say("  an interrupted restore of this machine is in the journal: after breaking the")
        ctx.say(f"  lock, `auren-tui restore {args.service}` shows how it would recover it")
    if args.dry_run:
        ctx.say("dry run: nothing changed")
        return EXIT_OK
    ctx.say("break it only if that restore is not running any more (a second restore at the")
    ctx.say("same time can leave the service stopped)")
    if not _confirm(args, ctx, name):
        raise CliError("not confirmed; nothing changed")
    labels = restorer.break_lock()
    if labels is None:
        ctx.say(f"{name}'s lock was released meanwhile")
    else:
        ctx.say(f"broke the restore lock of {name} (held by {holder})")
    return EXIT_OK


def _prune(args: argparse.Namespace, ctx: Context, target: DockerTarget, name: str) -> int:
    from auren_tui.core.restore.audit import AuditLog, who_am_i
    from auren_tui.core.restore.failed import prune_failed

    doomed = prune_failed(target.docker(), name, dry_run=True)
    for old in doomed:
        ctx.say(f"remove {old}")
    if not doomed:
        ctx.say(f"nothing to prune: at most 3 {name}-failed- containers")
    if args.dry_run or not doomed or not _confirm(args, ctx, args.service):
        return EXIT_OK
    audit = AuditLog(target.audit_path)
    try:
        removed = prune_failed(target.docker(), name)
    except Exception as exc:
        audit.write(who=who_am_i(), profile=target.profile, container=name,
                    action="prune", outcome="failed", reason=str(exc)[:300])  # fmt: skip
        raise CliError(f"prune of {name} failed: {exc}") from None
    audit.write(who=who_am_i(), profile=target.profile, container=name,
                action="prune", removed=removed, outcome="done")  # fmt: skip
    return EXIT_OK


def _progress(ctx: Context, step: str, state: str, detail: str) -> None:
    ctx.say(f"[{state:8}] {step}" + (f": {detail}" if detail else ""))
    ctx.out.flush()


def _confirm(args: argparse.Namespace, ctx: Context, word: str) -> bool:
    """The operator typed ``word`` back (or gave --yes). No terminal: refused."""
    if args.yes:
        return True
    if not ctx.stdin.isatty():
        raise UsageError("not a terminal: pass --yes to confirm (or --dry-run); nothing changed")
    print(f"type {word} to go ahead: ", end="", file=ctx.err, flush=True)
    return ctx.stdin.readline().strip() == word
