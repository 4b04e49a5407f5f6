"""Kafka through a connection: the consumer, records as the tail shows them, JSON lines."""
