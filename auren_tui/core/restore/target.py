"""A profile's Docker Engine as the restore layer needs it: shared by the
``auren-tui spec|restore`` commands and the Containers screen.

Blocking (docker SDK): call from a worker thread or the CLI. Errors are one
line an operator can act on; secret values never appear in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from auren_tui.core.catalog import Catalog
from auren_tui.core.docker.client import engine_client
from auren_tui.core.paths import Locations
from auren_tui.core.restore.attempt import StepCallback
from auren_tui.core.restore.audit import AuditLog, who_am_i
from auren_tui.core.restore.diff import Change, diff
from auren_tui.core.restore.engine import Restorer
from auren_tui.core.restore.rollback import RecoveryPlan
from auren_tui.core.restore.spec import RunSpec, SecretRef, SpecError, capture
from auren_tui.core.restore.store import SpecStore
from auren_tui.core.secrets import SecretStore
from auren_tui.core.transport.connection import Connection


class UnknownService(SpecError):
    """A service the catalog does not have, or one without a container."""


class TargetError(SpecError):
    """A container or secret the restore needs is not there (one line)."""


def health_word(container: dict[str, Any]) -> str:
    """``healthy``, ``running``, ``restarting``, ``exited``, … from docker inspect."""
    state = container.get("State") or {}
    if state.get("Restarting"):
        return "restarting"
    if not state.get("Running"):
        return str(state.get("Status") or "not running")
    return str((state.get("Health") or {}).get("Status") or "running")


@dataclass(frozen=True)
class Plan:
    """What a restore of ``service`` would do, for a dialog or ``--dry-run``."""

    service: str
    container: str
    spec: RunSpec | None
    changes: list[Change]
    exists: bool
    """Whether a container named ``container`` exists (else it will be created)."""
    recovery: RecoveryPlan | None
    """An interrupted restore of this machine to finish or undo first (shown, confirmed)."""
    holder: str | None
    """Who holds the restore lock now, if anyone."""

    def lines(self) -> list[str]:
        """The recovery (if any), then the diff as masked lines (env values never shown)."""
        first = self.recovery.lines() if self.recovery is not None else []
        return first + self.diff_lines()

    def diff_lines(self) -> list[str]:
        """The diff alone, masked."""
        if not self.exists:
            return [f"no container named {self.container}: it will be created"]
        if not self.changes:
            return ["the running container already matches the spec"]
        return [change.line() for change in self.changes]


class DockerTarget:
    """One profile's Docker Engine, catalog, spec store and keyring secrets."""

    def __init__(
        self,
        connection: Connection,
        catalog: Catalog,
        profile: str,
        locations: Locations,
        secrets: Callable[[], SecretStore],
        *,
        local: bool = False,
        where: str = "",
    ) -> None:
        self.connection = connection
        self.catalog = catalog
        self.profile = profile
        self.locations = locations
        self.secrets = secrets
        self.local = local
        self.where = where or profile
        self.store = SpecStore(locations, profile)
        self._client: Any = None

    # ---- names -----------------------------------------------------------------------------

    def container_of(self, service: str) -> str:
        spec = self.catalog.get(service)
        if spec is None:
            names = ", ".join(s.name for s in self.catalog.services)
            raise UnknownService(f"no service {service!r} in the catalog ({names})")
        if not spec.container:
            raise UnknownService(f"service {service!r} has no container in the catalog")
        return spec.container

    def service_of(self, container: str) -> str | None:
        """The catalog service whose container is named ``container``."""
        return next((s.name for s in self.catalog.services if s.container == container), None)

    # ---- docker ----------------------------------------------------------------------------

    def docker(self) -> Any:
        """The engine's client (``NoDocker`` when there is none to reach)."""
        if self._client is None:
            self._client = engine_client(self.connection, self.profile, self.where, self.local)
        return self._client

    def inspect(self, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """docker inspect of the service's container and of its image."""
        import docker.errors

        name = self.container_of(service)
        try:
            container = self.docker().containers.get(name)
            image = self.docker().images.get(container.attrs["Image"])
        except docker.errors.NotFound as exc:
            raise TargetError(f"no container {name!r} on {self.where}: {exc.explanation}") from None
        return container.attrs, image.attrs

    def env_of(self, spec: RunSpec) -> dict[str, str]:
        """The spec's env with its keyring references resolved."""
        out: dict[str, str] = {}
        for key, value in spec.env.items():
            if isinstance(value, SecretRef):
                secret = self.secrets().get(self.profile, value.name)
                if secret is None:
                    raise TargetError(
                        f"env {key} of {spec.service} is in the keyring as {value.name!r}, "
                        "which is missing: capture the spec again"
                    )
                out[key] = secret.get_secret_value()
            else:
                out[key] = value
        return out

    # ---- specs -----------------------------------------------------------------------------

    def capture(self, service: str, force: bool = False) -> tuple[RunSpec, str, int]:
        """Record the running container as the next known-good version: (spec, its
        health, how many env secrets went to the keyring). Refuses an unhealthy one."""
        container, image = self.inspect(service)
        health = health_word(container)
        restarts = int(container.get("RestartCount") or 0)
        if (health not in ("healthy", "running") or restarts) and not force:
            shown = f"{health}, {restarts} restarts" if restarts else health
            raise TargetError(
                f"{self.container_of(service)} is {shown}: a known-good spec is taken "
                "from a healthy container (--force to take it anyway)"
            )
        spec, secrets = capture(service, container, image, who_am_i())
        for name, value in secrets.items():
            self.secrets().set(self.profile, name, SecretStr(value))
        return self.store.save(spec), health, len(secrets)

    def running_diff(self, service: str) -> tuple[RunSpec, list[Change], dict[str, Any]]:
        """The known-good spec, how the running container differs, its inspect."""
        known = self.store.load(service)
        container, image = self.inspect(service)
        running, secrets = capture(service, container, image, who_am_i())
        same: dict[str, bool] = {}
        for key, value in known.env.items():
            now = running.env.get(key)
            if isinstance(value, SecretRef) and isinstance(now, SecretRef):
                stored = self.secrets().get(self.profile, value.name)
                known_value = stored.get_secret_value() if stored is not None else None
                same[key] = known_value is not None and known_value == secrets.get(now.name)
        return known, diff(known, running, same), container

    # ---- restore ---------------------------------------------------------------------------

    @property
    def audit_path(self) -> Path:
        return self.locations.state_dir / "audit.log"

    def restorer(
        self,
        spec: RunSpec,
        on_step: StepCallback | None = None,
        stop_timeout: int = 10,
        health_timeout: float = 60.0,
    ) -> Restorer:
        return Restorer(
            self.docker(), spec, self.env_of(spec), profile=self.profile,
            audit=AuditLog(self.audit_path), journal_dir=self.locations.state_dir / "restore",
            stop_timeout=stop_timeout, health_timeout=health_timeout, on_step=on_step,
        )  # fmt: skip

    def locker(self, service: str) -> Restorer:
        """A Restorer for the lock of ``service``'s container only (no spec needed)."""
        name = self.container_of(service)
        stub = RunSpec(service=service, container=name, image_id="")
        return Restorer(
            self.docker(), stub, {}, profile=self.profile, audit=AuditLog(self.audit_path),
            journal_dir=self.locations.state_dir / "restore",
        )  # fmt: skip

    def plan(self, service: str) -> Plan:
        """What restoring ``service`` would change; SpecError when it has no spec."""
        name = self.container_of(service)
        known = self.store.load(service)
        restorer = Restorer(
            self.docker(), known, {}, profile=self.profile, audit=AuditLog(self.audit_path),
            journal_dir=self.locations.state_dir / "restore",
        )  # fmt: skip
        exists = restorer.current() is not None
        changes = self.running_diff(service)[1] if exists else []
        return Plan(
            service, name, known, changes, exists, restorer.recovery_plan(),
            restorer.lock_holder(),
        )  # fmt: skip

    def audit(self, **entry: Any) -> None:
        """One audit line for a change to the server made outside a restore."""
        AuditLog(self.audit_path).write(who=who_am_i(), profile=self.profile, **entry)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
