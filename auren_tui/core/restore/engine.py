"""Restore a container to its known-good spec: safely, explained, reversible.

Steps: lock → stop → rename to ``<name>-failed-<UTC>`` → create and start
from the spec → wait until healthy → unlock. Whatever fails after the lock
(a Docker error, a dropped connection, an unhealthy new container) is rolled
back: the new container stopped and removed, the old one renamed back and
started — and the outcome audited either way.

The lock is a container named ``<name>.auren-restore-lock`` that is created
and never started: Docker's unique names make taking it atomic on the server
whoever runs the restore, and its labels name the holder and the attempt.

Every step is written to a journal *before* it runs, with the exact names
and ids it will create or change (``journal.py``). Rollback and the
recovery of an attempt that was killed act on those only: they never pick a
container by a name pattern, never force-remove, and when the journal and the
server disagree they change nothing and say what each shows. Recovery is a
plan first (``recovery_plan``): shown and confirmed like a restore.

A reset or dropped connection is an expected event here: each step is
idempotent (or checked before it is repeated) and is retried on a fresh
connection with a bounded backoff, so an SSH drop in the middle of a restore
ends in the restore finishing or rolling back, not in a stopped service.

Blocking (docker SDK): call from a worker thread or the CLI.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from auren_tui.core.format import one_line
from auren_tui.core.process import alive
from auren_tui.core.restore.journal import Journal, JournalUnreadable
from auren_tui.core.restore.spec import ATTEMPT_LABEL, RunSpec

LOCK_SUFFIX = ".auren-restore-lock"
FAILED_INFIX = "-failed-"
KEEP_FAILED = 3
RECONNECT_BUDGET = 60.0
"""How long one step keeps retrying through a dropped connection."""

T = TypeVar("T")


class RestoreError(Exception):
    """A restore that cannot start or go on (one line, never a secret)."""


class LockHeld(RestoreError):
    pass


class RecoveryNeeded(RestoreError):
    """An interrupted attempt must be recovered (shown, confirmed) before a restore."""


class ConnectionLost(RestoreError):
    """The Docker API stayed unreachable for the whole reconnect budget."""


def who_am_i() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now_utc() -> datetime:
    return datetime.now(UTC)


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the connection to the Docker API went away", not "Docker said no"."""
    import requests

    return (
        ConnectionError,  # reset, refused, aborted, broken pipe
        TimeoutError,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )


@dataclass
class Outcome:
    result: str  # "restored", "rolled back", "failed", "recovered"
    reason: str = ""
    failed_name: str = ""
    steps: list[dict[str, str]] = field(default_factory=list)
    recovered: str = ""
    """What was found from an interrupted restore, and done about it."""
    lock_held: str = ""
    """Set when the lock could not be released: why, and how to release it."""


