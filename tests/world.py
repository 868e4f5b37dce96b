"""The write path end to end: API → outbox → relayer → anvil → indexer → confirmed.

`world` gives five trading partners with fresh chain accounts (registered on the contract,
funded, keys in an encrypted keystore), their organisations and API keys, a Flask test client,
and `pump()`, which runs the relayer and the indexer in this process until a condition holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from biip.checksums import gs1_standard_check_digit
from eth_account import Account
from web3.logs import DISCARD

from app.chain import dispenses
from app.chain.client import ChainClient
from app.chain.keystore import KeyStore
from app.db import Database, connect
from app.db import listings as listings_db
from app.ids import pack_set, sscc_id, unpack_set
from app.indexer.core import Indexer
from app.listings import decode_listing, taken_sets
from app.relayer.core import Relayer
from app.services import orgs
from app.stack import indexer_hooks

ROLES = {
    "maker": ("Acme Pharma", "manufacturer", "MANUFACTURER_ROLE"),
    "maker2": ("Beta Generics", "manufacturer", "MANUFACTURER_ROLE"),
    "distributor": ("Northwind Distribution", "distributor", "DISTRIBUTOR_ROLE"),
    "pharmacy": ("Riverside Pharmacy", "dispenser", "DISPENSER_ROLE"),
    "pharmacy2": ("Hilltop Pharmacy", "dispenser", "DISPENSER_ROLE"),
    "regulator": ("Medicines Agency", "regulator", "REGULATOR_ROLE"),
}


def check_digit(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


@dataclass
class Party:
    name: str
    role: str
    gln: str
    account: str
    key: str


@dataclass
class World:
    w3: object
    pt: object
    settings: object
    client: object
    relayer: Relayer
    indexer: Indexer
    parties: dict[str, Party]
    db: Database
    counter: list = field(default_factory=lambda: [0])

    def post(self, who: str, path: str, body=None, key: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {self.parties[who].key}"}
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
        headers.update(kwargs.pop("headers", {}))
        return self.client.post(path, json=body, headers=headers, **kwargs)

    def operation(self, who: str, op_id: str) -> dict:
        resp = self.client.get(f"/v1/operations/{op_id}", headers={"Authorization": f"Bearer {self.parties[who].key}"})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def pump(self, until=None, timeout: float = 60.0, relay: bool = True) -> None:
        """Run relayer rounds and index until `until()` is true (default: nothing pending or submitted).
        relay=False: only index, another relayer (a subprocess) does the sending."""
        until = until or self.idle
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"timed out; operations: {self.relayer.counts()}"
            if relay:
                self.relayer.run_once()
            else:
                time.sleep(0.05)
            self.indexer.run_until_caught_up()

    def flush_log(self) -> None:
        """Write the API's buffered verification log now (app/services/verifylog.py)."""
        self.client.application.extensions["pharmatrack"].verifications.flush()

    def idle(self) -> bool:
        counts = self.relayer.counts()
        return not counts.get("pending") and not counts.get("submitted")

    def done(self, who: str, resp) -> dict:
        """Post → pump → the operation, which must be confirmed."""
        assert resp.status_code == 202, resp.get_json()
        self.pump()
        op = self.operation(who, resp.get_json()["operation"]["id"])
        assert op["status"] == "confirmed", op
        return op

    def sscc(self) -> str:
        self.counter[0] += 1
        return check_digit(f"1950600{uuid.uuid4().int % 10**6:06d}{self.counter[0]:04d}")

    # -- the chain directly (the read side's tests of issue 14's moves: no write API needed)

    def act(self, who: str, call):
        """Send a contract call as party `who` straight to the chain (anvil impersonates its account), then
        index; returns the receipt. The call must succeed."""
        account = self.parties[who].account
        self.w3.provider.make_request("anvil_impersonateAccount", [account])
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": account}))
        finally:
            self.w3.provider.make_request("anvil_stopImpersonatingAccount", [account])
        assert receipt.status == 1
        self.indexer.run_until_caught_up()
        return receipt

    def account(self, who: str) -> str:
        return self.parties[who].account

    def _listing(self, unit_id: bytes):
        """The mirror's current listing of a listed unit (None for a case)."""
        with self.db.connection() as conn:
            row = listings_db.current(conn, [unit_id]).get(unit_id)
        return None if row is None else decode_listing(row.listing)

    def draw(self, unit_id: bytes, lot_id: bytes, indexes) -> tuple:
        """A ToteDraw of packs of one lot out of a listed unit, with its current listing from the mirror."""
        listing = self._listing(unit_id)
        return (unit_id, [g.as_abi() for g in listing], taken_sets(listing, lot_id, indexes))

    def _split(self, groups) -> tuple[list, list]:
        """PackGroups as picks out of run cases (Listed) and draws out of listed units (ToteDraw)."""
        picks, draws = [], []
        for source, lot_id, packs, _ in groups:
            if self._listing(source) is None:
                picks.append((source, lot_id, packs))
            else:
                draws.append(self.draw(source, lot_id, unpack_set(*packs)))
        return picks, draws

    def tote(self, who: str, groups) -> tuple[str, bytes]:
        """packToteListed by `who` of these PackGroups: (the tote's SSCC, its unit id)."""
        sscc = self.sscc()
        self.act(who, self.pt.functions.packToteListed(int(sscc), *self._split(groups)))
        return sscc, sscc_id(sscc)

    def consign(self, who: str, groups, to: str, returning: bool = False) -> bytes:
        """shipListed (or returnListed, out of one listed unit) by `who` to party `to`: the consignment's id."""
        picks, draws = self._split(groups)
        if returning:
            call = self.pt.functions.returnListed(draws[0], self.account(to))
        else:
            call = self.pt.functions.shipListed(picks, draws, self.account(to))
        receipt = self.act(who, call)
        return bytes(
            self.pt.events.ConsignmentCreated().process_receipt(receipt, errors=DISCARD)[0].args["consignmentId"]
        )

    def dispense(self, who: str, container: bytes, lot_id: bytes, indexes):
        """dispenseDay by `who` of packs of one lot out of a case or a listed unit: the receipt."""
        if self._listing(container) is None:
            return self.act(who, self.pt.functions.dispenseDay([(container, lot_id, pack_set(indexes), NO_PROOF)],
                                                                [], []))  # fmt: skip
        return self.act(who, self.pt.functions.dispenseDay([], [self.draw(container, lot_id, indexes)], []))

    def undo(self, who: str, dispensed, container: bytes, lot_id: bytes, indexes):
        """undoDispenseDay by `who` of packs the dispenseDay of receipt `dispensed` dispensed (the proof from the
        chain: its DispenseChained links and the call's data)."""
        event = self.pt.events.Dispensed().process_receipt(dispensed, errors=DISCARD)[0]
        links = dispenses.chain_links(self.w3, self.pt, bytes.fromhex(self.account(who)[2:]))
        proof = dispenses.undo_proof(links, (event.blockNumber, event.logIndex),
                                     lambda h: bytes(self.w3.eth.get_transaction(h)["input"]), self.pt)  # fmt: skip
        assert proof is not None
        return self.act(who, self.pt.functions.undoDispenseDay(*proof, container, lot_id, pack_set(indexes)))

    def deliver(self, units: list[bytes], sender: str, to: str, unpack: bool = True) -> None:
        """ship, receive (and unpack) units straight on the chain."""
        self.act(sender, self.pt.functions.ship(units, self.account(to)))
        self.act(to, self.pt.functions.receiveShipment(units))
        if unpack:
            self.act(to, self.pt.functions.unpack(units))


