"""Demo data for `pharmatrack demo` and `pharmatrack up --demo`: a small supply chain on the
local chain, sent straight to the contract from anvil's unlocked dev accounts.

A manufacturer commissions a lot of 200 packs, packs them into 4 cases on 2 pallets and ships both
to a distributor, each with a temperature logger: the first pallet's logger reads once above +8 °C
(an excursion: its packs verify `suspect`), the second's stays within +2..+8 °C (its packs verify
`verified`). The distributor splits the cases between two pharmacies, one case of each pallet to
each, which open them and dispense a few packs from the first pallet's cases.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from biip.checksums import gs1_standard_check_digit
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from app.chain.compiler import load_artifacts
from app.chain.deploy import load_checked
from app.chain.web3factory import connect
from app.config import Settings
from app.errors import ConfigError
from app.ids import lgtin_id, pack_readings, pack_set, sgtin_id, sscc_id
from app.merkle import LotTree

GTIN = "09506000134352"
LOT = "DEMO-L1"
PACKS = 200
PER_CASE = 50
WARM_READINGS = [420, 450, 930, 510, 490, 460]  # centi-°C: one reading of +9.3 °C, above +8 °C
COOL_READINGS = [410, 430, 450, 440, 420, 430]
# Packs to try (serials): on the warm pallet (excursion: `suspect`) and on the cool one (`verified`), each
# at Riverside Pharmacy, in cases it received and opened; neither dispensed.
WARM_PACK, COOL_PACK = "DEMO000010", "DEMO000110"


def with_check_digit(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


PALLET_SSCCS = [with_check_digit("10950600000009000"), with_check_digit("10950600000009002")]


@dataclass(frozen=True)
class Party:
    name: str
    gln: str
    role: str
    account: str


def parties(w3: Web3) -> list[Party]:
    accounts = w3.eth.accounts
    if len(accounts) < 6:
        raise ConfigError("RPC_URL", "the demo needs a local dev chain with unlocked accounts (anvil)")
    specs = [
        ("Acme Pharma (manufacturer)", "MANUFACTURER_ROLE"),
        ("Northwind Distribution (distributor)", "DISTRIBUTOR_ROLE"),
        ("Riverside Pharmacy (dispenser)", "DISPENSER_ROLE"),
        ("Hilltop Pharmacy (dispenser)", "DISPENSER_ROLE"),
        ("Medicines Agency (regulator)", "REGULATOR_ROLE"),
    ]
    return [
        Party(name, with_check_digit(f"95060000{i + 1:04d}"), role, accounts[i + 1])
        for i, (name, role) in enumerate(specs)
    ]


def seed(settings: Settings) -> dict:
    """Build the demo supply chain; returns a summary. Does nothing if it is already there."""
    w3 = connect(settings.effective_rpc_url)
    deployment = load_checked(w3, settings.deployment_path(w3.eth.chain_id))
    pt = w3.eth.contract(address=deployment.address("PharmaTrack"), abi=load_artifacts()["PharmaTrack"].abi)
    admin = w3.eth.accounts[0]
    maker, distributor, pharmacy_a, pharmacy_b, regulator = parties(w3)
    summary = {"gtin": GTIN, "lot": LOT, "packs": PACKS, "parties": [p.__dict__ for p in parties(w3)]}
    summary["api_keys"] = provision(settings, w3)
    if pt.functions.organisation(maker.account).call()[1] != 0:
        return summary | {"already_seeded": True}

    def send(call, sender: str) -> None:
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        if receipt.status != 1:
            raise ConfigError("demo", f"a demo transaction reverted: {receipt.transactionHash.to_0x_hex()}")

    for party in (maker, distributor, pharmacy_a, pharmacy_b, regulator):
        role = getattr(pt.functions, party.role)().call()
        send(pt.functions.registerOrganisation(party.account, int(party.gln), [role]), admin)
    send(pt.functions.registerProduct(int(GTIN), 200, 800), maker.account)  # +2..+8 °C

    serials = [f"DEMO{i:06d}" for i in range(PACKS)]
    tree = LotTree([sgtin_id(GTIN, s) for s in serials])
    expiry = w3.eth.get_block("latest")["timestamp"] + 2 * 365 * 86400
    send(pt.functions.commissionLot(int(GTIN), LOT, expiry, PACKS, tree.root), maker.account)
    lot_id = lgtin_id(GTIN, LOT)
    store_serials(settings, maker.gln, lot_id, expiry, serials, tree.root)

    case_ssccs = [int(with_check_digit(f"10950600000000{c:03d}")) for c in range(PACKS // PER_CASE)]
    for c, sscc in enumerate(case_ssccs):
        send(pt.functions.packCase(sscc, lot_id, c * PER_CASE, PER_CASE), maker.account)
    case_ids = [sscc_id(s) for s in case_ssccs]
    # cases 0 and 1 ride the warm pallet, 2 and 3 the cool one
    pallets = [(PALLET_SSCCS[0], case_ids[:2], WARM_READINGS), (PALLET_SSCCS[1], case_ids[2:], COOL_READINGS)]
    for sscc, cases, _ in pallets:
        send(pt.functions.packPallet(int(sscc), cases), maker.account)
    pallet_ids = [sscc_id(sscc) for sscc, _, _ in pallets]
    send(pt.functions.ship(pallet_ids, distributor.account), maker.account)

    start = w3.eth.get_block("latest")["timestamp"] - 6 * 600
    for n, (pallet_id, (_, _, readings)) in enumerate(zip(pallet_ids, pallets, strict=True), start=1):
        logger = Web3.keccak(text=f"demo-logger-{n}")
        send(pt.functions.recordReadings(pallet_id, logger, start, 600, pack_readings(readings)), distributor.account)
    send(pt.functions.receiveShipment(pallet_ids), distributor.account)
    send(pt.functions.unpack(pallet_ids), distributor.account)
    # each pharmacy gets a case from each pallet: packs with the excursion and packs without
    share = {pharmacy_a.account: [case_ids[0], case_ids[2]], pharmacy_b.account: [case_ids[1], case_ids[3]]}
    for pharmacy in (pharmacy_a, pharmacy_b):
        send(pt.functions.ship(share[pharmacy.account], pharmacy.account), distributor.account)

    for pharmacy in (pharmacy_a, pharmacy_b):
        cases = share[pharmacy.account]
        send(pt.functions.receiveShipment(cases), pharmacy.account)
        send(pt.functions.unpack(cases), pharmacy.account)
        first = case_ids.index(cases[0]) * PER_CASE
        draw = (cases[0], lot_id, pack_set(range(first, first + 5)), ([], []))
        send(pt.functions.dispenseDay([draw], [], []), pharmacy.account)
    return summary | {"already_seeded": False, "block": w3.eth.block_number}


ANVIL_MNEMONIC = "test test test test test test test test test test test junk"  # anvil's public dev mnemonic


def dev_key(index: int) -> LocalAccount:
    """Anvil's well-known dev account `index` (public test keys: never hold value with them)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def ensure_password_file(path: Path) -> None:
    """The demo's keystore password: random, created once, readable by its owner only."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(24) + "\n")


def provision(settings: Settings, w3: Web3) -> dict[str, str]:
    """Make the demo parties usable through the API: their signing keys in the keystore (anvil's
    dev keys), their organisations in the database and one API key each. Returns GLN -> new API key
    (empty when they were provisioned before); the keys are also written to DATA_DIR/demo-api-keys.json."""
    from app.chain.keystore import KeyStore
    from app.db import connect
    from app.services import orgs

    ensure_password_file(settings.signer_password_file)
    store = KeyStore(settings.signer_keystore_dir, settings.signer_password_file)
    keys, people_made = {}, {}
    conn = connect(settings.require_database_url())
    try:
        with conn:
            for i, party in enumerate(parties(w3), start=1):
                account = dev_key(i)
                if account.address != party.account:
                    raise ConfigError("RPC_URL", "the local chain's dev accounts are not anvil's default ones")
                store.import_key(account.key)
                if orgs.organisation_by_gln(conn, party.gln) is None:
                    role = party.role.removesuffix("_ROLE").lower()
                    orgs.add_organisation(conn, party.name.split(" (")[0], party.gln, party.account, [role])
                    keys[party.gln] = orgs.create_key(conn, party.gln, "demo")
                    people_made.update(_demo_people(conn, party.gln, role))
    finally:
        conn.close()
    if keys:
        _write_secret(settings.data_dir / "demo-api-keys.json", keys)
        _write_secret(settings.data_dir / "demo-people.json", people_made)
    return keys


# the people who sign in to the pages for each demo organisation, by its role: (person role, email local part)
DEMO_PEOPLE = {
    "manufacturer": [("warehouse", "warehouse"), ("admin", "admin")],
    "distributor": [("warehouse", "warehouse")],
    "dispenser": [("pharmacist", "pharmacist"), ("quality", "quality"), ("admin", "admin")],
    "regulator": [("inspector", "inspector")],
}


def _demo_people(conn, gln: str, org_role: str) -> dict[str, str]:
    """The demo organisation's people, each with a random password: email -> password."""
    import secrets

    from app.services import people

    made = {}
    for role, local in DEMO_PEOPLE[org_role]:
        email = f"{local}@{gln}.demo.example"
        password = secrets.token_urlsafe(12)
        people.add_person(conn, gln, email, f"Demo {role.title()}", role, password)
        made[email] = password
    return made


