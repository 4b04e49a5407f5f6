"""One operator session on one profile: the connection and what reads through it.

The TUI and the headless commands both use a ``Backend``. Every method is
blocking; the TUI calls them from thread workers only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from auren_tui.core.backend import webhooks as webhook_backend
from auren_tui.core.backend.containers import Containers, LiveContainers
from auren_tui.core.backend.history import Recording
from auren_tui.core.backend.webhooks import OnProgress, OnResponse, Outgoing, Sent
from auren_tui.core.catalog import Catalog
from auren_tui.core.config import HistoryPrefs, Profile
from auren_tui.core.history.model import History
from auren_tui.core.history.store import FlightRecorder
from auren_tui.core.kafka.client import KafkaError, TopicInfo
from auren_tui.core.kafka.consumer import TailStatus
from auren_tui.core.kafka.records import TailRecord
from auren_tui.core.kafka.start import Start
from auren_tui.core.model import ConnState, Snapshot
from auren_tui.core.paths import Locations
from auren_tui.core.transport.connection import Connection
from auren_tui.core.transport.open import SecretStoreFactory, open_connection, os_keyring
from auren_tui.core.webhooks.client import CheckResult, bridge_address
from auren_tui.core.webhooks.load import LoadSpec, LoadStats
from auren_tui.core.webhooks.signing import Provider

if TYPE_CHECKING:
    from auren_tui.core.health.collector import Collector

log = logging.getLogger(__name__)

LOST = ("reconnecting", "failed")
"""Connection states in which a refresh's failures are the connection's (not recorded;
the Dashboard greys what it shows)."""

OnRecords = Callable[[list[TailRecord]], None]
OnStatus = Callable[[TailStatus], None]


@dataclass(frozen=True)
class ConnInfo:
    state: ConnState
    attempt: int = 0
    error: str | None = None


class Backend(Protocol):
    profile_name: str
    read_only: bool

    def start(self) -> None:
        """Connect (blocking). May raise hostkeys.UnknownHostKey / HostKeyChanged."""
        ...

    def collect(self) -> Snapshot:
        """One full refresh (blocking); never raises for a service being down."""
        ...

    def conn_info(self) -> ConnInfo: ...

    def trust_host_key(self, error: Exception) -> str:
        """Write the key of an UnknownHostKey error to known_hosts; returns the file."""
        ...

    def list_topics(self) -> list[TopicInfo]:
        """Every topic with partitions and offsets (blocking). Raises ``KafkaError``."""
        ...

    def open_tail(
        self, topics: Sequence[str], start: Start, on_records: OnRecords, on_status: OnStatus
    ) -> TailHandle:
        """Start tailing ``topics``; the callbacks are called from another thread."""
        ...

    def webhook_target(self) -> str:
        """The bridge as the server sees it (``host:port``); ValueError if none."""
        ...

    def webhook_secret(self, provider: Provider) -> SecretStr:
        """The provider's signing secret (env, then keyring); ``SecretMissing`` if none."""
        ...

    def send_webhook(
        self,
        out: Outgoing,
        trace_topic: str | None = None,
        on_response: OnResponse | None = None,
    ) -> Sent:
        """Sign ``out`` with the provider's secret and send it to the bridge (the pipeline
        of core/backend/webhooks.py); with ``trace_topic``, follow a 202 into Kafka
        (``on_response`` hears the answer before the trace ends)."""
        ...

    def webhook_suite(self, provider: Provider, body: bytes) -> list[CheckResult]:
        """The negative suite for ``provider`` with ``body`` as the genuine request."""
        ...

    def webhook_load(self, spec: LoadSpec, on_progress: OnProgress | None = None) -> LoadStats:
        """A signed load test; ``on_progress`` is called from another thread."""
        ...

    def containers(self) -> Containers:
        """The server's Docker Engine (core/backend/containers.py): one per backend."""
        ...

    def history(self, window: float) -> History:
        """The History screen's charts of the last ``window`` seconds (blocking)."""
        ...

    def recorded(self, taken_at: float | None, delta: int) -> Snapshot | None:
        """The recorded refresh ``delta`` steps from ``taken_at`` (None: from now);
        None past either end (core/backend/history.py)."""
        ...

    def first_recorded(self) -> Snapshot | None:
        """The oldest refresh the flight recorder keeps."""
        ...

    def close(self) -> None: ...


