"""Getting stored events into Kafka: the outbox relay, its breaker, the Terra consumer."""
