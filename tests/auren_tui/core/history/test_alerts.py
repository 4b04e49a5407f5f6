"""AlertWatch: each rule fires once per transition, however many refreshes follow."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from auren_tui.core.config.model import AlertRules
from auren_tui.core.history.alerts import AlertWatch
from auren_tui.core.history.model import Alert
from auren_tui.core.model import (
    BridgeFigures,
    CheckResult,
    ContainerInfo,
    Health,
    ServiceStatus,
    Snapshot,
)

OK = CheckResult(ok=True, latency_ms=1.0, detail="PONG")
REFUSED = CheckResult(ok=False, latency_ms=None, detail="connection refused")


class Clock:
    """Refresh times 1, 2, 3, ...: an alert's ``at`` says which refresh raised it."""

    def __init__(self) -> None:
        self.now = 0.0

    def tick(self) -> float:
        self.now += 1
        return self.now


def service(
    name: str = "redis",
    health: Health = "healthy",
    check: CheckResult | None = OK,
    container: ContainerInfo | None = None,
) -> ServiceStatus:
    return ServiceStatus(name, name.title(), container, check, health)


def running(restarts: int = 0, started: float = 1000.0, state: str = "running") -> ContainerInfo:
    return ContainerInfo(state=state, started_at=started, restart_count=restarts)


def feed_all(watch: AlertWatch, snapshots: Iterable[Snapshot]) -> list[Alert]:
    out: list[Alert] = []
    for snapshot in snapshots:
        out += watch.feed(snapshot)
    return out


def snap(clock: Clock, *services: ServiceStatus, bridge: BridgeFigures | None = None) -> Snapshot:
    return Snapshot(taken_at=clock.tick(), services=services, bridge=bridge)


def rules_of(alerts: list[Alert]) -> list[tuple[float, str, str]]:
    return [(a.at, a.rule, a.subject) for a in alerts]


# ---- unhealthy / recovered ------------------------------------------------------------


def test_first_snapshot_is_the_baseline_even_when_unhealthy() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    down = service(health="unhealthy", check=REFUSED)
    assert watch.feed(snap(clock, down)) == []
    assert feed_all(watch, (snap(clock, down) for _ in range(20))) == []


def test_unhealthy_fires_once_then_recovered_once() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    up = service()
    down = service(health="unhealthy", check=REFUSED)
    sequence = [up] * 3 + [down] * 10 + [up] * 10 + [down] * 5
    alerts = feed_all(watch, (snap(clock, s) for s in sequence))
    assert rules_of(alerts) == [
        (4.0, "unhealthy", "redis"),
        (14.0, "recovered", "redis"),
        (24.0, "unhealthy", "redis"),
    ]
    assert alerts[0].text == "redis unhealthy: connection refused"
    assert alerts[0].severity == "error"
    assert alerts[1].text == "redis recovered"
    assert alerts[1].severity == "information"


def test_degraded_is_not_an_alert_but_counts_as_recovered() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    states: list[Health] = ["healthy", "degraded", "healthy", "unhealthy", "degraded", "degraded"]
    alerts = feed_all(watch, (snap(clock, service("bridge", h)) for h in states))
    assert [(a.rule, a.text) for a in alerts] == [
        ("unhealthy", "bridge unhealthy: unhealthy"),
        ("recovered", "bridge recovered (degraded)"),
    ]


def test_unknown_keeps_the_last_known_health() -> None:
    # A refresh that could not check (Docker away for a container-only service) is no
    # recovery, and the same failure afterwards is no new alert.
    clock, watch = Clock(), AlertWatch(AlertRules())
    states: list[Health] = ["healthy", "unhealthy", "unknown", "unknown", "unhealthy", "healthy"]
    alerts = feed_all(watch, (snap(clock, service(health=h)) for h in states))
    assert rules_of(alerts) == [(2.0, "unhealthy", "redis"), (6.0, "recovered", "redis")]


def test_unknown_at_the_start_then_unhealthy_fires() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    states: list[Health] = ["unknown", "unknown", "unhealthy", "unhealthy"]
    alerts = feed_all(watch, (snap(clock, service(health=h)) for h in states))
    assert rules_of(alerts) == [(3.0, "unhealthy", "redis")]