NO_PROOF = ([], [])


def group(source: bytes, lot_id: bytes, indexes) -> tuple:
    """A PackGroup of packs of one lot taken from `source` (a run case, tote or consignment: no proof)."""
    return (source, lot_id, pack_set(indexes), NO_PROOF)


@contextmanager
def open_world(w3, pharmatrack, deployment, settings, tmp_dir: Path, database_url: str) -> Iterator[World]:
    """Six parties with fresh keys, registered on chain and in the database; the app, relayer and indexer."""
    from app import create_app

    password = tmp_dir / "password"
    password.write_text("test-password\n")
    settings = settings.replace(signer_keystore_dir=tmp_dir / "keystores", signer_password_file=password,
                                relayer_poll_seconds=0.05)  # fmt: skip
    store = KeyStore(settings.signer_keystore_dir, password)
    admin = w3.eth.accounts[0]
    parties = {}
    conn = connect(database_url)
    with conn:
        for n, (who, (name, role, chain_role)) in enumerate(ROLES.items()):
            account = Account.create()
            store.import_key(account.key, kdf_light=True)
            w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])
            gln = check_digit(f"95{uuid.uuid4().int % 10**8:08d}{n:02d}")
            role_id = getattr(pharmatrack.functions, chain_role)().call()
            tx = pharmatrack.functions.registerOrganisation(account.address, int(gln), [role_id]).transact(
                {"from": admin}
            )
            assert w3.eth.wait_for_transaction_receipt(tx).status == 1
            orgs.add_organisation(conn, name, gln, account.address, [role])
            parties[who] = Party(name, role, gln, account.address, orgs.create_key(conn, gln, "test"))
    conn.close()
    app = create_app(settings)
    db = Database(database_url, maxconn=2)
    try:
        relayer = Relayer(settings, db, w3, deployment.address("PharmaTrack"), pharmatrack.abi, store)
        indexer = Indexer.for_deployment(db, ChainClient(settings.effective_rpc_url), deployment, **indexer_hooks())
        indexer.run_until_caught_up()
        yield World(w3, pharmatrack, settings, app.test_client(), relayer, indexer, parties, db)
    finally:
        app.extensions["pharmatrack"].verifications.close()  # queued log rows, while the database exists
        app.extensions["pharmatrack"].db.close()
        db.close()