class TailHandle(Protocol):
    """A running tail (``core.kafka.TailThread`` or a replay of one)."""

    def stop(self, timeout: float = 10.0) -> None:
        """End it (blocking until it has, at most ``timeout`` seconds)."""
        ...

    @property
    def alive(self) -> bool: ...


class NotConnected(KafkaError):
    """Asked for the connection before ``start()`` finished (a screen opened at once).
    A KafkaError too: what catches those (the Tail) reports it as it did."""


def _not_connected() -> tuple[str, int] | None:
    raise NotConnected("not connected yet")


def kafka_bootstrap(catalog: Catalog) -> str:
    """The broker address as the server sees it: the catalog's kafka service."""
    address = catalog.kafka_address()
    if address is not None:
        return address
    raise KafkaError("the profile's catalog has no kafka service: add one to the profile")


class LiveBackend:
    """A profile's real connection and collector."""

    def __init__(
        self,
        profile: Profile,
        locations: Locations,
        read_only: bool = False,
        secrets: SecretStoreFactory = os_keyring,
        history: HistoryPrefs | None = None,
        record: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self.clock = clock
        """The History screen's "now" (its windows end there)."""
        self.history_prefs = history or HistoryPrefs()
        self.record = record
        """Record every refresh in the profile's flight recorder (core/history/store.py)."""
        self.catalog: Catalog = profile.catalog
        """The profile's services, overrides applied (``Profile`` does it, once)."""
        self._secrets = secrets
        self.profile_name = profile.name
        self.read_only = read_only or profile.read_only
        self.locations = locations
        self._conn: Connection | None = None
        self._collector: Collector | None = None
        self._containers: LiveContainers | None = None
        self._recording = Recording(None, self.profile_name, None, prometheus=_not_connected)
        self._lock = threading.Lock()

    def start(self) -> None:
        from auren_tui.core.health.collector import Collector

        conn = open_connection(self.profile, self.locations, self._secrets)
        recording = self._open_recording(conn)
        with self._lock:
            self._conn = conn
            self._collector = Collector(conn, self.catalog)
            self._recording = recording

    def _open_recording(self, conn: Connection) -> Recording:
        recorder = None
        if self.record:
            path = FlightRecorder.path_for(self.locations, self.profile_name)
            prefs = self.history_prefs
            try:
                recorder = FlightRecorder(
                    path, keep_seconds=prefs.keep_days * 86400,
                    max_bytes=int(prefs.max_mb * 1024 * 1024),
                )  # fmt: skip
            except Exception as exc:  # a refresh unrecorded is better than none at all
                log.warning("flight recorder %s: not recording: %s", path, exc)
        prom = self.catalog.by_role("prometheus")

        def prometheus() -> tuple[str, int] | None:
            return None if prom is None else conn.endpoint(prom.host, prom.port)

        audit = self.locations.state_dir / "audit.log"
        return Recording(
            recorder, self.profile_name, audit, prometheus=prometheus, clock=self.clock
        )

    def collect(self) -> Snapshot:
        with self._lock:
            collector, recording = self._collector, self._recording
        assert collector is not None, "start() first"
        before = self.conn_info()
        snapshot = collector.collect()
        # A refresh that overlapped an outage says more about the connection than
        # about the services: it is shown greyed, never recorded.
        if before.state not in LOST and self.conn_info().state not in LOST:
            recording.record(snapshot)
        return snapshot

    def history(self, window: float) -> History:
        return self._recording.history(window)

    def recorded(self, taken_at: float | None, delta: int) -> Snapshot | None:
        return self._recording.step(taken_at, delta)

    def first_recorded(self) -> Snapshot | None:
        return self._recording.first()

    def conn_info(self) -> ConnInfo:
        conn = self._conn
        if conn is None:
            return ConnInfo("connecting")
        if conn.state == "connected" and getattr(conn, "connected", True) is False:
            # The transport died and the supervisor has not noticed yet (it looks a few
            # times a second): say so now, so a refresh that ran into the outage is not
            # shown as the services' own failures.
            return ConnInfo("reconnecting", 0, conn.last_error)
        return ConnInfo(conn.state, conn.attempt, conn.last_error)

    def trust_host_key(self, error: Exception) -> str:
        from auren_tui.core.transport import hostkeys

        assert isinstance(error, hostkeys.UnknownHostKey)
        # The file the check named: the hop's own (a jump host's may differ).
        hostkeys.trust(error.known_hosts, error.host, error.port, error.key)
        return str(error.known_hosts)

    def _connection(self) -> Connection:
        with self._lock:
            conn = self._conn
        if conn is None:
            raise NotConnected("not connected yet: wait for the connection, then try again")
        return conn

    @property
    def bootstrap(self) -> str:
        return kafka_bootstrap(self.catalog)

    def list_topics(self) -> list[TopicInfo]:
        from auren_tui.core.kafka.client import list_topics
        from auren_tui.core.transport.loop import run_tunnelled

        conn, bootstrap = self._connection(), self.bootstrap
        result: list[TopicInfo] = run_tunnelled(conn, lambda: list_topics(bootstrap))
        return result

    def open_tail(
        self, topics: Sequence[str], start: Start, on_records: OnRecords, on_status: OnStatus
    ) -> TailHandle:
        from auren_tui.core.kafka.consumer import TailRequest, TailThread

        request = TailRequest(self.bootstrap, list(topics), start)
        tail = TailThread(self._connection(), request, on_records, on_status)
        tail.start()
        return tail

    # -- webhooks (core/backend/webhooks.py) --------------------------------------------

    def webhook_target(self) -> str:
        host, port = bridge_address(self.catalog)
        return f"{host}:{port}"

    def webhook_secret(self, provider: Provider) -> SecretStr:
        return webhook_backend.secret_for(self.profile_name, provider, self._secrets)

    def send_webhook(
        self,
        out: Outgoing,
        trace_topic: str | None = None,
        on_response: OnResponse | None = None,
    ) -> Sent:
        secret = self.webhook_secret(out.provider)
        bridge = bridge_address(self.catalog)
        return webhook_backend.send(
            self._connection(), bridge, lambda: self.bootstrap, out, secret, trace_topic,
            on_response,
        )  # fmt: skip

    def webhook_suite(self, provider: Provider, body: bytes) -> list[CheckResult]:
        runs = [(provider, self.webhook_secret(provider), body)]
        return webhook_backend.suite(self._connection(), bridge_address(self.catalog), runs)

    def webhook_load(self, spec: LoadSpec, on_progress: OnProgress | None = None) -> LoadStats:
        secret = self.webhook_secret(spec.provider)
        bridge = bridge_address(self.catalog)
        return webhook_backend.load(self._connection(), bridge, spec, secret, on_progress)

    def containers(self) -> Containers:
        with self._lock:
            if self._containers is None:
                self._containers = LiveContainers(
                    self._connection, self.catalog, self.profile_name, self.locations,
                    local=self.profile.is_local, where=self.profile.target,
                )  # fmt: skip
            return self._containers

    def close(self) -> None:
        """Close everything opened: the containers' clients, the collector's HTTP and
        database clients, then the connection they all went through."""
        with self._lock:
            containers, collector, conn = self._containers, self._collector, self._conn
        if containers is not None:
            containers.close()
        if collector is not None:
            collector.close()
        self._recording.close()
        if conn is not None:
            conn.close()
