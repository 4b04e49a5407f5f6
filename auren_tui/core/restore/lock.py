"""The restore lock: a container named ``<name>.auren-restore-lock``, created, never started.

Docker's unique names make taking it atomic on the server whoever runs the
restore, and its labels name the holder and the attempt. A lock whose attempt
is over (its process gone, or ours and finished) is a leftover, not a
conflict; breaking someone else's is for an operator who checked (audited).
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from auren_tui.core.format import one_line
from auren_tui.core.process import alive
from auren_tui.core.restore.attempt import AttemptBase
from auren_tui.core.restore.audit import now_utc
from auren_tui.core.restore.errors import LockHeld, RestoreError
from auren_tui.core.restore.journal import Journal

LOCK_SUFFIX = ".auren-restore-lock"


class LockSteps(AttemptBase):
    """The lock of a restore attempt: taken, released, read and broken."""

    @property
    def lock_name(self) -> str:
        return self.name + LOCK_SUFFIX

    def lock_labels(self) -> dict[str, str] | None:
        lock = self._get(self.lock_name)
        return None if lock is None else dict(lock.labels or {})

    def lock_holder(self) -> str | None:
        labels = self.lock_labels()
        return None if labels is None else holder_of(labels)

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
            return labels.get("auren.attempt", "") not in AttemptBase._active
        return pid > 0 and not alive(pid)

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
                    self._audit(action="release-stale-lock", holder=holder_of(held.labels or {}))
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
        self._audit(action="break-lock", lock=self.lock_name, holder=holder_of(labels),
                    attempt=labels.get("auren.attempt", ""), outcome="done")  # fmt: skip
        return labels

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


def holder_of(labels: dict[str, str]) -> str:
    """Who holds a lock, from its labels: ``who (pid … on host, since …)``."""
    holder, pid = labels.get("auren.holder", "?"), labels.get("auren.pid", "?")
    host, since = labels.get("auren.host", "?"), labels.get("auren.since", "?")
    return f"{holder} (pid {pid} on {host}, since {since})"
