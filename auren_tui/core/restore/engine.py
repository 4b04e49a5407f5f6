"""Restore a container to its known-good spec: safely, explained, reversible.

Steps: lock → stop → rename to ``<name>-failed-<UTC>`` → create and start
from the spec → wait until healthy → unlock. If creating, starting or the
health wait fails: remove the new container, rename the failed one back,
start it, unlock — and say why.

The lock is a container named ``<name>.auren-restore-lock`` that is created
and never started: Docker's unique names make taking it atomic on the server
whoever runs the restore, and its labels name the holder. A journal in the
state dir records each step; a restore that finds a lock held by a process
of this machine that no longer runs (killed mid-way) rolls that attempt back
first (or keeps it, when the new container already runs healthy).

Blocking (docker SDK): call from a worker thread or the CLI.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auren_tui.core.format import one_line
from auren_tui.core.restore.spec import RunSpec

LOCK_SUFFIX = ".auren-restore-lock"
FAILED_INFIX = "-failed-"
KEEP_FAILED = 3


class RestoreError(Exception):
    """A restore that cannot start or go on (one line, never a secret)."""


class LockHeld(RestoreError):
    pass


def who_am_i() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    result: str  # "restored", "rolled back", "failed"
    reason: str = ""
    failed_name: str = ""
    steps: list[dict[str, str]] = field(default_factory=list)
    recovered: str = ""
    """What was found from an interrupted restore, and done about it."""


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


StepCallback = Callable[[str, str, str], None]
"""(step, state, detail): state is running, done, failed or skipped."""


STEPS = (
    ("lock", "take the restore lock on the server"),
    ("stop", "stop the current container"),
    ("rename", "rename it <name>-failed-<UTC time> (kept for forensics)"),
    ("create", "create and start a container from the known-good spec"),
    ("health", "wait until it is healthy"),
    ("unlock", "release the lock"),
)


class Restorer:
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
    ) -> None:
        self.client = client
        self.spec = spec
        self.env = env
        self.name = spec.container
        self.profile = profile
        self.audit = audit
        self.journal = journal_dir / f"{profile}--{self.name}.json"
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.on_step = on_step or (lambda *_: None)
        self.who = who or who_am_i()
        self.outcome = Outcome("failed")

    # ---- bookkeeping -----------------------------------------------------------------------

    def _step(self, step: str, state: str, detail: str = "") -> None:
        self.outcome.steps.append({"step": step, "state": state, "detail": detail})
        self.audit.write(
            who=self.who, profile=self.profile, service=self.spec.service,
            container=self.name, spec_version=self.spec.version, step=step,
            state=state, detail=detail,
        )  # fmt: skip
        self._save_journal(step=step, state=state)
        self.on_step(step, state, detail)

    def _save_journal(self, **update: str) -> None:
        data = self._read_journal() or {
            "who": self.who, "pid": os.getpid(), "host": socket.gethostname(),
            "container": self.name, "started": now_utc().isoformat(),
        }  # fmt: skip
        data.update(update)
        if self.outcome.failed_name:
            data["failed_name"] = self.outcome.failed_name
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.journal.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.journal)

    def _read_journal(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.journal.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _finish(self, result: str, reason: str = "") -> Outcome:
        self.outcome.result, self.outcome.reason = result, reason
        self.audit.write(
            who=self.who, profile=self.profile, service=self.spec.service,
            container=self.name, spec_version=self.spec.version, outcome=result,
            reason=reason, failed_name=self.outcome.failed_name,
            recovered=self.outcome.recovered,
            steps=[f"{s['step']}:{s['state']}" for s in self.outcome.steps],
        )  # fmt: skip
        self.journal.unlink(missing_ok=True)
        return self.outcome

    # ---- docker helpers --------------------------------------------------------------------

    def _get(self, name: str) -> Any | None:
        import docker.errors

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    @property
    def lock_name(self) -> str:
        return self.name + LOCK_SUFFIX

    def lock_holder(self) -> str | None:
        lock = self._get(self.lock_name)
        if lock is None:
            return None
        labels = lock.labels or {}
        holder, pid = labels.get("auren.holder", "?"), labels.get("auren.pid", "?")
        host, since = labels.get("auren.host", "?"), labels.get("auren.since", "?")
        return f"{holder} (pid {pid} on {host}, since {since})"

    def _take_lock(self) -> None:
        import docker.errors

        current = self._get(self.name)
        image = current.attrs.get("Image") if current is not None else self.spec.image_id
        labels = {
            "auren.holder": self.who, "auren.pid": str(os.getpid()),
            "auren.host": socket.gethostname(), "auren.service": self.spec.service,
            "auren.since": now_utc().isoformat(timespec="seconds"),
        }  # fmt: skip
        try:
            self.client.containers.create(
                image, name=self.lock_name, labels=labels, command=["true"], entrypoint=[]
            )
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) == 409:
                raise LockHeld(
                    f"{self.name} is being restored by {self.lock_holder()}; "
                    "try again when it is done"
                ) from None
            raise RestoreError(f"cannot take the restore lock: {one_line(exc)}") from None

    def _release_lock(self) -> None:
        lock = self._get(self.lock_name)
        if lock is not None:
            lock.remove(force=True)

    def stale_lock(self) -> bool:
        """A lock taken by a process of this machine that no longer runs."""
        lock = self._get(self.lock_name)
        if lock is None:
            return False
        labels = lock.labels or {}
        if labels.get("auren.host") != socket.gethostname():
            return False
        try:
            pid = int(labels.get("auren.pid", "0"))
        except ValueError:
            return False
        return pid > 0 and pid != os.getpid() and not _alive(pid)

    # ---- the restore -----------------------------------------------------------------------

    def current(self) -> Any | None:
        """The container the spec is for, if there is one."""
        return self._get(self.name)

    def recover(self) -> str:
        """Finish or roll back a restore of this machine killed mid-way (its lock is
        stale): what was found and done, one line."""
        self.outcome.recovered = self._recover()
        return self.outcome.recovered

    def run(self) -> Outcome:
        if self.stale_lock():
            self.recover()
        self._step("lock", "running")
        try:
            self._take_lock()
        except RestoreError as exc:
            self._step("lock", "failed", str(exc))
            self.journal.unlink(missing_ok=True)
            raise
        self._step("lock", "done", self.lock_name)
        try:
            return self._restore()
        finally:
            with contextlib.suppress(Exception):
                self._release_lock()
            self.on_step("unlock", "done", "")

    def _restore(self) -> Outcome:
        current = self._get(self.name)
        if current is not None:
            self._step("stop", "running", f"timeout {self.stop_timeout} s")
            current.stop(timeout=self.stop_timeout)
            self._step("stop", "done")
            failed = f"{self.name}{FAILED_INFIX}{now_utc().strftime('%Y%m%dT%H%M%SZ')}"
            self._step("rename", "running", failed)
            current.rename(failed)
            self.outcome.failed_name = failed
            self._step("rename", "done", failed)
        else:
            self._step("stop", "skipped", f"no container named {self.name}")
            self._step("rename", "skipped", "nothing to keep")
        try:
            self._step("create", "running", f"image {self.spec.image_id[:19]}")
            new = self.client.containers.create(**self.spec.create_kwargs(self.env, self.name))
            new.start()
            self._step("create", "done", new.short_id)
            self._step("health", "running", f"timeout {self.health_timeout:g} s")
            self._wait_healthy(new)
            self._step("health", "done")
        except Exception as exc:  # whatever failed (API error, lost connection): roll back
            reason = one_line(exc)
            self._step("create" if "create" not in self._done() else "health", "failed", reason)
            self._rollback()
            return self._finish("rolled back", reason)
        return self._finish("restored")

    def _done(self) -> set[str]:
        return {s["step"] for s in self.outcome.steps if s["state"] == "done"}

    def _wait_healthy(self, container: Any) -> None:
        deadline = time.monotonic() + self.health_timeout
        steady_since: float | None = None
        while time.monotonic() < deadline:
            container.reload()
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

    def _rollback(self, failed_name: str | None = None) -> None:
        failed_name = failed_name or self.outcome.failed_name
        self._step("rollback", "running", f"back to {failed_name or self.name}")
        new = self._get(self.name)
        if new is not None and failed_name:
            new.remove(force=True)
        if failed_name:
            old = self._get(failed_name)
            if old is not None:
                old.rename(self.name)
        original = self._get(self.name)
        if original is not None:
            original.start()
        self.outcome.failed_name = ""
        self._step("rollback", "done", "the original container is running again")

    def _recover(self) -> str:
        """Deal with a restore of this machine that was killed mid-way."""
        journal = self._read_journal() or {}
        failed_name = str(journal.get("failed_name") or self._newest_failed() or "")
        current = self._get(self.name)
        healthy = False
        if current is not None and failed_name:
            state = current.attrs.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            healthy = state.get("Running", False) and health in (None, "healthy")
        self.audit.write(
            who=self.who, profile=self.profile, service=self.spec.service,
            container=self.name, found_interrupted=journal or {"lock": "stale"},
        )  # fmt: skip
        if healthy:
            note = f"an interrupted restore had finished: {self.name} runs healthy; kept"
        else:
            self.outcome.failed_name = failed_name
            self._rollback(failed_name or None)
            note = "an interrupted restore was rolled back"
        self._release_lock()
        self.journal.unlink(missing_ok=True)
        self.outcome.steps.clear()
        return note

    def _newest_failed(self) -> str | None:
        names = failed_containers(self.client, self.name)
        return names[-1] if names else None


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
