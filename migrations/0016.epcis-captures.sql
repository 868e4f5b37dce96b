-- depends: 0015.pack-moves
-- EPCIS capture (issue 15): a capture job per POST /epcis/capture, and the events it applied, by identity
-- (the event's eventID, else its hash), so that an event sent again is not applied twice.
CREATE TABLE epcis_captures (
    id               uuid        PRIMARY KEY,
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    status           text        NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    error_behaviour  text        NOT NULL CHECK (error_behaviour IN ('rollback', 'proceed')),
    event_count      integer     NOT NULL CHECK (event_count >= 0),
    events           jsonb       NOT NULL DEFAULT '[]',  -- per event: index, eventID, state, operation ids
    errors           jsonb       NOT NULL DEFAULT '[]',  -- per refused event: index, field, reason, detail
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX epcis_captures_by_organisation ON epcis_captures (organisation_id, created_at);

CREATE TABLE epcis_captured_events (
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    event_id         text        NOT NULL,
    capture_id       uuid        NOT NULL REFERENCES epcis_captures (id),
    event_index      integer     NOT NULL,
    operation_ids    uuid[]      NOT NULL,
    content_sha256   bytea       NOT NULL CHECK (length(content_sha256) = 32),  -- the same eventID, other content: refused
    PRIMARY KEY (organisation_id, event_id)
);