def test_unhealthy_text_names_a_stopped_container_first() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    watch.feed(snap(clock, service(container=running())))
    stopped = service(health="unhealthy", check=REFUSED, container=running(state="exited"))
    [alert] = watch.feed(snap(clock, stopped))
    assert alert.text == "redis unhealthy: container exited"


def test_each_service_has_its_own_transitions() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    up = (service("redis"), service("kafka"))
    watch.feed(snap(clock, *up))
    alerts = watch.feed(
        snap(clock, service("redis", "unhealthy", REFUSED), service("kafka", "unhealthy", REFUSED))
    )
    assert [a.subject for a in alerts] == ["redis", "kafka"]
    alerts = watch.feed(snap(clock, service("redis"), service("kafka", "unhealthy", REFUSED)))
    assert rules_of(alerts) == [(3.0, "recovered", "redis")]


# ---- restarts ----------------------------------------------------------------------------


def test_restart_by_count_once_per_restart_event() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    counts = [2, 2, 3, 3, 3, 3, 5, 5]
    alerts = feed_all(watch, (snap(clock, service("bridge", container=running(n))) for n in counts))
    assert [(a.at, a.rule, a.text) for a in alerts] == [
        (3.0, "restart", "bridge restarted (3 restarts)"),
        (7.0, "restart", "bridge restarted 2 times (5 restarts)"),
    ]
    assert all(a.severity == "warning" for a in alerts)


def test_restart_by_started_at_while_running() -> None:
    # `docker restart` leaves Docker's RestartCount alone: the new start time tells.
    clock, watch = Clock(), AlertWatch(AlertRules())
    starts = [1000.0, 1000.0, 2000.0, 2000.0, 2000.0]
    alerts = feed_all(watch, (snap(clock, service(container=running(0, s))) for s in starts))
    assert [(a.at, a.text) for a in alerts] == [
        (3.0, "redis restarted (started again; 0 restarts counted by Docker)")
    ]


def down(state: str, restarts: int = 0, started: float | None = 1000.0) -> ContainerInfo:
    return ContainerInfo(state=state, started_at=started, restart_count=restarts)


# What really happened to one container, a state each second. Every refresh samples it,
# at whatever moments it happens to run: ``(timeline, restarts)``.
TIMELINES = {
    "docker restart": ([running(0, 1000.0), down("exited"), running(0, 2000.0)], 1),
    "policy restart": ([running(0, 1000.0), down("restarting", 1), running(1, 2000.0)], 1),
    "crash, then policy": (
        [running(0, 1000.0), down("exited"), down("restarting", 1), running(1, 2000.0)],
        1,
    ),
    "stop, then start by hand": (
        [running(0, 1000.0), down("exited"), down("exited"), running(0, 3000.0)],
        1,
    ),
    "re-created": (
        [
            running(3, 1000.0),
            down("removing", 3),
            down("missing", 0, None),
            down("created", 0, None),
            running(0, 2000.0),
        ],
        1,
    ),
    "dead, then started": ([running(0, 1000.0), down("dead"), running(0, 2000.0)], 1),
    "paused, then unpaused": ([running(0, 1000.0), down("paused"), running(0, 1000.0)], 0),
    "crash loop": (
        [
            running(0, 1000.0),
            down("restarting", 1),
            running(1, 2000.0),
            down("restarting", 2),
            running(2, 3000.0),
        ],
        2,
    ),
}


def samplings(timeline: list[ContainerInfo]) -> Iterable[list[ContainerInfo | None]]:
    """Every way refreshes can have seen it: the first and last state, and any of those
    between; each seen state also once with a refresh between that had no container
    information (Docker did not answer)."""
    first, *middle, last = timeline
    for n in range(len(middle) + 1):
        for seen in itertools.combinations(middle, n):
            yield [first, *seen, last]
            yield [first, *(x for c in seen for x in (c, None)), None, last]


