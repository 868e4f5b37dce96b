-- depends: 0018.epcis-recorded-events 0019.unit-manufacturers
-- EPCIS named queries and webhook subscriptions (issue 15). A named query belongs to the organisation that created
-- it (its name is unique per organisation). A subscription runs its query for that organisation; the events it
-- finds are queued in epcis_deliveries (the outbox: one row per subscription and event), POSTed to `dest` at least
-- once with exponential backoff (next_attempt_at), and marked delivered on the subscriber's 2xx, so a restart of
-- the delivery process never sends a delivered row again.
CREATE TABLE epcis_queries (
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    query            jsonb       NOT NULL,  -- the EPCISEventsQuery as given (parameter -> list of values or value)
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, name)
);

CREATE TABLE epcis_subscriptions (
    id                  uuid        PRIMARY KEY,
    organisation_id     bigint      NOT NULL,
    query_name          text        NOT NULL,
    dest                text        NOT NULL,
    signature_token     text,
    stream              boolean     NOT NULL,
    schedule            jsonb,      -- NULL for a stream
    report_if_empty     boolean     NOT NULL DEFAULT false,
    initial_record_time timestamptz,
    scanned_block       bigint      NOT NULL,  -- events in blocks up to this one have been queued
    next_run_at         timestamptz,           -- a scheduled subscription's next run
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_notified_at    timestamptz,
    FOREIGN KEY (organisation_id, query_name) REFERENCES epcis_queries (organisation_id, name) ON DELETE CASCADE,
    CHECK (stream = (schedule IS NULL))
);
CREATE INDEX epcis_subscriptions_query ON epcis_subscriptions (organisation_id, query_name);

CREATE TABLE epcis_deliveries (
    subscription_id  uuid        NOT NULL REFERENCES epcis_subscriptions (id) ON DELETE CASCADE,
    event_id         text        NOT NULL,  -- the event's eventID; a scheduled empty report: 'report:' + its run time
    event            jsonb,                 -- the event as found (its home object and position); NULL: empty report
    block_number     bigint      NOT NULL,
    log_index        integer     NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'withheld')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX epcis_deliveries_due ON epcis_deliveries (next_attempt_at) WHERE status = 'pending';