@contextmanager
def module_world(w3, anvil, pg_server, migrated_template, tmp_dir: Path) -> Iterator[World]:
    """A `world` built once for a module (share it with a module-scoped fixture): its own database, deployment and parties."""
    from app.chain.compiler import load_artifacts
    from app.chain.deploy import Signer, deploy_all
    from app.config import Settings

    dbname = f"pt_mod_{uuid.uuid4().hex[:12]}"
    database_url = pg_server.create(dbname, template=migrated_template)
    try:
        deployment = deploy_all(w3, Signer(w3), tmp_dir / "deployment.json")
        pharmatrack = w3.eth.contract(
            address=deployment.address("PharmaTrack"), abi=load_artifacts()["PharmaTrack"].abi
        )
        settings = Settings.from_env({"PHARMATRACK_DATA_DIR": str(tmp_dir / "data"),
                                      "DATABASE_URL": database_url, "RPC_URL": anvil.rpc_url,
                                      "DEPLOYMENT_FILE": str(deployment.path), "LOG_LEVEL": "WARNING",
                                      "API_KEY_CACHE_SECONDS": "0"})  # fmt: skip
        with open_world(w3, pharmatrack, deployment, settings, tmp_dir, database_url) as built:
            yield built
    finally:
        pg_server.drop(dbname)


@pytest.fixture
def world(w3, pharmatrack, deployment, settings, tmp_path, database_url):
    with open_world(w3, pharmatrack, deployment, settings, tmp_path, database_url) as built:
        yield built


GTIN_BASE = 9506000


@pytest.fixture
def stock(world):
    """A product, a lot of 100 packs (serials S0000000000…99), two run cases of 40 on a pallet at the maker."""
    gtin = check_digit(f"0{GTIN_BASE}{uuid.uuid4().int % 10**5:05d}")
    world.done("maker", world.post("maker", "/v1/products", {
        "gtin": gtin, "name": "Amoxicillin 500 mg", "strength": "500 mg", "dosage_form": "capsule",
        "storage": {"min_celsius": 2, "max_celsius": 8}}))  # fmt: skip
    lot = f"L{uuid.uuid4().hex[:6].upper()}"
    world.done("maker", world.post("maker", "/v1/lots", {
        "gtin": gtin, "lot": lot, "expiry": "2030-12-31",
        "serial_range": {"prefix": "S", "first": 0, "count": 100, "digits": 10}}))  # fmt: skip
    cases = [world.sscc(), world.sscc()]
    for i, case in enumerate(cases):
        world.post("maker", "/v1/cases", {"sscc": case, "gtin": gtin, "lot": lot, "first_index": i * 40, "count": 40})
    world.pump()
    pallet = world.sscc()
    world.done("maker", world.post("maker", "/v1/pallets", {"sscc": pallet, "cases": cases}))
    return {"gtin": gtin, "lot": lot, "cases": cases, "pallet": pallet}
