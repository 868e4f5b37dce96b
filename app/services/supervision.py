"""The status file `pharmatrack up` writes about the processes it supervises (app.stack.Supervisor
writes it; readiness and metrics read it). A file read, no wait."""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUS_FILE = "supervisor.json"


def read_status(data_dir: Path) -> dict | None:
    """The supervisor's status file, if an `up` that is still running writes one in this data folder
    (the file of an `up` that has ended says nothing about the processes serving now)."""
    try:
        status = json.loads((data_dir / STATUS_FILE).read_text())
        os.kill(int(status["pid"]), 0)
    except PermissionError:  # alive, another user's
        return status
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status
