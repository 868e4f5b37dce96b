"""`pharmatrack up` brings the whole stack up on the embedded default (no DATABASE_URL),
answers /readyz, serves the demo data, and Ctrl-C / SIGTERM leave no process behind."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from app.chain.anvil import free_port


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def _wait_up(proc, base, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
        try:
            status, body = _get(f"{base}/v1/products")
            if status == 200 and [i["gtin"] for i in body["items"]] == ["09506000134352"]:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("stack did not come up with demo data")


def _up_env(tmp_path) -> tuple[dict, int]:
    """Environment for an `up` of its own: free ports, a data folder and deployment record in tmp."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RPC_URL"}}
    env.update(
        {
            "PORT": str(port),
            "ANVIL_PORT": str(free_port()),
            "PHARMATRACK_DATA_DIR": str(tmp_path / "data"),
            "DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
            "WEB_CONCURRENCY": "1",
            "BLOCK_TIME": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env, port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_starts_everything_and_stops_everything(tmp_path, sig):
    env, port = _up_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(proc, base)
        status, ready = _get(f"{base}/readyz")
        assert status == 200
        assert ready["components"]["database"]["state"] == "ok"
        assert ready["components"]["chain"]["state"] == "ok"
        started = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        started += [
            p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "data") in " ".join(p.info["cmdline"] or [])
        ]
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "anvil" in names and "gunicorn" in names and "postgres" in names
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "pharmatrack is up" in out
    time.sleep(0.5)
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]


def test_ctrl_c_while_starting_stops_what_had_started(tmp_path):
    env, _ = _up_env(tmp_path)
    deployment = tmp_path / "deployment.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not deployment.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert deployment.exists(), "up never deployed"
    started = psutil.Process(proc.pid).children(recursive=True)
    started += [
        p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "data") in " ".join(p.info["cmdline"] or [])
    ]
    commands = [" ".join(p.cmdline()) for p in started]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT) while starting" in err
    assert "pharmatrack is up" not in out
    time.sleep(0.5)
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
    assert any("anvil" in c for c in commands)