@pytest.mark.parametrize("name", TIMELINES)
def test_a_restart_is_alerted_whatever_the_refreshes_saw_of_it(name: str) -> None:
    # The class of the defect a clean-clone run met: a `docker restart` whose stop a
    # refresh happened to see (exited, then running again) was no alert at all.
    timeline, restarts = TIMELINES[name]
    for seen in samplings(timeline):
        clock, watch = Clock(), AlertWatch(AlertRules(unhealthy=False))
        alerts = feed_all(watch, (snap(clock, service(container=c)) for c in seen))
        assert {a.rule for a in alerts} <= {"restart"}, (name, seen)
        if restarts == 0:
            assert alerts == [], (name, seen)
        elif len(seen) == len(timeline) and None not in seen:
            assert len(alerts) == restarts, (name, alerts)  # every state seen: each one
        else:
            assert 1 <= len(alerts) <= restarts, (name, seen, alerts)


def test_a_restart_seen_while_down_says_so() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    containers = [running(0, 1000.0), down("exited"), running(0, 2000.0), running(0, 2000.0)]
    alerts = feed_all(watch, (snap(clock, service(container=c)) for c in containers))
    assert [(a.at, a.text) for a in alerts] == [
        (3.0, "redis restarted (exited, then started again; 0 restarts counted by Docker)")
    ]


def test_a_container_down_at_the_start_coming_up_is_not_a_restart() -> None:
    # Never seen running: its start is news for "recovered", not a restart.
    clock, watch = Clock(), AlertWatch(AlertRules(unhealthy=False))
    containers = [down("exited", 0, None), running(0, 2000.0), running(0, 2000.0)]
    assert feed_all(watch, (snap(clock, service(container=c)) for c in containers)) == []


def test_restart_count_and_new_start_together_are_one_alert() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    watch.feed(snap(clock, service(container=running(1, 1000.0))))
    alerts = watch.feed(snap(clock, service(container=running(2, 2000.0))))
    assert [a.text for a in alerts] == ["redis restarted (2 restarts)"]


def test_container_missing_from_a_refresh_changes_nothing() -> None:
    # No container info (Docker unreachable) between two equal states: no restart.
    clock, watch = Clock(), AlertWatch(AlertRules())
    containers = [running(4, 1000.0), None, None, running(4, 1000.0)]
    alerts = feed_all(watch, (snap(clock, service(container=c)) for c in containers))
    assert alerts == []


# ---- the bridge: circuit and backlog -------------------------------------------------------


def figures(
    circuit: str | None = "closed", backlog: float | None = 0.0, source: str = "prometheus"
) -> BridgeFigures:
    return BridgeFigures(circuit_state=circuit, outbox_backlog=backlog, source=source)


def bridge_alerts(watch: AlertWatch, bridges: Iterable[BridgeFigures | None]) -> list[Alert]:
    clock = Clock()
    return feed_all(watch, (snap(clock, bridge=b) for b in bridges))


def test_circuit_open_once_and_closed_once() -> None:
    states = ["closed", "closed", "open", "open", "half_open", "open", "half_open", "closed"]
    alerts = bridge_alerts(AlertWatch(AlertRules()), (figures(s) for s in states))
    assert [(a.at, a.text, a.severity) for a in alerts] == [
        (3.0, "kafka circuit open", "error"),
        (8.0, "kafka circuit closed", "information"),
    ]
    assert {a.subject for a in alerts} == {"bridge"}


def test_circuit_open_at_the_start_closing_is_said() -> None:
    states = ["half_open", "open", "closed", "closed"]
    alerts = bridge_alerts(AlertWatch(AlertRules()), (figures(s) for s in states))
    assert [a.text for a in alerts] == ["kafka circuit closed"]


@pytest.mark.parametrize(
    "missing",
    [None, figures("open", 999.0, source="none"), figures(None, None)],
    ids=["no-figures", "source-none", "no-values"],
)
def test_missing_bridge_figures_are_not_transitions(missing: BridgeFigures | None) -> None:
    rules = AlertRules(backlog_threshold=100, backlog_refreshes=3)
    bridges = [
        figures("open", 500.0),
        figures("open", 500.0),
        missing,
        missing,
        missing,
        missing,
        figures("open", 500.0),  # third refresh above: the backlog alert
        missing,
        figures("open", 500.0),
        figures("closed", 50.0),
    ]
    alerts = bridge_alerts(AlertWatch(rules), bridges)
    assert [(a.at, a.text) for a in alerts] == [
        (7.0, "outbox backlog 500 > 100 for 3 refreshes"),
        (10.0, "kafka circuit closed"),
        (10.0, "outbox backlog drained: 50 <= 100"),
    ]


