-- depends: 0020.epcis-subscriptions
-- lot_status, kept as a table (issue 13: verification's margin). The rule stays where it was: the view of 0017,
-- renamed lot_status_of_events, is what a lot's record and status ARE (its commissioning, batches, recall and
-- quarantine events). lot_state holds that view's rows, one per lot, and triggers on each of those event tables
-- recompute a lot's row from the view whenever one of its events is inserted, changed or deleted (a reorg rollback
-- deletes), and empty it when they are truncated (a chain reset). lot_status, which every reader asks, now reads the
-- table: a primary-key lookup instead of the view's union of two branches and its EXISTS subqueries, which were
-- about a fifth of a pack verification's Postgres CPU. No module of app/ writes lot_state.

ALTER VIEW lot_status RENAME TO lot_status_of_events;

CREATE TABLE lot_state AS SELECT * FROM lot_status_of_events;
ALTER TABLE lot_state ADD PRIMARY KEY (lot_id);
CREATE INDEX lot_state_manufacturer_idx ON lot_state (manufacturer);

CREATE VIEW lot_status AS SELECT * FROM lot_state;

CREATE FUNCTION lot_state_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM lot_state WHERE lot_id = OLD.lot_id;
        INSERT INTO lot_state SELECT * FROM lot_status_of_events WHERE lot_id = OLD.lot_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        DELETE FROM lot_state WHERE lot_id = NEW.lot_id;
        INSERT INTO lot_state SELECT * FROM lot_status_of_events WHERE lot_id = NEW.lot_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION lot_state_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- a truncated event table: recompute every lot from what the other tables still hold
    DELETE FROM lot_state;
    INSERT INTO lot_state SELECT * FROM lot_status_of_events;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ev_lot_commissioned', 'ev_lot_opened', 'ev_batch_commissioned', 'ev_lot_recalled',
                             'ev_lot_quarantined', 'ev_lot_quarantine_cleared'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION lot_state_refresh()', t || '_lot_state', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION lot_state_clear()', t || '_lot_state_clear', t);
    END LOOP;
END
$$;
