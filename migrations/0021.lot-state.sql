-- depends: 0020.epcis-subscriptions
-- lot_status, kept as a table (issue 13: verification's margin). The rule stays where it was: the view of 0017,
-- renamed lot_status_of_events, is what a lot's record and status ARE (its commissioning, batches, recall and
-- quarantine events). lot_state holds that view's rows, one per lot, and triggers on each of those event tables
-- recompute a lot's row from the view whenever one of its events is inserted, changed or deleted (a reorg rollback
-- deletes), and empty it when they are truncated (a chain reset). lot_status, which every reader asks, now reads the
-- table: a primary-key lookup instead of the view's union of two branches and its EXISTS subqueries, which were
-- about a fifth of a pack verification's Postgres CPU. lot_batches, the same way, reads lot_batch_state. No
-- module of app/ writes either table.

ALTER VIEW lot_status RENAME TO lot_status_of_events;

CREATE TABLE lot_state AS SELECT * FROM lot_status_of_events;
ALTER TABLE lot_state ADD PRIMARY KEY (lot_id);
CREATE INDEX lot_state_manufacturer_idx ON lot_state (manufacturer);

CREATE VIEW lot_status AS SELECT * FROM lot_state;

-- lot_batches likewise (a lot commissioned in one go is its batch 0; an opened lot's batches), read per verification
ALTER VIEW lot_batches RENAME TO lot_batches_of_events;
CREATE TABLE lot_batch_state AS SELECT * FROM lot_batches_of_events;
CREATE INDEX lot_batch_state_lot_idx ON lot_batch_state (lot_id, batch);
CREATE VIEW lot_batches AS SELECT * FROM lot_batch_state;

-- TG_ARGV: the derived table and the view whose rows it holds, both keyed by lot_id
CREATE FUNCTION lot_state_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    lots bytea[];
    lot bytea;
BEGIN
    IF TG_OP = 'INSERT' THEN
        lots := ARRAY[NEW.lot_id];
    ELSIF TG_OP = 'DELETE' THEN
        lots := ARRAY[OLD.lot_id];
    ELSIF NEW.lot_id IS DISTINCT FROM OLD.lot_id THEN
        lots := ARRAY[OLD.lot_id, NEW.lot_id];
    ELSE
        lots := ARRAY[OLD.lot_id];
    END IF;
    FOREACH lot IN ARRAY lots LOOP
        EXECUTE format('DELETE FROM %I WHERE lot_id = $1', TG_ARGV[0]) USING lot;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE lot_id = $1', TG_ARGV[0], TG_ARGV[1]) USING lot;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION lot_state_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- a truncated event table: recompute every lot from what the other tables still hold
    EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
    EXECUTE format('INSERT INTO %I SELECT * FROM %I', TG_ARGV[0], TG_ARGV[1]);
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
                       'EXECUTE FUNCTION lot_state_refresh(lot_state, lot_status_of_events)', t || '_lot_state', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION lot_state_clear(lot_state, lot_status_of_events)', t || '_lot_state_clear', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['ev_lot_commissioned', 'ev_batch_commissioned'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION lot_state_refresh(lot_batch_state, lot_batches_of_events)',
                       t || '_lot_batch_state', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION lot_state_clear(lot_batch_state, lot_batches_of_events)',
                       t || '_lot_batch_state_clear', t);
    END LOOP;
END
$$;
