"""Alerts: the transitions between two refreshes worth an operator's attention.

``AlertWatch.feed`` is given every refresh's :class:`Snapshot` and returns the
alerts of *that* refresh: a rule fires once when its state changes, never again
while the state stays, so a service that stays down for an hour rings once (and
once more when it recovers). The TUI (bell, toast, desktop notification, events
panel) and ``auren-tui health --watch`` feed it the same snapshots and so see
the same transitions. Pure: no clock, no I/O; ``Alert.at`` is the refresh's
``taken_at``.

The first snapshot fed is the baseline and alerts nothing: the dashboard (or
``summary``, the first line of ``health --watch``) already shows that state.
A refresh that knows less than the last one (a service ``unknown``, a container
not reported, the bridge figures missing) changes nothing: a Docker hiccup or a
failed Prometheus query is not a recovery, and the state it hid is still the
last one seen when the figures come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from auren_tui.core.config.model import AlertRules
from auren_tui.core.history.model import Alert
from auren_tui.core.model import BridgeFigures, ContainerInfo, ServiceStatus, Snapshot

BRIDGE = "bridge"
"""The subject of the circuit and backlog alerts."""


@dataclass(frozen=True)
class _Seen:
    """What the refreshes so far said about one container."""

    restart_count: int
    started_at: float | None
    """When it started, as last seen running (None: never seen running)."""
    stopped: str | None = None
    """The state it was last seen in while not running since then (None: none seen)."""
    alerted: bool = False
    """A restart since ``started_at`` has been alerted already (by its count)."""


class AlertWatch:
    """Turns a stream of snapshots into alerts, once per transition (see the module)."""

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._baseline = True
        self._health: dict[str, str] = {}  # service -> last known health
        self._containers: dict[str, _Seen] = {}
        self._circuit_open: bool | None = None  # None: never seen
        self._backlog_streak = 0  # consecutive refreshes above the threshold
        self._backlog_alerted = False

    def feed(self, snapshot: Snapshot) -> list[Alert]:
        """The alerts of this refresh (none for the first one, none when disabled)."""
        alerts: list[Alert] = []
        for service in snapshot.services:
            alerts += self._service(snapshot.taken_at, service)
        if snapshot.bridge is not None and snapshot.bridge.source != "none":
            alerts += self._circuit(snapshot.taken_at, snapshot.bridge)
            alerts += self._backlog(snapshot.taken_at, snapshot.bridge)
        baseline, self._baseline = self._baseline, False
        if baseline or not self.rules.enabled:
            return []
        return alerts

    # ---- per service ------------------------------------------------------------------

    def _service(self, at: float, s: ServiceStatus) -> list[Alert]:
        out: list[Alert] = []
        if s.container is not None:
            restarted = self._restart(at, s.name, s.container)
            if restarted is not None and self.rules.restart:
                out.append(restarted)
        if s.health == "unknown":
            # Nothing was learnt: the last known health stands ("unknown" only if none).
            self._health.setdefault(s.name, "unknown")
            return out
        before = self._health.get(s.name)
        self._health[s.name] = s.health
        if before is None or not self.rules.unhealthy:
            return out
        if s.health == "unhealthy" and before != "unhealthy":
            text = f"{s.name} unhealthy: {_why_unhealthy(s)}"
            out.append(Alert(at, "unhealthy", s.name, text, "error"))
        elif before == "unhealthy" and s.health != "unhealthy":
            text = f"{s.name} recovered" + (" (degraded)" if s.health == "degraded" else "")
            out.append(Alert(at, "recovered", s.name, text, "information"))
        return out

    def _restart(self, at: float, name: str, c: ContainerInfo) -> Alert | None:
        """A restart since the last refresh that saw it running: Docker's restart count
        rose (its restart policy), or it is running again with another start time
        (``docker restart``, a stop and a start, a re-created container: Docker's
        count stays, or is 0). Whether a refresh happened to fall while it was down
        changes nothing: the same restart is one alert whatever the refreshes saw."""
        before = self._containers.get(name)
        running = c.state == "running"
        count = c.restart_count
        if before is None:
            self._containers[name] = _Seen(count, c.started_at if running else None)
            return None
        counted = count > before.restart_count
        if running:
            self._containers[name] = _Seen(count, c.started_at)
        else:  # a count that rose while down: its coming back up is this restart
            alerted = counted or before.alerted
            self._containers[name] = _Seen(count, before.started_at, c.state, alerted)
        plural = "" if count == 1 else "s"
        if counted:
            times = count - before.restart_count
            again = f" {times} times" if times > 1 else ""
            return Alert(at, "restart", name, f"{name} restarted{again} ({count} restart{plural})")
        if (
            not running
            or before.alerted
            or before.started_at is None
            or c.started_at in (None, before.started_at)
        ):
            return None
        how = f"{before.stopped}, then started again" if before.stopped else "started again"
        text = f"{name} restarted ({how}; {count} restart{plural} counted by Docker)"
        return Alert(at, "restart", name, text)

    # ---- the bridge ---------------------------------------------------------------------

    def _circuit(self, at: float, b: BridgeFigures) -> list[Alert]:
        """Open, then closed: half-open (the circuit probing Kafka after it opened)
        changes nothing, so a probe that fails and re-opens it is not a second
        "open"; seen first, it counts as open (it is not closed)."""
        state = b.circuit_state
        if state not in ("open", "closed", "half_open"):
            return []
        if state == "half_open" and self._circuit_open is not None:
            return []
        is_open = state != "closed"
        before, self._circuit_open = self._circuit_open, is_open
        if before is None or before == is_open or not self.rules.circuit:
            return []
        if is_open:
            return [Alert(at, "circuit", BRIDGE, "kafka circuit open", "error")]
        return [Alert(at, "circuit", BRIDGE, "kafka circuit closed", "information")]

    def _backlog(self, at: float, b: BridgeFigures) -> list[Alert]:
        value = b.outbox_backlog
        if value is None:
            return []
        rules = self.rules
        threshold, needed = rules.backlog_threshold, rules.backlog_refreshes
        if value <= threshold:
            self._backlog_streak = 0
            if not self._backlog_alerted:
                return []
            self._backlog_alerted = False
            text = f"outbox backlog drained: {value:g} <= {threshold:g}"
            return [Alert(at, "backlog", BRIDGE, text, "information")] if rules.backlog else []
        self._backlog_streak += 1
        if self._backlog_alerted or self._backlog_streak < needed:
            return []
        # At the baseline this marks a backlog already there as known, silently.
        self._backlog_alerted = True
        refreshes = f"{self._backlog_streak} refreshes" if self._backlog_streak > 1 else "1 refresh"
        text = f"outbox backlog {value:g} > {threshold:g} for {refreshes}"
        return [Alert(at, "backlog", BRIDGE, text, "warning")] if rules.backlog else []

    # ---- the first line of ``health --watch`` ---------------------------------------------

    def summary(self, snapshot: Snapshot) -> str:
        """One line: ``watching 9 services: all healthy``, or the faults by kind
        (``2 unhealthy (redis, kafka), 1 degraded (bridge)``), then the bridge's
        open circuit and a backlog above the threshold, if any."""
        count = len(snapshot.services)
        head = f"watching {count} service{'' if count == 1 else 's'}"
        parts = []
        for health in ("unhealthy", "degraded", "unknown"):
            names = [s.name for s in snapshot.services if s.health == health]
            if names:
                parts.append(f"{len(names)} {health} ({', '.join(names)})")
        if not parts:
            parts.append("all healthy" if count else "nothing to check")
        b = snapshot.bridge
        if b is not None and b.source != "none":
            if b.circuit_state in ("open", "half_open"):
                parts.append(f"kafka circuit {b.circuit_state.replace('_', '-')}")
            if b.outbox_backlog is not None and b.outbox_backlog > self.rules.backlog_threshold:
                parts.append(f"outbox backlog {b.outbox_backlog:g}")
        return f"{head}: {', '.join(parts)}"


def _why_unhealthy(s: ServiceStatus) -> str:
    """The one-line cause: a container that is not running says more than the
    "connection refused" its check then meets."""
    c, check = s.container, s.check
    if c is not None and c.state != "running":
        return f"container {c.state}"
    if check is not None and not check.ok:
        return check.detail or "check failed"
    if c is not None and c.health == "unhealthy":
        return "docker healthcheck unhealthy"
    return "unhealthy"
