"""The Containers screen's side of a Backend: a profile's Docker Engine, or canned data.

``Backend.containers()`` returns one of these. It sits above ``core/docker/``
(containers, logs, stats) and ``core/restore/`` (specs, restores, the lock),
which never import it. Every method is blocking; the TUI calls them from
thread workers only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from auren_tui.core.catalog import Catalog
from auren_tui.core.docker.client import NoDocker, not_answering
from auren_tui.core.docker.containers import (
    Action,
    ContainerRow,
    Follow,
    LogFollow,
    OnEnd,
    OnLines,
    ReplayFollow,
    act,
    list_containers,
    stats_of,
)
from auren_tui.core.docker.stats import Stats
from auren_tui.core.format import one_line
from auren_tui.core.paths import Locations
from auren_tui.core.restore.attempt import Outcome, StepCallback
from auren_tui.core.restore.errors import RestoreError
from auren_tui.core.restore.spec import SpecError
from auren_tui.core.restore.target import DockerTarget, Plan
from auren_tui.core.secrets import SecretStore
from auren_tui.core.transport.connection import Connection


class Containers(Protocol):
    catalog: Catalog

    def list(self) -> list[ContainerRow]:
        """Every container. ``NoDocker`` (what is missing, what to do) if no engine answers."""
        ...

    def follow_logs(self, name: str, on_lines: OnLines, on_end: OnEnd) -> Follow:
        """Follow ``name``'s logs (the last 200 lines first); callbacks on another thread."""
        ...

    def stats(self, name: str) -> Stats: ...

    def act(self, name: str, action: Action) -> None: ...

    def plan(self, service: str) -> Plan:
        """What a restore would do; ``SpecError`` when there is no known-good spec."""
        ...

    def restore(self, service: str, on_step: StepCallback, *, recover: bool = False) -> Outcome:
        """Restore ``service`` (``LockHeld``/``RestoreError`` when it cannot start).

        An interrupted restore found first is ``RecoveryNeeded`` unless ``recover``
        (its plan was shown and confirmed): then it is finished or rolled back first
        (``.recovered``).
        """
        ...

    def lock_holder(self, service: str) -> str | None:
        """Who holds the restore lock of ``service``'s container (None: nobody)."""
        ...

    def break_lock(self, service: str) -> str | None:
        """Remove the restore lock of ``service``'s container (confirmed, audited); who
        held it, or None when nobody did."""
        ...

    def close(self) -> None: ...


class LiveContainers:
    """A profile's Docker Engine through its connection (local or SSH)."""

    def __init__(
        self,
        connection: Callable[[], Connection],
        catalog: Catalog,
        profile: str,
        locations: Locations,
        *,
        local: bool,
        where: str,
    ) -> None:
        self.catalog = catalog
        self._connection = connection
        self._secrets: SecretStore | None = None
        self.profile, self.locations, self.local, self.where = profile, locations, local, where
        self._target: DockerTarget | None = None
        self._lock = threading.Lock()

    def _store(self) -> SecretStore:
        if self._secrets is None:
            self._secrets = SecretStore()
        return self._secrets

    def target(self) -> DockerTarget:
        with self._lock:
            if self._target is None:
                self._target = DockerTarget(
                    self._connection(), self.catalog, self.profile, self.locations,
                    self._store, local=self.local, where=self.where,
                )  # fmt: skip
            return self._target

    def _client(self) -> Any:
        target = self.target()
        try:
            return target.docker()
        except NoDocker:
            raise
        except Exception as exc:  # the engine's URL is known but nothing answers there
            url = target.connection.docker_url()
            raise not_answering(url, exc, self.profile, self.where, self.local) from None

    def list(self) -> list[ContainerRow]:
        client = self._client()
        try:
            return list_containers(client, self.catalog)
        except Exception as exc:
            url = self.target().connection.docker_url()
            raise not_answering(url, exc, self.profile, self.where, self.local) from None

    def follow_logs(self, name: str, on_lines: OnLines, on_end: OnEnd) -> Follow:
        return LogFollow(self._client(), name, on_lines, on_end).start()

    def stats(self, name: str) -> Stats:
        return stats_of(self._client(), name)

    def act(self, name: str, action: Action) -> None:
        client = self._client()
        before = _container_id(client, name)
        try:
            act(client, name, action)
        except Exception as exc:
            self.target().audit(action=action, container=name, before=before,
                                outcome="failed", reason=one_line(exc))  # fmt: skip
            raise
        self.target().audit(action=action, container=name, before=before,
                            after=_container_id(client, name), outcome="done")  # fmt: skip

    def plan(self, service: str) -> Plan:
        return self.target().plan(service)

    def restore(self, service: str, on_step: StepCallback, *, recover: bool = False) -> Outcome:
        target = self.target()
        restorer = target.restorer(target.store.load(service), on_step)
        return restorer.run(recover=recover)

    def lock_holder(self, service: str) -> str | None:
        return self.target().locker(service).lock_holder()

    def break_lock(self, service: str) -> str | None:
        locker = self.target().locker(service)
        holder = locker.lock_holder()
        return holder if locker.break_lock() is not None else None

    def close(self) -> None:
        with self._lock:
            if self._target is not None:
                self._target.close()
                self._target = None


def _container_id(client: Any, name: str) -> str:
    """The short id of the container named ``name`` now ("" if none or unreachable)."""
    try:
        return str(client.containers.get(name).short_id)
    except Exception:
        return ""


@dataclass
class ReplayContainers:
    """Canned containers, logs and stats: snapshot tests and the demo. Changes nothing."""

    rows: list[ContainerRow] = field(default_factory=list)
    logs: dict[str, list[str]] = field(default_factory=dict)
    stats_by_name: dict[str, Stats] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=Catalog)

    @classmethod
    def of(cls, rows: Iterable[ContainerRow], **kwargs: Any) -> ReplayContainers:
        return cls(list(rows), **kwargs)

    def list(self) -> list[ContainerRow]:
        return list(self.rows)

    def follow_logs(self, name: str, on_lines: OnLines, on_end: OnEnd) -> Follow:
        return ReplayFollow(self.logs.get(name, []), on_lines).start()

    def stats(self, name: str) -> Stats:
        return self.stats_by_name.get(name, Stats(0.0, 0, 0))

    def act(self, name: str, action: Action) -> None:
        raise RestoreError("a replay changes no container")

    def plan(self, service: str) -> Plan:
        raise SpecError(f"no known-good spec for {service} in a replay")

    def restore(self, service: str, on_step: StepCallback, *, recover: bool = False) -> Outcome:
        raise RestoreError("a replay restores nothing")

    def lock_holder(self, service: str) -> str | None:
        return None

    def break_lock(self, service: str) -> str | None:
        raise RestoreError("a replay holds no lock")

    def close(self) -> None:
        return None
