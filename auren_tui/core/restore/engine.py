"""Restore a container to its known-good spec: safely, explained, reversible.

Steps: lock → stop → rename to ``<name>-failed-<UTC>`` → create and start
from the spec → wait until healthy → unlock. Whatever fails after the lock
(a Docker error, a dropped connection, an unhealthy new container) is rolled
back: the new container stopped and removed, the old one renamed back and
started — and the outcome audited either way.

The lock is a container named ``<name>.auren-restore-lock`` that is created
and never started: Docker's unique names make taking it atomic on the server
whoever runs the restore, and its labels name the holder and the attempt
(``lock.py``).

Every step is written to a journal *before* it runs, with the exact names
and ids it will create or change (``journal.py``). Rollback and the
recovery of an attempt that was killed act on those only: they never pick a
container by a name pattern, never force-remove, and when the journal and the
server disagree they change nothing and say what each shows. Recovery is a
plan first (``recovery_plan``): shown and confirmed like a restore
(``rollback.py``).

A reset or dropped connection is an expected event here: each step is
idempotent (or checked before it is repeated) and is retried on a fresh
connection with a bounded backoff, so an SSH drop in the middle of a restore
ends in the restore finishing or rolling back, not in a stopped service
(``attempt.py``: the bookkeeping every step shares).

This module holds the steps forward; ``Restorer`` is the class callers use.

Blocking (docker SDK): call from a worker thread or the CLI.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from auren_tui.core.format import one_line
from auren_tui.core.restore.attempt import Outcome, attempt_of
from auren_tui.core.restore.audit import now_utc
from auren_tui.core.restore.create import connect_networks, create_container
from auren_tui.core.restore.errors import RecoveryNeeded, RestoreError
from auren_tui.core.restore.failed import FAILED_INFIX
from auren_tui.core.restore.journal import Journal
from auren_tui.core.restore.rollback import RollbackSteps
from auren_tui.core.restore.spec import ATTEMPT_LABEL

STEPS = (
    ("lock", "take the restore lock on the server"),
    ("stop", "stop the current container"),
    ("rename", "rename it <name>-failed-<UTC time> (kept for forensics)"),
    ("create", "create and start a container from the known-good spec"),
    ("health", "wait until it is healthy"),
    ("unlock", "release the lock"),
)


class Restorer(RollbackSteps):
    """One restore of one container (and the recovery of an interrupted one)."""

    def run(self, *, recover: bool = False) -> Outcome:
        """Restore. A pending interrupted attempt is ``RecoveryNeeded`` unless ``recover``
        (the caller showed ``recovery_plan()`` and the operator confirmed it)."""
        pending = self.pending()
        if pending is not None:
            if not recover:
                raise RecoveryNeeded(
                    f"an interrupted restore of {self.name} must be recovered first: "
                    f"{pending.describe()}"
                )
            plan = self.recovery_plan(pending)
            assert plan is not None
            self.recover(plan)
            if plan.keeps_new:
                return self._finish("recovered", self.outcome.recovered)
        journal = Journal(
            attempt=uuid.uuid4().hex[:12], container=self.name, who=self.who,
            pid=os.getpid(), host=socket.gethostname(),
            started=now_utc().isoformat(timespec="seconds"), lock_name=self.lock_name,
        )  # fmt: skip
        self.journal = journal
        Restorer._active.add(journal.attempt)
        try:
            return self._run(journal)
        finally:
            Restorer._active.discard(journal.attempt)

    def _run(self, journal: Journal) -> Outcome:
        self._step("lock", "running")  # journal written before the lock exists
        try:
            self._take_lock(journal)
        except RestoreError as exc:
            self._step("lock", "failed", str(exc))
            self.journal_path.unlink(missing_ok=True)
            self._finish("failed", str(exc))
            raise
        self._step("lock", "done", self.lock_name)
        try:
            self._forward(journal)
        except Exception as exc:  # Docker said no, the connection stayed down, a bug
            reason = one_line(exc)
            self._step(self._step_name or "restore", "failed", reason)
            return self._roll_back(journal, reason)
        self._unlock()
        if not self.outcome.lock_held:
            # Last: killed before this, the next run finds the journal, sees the new
            # container healthy and keeps it (releasing the lock).
            self.journal_path.unlink(missing_ok=True)
        return self._finish("restored")

    def _forward(self, journal: Journal) -> None:
        current = self._get(self.name)
        if current is not None:
            failed = f"{self.name}{FAILED_INFIX}{now_utc().strftime('%Y%m%dT%H%M%SZ')}"
            self._record(original_id=current.id, failed_name=failed)
            self._step("stop", "running", f"{current.short_id}, timeout {self.stop_timeout} s")
            self._retry("stop", lambda: current.stop(timeout=self.stop_timeout))
            self._step("stop", "done")
            self._step("rename", "running", failed)
            self._retry("rename", lambda: self._rename(current, failed))
            self.outcome.failed_name = failed
            self._step("rename", "done", failed)
        else:
            self._step("stop", "skipped", f"no container named {self.name}")
            self._step("rename", "skipped", "nothing to keep")
        self._step("create", "running", f"image {self.spec.image_id[:19]}")
        new = self._retry("create", lambda: self._create(journal))
        self._record(new_id=new.id)
        self._retry("connect networks", lambda: connect_networks(self.spec, self.client, new))
        self._retry("start", new.start)
        self._step("create", "done", new.short_id)
        self._step("health", "running", f"timeout {self.health_timeout:g} s")
        self._wait_healthy(new)
        self._step("health", "done")

    def _create(self, journal: Journal) -> Any:
        """Create the new container; a repeat finds the one an earlier try created."""
        import docker.errors

        try:
            return create_container(
                self.spec, self.client, self.env, self.name, {ATTEMPT_LABEL: journal.attempt}
            )
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) == 409:
                existing = self._get(self.name)
                if existing is not None and attempt_of(existing) == journal.attempt:
                    return existing
            raise

    def _wait_healthy(self, container: Any) -> None:
        deadline = time.monotonic() + self.health_timeout
        steady_since: float | None = None
        while time.monotonic() < deadline:
            self._retry("health", container.reload)
            state = container.attrs.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Status") in ("exited", "dead") and not state.get("Restarting"):
                raise RestoreError(f"the new container exited with code {state.get('ExitCode')}")
            if state.get("Restarting") or int(container.attrs.get("RestartCount") or 0) > 0:
                raise RestoreError("the new container is restarting (it exits at start)")
            if self.spec.healthcheck:
                if health == "healthy":
                    return
                if health == "unhealthy":
                    raise RestoreError("the new container reports unhealthy")
            elif state.get("Running"):
                steady_since = steady_since or time.monotonic()
                if time.monotonic() - steady_since >= 3:
                    return
            time.sleep(0.25)
        raise RestoreError(f"not healthy within {self.health_timeout:g} s")