def _write_secret(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)


def store_serials(settings: Settings, maker_gln: str, lot_id: bytes, expiry: int, serials: list[str], root: bytes):
    """The lot's serial list beside its on-chain root, so the API can name packs by serial."""
    from datetime import UTC, datetime

    from app.db import connect
    from app.db import serials as serials_db
    from app.services import orgs
    from app.services import serials as lot_serials

    conn = connect(settings.require_database_url())
    try:
        with conn:
            org = orgs.organisation_by_gln(conn, maker_gln)
            expiry_date = datetime.fromtimestamp(expiry, UTC).date()
            serials_db.insert_lot_commission(
                conn, lot_id, int(GTIN), LOT, expiry_date, len(serials), root, org["id"], operation_id=None
            )
            ids = lot_serials.sgtin_ids(GTIN, serials)
            serials_db.insert_lot_serials(conn, lot_id, list(zip(serials, ids, strict=True)), skip_existing=True)
            if lot_serials.store_tree(conn, lot_id, ids) != root:  # what verify's proofs come from
                raise RuntimeError("the demo lot's stored tree does not match its on-chain root")
    finally:
        conn.close()


def _indexed_block(api_base: str) -> int:
    """The indexer's cursor as /readyz reports it (also when degraded, answered with a non-200)."""
    try:
        with urllib.request.urlopen(f"{api_base}/readyz", timeout=5) as resp:  # noqa: S310 - our own http API URL
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
    return body.get("components", {}).get("indexer", {}).get("cursor") or -1


def wait_visible(api_base: str, timeout: float, block: int | None = None) -> dict:
    """Wait until the API serves the demo product from the mirror (and, with `block`, until the
    mirror has every demo event up to that block, so scans pre-checked against it see the demo
    state); return the product."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api_base}/v1/products", timeout=5) as resp:  # noqa: S310 - our own http API URL
            items = json.loads(resp.read())["items"]
        match = [item for item in items if item["gtin"] == GTIN]
        if match and (block is None or _indexed_block(api_base) >= block):
            return match[0]
        time.sleep(0.5)
    raise ConfigError("demo", f"the API did not show the demo product within {timeout:.0f}s (is the indexer running?)")
