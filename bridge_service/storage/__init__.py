"""Durable storage of events and the outbox (PostgreSQL, or embedded SQLite)."""
