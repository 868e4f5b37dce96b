-- depends: 0007.relay-reorgs
-- The verification log, partitioned by month (UTC): every verification and refused scan is a row,
-- some 100 million a day at full load, kept for years (DSCSA asks six). A month is a table of its
-- own, so old months can be archived or dropped whole (VERIFY_LOG_RETENTION_MONTHS) and queries by
-- time touch only their months. The API's log writer makes sure the coming months exist
-- (verification_months), hourly; a row for a month without its table is refused, never lost: it
-- stays queued in the writer.
ALTER TABLE verifications RENAME TO verifications_unpartitioned;
ALTER INDEX verifications_pkey RENAME TO verifications_unpartitioned_pkey;
ALTER INDEX verifications_undetected_idx RENAME TO verifications_unpartitioned_undetected_idx;
ALTER INDEX verifications_sgtin_idx RENAME TO verifications_unpartitioned_sgtin_idx;
ALTER INDEX verifications_org_idx RENAME TO verifications_unpartitioned_org_idx;
ALTER SEQUENCE verifications_id_seq OWNED BY NONE;

CREATE TABLE verifications (
    id              bigint      NOT NULL DEFAULT nextval('verifications_id_seq'),
    at              timestamptz NOT NULL DEFAULT now(),
    organisation_id bigint      REFERENCES organisations (id),
    requester_gln   bigint,
    channel         text        NOT NULL CHECK (channel IN ('api', 'lvm', 'scan')),
    code            text        NOT NULL,
    gtin            bigint,
    serial          text,
    lot             text,
    expiry          date,
    sgtin_id        bytea,
    unit_id         bytea,
    verdict         text        NOT NULL,
    reasons         text[]      NOT NULL DEFAULT '{}',
    corr_uuid       text,
    context         text,
    detected        boolean     NOT NULL DEFAULT false,  -- the detection rules have seen it
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE verifications_id_seq OWNED BY verifications.id;
CREATE INDEX verifications_undetected_idx ON verifications (id) WHERE NOT detected;
CREATE INDEX verifications_sgtin_idx ON verifications (sgtin_id, at) WHERE sgtin_id IS NOT NULL;
CREATE INDEX verifications_org_idx ON verifications (organisation_id, at);

-- The monthly tables from p_from's month to p_to's, those missing; returns how many it made.
CREATE FUNCTION verification_months(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', p_from AT TIME ZONE 'UTC')::date;
    made integer := 0;
    name text;
BEGIN
    WHILE month <= (p_to AT TIME ZONE 'UTC')::date LOOP
        name := 'verifications_' || to_char(month, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF verifications FOR VALUES FROM (%L) TO (%L)', name,
                           month::timestamp AT TIME ZONE 'UTC', (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN made;
END
$$;

-- Drop the monthly tables that end on or before p_before; returns how many.
CREATE FUNCTION drop_verification_months(p_before timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'verifications'::regclass AND c.relname ~ '^verifications_[0-9]{4}_[0-9]{2}$'
    LOOP
        IF (to_date(substr(part.relname, 15), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC'
           <= p_before THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;

-- PERFORM in a DO block, not a bare SELECT: yoyo prints the rows a migration's statement returns, and
-- `up` printed this one as a stray table on every fresh start.
DO $$
BEGIN
    PERFORM verification_months(COALESCE((SELECT min(at) FROM verifications_unpartitioned), now()),
                                GREATEST(now(), (SELECT max(at) FROM verifications_unpartitioned)) + interval '3 months');
END
$$;
INSERT INTO verifications SELECT * FROM verifications_unpartitioned;
DROP TABLE verifications_unpartitioned;
