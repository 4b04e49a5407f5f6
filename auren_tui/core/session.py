"""One door into the core: a profile's config, secrets, connection and catalog, resolved once.

``open_session(locations, profile)`` reads ``config.toml`` once, resolves the
profile once (``--profile``, else ``ui.default_profile``, else the built-in
``local``) and holds one secret store (opened on first use), one connection
(opened on first use) and the profile's catalog, overrides already applied.
Every headless command and the TUI (``launch.py``, through ``backend()``)
start here; a command makes one call (``collect``, ``topics``,
``send_webhook``, ...) and prints the typed result. Leaving the ``with``
block closes what was opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from auren_tui.core.catalog import Catalog
from auren_tui.core.config import AppConfig, Profile, load_config
from auren_tui.core.paths import Locations
from auren_tui.core.transport.open import SecretStoreFactory, open_connection, os_keyring

if TYPE_CHECKING:
    from pydantic import SecretStr

    from auren_tui.core.backend.live import LiveBackend
    from auren_tui.core.backend.webhooks import Address, OnProgress, Outgoing, Sent
    from auren_tui.core.kafka.client import TopicInfo
    from auren_tui.core.model import Snapshot
    from auren_tui.core.secrets import SecretStore
    from auren_tui.core.transport.connection import Connection
    from auren_tui.core.webhooks.client import CheckResult
    from auren_tui.core.webhooks.load import LoadSpec, LoadStats
    from auren_tui.core.webhooks.signing import Provider


class ReadOnlyRefused(Exception):
    """A change asked for in read-only mode: one line saying which setting refused it."""


class ConnectFailed(Exception):
    """The profile's server could not be reached: ``cannot connect to TARGET: why``."""


def _one_line(exc: BaseException) -> str:
    from auren_tui.core.health.checks import describe_error

    if isinstance(exc, OSError):
        return describe_error(exc)
    text = " ".join(str(exc).split())
    return text or describe_error(exc)


