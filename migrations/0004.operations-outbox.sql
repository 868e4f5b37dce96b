-- depends: 0003.organisations-api-keys
-- Accepted writes: the durable outbox the relayer drains, one row per accepted request.
-- (organisation, Idempotency-Key) is unique, so a rescan returns the first answer; the request's
-- digest tells a replay from a different request reusing the key.
CREATE TABLE operations (
    id               uuid        PRIMARY KEY,
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    action           text        NOT NULL,
    payload          jsonb       NOT NULL,
    idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_sha256   bytea       NOT NULL CHECK (length(request_sha256) = 32),
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'submitted', 'confirmed', 'failed')),
    tx_hash          bytea,
    block_number     bigint,
    error            jsonb,
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organisation_id, idempotency_key)
);
CREATE INDEX operations_pending_idx ON operations (organisation_id, action, created_at) WHERE status = 'pending';
