"""Where a restore rolls back, and where an interrupted one is recovered.

Both act on the journal's names and ids only (``journal.py``): they never
pick a container by a name pattern, never force-remove, and when the journal
and the server disagree they change nothing and say what each shows. A
recovery is a plan first (``recovery_plan``), shown and confirmed like a
restore; a rollback is the same plan, carried out at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from auren_tui.core.format import one_line
from auren_tui.core.restore.attempt import Outcome, attempt_of
from auren_tui.core.restore.errors import RestoreError
from auren_tui.core.restore.journal import Journal
from auren_tui.core.restore.lock import LockSteps, holder_of


@dataclass(frozen=True)
class Action:
    """One change a rollback or recovery makes, on a container named by its id."""

    kind: str  # "stop", "remove", "rename", "start", "keep", "unlock"
    target: str  # container id (or the lock's name)
    line: str
    new_name: str = ""


@dataclass(frozen=True)
class RecoveryPlan:
    """What finishing or undoing an interrupted attempt will do, or why it cannot."""

    journal: Journal
    actions: tuple[Action, ...]
    disagreement: str = ""
    """Set when journal and server disagree: what each shows. Nothing is done then."""
    server: tuple[str, ...] = ()
    """What the server shows, one line per container involved."""

    def lines(self) -> list[str]:
        out = [f"interrupted restore: {self.journal.describe()}"]
        out += [f"  server: {line}" for line in self.server]
        if self.disagreement:
            out.append(f"  journal and server disagree: {self.disagreement}")
            out.append("  nothing will be changed")
        else:
            out += [f"  will: {a.line}" for a in self.actions]
        return out

    @property
    def keeps_new(self) -> bool:
        """The interrupted attempt had finished: its new container is kept."""
        return any(a.kind == "keep" for a in self.actions)


class RollbackSteps(LockSteps):
    """The rollback of a failed attempt and the recovery of an interrupted one."""

    def recovery_plan(self, journal: Journal | None = None) -> RecoveryPlan | None:
        """How to finish or undo the interrupted attempt in the journal (None: none).

        Built from the journal's names and ids and what the server shows for
        exactly those; nothing else on the server is considered.
        """
        journal = journal or self.pending()
        if journal is None:
            return None
        server: list[str] = []
        actions: list[Action] = []
        lock = self._get(journal.lock_name or self.lock_name)
        lock_labels = dict(lock.labels or {}) if lock is not None else {}
        lock_ours = lock is not None and lock_labels.get("auren.attempt") == journal.attempt
        if lock is None:
            server.append(f"no lock {self.lock_name} (released or broken)")
        elif lock_ours:
            server.append(f"lock {self.lock_name} of this attempt")
        else:
            server.append(
                f"lock {self.lock_name} held by another attempt: {holder_of(lock_labels)}"
            )

        def describe(c: Any, what: str) -> str:
            state = (c.attrs.get("State") or {}).get("Status", "?")
            return f"{what} {c.id[:12]} named {c.name} ({state})"

        original = self._get(journal.original_id) if journal.original_id else None
        current = self._get(journal.container)
        new = self._get(journal.new_id) if journal.new_id else None
        if new is None and current is not None and attempt_of(current) == journal.attempt:
            new = current  # created, but killed before its id reached the journal
        if original is not None:
            server.append(describe(original, "original"))
        elif journal.original_id:
            server.append(f"original {journal.original_id[:12]} is gone")
        if current is not None and (original is None or current.id != original.id):
            who = "new (this attempt's)" if new is not None and current.id == new.id else "other"
            server.append(describe(current, f"{who} container"))

        def plan(disagreement: str = "") -> RecoveryPlan:
            if not disagreement and lock_ours:
                actions.append(
                    Action("unlock", self.lock_name, f"release the lock {self.lock_name}")
                )
            return RecoveryPlan(journal, tuple(actions), disagreement, tuple(server))

        if lock is not None and not lock_ours:
            return plan(f"the lock belongs to another attempt ({holder_of(lock_labels)})")
        if current is not None and new is not None and current.id == new.id and _healthy(new):
            actions.append(Action("keep", new.id, f"keep {new.id[:12]}: the restore had finished "
                                  f"and {self.name} runs healthy"))  # fmt: skip
            return plan()
        if new is not None:
            actions.append(Action("stop", new.id, f"stop the new container {new.id[:12]}"))
            actions.append(Action("remove", new.id, f"remove the new container {new.id[:12]}"))
        if not journal.original_id:
            return plan()  # there was nothing to put back
        if original is None:
            return plan(f"the original container {journal.original_id[:12]} no longer exists")
        if current is not None and current.id not in (original.id, new.id if new else ""):
            return plan(
                f"{self.name} is now {current.id[:12]}, which neither the journal's original "
                f"({original.id[:12]}) nor this attempt's new container"
            )
        if original.name != journal.container:
            if original.name != journal.failed_name:
                return plan(
                    f"the original {original.id[:12]} is named {original.name}, not "
                    f"{journal.container} or {journal.failed_name}"
                )
            actions.append(Action("rename", original.id, f"rename {original.id[:12]} "
                                  f"({original.name}) back to {journal.container}",
                                  new_name=journal.container))  # fmt: skip
        actions.append(Action("start", original.id, f"start {original.id[:12]} "
                              f"({journal.container}) again"))  # fmt: skip
        return plan()

    def recover(self, plan: RecoveryPlan) -> str:
        """Carry out a (shown and confirmed) recovery plan; one line on what was done."""
        if plan.disagreement:
            raise RestoreError(
                f"not recovered: journal and server disagree ({plan.disagreement}); nothing "
                "changed. Check `docker ps -a`, then release the lock with --break-lock"
            )
        self.journal = plan.journal
        self._execute(plan.actions, "recovery")
        self.journal_path.unlink(missing_ok=True)
        self.journal = None
        note = (
            "an interrupted restore had finished: kept"
            if plan.keeps_new
            else "an interrupted restore was rolled back"
        )
        self.outcome.recovered = note
        self._audit(recovery=plan.journal.attempt, outcome="recovered", note=note,
                    actions=[a.line for a in plan.actions])  # fmt: skip
        return note

    def _execute(self, actions: tuple[Action, ...], why: str) -> None:
        """Each action once, each safe to repeat through a dropped connection."""
        for action in actions:
            self.on_step("rollback" if why == "rollback" else "recover", "running", action.line)
            if action.kind == "unlock":
                self._release_lock()
            elif action.kind != "keep":
                self._retry(action.line, functools.partial(self._apply, action))

    def _apply(self, action: Action) -> None:
        """One container action by id; done already counts as done (never force)."""
        import docker.errors

        try:
            container = self.client.containers.get(action.target)
        except docker.errors.NotFound:
            if action.kind == "remove":
                return
            raise RestoreError(f"{action.line}: the container is gone") from None
        if action.kind == "stop":
            container.stop(timeout=self.stop_timeout)
        elif action.kind == "remove":
            container.remove()
        elif action.kind == "rename":
            if container.name != action.new_name:
                self._rename(container, action.new_name)
        elif action.kind == "start":
            container.start()

    def _roll_back(self, journal: Journal, reason: str) -> Outcome:
        """Undo this attempt from its journal; say exactly where the server is if we cannot."""
        self._step("rollback", "running", f"back to {journal.original_id[:12] or 'nothing'}")
        try:
            plan = self.recovery_plan(journal)
            assert plan is not None
            if plan.disagreement:
                raise RestoreError(plan.disagreement)
            self._execute(tuple(a for a in plan.actions if a.kind != "unlock"), "rollback")
        except Exception as exc:
            where = self._where_things_are(journal)
            line = (
                f"{reason}; the rollback failed too ({one_line(exc)}). The server: {where}. "
                f"Run `auren-tui restore {self.spec.service} --profile {self.profile}` again: "
                "it recovers from the journal (kept) once the server answers"
            )
            self._step("rollback", "failed", one_line(exc))
            self.outcome.lock_held = f"kept for the recovery of attempt {journal.attempt}"
            return self._finish("failed", line)
        self.outcome.failed_name = ""
        self._step("rollback", "done", "the original container is running again"
                   if journal.original_id else "nothing was running before")  # fmt: skip
        self._unlock()
        self.journal_path.unlink(missing_ok=True)
        return self._finish("rolled back", reason)

    def _where_things_are(self, journal: Journal) -> str:
        parts = []
        if journal.original_id:
            parts.append(
                f"the original {journal.original_id[:12]} may be stopped, named "
                f"{journal.failed_name or journal.container}"
            )
        if journal.new_id:
            parts.append(f"the new {journal.new_id[:12]} may exist as {journal.container}")
        parts.append(f"the lock {self.lock_name} is held")
        return "; ".join(parts)


def _healthy(container: Any) -> bool:
    state = container.attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    restarts = int(container.attrs.get("RestartCount") or 0)
    return bool(state.get("Running")) and health in (None, "healthy") and not restarts
