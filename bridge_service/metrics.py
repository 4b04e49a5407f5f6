"""Prometheus metrics of one bridge app (own registry, so tests can run several)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Dashboards exist for the first three names: they must not change.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter(
            "webhook_events_total",
            "Webhooks received, by provider and outcome",
            ["source", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "webhook_process_duration_seconds",
            "Time to verify, store and answer one webhook",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.active = Gauge("active_webhook_tasks", "Webhooks being processed now", registry=r)
        self.outbox_backlog = Gauge(
            "bridge_outbox_backlog", "Events stored but not yet published", registry=r
        )
        self.outbox_oldest = Gauge(
            "bridge_outbox_oldest_age_seconds", "Age of the oldest unpublished event", registry=r
        )
        self.publish_attempts = Counter(
            "bridge_publish_attempts_total", "Outbox rows sent to Kafka", registry=r
        )
        self.publish_failures = Counter(
            "bridge_publish_failures_total", "Outbox rows whose publish failed", registry=r
        )
        self.published = Counter(
            "bridge_published_total", "Outbox rows acknowledged by Kafka", registry=r
        )
        self.circuit_state = Gauge(
            "bridge_kafka_circuit_state",
            "Kafka circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=r,
        )
        self.dedup_hits = Counter(
            "bridge_dedup_hits_total",
            "Duplicates answered, by where they were caught",
            ["layer"],
            registry=r,
        )
        self.terra_consumed = Counter(
            "bridge_terra_records_total",
            "Terra records consumed, by outcome",
            ["status"],
            registry=r,
        )
