"""One restore attempt's state and bookkeeping, which every step shares.

The audit line and the callback of each step, the write-ahead journal (ids
recorded before the step that uses them), and every Docker call retried on a
fresh connection through a dropped one, within a bounded budget (each caller
checks the server first where a repeat could do something twice). The lock
(``lock.py``), the rollback and recovery (``rollback.py``) and the restore
itself (``engine.py``) build on it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from auren_tui.core.format import one_line
from auren_tui.core.process import alive
from auren_tui.core.restore.audit import AuditLog, who_am_i
from auren_tui.core.restore.errors import ConnectionLost, RestoreError
from auren_tui.core.restore.journal import Journal, JournalUnreadable
from auren_tui.core.restore.spec import ATTEMPT_LABEL, RunSpec

RECONNECT_BUDGET = 60.0
"""How long one step keeps retrying through a dropped connection."""

T = TypeVar("T")


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


StepCallback = Callable[[str, str, str], None]
"""(step, state, detail): state is running, done, failed, retrying or skipped."""


class AttemptBase:
    """One restore of one container: what every part of it shares."""

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
            if journal is None or journal.attempt in AttemptBase._active:
                continue
            if journal.pid != os.getpid() and alive(journal.pid):
                continue  # another process of this machine is running it now
            pending.append(journal)
        return min(pending, key=lambda j: j.started) if pending else None

    def _rename(self, container: Any, name: str) -> None:
        """Rename, where a repeat after a lost answer finds it already done."""
        import docker.errors

        try:
            container.rename(name)
        except docker.errors.APIError:
            container.reload()
            if container.name != name:
                raise


def attempt_of(container: Any) -> str:
    """The attempt that created ``container`` ("" if no restore did)."""
    return str((container.labels or {}).get(ATTEMPT_LABEL, ""))
