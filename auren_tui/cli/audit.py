"""``auren-tui audit``: the last changes made to the servers, newest last.

Every change auren-tui makes to a server — restore (each step and its
outcome), recovery, break-lock, prune, container start/stop/restart — is a
line in ``<state dir>/audit.log`` with who, where, what, the container ids
before and after, and the outcome, failures included.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from auren_tui.cli import EXIT_OK, Commands, Context
from auren_tui.cli import common_options as _common


def register(commands: Commands) -> None:
    audit = commands.add_parser(
        "audit", parents=[_common()], help="the last changes made to the servers (audit log)"
    )
    audit.add_argument("--last", type=int, default=20, metavar="N", help="entries (20; 0: all)")
    audit.add_argument("--steps", action="store_true", help="include each restore step")
    audit.add_argument("--json", action="store_true", help="the entries as JSON lines")
    audit.set_defaults(handler=handle_audit)


def summary(entry: dict[str, Any]) -> str:
    """One line for an audit entry."""
    at = str(entry.get("at", ""))[:19].replace("T", " ")
    where = f"{entry.get('who', '?')} {entry.get('profile', '?')}/{entry.get('container', '?')}"
    if "step" in entry:
        what = f"restore step {entry['step']} {entry.get('state', '')}"
        detail = entry.get("detail", "")
    elif "recovery" in entry:
        what, detail = "recovery", entry.get("note", "")
    elif "action" in entry:
        what, detail = str(entry["action"]), entry.get("reason", "")
        ids = " -> ".join(x for x in (entry.get("before"), entry.get("after")) if x)
        detail = " ".join(x for x in (ids, str(detail or "")) if x)
    elif "outcome" in entry:
        what, detail = "restore", entry.get("reason", "")
        ids = " -> ".join(x for x in (entry.get("before"), entry.get("after")) if x)
        detail = " ".join(x for x in (ids, str(detail or "")) if x)
    else:
        what, detail = "note", json.dumps(entry)[:120]
    outcome = entry.get("outcome", "")
    line = f"{at}  {where}  {what}"
    if outcome:
        line += f": {outcome}"
    if detail:
        line += f"  ({detail})"
    return line


def handle_audit(args: argparse.Namespace, ctx: Context) -> int:
    from auren_tui.core.restore.audit import AuditLog

    log = AuditLog(ctx.locations.state_dir / "audit.log")
    entries = log.tail(0)
    if not args.steps:
        entries = [e for e in entries if "step" not in e]
    if args.last:
        entries = entries[-args.last :]
    if not entries:
        ctx.say(f"no entries in {log.path}")
        return EXIT_OK
    for entry in entries:
        ctx.say(json.dumps(entry) if args.json else summary(entry))
    return EXIT_OK
