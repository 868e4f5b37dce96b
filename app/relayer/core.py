"""The relayer: drains the outbox onto the chain, exactly once.

Per round it
1. settles transactions it sent (receipts; a dropped one puts its operations back; one the node
   forgot is re-broadcast; a stuck one is re-signed with higher fees, same nonce),
2. confirms operations whose transaction's block (number and hash) the indexer has mirrored, and
   puts back those of a reverted transaction once the indexer has passed its block; a receipt
   from a block a reorg replaced opens its transaction again,
3. claims pending operations per (organisation, action) with SKIP LOCKED row locks, turns them
   into as few calls as possible, simulates them (an operation that would revert is failed with
   the decoded custom error, the rest go on), and signs one transaction with the organisation's key.

Exactly once: a transaction is signed and recorded (nonce, raw bytes, its operations) in the same
database transaction that marks its operations submitted, and only then broadcast. A relayer
killed at any point therefore finds, on restart, either pending operations (nothing was sent) or
a recorded transaction it can look up or re-broadcast byte for byte. Every attempt of a
transaction shares one nonce, so at most one of them is ever mined.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg2
import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from app.chain import dispenses
from app.chain.calldata import Encoder
from app.chain.client import describe
from app.chain.compiler import load_artifacts
from app.chain.deploy import load_checked
from app.chain.keystore import KeyStore
from app.chain.web3factory import make_web3
from app.config import Settings
from app.db import Database, first_line, operations, relay
from app.db import products as products_db
from app.db import serials as serials_db
from app.errors import ConfigError, PharmatrackError, ServiceUnavailable
from app.relayer import calls as calls_mod
from app.relayer.revert import RevertDecoder

log = logging.getLogger(__name__)


class ChainReplaced(PharmatrackError):
    """The node at RPC_URL now serves another chain than the deployment's: stop before sending
    anything there (`up` deploys anew and restarts the relayer, which then voids the old chain's
    in-flight transactions)."""


class RpcError(Exception):
    """The node refused a request for a reason other than a revert (rate limit, funds, …): retried."""


TRANSIENT = (
    RpcError,
    requests.RequestException,
    OSError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    ServiceUnavailable,
)


class Reverted(Exception):
    def __init__(self, reason: dict):
        super().__init__(reason.get("error"))
        self.reason = reason


@dataclass
class Plan:
    ops: list[dict]
    data: str
    gas: int
    failed: list[tuple[dict, dict]]


class Relayer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        w3: Web3,
        address: str,
        abi: list,
        keystore: KeyStore,
        genesis: bytes | None = None,
        reset_on_new_chain: bool = False,
    ):
        self.settings, self.db, self.w3, self.keystore = settings, db, w3, keystore
        self.genesis = genesis or self._genesis()  # of the chain the deployment is on
        self.reset_on_new_chain = reset_on_new_chain
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        self.calldata = Encoder(abi, self.contract.encode_abi)  # selectors and input types looked up once
        self.decoder = RevertDecoder(abi)
        self.chain_id = w3.eth.chain_id
        self.blocked: dict[int, float] = {}  # organisation -> until (no signing key)
        self._replacements: list[bytes] = []

    @classmethod
    def from_settings(cls, settings: Settings, reset_on_new_chain: bool = False) -> Relayer:
        w3 = make_web3(settings.effective_rpc_url)
        deployment = load_checked(w3, settings.deployment_path(w3.eth.chain_id))
        record = deployment.contracts["PharmaTrack"]
        abi = record.get("abi") or load_artifacts()["PharmaTrack"].abi
        keystore = KeyStore(settings.signer_keystore_dir, settings.signer_password_file)
        db = Database.for_worker(settings, settings.require_database_url(), maxconn=2)
        genesis = bytes.fromhex(deployment.genesis_hash[2:])
        return cls(settings, db, w3, deployment.address("PharmaTrack"), abi, keystore, genesis, reset_on_new_chain)

    # ----------------------------------------------------------------- which chain

    def _genesis(self) -> bytes:
        return bytes(self.w3.eth.get_block(0)["hash"])

    def check_chain(self) -> None:
        """Raise ChainReplaced when the node serves another chain than the one we sign for."""
        genesis = self._genesis()
        if genesis != self.genesis:
            raise ChainReplaced(
                f"the node at RPC_URL now serves another chain (genesis 0x{genesis.hex()[:12]}…, the deployment's is "
                f"0x{self.genesis.hex()[:12]}…): stopping before anything is sent there"
            )

    def adopt_chain(self) -> dict[str, int]:
        """At start: record the chain we sign for. If the outbox's in-flight transactions were sent to
        another chain, void them (with reset_on_new_chain: a local dev chain started anew), else refuse.
        Returns what was voided."""
        self.check_chain()
        voided = {"transactions": 0, "operations": 0}
        with self.db.connection() as conn:
            row = relay.lock_chain(conn)
            if row is not None and bytes(row["genesis_hash"]) == self.genesis:
                return voided
            if row is not None:
                if not self.reset_on_new_chain:
                    raise ConfigError(
                        "RPC_URL",
                        f"the outbox's transactions were sent to another chain (chain {row['chain_id']}, genesis "
                        f"0x{bytes(row['genesis_hash']).hex()[:12]}…); point DATABASE_URL at this chain's database, "
                        "or run `pharmatrack relay --reset-on-new-chain` to void them and send them again",
                    )
                voided = self._void(conn)
            relay.set_chain(conn, self.chain_id, self.genesis)
        if voided["transactions"]:
            self._drop_from_pool(voided.pop("hashes"))
        voided.pop("hashes", None)
        return voided

    def _void(self, conn) -> dict:
        """The chain is new: what was in flight on the old one never happened here. Its transactions are
        voided (never broadcast again), their operations and the pending ones go back to the queue
        (marked, so that one that cannot apply here fails as `chain_reset`), and nonces are forgotten."""
        voided = relay.void_all(conn)
        hashes = relay.attempt_hashes(conn, [tx_id for tx_id, status in voided if status == "sent"])
        requeued = operations.requeue_in_flight(conn)
        relay.forget_nonces(conn)
        log.warning(
            "relayer: the chain is new: %d transaction(s) recorded for the old chain voided, %d operation(s) "
            "queued again, nonces forgotten",
            len(voided),
            requeued,
        )
        return {"transactions": len(voided), "operations": requeued, "hashes": hashes}

    def _drop_from_pool(self, hashes: list[bytes]) -> None:
        """Best effort: take the voided bytes out of the node's pool too (anvil; others lack the method),
        so that none of them can be mined once new transactions fill the nonces below it."""
        for tx_hash in hashes:
            resp = self.w3.provider.make_request("anvil_dropTransaction", ["0x" + tx_hash.hex()])
            if "error" in resp:
                log.info("relayer: cannot drop voided tx from the pool: %s", resp["error"].get("message"))
                return

    # ----------------------------------------------------------------- the loop

    def run_forever(self, stop: threading.Event) -> None:
        """Adopt the chain (once; waiting out a database or node that is down), then run rounds."""
        backoff = self.settings.relayer_poll_seconds
        adopted = False
        while not stop.is_set():
            try:
                if not adopted:
                    self.adopt_chain()
                    adopted = True
                busy = self.run_once()
                backoff = self.settings.relayer_poll_seconds
            except TRANSIENT as exc:
                # describe(): a node's URL may carry an API key, and must never reach a log line.
                why = describe(exc) if isinstance(exc, requests.RequestException) else first_line(exc)
                log.warning("relayer: dependency unavailable, retrying in %.1fs: %s", backoff, why)
                busy = False
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if not busy:
                stop.wait(self.settings.relayer_poll_seconds)

    def run_once(self) -> bool:
        """One round; True when it did something (so the caller goes on without sleeping)."""
        self.check_chain()
        busy = self.settle()
        busy |= self.confirm() > 0
        busy |= self.submit()
        return busy

    # ----------------------------------------------------------------- submit

    def submit(self) -> bool:
        with self.db.connection() as conn:
            groups = operations.pending_groups(conn)
        sent = False
        dispensed: set[int] = set()  # organisations that sent a dispense or an undo this round (unmined yet)
        moved: set[int] = set()  # organisations that sent a move out of listed units this round (unmirrored)
        for group in groups:
            org, action = group["organisation_id"], group["action"]
            if self.blocked.get(org, 0) > time.monotonic():
                continue
            if action in ("undo_dispense", "dispense") and org in dispensed:
                continue  # next round, once that dispense is mined (see operations.PENDING_GROUPS)
            if action in calls_mod.DRAWING and org in moved:
                continue  # next round, once the mirror has the listings that move left
            done = self._submit_group(group)
            if done and action in ("dispense", "undo_dispense"):
                dispensed.add(org)
            if done and action in calls_mod.MOVING:
                moved.add(org)
            sent |= done
        return sent

    def _signer(self, group: dict) -> LocalAccount | None:
        address = to_checksum_address(bytes(group["account"]))
        try:
            return self.keystore.account(address)
        except ConfigError as exc:
            log.error(
                "relayer: cannot sign for organisation %s: %s: %s", group["organisation_id"], exc.setting, exc.problem
            )
            self.blocked[group["organisation_id"]] = time.monotonic() + 30
            return None

    def _submit_group(self, group: dict) -> bool:
        signer = self._signer(group)
        if signer is None:
            return False
        raw = None
        with self.db.connection() as conn:
            ops = operations.claim_pending(conn, group["organisation_id"], group["action"], self.settings.relayer_batch)
            if not ops:
                return False
            plan = self._plan(conn, group["action"], ops, signer.address)
            for op, reason in plan.failed:
                self._fail(conn, op, reason)
            if plan.ops:
                raw = self._sign_and_record(conn, group, signer, plan)
        if raw is not None:
            self._broadcast(raw)
        return True

    def _encode(self, conn, action: str, ops: list[dict]) -> str:
        built = calls_mod.build(conn, action, ops, lambda dispenser, at: self._undo_proof(conn, dispenser, at))
        encoded = [self.calldata.encode(c.fn, c.args) for c in built]
        if len(encoded) == 1:
            return encoded[0]
        return self.calldata.encode("multicall", [[bytes.fromhex(e[2:]) for e in encoded]])

    def _undo_proof(self, conn, dispenser: bytes, dispensed_at: tuple[int, int]):
        """The dispenseDay call that dispensed at `dispensed_at` and the chain links after it: the links from the
        chain's DispenseChained logs, the call's data as this relayer sent it (else the transaction's own input)."""
        links = dispenses.chain_links(self.w3, self.contract, dispenser)

        def calldata_of(tx_hash: bytes) -> bytes | None:
            kept = relay.calldata_of_mined(conn, tx_hash)
            if kept is not None:
                return kept
            tx = self.w3.eth.get_transaction(tx_hash)
            return bytes(tx["input"])

        return dispenses.undo_proof(links, dispensed_at, calldata_of, self.contract)

    def _simulate(self, sender: str, data: str) -> int:
        tx = {"from": sender, "to": self.address, "data": data}
        resp = self.w3.provider.make_request("eth_estimateGas", [tx, "pending"])
        if "error" in resp:
            error = resp["error"]
            message = str(error.get("message", ""))
            if "revert" in message.lower() or error.get("code") == 3:
                raise Reverted(self.decoder.decode(error.get("data")))
            raise RpcError(message)
        return int(resp["result"], 16)

    def _plan(self, conn, action: str, ops: list[dict], sender: str) -> Plan:
        """The ops that can go in one transaction now, and the ones that would revert (with why)."""
        failed = []
        while ops:
            data = self._encode(conn, action, ops)
            try:
                gas = self._simulate(sender, data)
            except Reverted as exc:
                culprit, reason = self._first_failing(conn, action, ops, sender, exc.reason)
                failed.append((culprit, reason))
                ops = [op for op in ops if op is not culprit]
                continue
            if gas > self.settings.relayer_max_gas and len(ops) > 1:
                ops = ops[: len(ops) // 2]  # the rest stay pending for the next transaction
                continue
            return Plan(ops, data, gas, failed)
        return Plan([], "", 0, failed)

    def _first_failing(self, conn, action, ops, sender, reason) -> tuple[dict, dict]:
        """Binary search for the shortest failing prefix: its last op is the one that breaks."""
        ok, bad = 0, len(ops)
        while bad - ok > 1:
            mid = (ok + bad) // 2
            try:
                self._simulate(sender, self._encode(conn, action, ops[:mid]))
                ok = mid
            except Reverted as exc:
                bad, reason = mid, exc.reason
        return ops[bad - 1], reason

    def _fail(self, conn, op: dict, reason: dict) -> None:
        if op.get("requeued_by") == "chain_reset":
            # accepted against a chain that was replaced; what it needed is gone with it
            reason = {
                "error": "chain_reset",
                "args": {"detail": "accepted on a chain that was replaced; it cannot apply on the new one",
                         "revert": reason},
            }  # fmt: skip
        log.info("relayer: operation %s (%s) failed: %s", op["id"], op.get("action"), reason.get("error"))
        operations.mark_failed(conn, str(op["id"]), reason)
        # what it reserved beside the outbox is free again (a GTIN's details, a lot and its serials)
        products_db.delete_product_details_of(conn, str(op["id"]))
        serials_db.delete_commission_of(conn, str(op["id"]))
        serials_db.delete_batch_of(conn, str(op["id"]))

    def _fees(self) -> dict:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self.w3.eth.gas_price}
        tip = self.w3.eth.max_priority_fee
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _next_nonce(self, conn, account: bytes) -> int:
        recorded = relay.lock_next_nonce(conn, account)
        chain = self.w3.eth.get_transaction_count(to_checksum_address(account), "pending")
        nonce = max(recorded or 0, chain)
        relay.set_next_nonce(conn, account, nonce + 1)
        return nonce

    def _sign_and_record(self, conn, group: dict, signer: LocalAccount, plan: Plan) -> bytes:
        account = bytes(group["account"])
        nonce = self._next_nonce(conn, account)
        gas_limit = plan.gas * 5 // 4 + 30_000
        tx = {"chainId": self.chain_id, "nonce": nonce, "to": self.address, "data": plan.data, "gas": gas_limit,
              "value": 0, **self._fees()}  # fmt: skip
        signed = signer.sign_transaction(tx)
        calldata = bytes.fromhex(plan.data[2:])
        tx_id = relay.insert_transaction(conn, group["organisation_id"], group["action"], account, nonce,
                                         bytes.fromhex(self.address[2:]), calldata, gas_limit)  # fmt: skip
        self._record_attempt(conn, tx_id, signed, tx)
        operations.mark_submitted(conn, [str(op["id"]) for op in plan.ops], tx_id, bytes(signed.hash))
        log.info("relayer: tx %s nonce %d carries %d %s operation(s)", signed.hash.hex(), nonce, len(plan.ops),
                 group["action"])  # fmt: skip
        return bytes(signed.raw_transaction)

    @staticmethod
    def _record_attempt(conn, tx_id: int, signed, tx: dict) -> None:
        max_fee = tx.get("maxFeePerGas", tx.get("gasPrice"))
        tip = tx.get("maxPriorityFeePerGas", tx.get("gasPrice"))
        relay.insert_attempt(conn, bytes(signed.hash), tx_id, bytes(signed.raw_transaction), max_fee, tip)

    def _broadcast(self, raw: bytes) -> None:
        resp = self.w3.provider.make_request("eth_sendRawTransaction", ["0x" + raw.hex()])
        if "error" in resp:
            # "already known", "nonce too low" (it was mined) …: settle() finds out what happened.
            log.info("relayer: broadcast answered %s", resp["error"].get("message"))

    # ----------------------------------------------------------------- settle

    def settle(self) -> bool:
        busy, self._replacements = False, []
        with self.db.connection() as conn:
            txs = relay.claim_sent(conn)
            if not txs:
                return False
            nonces = {}
            for account in {bytes(t["account"]) for t in txs}:
                nonces[account] = self.w3.eth.get_transaction_count(to_checksum_address(account), "latest")
            for tx in txs:
                busy |= self._settle_one(conn, tx, nonces[bytes(tx["account"])])
        for raw in self._replacements:  # recorded (committed above) before they are broadcast
            self._broadcast(raw)
        return busy

    def _lookup(self, method: str, tx_hash: bytes) -> dict | None:
        """eth_getTransactionReceipt / eth_getTransactionByHash: None while the node has none."""
        resp = self.w3.provider.make_request(method, ["0x" + bytes(tx_hash).hex()])
        if "error" in resp:
            raise RpcError(resp["error"].get("message"))
        return resp.get("result")

    def _settle_one(self, conn, tx: dict, chain_nonce: int) -> bool:
        attempts = relay.attempts(conn, tx["id"])
        for attempt in attempts:
            receipt = self._lookup("eth_getTransactionReceipt", attempt["tx_hash"])
            if receipt is not None:
                self._mined(conn, tx, receipt)
                return True
        if chain_nonce > tx["nonce"]:
            # The nonce was used. A node may show the new nonce before the receipt: if it still
            # knows any of our attempts, one of them is (being) mined; wait for its receipt.
            if self._maybe_ours(attempts):
                return False
            # Used by none of our attempts: nothing of ours was applied.
            log.warning("relayer: nonce %d of tx %d was taken by another transaction", tx["nonce"], tx["id"])
            relay.mark_dropped(conn, tx["id"])
            self._retry_ops(conn, tx["id"], {"error": "TransactionDropped", "args": {}})
            return True
        latest = attempts[-1]
        if self._lookup("eth_getTransactionByHash", latest["tx_hash"]) is None:
            log.info("relayer: re-broadcasting tx %d (nonce %d)", tx["id"], tx["nonce"])
            self._broadcast(bytes(latest["raw"]))
            return False
        age = time.time() - latest["created_at"].timestamp()
        if age > self.settings.relayer_stuck_seconds:
            self._replace(conn, tx, latest)
            return True
        return False

    def _maybe_ours(self, attempts: list[dict]) -> bool:
        """Whether one of our attempts may still be what used its nonce: the node still knows it,
        or it was sent too recently to tell (a node may show the nonce before the receipt)."""
        for attempt in attempts:
            if self._lookup("eth_getTransactionByHash", attempt["tx_hash"]) is not None:
                return True
        return time.time() - attempts[-1]["created_at"].timestamp() < self.settings.relayer_stuck_seconds

    def _mined(self, conn, tx: dict, receipt: dict) -> None:
        ok = int(receipt["status"], 16) == 1
        mined_hash = bytes.fromhex(receipt["transactionHash"][2:])
        relay.mark_mined(conn, tx["id"], ok, mined_hash, int(receipt["blockNumber"], 16),
                         bytes.fromhex(receipt["blockHash"][2:]), int(receipt["gasUsed"], 16))  # fmt: skip
        if ok:
            operations.set_tx_hash(conn, tx["id"], mined_hash)
        # A revert, like a success, stands only once the indexer has passed its block (confirm): a
        # reorg may drop it, and the node may then mine the same bytes on the new branch.

    def _retry_ops(self, conn, tx_id: int, reason: dict) -> None:
        """Operations of a transaction that had no effect: pending again, or failed after too many tries."""
        for op in operations.submitted_of_transaction(conn, tx_id):
            if op["attempts"] >= self.settings.relayer_max_attempts:
                self._fail(conn, op, reason)
            else:
                operations.mark_pending(conn, str(op["id"]))

    def _replace(self, conn, tx: dict, latest: dict) -> None:
        """Re-sign the same call with the same nonce and fees raised by a quarter (nodes want ≥ 10%)."""
        signer = self.keystore.account(to_checksum_address(bytes(tx["account"])))
        fees = self._fees()
        if "gasPrice" in fees:
            fees["gasPrice"] = max(fees["gasPrice"], int(latest["max_fee_per_gas"]) * 5 // 4 + 1)
        else:
            fees["maxPriorityFeePerGas"] = max(
                fees["maxPriorityFeePerGas"], int(latest["max_priority_fee_per_gas"]) * 5 // 4 + 1
            )
            fees["maxFeePerGas"] = max(
                fees["maxFeePerGas"], int(latest["max_fee_per_gas"]) * 5 // 4 + 1, fees["maxPriorityFeePerGas"]
            )
        body = {"chainId": self.chain_id, "nonce": tx["nonce"], "to": to_checksum_address(bytes(tx["to_address"])),
                "data": "0x" + bytes(tx["calldata"]).hex(), "gas": tx["gas_limit"], "value": 0, **fees}  # fmt: skip
        signed = signer.sign_transaction(body)
        self._record_attempt(conn, tx["id"], signed, body)
        operations.set_tx_hash(conn, tx["id"], bytes(signed.hash))
        log.warning("relayer: tx %d stuck; replaced by %s with higher fees", tx["id"], signed.hash.hex())
        self._replacements.append(bytes(signed.raw_transaction))

    # ----------------------------------------------------------------- confirm

    def confirm(self) -> int:
        with self.db.connection() as conn:
            if not relay.share_mirror_cursor(conn):
                return 0  # nothing mirrored yet: nothing can be confirmed
            orphaned = relay.reopen_orphaned(conn)
            if orphaned:
                log.warning("relayer: %d transaction(s) were mined in blocks a reorg replaced: open again", orphaned)
            confirmed = operations.confirm_mirrored(conn)
            reverts = relay.settled_reverts(conn)
        for tx in reverts:
            self._settle_revert(tx)
        return confirmed + len(reverts)

    def _settle_revert(self, tx: dict) -> None:
        """A reverted transaction the indexer has passed: if its block is still canonical its operations are
        retried (pending, or failed after RELAYER_MAX_ATTEMPTS; the retry's simulation names the reason),
        otherwise it is open again like any transaction a reorg dropped."""
        receipt = self._lookup("eth_getTransactionReceipt", bytes(tx["mined_hash"]))
        canonical = receipt is not None and bytes.fromhex(receipt["blockHash"][2:]) == bytes(tx["block_hash"])
        with self.db.connection() as conn:
            relay.share_mirror_cursor(conn)
            if not relay.lock_if_still_reverted(conn, tx["id"], bytes(tx["block_hash"])):
                return  # a rollback reopened it meanwhile
            if canonical:
                reason = {"error": "TransactionReverted", "args": {"tx": "0x" + bytes(tx["mined_hash"]).hex()}}
                self._retry_ops(conn, tx["id"], reason)
            else:
                log.warning("relayer: reverted tx %d was in a block a reorg replaced: open again", tx["id"])
                relay.reopen(conn, tx["id"])

    # ----------------------------------------------------------------- for tests and tools

    def counts(self) -> dict[str, int]:
        with self.db.connection() as conn:
            return operations.count_by_status(conn)