class AuditLog:
    """JSON lines, appended and flushed line by line. No secrets go in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, **entry: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": now_utc().isoformat(timespec="milliseconds"), **entry})
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` entries, oldest first (unreadable lines skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in lines[-count:] if count else lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(entry, dict):
                out.append(entry)
        return out


StepCallback = Callable[[str, str, str], None]
"""(step, state, detail): state is running, done, failed, retrying or skipped."""


STEPS = (
    ("lock", "take the restore lock on the server"),
    ("stop", "stop the current container"),
    ("rename", "rename it <name>-failed-<UTC time> (kept for forensics)"),
    ("create", "create and start a container from the known-good spec"),
    ("health", "wait until it is healthy"),
    ("unlock", "release the lock"),
)


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


class Restorer:
    """One restore of one container (and the recovery of an interrupted one)."""

    _active: ClassVar[set[str]] = set()
    """Attempts running in this process: a lock of ours outside it is a leftover."""

    def __init__(
        self,
        client: Any,
        spec: RunSpec,
        env: dict[str, str],
        *,
        profile: str,
        audit: AuditLog,
        journal_dir: Path,
        stop_timeout: int = 10,
        health_timeout: float = 60.0,
        on_step: StepCallback | None = None,
        who: str | None = None,
        reconnect_budget: float = RECONNECT_BUDGET,
    ) -> None:
        self.client = client
        self.spec = spec
        self.env = env
        self.name = spec.container
        self.profile = profile
        self.audit = audit
        self.journal_dir = journal_dir
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.on_step = on_step or (lambda *_: None)
        self.who = who or who_am_i()
        self.reconnect_budget = reconnect_budget
        self.outcome = Outcome("failed")
        self.journal: Journal | None = None
        self._step_name = ""

    # ---- bookkeeping -----------------------------------------------------------------------

    def _audit(self, **entry: Any) -> None:
        self.audit.write(
            who=self.who, host=socket.gethostname(), profile=self.profile,
            service=self.spec.service, container=self.name, **entry,
        )  # fmt: skip

    def _step(self, step: str, state: str, detail: str = "") -> None:
        self._step_name = step
        self.outcome.steps.append({"step": step, "state": state, "detail": detail})
        self._audit(spec_version=self.spec.version, step=step, state=state, detail=detail,
                    attempt=self.journal.attempt if self.journal else "")  # fmt: skip
        if self.journal is not None and step not in ("rollback", "unlock"):
            self.journal.step, self.journal.state = step, state
            self.journal.save(self.journal_path)
        self.on_step(step, state, detail)

    def _record(self, **ids: str) -> None:
        """Write ids into the journal before (or as soon as) the step that uses them."""
        assert self.journal is not None
        for key, value in ids.items():
            setattr(self.journal, key, value)
        self.journal.save(self.journal_path)

    def _finish(self, result: str, reason: str = "") -> Outcome:
        self.outcome.result, self.outcome.reason = result, reason
        self._audit(
            spec_version=self.spec.version, outcome=result, reason=reason,
            attempt=self.journal.attempt if self.journal else "",
            before=self.journal.original_id[:12] if self.journal else "",
            after=self.journal.new_id[:12] if self.journal and result == "restored" else "",
            failed_name=self.outcome.failed_name, recovered=self.outcome.recovered,
            lock_held=self.outcome.lock_held,
            steps=[f"{s['step']}:{s['state']}" for s in self.outcome.steps],
        )  # fmt: skip
        return self.outcome

    # ---- docker, with retries --------------------------------------------------------------

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        """``call``, repeated through dropped connections for up to the reconnect budget.

        ``call`` must be safe to repeat (each caller checks the server first
        where a repeat could do something twice).
        """
        transient = transient_errors()
        deadline = time.monotonic() + self.reconnect_budget
        delay, attempt = 0.25, 0
        while True:
            try:
                return call()
            except transient as exc:
                attempt += 1
                if time.monotonic() + delay > deadline:
                    raise ConnectionLost(
                        f"{what}: the Docker API stayed unreachable for "
                        f"{self.reconnect_budget:g} s ({one_line(exc)})"
                    ) from None
                self.on_step(
                    self._step_name or "connect", "retrying",
                    f"{what}: {one_line(exc)}; reconnecting (attempt {attempt})",
                )  # fmt: skip
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _get(self, name_or_id: str) -> Any | None:
        import docker.errors

        def get() -> Any | None:
            try:
                return self.client.containers.get(name_or_id)
            except docker.errors.NotFound:
                return None

        return self._retry(f"inspect {name_or_id[:40]}", get)

    @property
    def lock_name(self) -> str:
        return self.name + LOCK_SUFFIX

    def lock_labels(self) -> dict[str, str] | None:
        lock = self._get(self.lock_name)
        return None if lock is None else dict(lock.labels or {})

    def lock_holder(self) -> str | None:
        labels = self.lock_labels()
        return None if labels is None else _holder(labels)

    def current(self) -> Any | None:
        """The container the spec is for, if there is one."""
        return self._get(self.name)

    # ---- the journal -----------------------------------------------------------------------

    @property
    def journal_path(self) -> Path:
        """This attempt's journal (one file per attempt: two processes never share one)."""
        attempt = self.journal.attempt if self.journal is not None else "none"
        return self.journal_dir / f"{self.profile}--{self.name}--{attempt}.json"

    def _journal_files(self) -> list[Path]:
        # The journal of an older auren-tui (one file per container) is found too,
        # and reported as unreadable rather than ignored.
        old = self.journal_dir / f"{self.profile}--{self.name}.json"
        found = sorted(self.journal_dir.glob(f"{self.profile}--{self.name}--*.json"))
        return ([old] if old.exists() else []) + found

    def pending(self) -> Journal | None:
        """The journal of an unfinished attempt on this container (this machine's), if any.

        An attempt still running — in this process, or in another live process of
        this machine (whose lock will refuse us) — is not pending.
        """
        pending: list[Journal] = []
        for path in self._journal_files():
            try:
                journal = Journal.load(path)
            except JournalUnreadable as exc:
                raise RestoreError(
                    f"the restore journal cannot be read ({exc}); check the server by hand "
                    "(docker ps -a), then remove the file"
                ) from None
            if journal is None or journal.attempt in Restorer._active:
                continue
            if journal.pid != os.getpid() and alive(journal.pid):
                continue  # another process of this machine is running it now
            pending.append(journal)
        return min(pending, key=lambda j: j.started) if pending else None

    def stale_lock(self) -> bool:
        """A lock whose attempt is over: its process is gone, or it is ours and finished."""
        labels = self.lock_labels()
        if labels is None or labels.get("auren.host") != socket.gethostname():
            return False
        try:
            pid = int(labels.get("auren.pid", "0"))
        except ValueError:
            return False
        if pid == os.getpid():
            return labels.get("auren.attempt", "") not in Restorer._active
        return pid > 0 and not alive(pid)

    # ---- recovery --------------------------------------------------------------------------

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
            server.append(f"lock {self.lock_name} held by another attempt: {_holder(lock_labels)}")

        def describe(c: Any, what: str) -> str:
            state = (c.attrs.get("State") or {}).get("Status", "?")
            return f"{what} {c.id[:12]} named {c.name} ({state})"

        original = self._get(journal.original_id) if journal.original_id else None
        current = self._get(journal.container)
        new = self._get(journal.new_id) if journal.new_id else None
        if new is None and current is not None and _attempt_of(current) == journal.attempt:
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
            return plan(f"the lock belongs to another attempt ({_holder(lock_labels)})")
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

    def _rename(self, container: Any, name: str) -> None:
        """Rename, where a repeat after a lost answer finds it already done."""
        import docker.errors

        try:
            container.rename(name)
        except docker.errors.APIError:
            container.reload()
            if container.name != name:
                raise

    # ---- the lock --------------------------------------------------------------------------

    def _take_lock(self, journal: Journal) -> None:
        import docker.errors

        current = self._get(self.name)
        image = current.attrs.get("Image") if current is not None else self.spec.image_id
        labels = {
            "auren.holder": self.who, "auren.pid": str(os.getpid()),
            "auren.host": socket.gethostname(), "auren.service": self.spec.service,
            "auren.since": now_utc().isoformat(timespec="seconds"),
            "auren.attempt": journal.attempt,
        }  # fmt: skip

        def create() -> Any:
            try:
                return self.client.containers.create(
                    image, name=self.lock_name, labels=labels, command=["true"], entrypoint=[]
                )
            except docker.errors.APIError as exc:
                if getattr(exc, "status_code", None) != 409:
                    raise RestoreError(f"cannot take the restore lock: {one_line(exc)}") from None
                held = self._get(self.lock_name)
                if held is None:
                    return create()  # released meanwhile
                if (held.labels or {}).get("auren.attempt") == journal.attempt:
                    return held  # ours: an earlier try was created, its answer lost
                if self.stale_lock():
                    # A finished attempt's lock (this process's own, or a dead process's
                    # on this machine whose journal is gone: run() recovers journals
                    # first): not a conflict.
                    self._retry("release a leftover lock", held.remove)
                    self._audit(action="release-stale-lock", holder=_holder(held.labels or {}))
                    return create()
                raise LockHeld(
                    f"{self.name} is being restored by {self.lock_holder()}; try again when "
                    f"it is done, or release it with --break-lock after checking"
                ) from None

        lock = self._retry("take the lock", create)
        self._record(lock_id=lock.id)

    def _release_lock(self) -> None:
        import docker.errors

        def release() -> None:
            lock = self.client.containers.get(self.lock_name)
            labels = lock.labels or {}
            if self.journal is not None and labels.get("auren.attempt") != self.journal.attempt:
                return  # not ours (broken and taken by someone else meanwhile): leave it
            lock.remove()

        with contextlib.suppress(docker.errors.NotFound):
            self._retry("release the lock", release)

    def break_lock(self) -> dict[str, str] | None:
        """Remove the lock whoever holds it (the operator confirmed); its labels, or None."""
        import docker.errors

        lock = self._get(self.lock_name)
        if lock is None:
            return None
        labels = dict(lock.labels or {})

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(lock.id).remove()

        self._retry("break the lock", remove)
        self._audit(action="break-lock", lock=self.lock_name, holder=_holder(labels),
                    attempt=labels.get("auren.attempt", ""), outcome="done")  # fmt: skip
        return labels

    # ---- the restore -----------------------------------------------------------------------

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
        self._retry("connect networks", lambda: self.spec.connect_networks(self.client, new))
        self._retry("start", new.start)
        self._step("create", "done", new.short_id)
        self._step("health", "running", f"timeout {self.health_timeout:g} s")
        self._wait_healthy(new)
        self._step("health", "done")

    def _create(self, journal: Journal) -> Any:
        """Create the new container; a repeat finds the one an earlier try created."""
        import docker.errors

        try:
            return self.spec.create(
                self.client, self.env, self.name, {ATTEMPT_LABEL: journal.attempt}
            )
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) == 409:
                existing = self._get(self.name)
                if existing is not None and _attempt_of(existing) == journal.attempt:
                    return existing
            raise

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

    def _unlock(self) -> None:
        try:
            self._release_lock()
        except Exception as exc:
            self.outcome.lock_held = (
                f"the lock {self.lock_name} could not be released ({one_line(exc)}): "
                f"release it with `auren-tui restore {self.spec.service} --break-lock`"
            )
            self.on_step("unlock", "failed", self.outcome.lock_held)
            return
        self.on_step("unlock", "done", "")

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


def _holder(labels: dict[str, str]) -> str:
    holder, pid = labels.get("auren.holder", "?"), labels.get("auren.pid", "?")
    host, since = labels.get("auren.host", "?"), labels.get("auren.since", "?")
    return f"{holder} (pid {pid} on {host}, since {since})"


def _attempt_of(container: Any) -> str:
    return str((container.labels or {}).get(ATTEMPT_LABEL, ""))


def _healthy(container: Any) -> bool:
    state = container.attrs.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    restarts = int(container.attrs.get("RestartCount") or 0)
    return bool(state.get("Running")) and health in (None, "healthy") and not restarts


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
