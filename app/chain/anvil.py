"""Start and stop a local anvil node (installed from npm as @foundry-rs/anvil)."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import ConfigError

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child before exec: PR_SET_PDEATHSIG, SIGTERM when the parent (thread) dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        return


NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"


def _anvil_binary() -> Path:
    """The platform package's anvil binary itself, not npm's node wrapper (`.bin/anvil`), which
    runs it as a child: a supervisor must see anvil's own exit (a SIGKILL of the wrapper would
    leave the real node running on the port; a crash of the node would look like a clean exit)."""
    for candidate in sorted(NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return candidate
    return NODE_MODULES / ".bin" / "anvil"


ANVIL_BIN = _anvil_binary()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class AnvilNode:
    """A running anvil process. Stop it with ``stop()`` (or use it as a context manager)."""

    port: int
    chain_id: int
    block_time: float | None
    host: str = "127.0.0.1"
    accounts: int = 20
    log_path: Path | None = None
    # Where the chain is saved (every state_interval seconds and on exit) and loaded from at start:
    # the same chain, blocks and hashes, after a restart (what was mined after the last save is lost).
    state_path: Path | None = None
    state_interval: float = 2.0
    process: subprocess.Popen | None = field(default=None, repr=False)
    # Where anvil offloads the states of old blocks (a big chain writes gigabytes there): a folder of this node's
    # own, removed when it stops. anvil's default (~/.foundry/anvil/tmp) is left behind when it is killed.
    cache_dir: Path | None = field(default=None, repr=False)
    # The states of at most this many recent blocks are kept (in memory; none go to disk); older blocks keep their
    # logs and receipts, but a call at their state fails. By default anvil writes every block's whole state to
    # the cache path: on a chain with many deployments that made each mined block cost more and more (anvil_mine
    # of 200 blocks after 120 deployments: 7.9 s, against 0.21 s with this; CI stop 21 timed out there).
    # Reorgs, anvil_rollback and evm_revert within this depth work as before.
    keep_states: int | None = 256
    # The genesis block's time (anvil's --timestamp; default: now). Two nodes started within the same second with
    # the same chain id and accounts have the same genesis hash, the same chain to every client.
    genesis_timestamp: int | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> AnvilNode:
        if not ANVIL_BIN.exists():
            raise ConfigError("anvil", f"{ANVIL_BIN} not found; run `npm ci` (or `make install`)")
        if port_open(self.host, self.port):
            raise ConfigError("ANVIL_PORT", f"port {self.port} on {self.host} is already in use")
        args = [
            str(ANVIL_BIN),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--gas-limit", "30000000",
            "--silent",
        ]  # fmt: skip
        if self.cache_dir is None:
            self.cache_dir = Path(tempfile.mkdtemp(prefix="pharmatrack-anvil-cache-"))
        args += ["--cache-path", str(self.cache_dir)]
        if self.keep_states:
            args += ["--prune-history", str(self.keep_states)]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.state_path is not None:
            args += ["--state", str(self.state_path), "--state-interval", str(max(1, round(self.state_interval)))]
            args += ["--timestamp", str(self._genesis_timestamp())]
        elif self.genesis_timestamp is not None:
            args += ["--timestamp", str(self.genesis_timestamp)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - kept open for the child
        # A process group of its own, so stopping it never signals our own group.
        # SIGTERM when the process that started it dies (anvil then saves its state and exits), so a
        # killed `up` leaves no node behind that would go on writing the state file.
        group = {"start_new_session": True, "preexec_fn": _die_with_parent}  # prctl only: safe before exec
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **group)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if self._set_aside_unreadable_state():
                    return self.start(timeout)  # once: there is no state file now
                raise ConfigError("anvil", f"exited with code {self.process.returncode} at start")
            if port_open(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError("anvil", f"did not open port {self.port} within {timeout:.0f}s")

    def _genesis_timestamp(self) -> int:
        """anvil builds its genesis block anew when it loads a saved state, with the --timestamp given
        (else the time now), and may then serve that block as block 0 instead of the saved one: another
        genesis hash, which every client takes for another chain. A timestamp fixed when the chain is
        created, kept beside its state, makes it the very same block."""
        sidecar = self.state_path.with_name(self.state_path.name + ".genesis-timestamp")
        previous = int(sidecar.read_text()) if sidecar.is_file() and sidecar.read_text().strip().isdigit() else None
        if previous is not None and self.state_path.is_file():
            return previous
        # a new chain: never the old chain's genesis again, even within the same second
        timestamp = max(int(time.time()), (previous or 0) + 1)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(f"{timestamp}\n")
        return timestamp

    def _set_aside_unreadable_state(self) -> bool:
        """A state file anvil cannot read (a crash while it was being written) is moved aside, so the
        node starts a new chain rather than not at all (the stack then treats it as a new chain)."""
        if self.state_path is None or not self.state_path.is_file():
            return False
        try:
            json.loads(self.state_path.read_bytes())
            return False  # readable: anvil failed for another reason
        except ValueError:
            aside = self.state_path.with_name(f"{self.state_path.name}.unreadable-{int(time.time())}")
            self.state_path.rename(aside)
            log.warning("anvil could not read its saved state; moved to %s, starting a new chain", aside.name)
            return True

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        try:
            if proc is None or proc.poll() is not None:
                return
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        finally:
            cache, self.cache_dir = self.cache_dir, None
            if cache is not None:
                shutil.rmtree(cache, ignore_errors=True)

    def __enter__(self) -> AnvilNode:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
