-- Events and the transactional outbox (SQLite).
-- Same logical schema as the PostgreSQL variant. Timestamps are UTC ISO 8601
-- text with microseconds ('2025-01-31T12:00:00.000000+00:00'), always written
-- in that one format so they compare correctly as text; payload is JSON text.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    trace_id    TEXT,
    occurred_at TEXT,
    received_at TEXT NOT NULL,
    stored_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    payload     TEXT NOT NULL,
    UNIQUE (source, event_id)
);

-- Claim order is id order: the rowid itself, no extra index needed.
-- AUTOINCREMENT so a deleted (published) id is never handed out again, as
-- with bigserial.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    trace_id    TEXT,
    value       BLOB NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    leased_by   TEXT,
    lease_until TEXT
);