def test_backlog_needs_n_refreshes_in_a_row_then_fires_once() -> None:
    rules = AlertRules(backlog_threshold=100, backlog_refreshes=3)
    values = [0, 150, 150, 90, 150, 150, 250, 300, 400, 400, 100, 100, 150]
    alerts = bridge_alerts(AlertWatch(rules), (figures(backlog=v) for v in values))
    assert [(a.at, a.rule, a.severity, a.text) for a in alerts] == [
        (7.0, "backlog", "warning", "outbox backlog 250 > 100 for 3 refreshes"),
        (11.0, "backlog", "information", "outbox backlog drained: 100 <= 100"),
    ]


def test_backlog_of_one_refresh_and_high_at_the_start() -> None:
    rules = AlertRules(backlog_threshold=0, backlog_refreshes=1)
    values = [5, 5, 0, 7, 7]  # high at the baseline: known, silently; drained; high again
    alerts = bridge_alerts(AlertWatch(rules), (figures(backlog=v) for v in values))
    assert [(a.at, a.text) for a in alerts] == [
        (3.0, "outbox backlog drained: 0 <= 0"),
        (4.0, "outbox backlog 7 > 0 for 1 refresh"),
    ]


# ---- switches --------------------------------------------------------------------------------


def _everything(watch: AlertWatch) -> list[Alert]:
    """A run that raises every rule once (and every recovery)."""
    clock = Clock()
    quiet = figures("closed", 0.0)
    busy = figures("open", 500.0)
    plan = [
        (service(container=running(0)), quiet),
        (service("redis", "unhealthy", REFUSED, running(1)), busy),
        (service("redis", "unhealthy", REFUSED, running(1)), busy),
        (service("redis", "unhealthy", REFUSED, running(1)), busy),
        (service(container=running(1)), quiet),
    ]
    return feed_all(watch, (snap(clock, s, bridge=b) for s, b in plan))


def test_every_rule_once_with_everything_on() -> None:
    alerts = _everything(AlertWatch(AlertRules()))
    assert sorted((a.rule, a.severity) for a in alerts) == [
        ("backlog", "information"),
        ("backlog", "warning"),
        ("circuit", "error"),
        ("circuit", "information"),
        ("recovered", "information"),
        ("restart", "warning"),
        ("unhealthy", "error"),
    ]


@pytest.mark.parametrize(
    ("switch", "silenced"),
    [
        ("unhealthy", {"unhealthy", "recovered"}),
        ("restart", {"restart"}),
        ("circuit", {"circuit"}),
        ("backlog", {"backlog"}),
    ],
)
def test_a_rule_switched_off_is_silent_and_the_others_are_not(
    switch: str, silenced: set[str]
) -> None:
    everything = {a.rule for a in _everything(AlertWatch(AlertRules()))}
    alerts = _everything(AlertWatch(AlertRules(**{switch: False})))
    assert {a.rule for a in alerts} == everything - silenced


def test_disabled_raises_nothing() -> None:
    assert _everything(AlertWatch(AlertRules(enabled=False))) == []


# ---- summary ---------------------------------------------------------------------------------


def test_summary_all_healthy_and_faults_by_kind() -> None:
    clock, watch = Clock(), AlertWatch(AlertRules())
    assert watch.summary(snap(clock, service("redis"), service("kafka"))) == (
        "watching 2 services: all healthy"
    )
    faulty = snap(
        clock,
        service("redis", "unhealthy", REFUSED),
        service("bridge", "degraded"),
        service("kafka", "unhealthy", REFUSED),
        service("grafana", "unknown"),
        service("postgres"),
        bridge=figures("open", 250.0),
    )
    assert watch.summary(faulty) == (
        "watching 5 services: 2 unhealthy (redis, kafka), 1 degraded (bridge), "
        "1 unknown (grafana), kafka circuit open, outbox backlog 250"
    )
    assert watch.summary(snap(clock, service())) == "watching 1 service: all healthy"
