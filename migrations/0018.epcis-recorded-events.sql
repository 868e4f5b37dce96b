-- depends: 0017.lot-status-lookup
-- EPCIS events that are recorded but have no custody effect on chain (issue 15): a TransactionEvent (a purchase
-- order, a despatch advice: bizTransactionList) and an AssociationEvent (a sensor device to a unit). Written by
-- app/db/captures.py only, with the capture that brought them; exported back in the EPCIS queries of the objects
-- they name (epcs), to the capturing organisation and regulators (app/services/access.py).
CREATE TABLE epcis_recorded_events (
    organisation_id  bigint      NOT NULL REFERENCES organisations (id),
    event_id         text        NOT NULL,  -- its eventID, else its GS1 event hash (as epcis_captured_events)
    capture_id       uuid        NOT NULL REFERENCES epcis_captures (id),
    event_index      integer     NOT NULL,
    event_type       text        NOT NULL CHECK (event_type IN ('TransactionEvent', 'AssociationEvent')),
    epcs             text[]      NOT NULL,  -- the EPC URIs of our objects it names (SGTIN, SSCC, LGTIN class)
    event            jsonb       NOT NULL,  -- the event as captured, identifiers and CBV words in canonical form
    head_block       bigint      NOT NULL,  -- the mirror's head when recorded: where it sorts among chain events
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, event_id)
);
CREATE INDEX epcis_recorded_events_by_epc ON epcis_recorded_events USING gin (epcs);
