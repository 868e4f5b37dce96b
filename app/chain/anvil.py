"""Start and stop a local anvil node (installed from npm as @foundry-rs/anvil)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import ConfigError

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


def repair_state(path: Path) -> int:
    """Keep a saved chain's genesis block the one it had, before anvil loads the file.

    anvil (1.7) builds a fresh genesis block (stamped with the current time) for every start from ``--state``
    and then dumps it beside the saved one, so from the second restart on the file holds several blocks 0 and
    the one anvil serves may be a new one: the chain's genesis hash changes while every other block stays, and
    the processes that identify the chain by its genesis take it for a new chain (redeploy, mirror reset,
    in-flight transactions voided). The original genesis is the earliest (block 1's parent): the others are
    dropped. Returns how many were dropped; an unreadable file is left to anvil."""
    try:
        data = json.loads(path.read_text())
        blocks = data["blocks"]
        geneses = [b for b in blocks if int(b["header"]["number"], 16) == 0]
        keep = min(geneses, key=lambda b: int(b["header"]["timestamp"], 16)) if geneses else None
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    if len(geneses) < 2:
        return 0
    data["blocks"] = [b for b in blocks if b is keep or int(b["header"]["number"], 16) != 0]
    tmp = path.with_name(path.name + ".repair")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
    return len(geneses) - 1


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
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.state_path is not None:
            repair_state(self.state_path)
            args += ["--state", str(self.state_path), "--state-interval", str(max(1, round(self.state_interval)))]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115 - kept open for the child
        # A process group of its own, so stopping it never signals our own group.
        self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError("anvil", f"exited with code {self.process.returncode} at start")
            if port_open(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError("anvil", f"did not open port {self.port} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def __enter__(self) -> AnvilNode:
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
