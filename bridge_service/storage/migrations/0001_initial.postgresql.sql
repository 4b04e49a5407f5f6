-- Events and the transactional outbox (PostgreSQL).
-- UNIQUE (source, event_id) is the authority for exactly-once: a redelivered
-- webhook finds its row and writes nothing.

CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    user_id     text        NOT NULL,
    event_type  text        NOT NULL,
    trace_id    text,
    occurred_at timestamptz,
    received_at timestamptz NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    payload     jsonb       NOT NULL,
    CONSTRAINT events_source_event_id_key UNIQUE (source, event_id)
);

-- One row per event still to publish; a published row is deleted.
-- Claim order is id order, served by the primary key: a claim walks it from
-- the start and skips the few rows under a live lease (at most relays x batch).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    user_id     text        NOT NULL,
    trace_id    text,
    value       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    leased_by   text,
    lease_until timestamptz
);
