-- depends: 0017.lot-status-lookup
-- The manufacturers of a logistic unit, in one place (issue 14 review #11): those of every lot in it. A case holds
-- its one lot; a tote or consignment the lots of the packs ever moved (or returned) into it; a pallet what its cases
-- and totes hold. Every reader asks this function: the access policy's unit and alert checks, the alert lists'
-- predicate, provenance. Before, four copies disagreed (an alert on a tote of several lots was shown to none of
-- their manufacturers; a pallet's list left out returned packs).

CREATE FUNCTION unit_manufacturers(unit bytea) RETURNS SETOF bytea
LANGUAGE sql STABLE AS $$
SELECT DISTINCT l.manufacturer
FROM (
    SELECT DISTINCT k.lot_id
    FROM (SELECT unit AS unit_id
          UNION ALL SELECT c.case_id FROM ev_pallet_packed p CROSS JOIN LATERAL unnest(p.case_ids) AS c (case_id)
                    WHERE p.pallet_id = unit) u
    CROSS JOIN LATERAL (
        SELECT lot_id FROM ev_case_packed WHERE case_id = u.unit_id
        UNION ALL SELECT lot_id FROM ev_case_tree_packed WHERE case_id = u.unit_id
        UNION ALL SELECT lot_id FROM pack_events WHERE container_id = u.unit_id AND kind IN ('moved', 'returned')
    ) k
) lots
JOIN lot_status l ON l.lot_id = lots.lot_id
$$;
