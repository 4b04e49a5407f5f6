"""The ``<name>-failed-<UTC>`` containers a restore keeps for forensics, and pruning them."""

from __future__ import annotations

from typing import Any

FAILED_INFIX = "-failed-"
KEEP_FAILED = 3


def failed_containers(client: Any, name: str) -> list[str]:
    """``<name>-failed-<UTC>`` containers, oldest first."""
    prefix = name + FAILED_INFIX
    found = [c.name for c in client.containers.list(all=True) if c.name.startswith(prefix)]
    return sorted(found)


def prune_failed(
    client: Any, name: str, keep: int = KEEP_FAILED, dry_run: bool = False
) -> list[str]:
    """Remove all but the newest ``keep`` failed containers; the names removed."""
    doomed = failed_containers(client, name)[:-keep] if keep else failed_containers(client, name)
    if not dry_run:
        for old in doomed:
            client.containers.get(old).remove(force=True)
    return doomed
