"""The environment of a `pharmatrack up` of a test's own (tests, the fuzz run): free ports, and a data
folder and deployment record in a folder of its own, never the working copy's .data."""

from __future__ import annotations

import os
from pathlib import Path

from app.chain.anvil import free_port


def up_env(workdir: Path, workers: int = 1, **extra: str) -> tuple[dict[str, str], int]:
    """(environment, API port) for `up` in `workdir`; DATABASE_URL and RPC_URL are dropped, so the
    stack starts its own embedded Postgres and anvil."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RPC_URL"}}
    env.update(
        {
            "PORT": str(port),
            "ANVIL_PORT": str(free_port()),
            "PHARMATRACK_DATA_DIR": str(workdir / "data"),
            "DEPLOYMENT_FILE": str(workdir / "deployment.json"),
            "WEB_CONCURRENCY": str(workers),
            "BLOCK_TIME": "0",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env, port
