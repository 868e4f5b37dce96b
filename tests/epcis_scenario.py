"""A supply chain that makes every kind of custody event, for the EPCIS export and query tests.

- lot L (commissioned in one go, 100 packs) and an opened lot O (one batch of 10); cases C0 (L 0-19), C1 (L 20-29),
  a tree case T (L 40, 41) and case O0 (O 0-9); pallet P of C0 + C1 with a pallet logger (one reading above
  2-8 °C: an excursion);
- P shipped maker -> distributor, received, unpacked; C1 shipped to maker2, refused; C1 quarantined and cleared;
- C0 unpacked; tote U of L 1, 2, 3 shipped to the pharmacy, received, unpacked; pack 1 dispensed and undone,
  dispensed again; pack 2 returned to the distributor, accepted; pack 3 reported stolen;
- L 5 shipped loose (a consignment) to pharmacy2, received; maker destroys L 40; lot O quarantined, cleared,
  recalled.
"""

from __future__ import annotations

import uuid

from tests.world import GTIN_BASE, World, check_digit

T0 = 1_750_000_000


def build(world: World) -> dict:
    p = world.parties
    post, done = world.post, world.done
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    lot, opened = f"L{uuid.uuid4().hex[:6].upper()}", f"O{uuid.uuid4().hex[:6].upper()}"
    done("maker", post("maker", "/v1/products", {"gtin": gtin, "name": "Insulin glargine",
                                                 "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    done("maker", post("maker", "/v1/lots", {"gtin": gtin, "lot": lot, "expiry": "2030-12-31",
                                             "serial_range": {"prefix": "S", "first": 0, "count": 100, "digits": 10}}))  # fmt: skip
    done("maker", post("maker", "/v1/lots/openings", {"gtin": gtin, "lot": opened, "expiry": "2031-06-30",
                                                      "capacity": 20}))  # fmt: skip
    done("maker", post("maker", "/v1/lots/batches", {"gtin": gtin, "lot": opened, "serial_range": {
        "prefix": "O", "first": 0, "count": 10, "digits": 6}}))  # fmt: skip

    def pack(n: int) -> str:
        return f"(01){gtin}(21)S{n:010d}"

    c0, c1, tree, o0, pallet, tote = (world.sscc() for _ in range(6))
    done("maker", post("maker", "/v1/cases", {"sscc": c0, "gtin": gtin, "lot": lot, "first_index": 0, "count": 20}))
    done("maker", post("maker", "/v1/cases", {"sscc": c1, "gtin": gtin, "lot": lot, "first_index": 20, "count": 10}))
    done("maker", post("maker", "/v1/cases", {"sscc": tree, "gtin": gtin, "lot": lot, "packs": [pack(40), pack(41)]}))
    done("maker", post("maker", "/v1/cases", {"sscc": o0, "gtin": gtin, "lot": opened, "first_index": 0, "count": 10}))
    done("maker", post("maker", "/v1/pallets", {"sscc": pallet, "cases": [c0, c1]}))
    readings = {"sensor_id": "pallet-logger", "start": T0, "interval": 600, "celsius": [4.0, 9.5, 6.0]}
    done("maker", post("maker", f"/v1/units/{pallet}/readings", readings))
    done("maker", post("maker", "/v1/shipments", {"units": [pallet], "to": p["distributor"].gln}))
    done("distributor", post("distributor", "/v1/receipts", {"units": [pallet]}))
    done("distributor", post("distributor", "/v1/unpackings", {"units": [pallet]}))
    done("distributor", post("distributor", "/v1/shipments", {"units": [c1], "to": p["maker2"].gln}))
    done("maker2", post("maker2", "/v1/refusals", {"units": [c1]}))
    done("distributor", post("distributor", "/v1/quarantines", {"sscc": c1}))
    done("distributor", post("distributor", "/v1/quarantine-clearances", {"sscc": c1}))
    done("distributor", post("distributor", "/v1/unpackings", {"units": [c0]}))
    done("distributor", post("distributor", "/v1/totes", {"sscc": tote, "packs": [pack(1), pack(2), pack(3)]}))
    done("distributor", post("distributor", "/v1/shipments", {"units": [tote], "to": p["pharmacy"].gln}))
    done("pharmacy", post("pharmacy", "/v1/receipts", {"units": [tote]}))
    done("pharmacy", post("pharmacy", "/v1/unpackings", {"units": [tote]}))
    done("pharmacy", post("pharmacy", "/v1/dispensations", {"packs": [pack(1)]}))
    done("pharmacy", post("pharmacy", "/v1/dispensation-undos", {"packs": [pack(1)]}))
    done("pharmacy", post("pharmacy", "/v1/dispensations", {"packs": [pack(1)]}))
    back = done("pharmacy", post("pharmacy", "/v1/returns", {"packs": [pack(2)], "to": p["distributor"].gln}))
    done("distributor", post("distributor", "/v1/return-acceptances", {"consignments": [back["consignment"]]}))
    done("pharmacy", post("pharmacy", "/v1/thefts", {"packs": [pack(3)]}))
    loose = done("distributor", post("distributor", "/v1/pack-shipments", {"packs": [pack(5)],
                                                                          "to": p["pharmacy2"].gln}))  # fmt: skip
    done("pharmacy2", post("pharmacy2", "/v1/receipts", {"consignments": [loose["consignment"]]}))
    done("maker", post("maker", "/v1/destructions", {"packs": [pack(40)]}))
    done("maker", post("maker", "/v1/quarantines", {"gtin": gtin, "lot": opened}))
    done("maker", post("maker", "/v1/quarantine-clearances", {"gtin": gtin, "lot": opened}))
    done("maker", post("maker", "/v1/lots/recalls", {"gtin": gtin, "lot": opened}))
    world.indexer.run_until_caught_up()
    return {"gtin": gtin, "lot": lot, "opened": opened, "c0": c0, "c1": c1, "tree": tree, "o0": o0,
            "pallet": pallet, "tote": tote, "pack": pack}  # fmt: skip