class Session:
    """A profile, opened: what every command and the TUI read through."""

    def __init__(
        self,
        locations: Locations,
        config: AppConfig,
        profile: Profile,
        *,
        read_only: bool = False,
        secrets: SecretStoreFactory = os_keyring,
    ) -> None:
        self.locations = locations
        self.config = config
        self.profile = profile
        self.read_only_asked = read_only
        """``--read-only`` was given (the profile and ``[ui]`` may ask for it too)."""
        self._secrets = secrets
        self._store: SecretStore | None = None
        self._connection: Connection | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def catalog(self) -> Catalog:
        """The profile's services (``[profiles.NAME.services.*]`` applied)."""
        return self.profile.catalog

    # -- read-only ------------------------------------------------------------------

    def read_only_reason(self) -> str | None:
        """Which setting makes this session read-only (the first that does), or None."""
        if self.read_only_asked:
            return "--read-only was given"
        if self.profile.read_only:
            return f"profile {self.profile.name!r} is read-only (read_only = true)"
        if self.config.ui.read_only:
            return "[ui] read_only = true in config.toml"
        return None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason() is not None

    def refuse_if_read_only(self, what: str) -> None:
        """``ReadOnlyRefused`` (one line saying why) before anything reaches the server."""
        why = self.read_only_reason()
        if why is not None:
            raise ReadOnlyRefused(f"{why}: {what} changes the server; refused (nothing was sent)")

    # -- secrets and the connection ----------------------------------------------------

    def secrets(self) -> SecretStore:
        """The secret store, opened on first use."""
        if self._store is None:
            self._store = self._secrets()
        return self._store

    def webhook_secret(self, provider: Provider) -> SecretStr:
        """The provider's signing secret: env first, then the keyring (``SecretMissing``)."""
        from auren_tui.core.backend.webhooks import secret_for

        return secret_for(self.name, provider, self.secrets)

    def connection(self) -> Connection:
        """The profile's connection, opened on first use; ``ConnectFailed`` if it cannot be."""
        if self._connection is None:
            try:
                self._connection = open_connection(self.profile, self.locations, self.secrets)
            except Exception as exc:
                raise ConnectFailed(
                    f"cannot connect to {self.profile.target}: {_one_line(exc)}"
                ) from exc
        return self._connection

    # -- one call per headless command ----------------------------------------------

    def collect(
        self, catalog: Catalog | None = None, *, timeout: float, docker: bool = True
    ) -> Snapshot:
        """One refresh of ``catalog`` (default: the profile's); ``docker=False`` leaves
        the Docker Engine out (service checks only)."""
        from auren_tui.core.health.collector import Collector

        connection = self.connection()
        if not docker:
            connection = _WithoutDocker(connection)
        with Collector(connection, catalog or self.catalog, timeout=timeout) as collector:
            return collector.collect()

    def topics(self, bootstrap: str, timeout: float, internal: bool = False) -> list[TopicInfo]:
        """Every topic on the broker at ``bootstrap`` (as the server sees it)."""
        from auren_tui.core.kafka.client import list_topics
        from auren_tui.core.transport.loop import run_tunnelled

        connection = self.connection()
        found: list[TopicInfo] = run_tunnelled(
            connection, lambda: list_topics(bootstrap, timeout, internal)
        )
        return found

    def send_webhook(
        self, out: Outgoing, bridge: Address, trace_topic: str | None = None, bootstrap: str = ""
    ) -> Sent:
        """Sign and send ``out`` to ``bridge`` (core/backend/webhooks.py); with
        ``trace_topic``, follow a 202 into it on ``bootstrap``: a trace that cannot be
        armed raises ``KafkaError`` before anything is sent."""
        from auren_tui.core.backend.webhooks import send

        secret = self.webhook_secret(out.provider)
        connection = self.connection()
        return send(
            connection, bridge, lambda: bootstrap, out, secret, trace_topic, strict_trace=True
        )

    def webhook_suite(
        self, bridge: Address, runs: list[tuple[Provider, bytes]]
    ) -> list[CheckResult]:
        """The negative suite for each ``(provider, genuine body)``, in order."""
        from auren_tui.core.backend.webhooks import suite

        connection = self.connection()
        signed = [(provider, self.webhook_secret(provider), body) for provider, body in runs]
        return suite(connection, bridge, signed)

    def webhook_load(
        self, bridge: Address, spec: LoadSpec, on_progress: OnProgress | None = None
    ) -> LoadStats:
        """The signed load test (``on_progress`` is called from another thread)."""
        from auren_tui.core.backend.webhooks import load

        connection = self.connection()
        return load(connection, bridge, spec, self.webhook_secret(spec.provider), on_progress)

    def backend(self) -> LiveBackend:
        """The TUI's backend on this profile (it connects in its own worker, and closes
        what it opened itself)."""
        from auren_tui.core.backend.live import LiveBackend

        return LiveBackend(
            self.profile, self.locations, self.read_only, secrets=self.secrets,
            history=self.config.history,
        )  # fmt: skip

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _WithoutDocker:
    """A connection whose Docker Engine is not consulted (``health --no-docker``)."""

    def __init__(self, inner: Connection) -> None:
        self._inner = inner
        self.state = inner.state
        self.attempt = inner.attempt
        self.last_error = inner.last_error

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        return self._inner.endpoint(host, port)

    def docker_url(self) -> str | None:
        return None

    def run(self, command: str, timeout: float) -> tuple[int, str, str]:
        return self._inner.run(command, timeout)

    def close(self) -> None:
        self._inner.close()


@contextlib.contextmanager
def open_session(
    locations: Locations,
    profile: str | None = None,
    *,
    read_only: bool = False,
    secrets: SecretStoreFactory = os_keyring,
) -> Iterator[Session]:
    """The session on ``profile`` (default: ``ui.default_profile``, else ``local``).

    ``ConfigError`` for a bad file or an unknown profile, before anything is opened.
    """
    config = load_config(locations)
    session = Session(
        locations, config, config.resolve(profile), read_only=read_only, secrets=secrets
    )
    try:
        yield session
    finally:
        session.close()
