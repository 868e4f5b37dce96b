"""`pharmatrack up` brings the whole stack up on the embedded default (no DATABASE_URL),
answers /readyz, serves the demo data, and Ctrl-C / SIGTERM leave no process behind."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from tests.upenv import up_env


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


class _Output:
    """Drains a child's stdout (gunicorn's access log goes there too) and notes when `up`
    announces that start-up is over."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)
            if "Ctrl-C stops everything" in line:
                self.ready.set()

    def text(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)

    def text_so_far(self) -> str:
        return "".join(self.lines)


def _wait_up(proc, base, output: _Output, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "up exited while starting"
        if output.ready.is_set():
            status, body = _get(f"{base}/v1/products")
            assert status == 200 and [i["gtin"] for i in body["items"]] == ["09506000134352"]
            return
        time.sleep(0.2)
    raise AssertionError("stack did not come up with demo data")


def _up_env(tmp_path) -> tuple[dict, int]:
    """Environment for an `up` of its own: free ports, a data folder and deployment record in tmp."""
    return up_env(tmp_path)


def _dispense_through_the_stack(base: str, keys_file) -> None:
    """A scan posted to the running stack is relayed, mined, indexed and confirmed."""
    import json
    import urllib.parse
    import urllib.request

    from app.demo import GTIN, with_check_digit

    key = json.loads(keys_file.read_text())[with_check_digit("950600000003")]  # Riverside Pharmacy
    body = json.dumps({"packs": [f"(01){GTIN}(21)DEMO000010"]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/dispensations?wait=confirmed&timeout=60",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "up-test", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=90) as resp:
        answer = json.loads(resp.read())
    assert answer["operation"]["status"] == "confirmed", answer
    # ... and a pharmacist's verification of it now says so, with its proof against the demo lot's root
    code = urllib.parse.quote(f"(01){GTIN}(21)DEMO000010")
    verify = urllib.request.Request(f"{base}/v1/verify?code={code}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(verify, timeout=30) as resp:
        answer = json.loads(resp.read())
    assert answer["verdict"] == "dispensed" and answer["proof"]["root"].startswith("0x"), answer


def _demo_verdicts_through_the_stack(base: str, keys_file) -> None:
    """The demo shows a clean path beside the excursion: at Riverside Pharmacy a pack of the cool pallet
    verifies `verified`, one of the warm pallet `suspect` (temperature_excursion)."""
    import urllib.parse

    from app.demo import COOL_PACK, GTIN, WARM_PACK, with_check_digit

    key = json.loads(keys_file.read_text())[with_check_digit("950600000003")]  # Riverside Pharmacy
    verdicts = {}
    for serial in (COOL_PACK, WARM_PACK):
        code = urllib.parse.quote(f"(01){GTIN}(21){serial}")
        request = urllib.request.Request(f"{base}/v1/verify?code={code}", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        verdicts[serial] = (answer["verdict"], [r["code"] for r in answer["reasons"]])
    assert verdicts == {COOL_PACK: ("verified", []), WARM_PACK: ("suspect", ["temperature_excursion"])}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_starts_everything_and_stops_everything(tmp_path, sig):
    env, port = _up_env(tmp_path)
    stderr_file = (tmp_path / "stderr").open("w")  # closed once the child has exited
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
    )
    output = _Output(proc.stdout)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(proc, base, output)
        status, ready = _get(f"{base}/readyz")
        assert status == 200
        assert ready["components"]["database"]["state"] == "ok"
        assert ready["components"]["chain"]["state"] == "ok"
        started = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        started += [
            p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "data") in " ".join(p.info["cmdline"] or [])
        ]
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "anvil" in names and "gunicorn" in names and "postgres" in names and "relay" in names
        assert "app.cli deliver" in names  # the EPCIS webhook delivery loop (issue 15)
        _demo_verdicts_through_the_stack(base, tmp_path / "data" / "demo-api-keys.json")
        _dispense_through_the_stack(base, tmp_path / "data" / "demo-api-keys.json")
    finally:
        proc.send_signal(sig)
        proc.wait(60)
        stderr_file.close()
        printed = output.text()
        proc.stdout.close()
    assert proc.returncode == 0, (tmp_path / "stderr").read_text()
    assert "pharmatrack is up" in printed
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


def test_a_child_that_keeps_failing_stops_the_stack_with_a_clear_message(tmp_path):
    env, _ = _up_env(tmp_path)
    env.update({"SUPERVISOR_MAX_FAILURES": "3", "SUPERVISOR_FAILURE_WINDOW": "60"})
    stderr_file = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=stderr_file, text=True)  # fmt: skip
    output = _Output(proc.stdout)
    status_file = tmp_path / "data" / "supervisor.json"
    try:
        deadline = time.monotonic() + 120
        while not output.ready.is_set():
            assert proc.poll() is None and time.monotonic() < deadline, "up did not start"
            time.sleep(0.1)
        started = psutil.Process(proc.pid).children(recursive=True)
        started += [
            p for p in psutil.process_iter(["cmdline"]) if str(tmp_path / "data") in " ".join(p.info["cmdline"] or [])
        ]
        killed = set()
        while len(killed) < 3 and proc.poll() is None:  # the detector, killed each time it runs again
            assert time.monotonic() < deadline + 60, "the detector was not restarted"
            detector = json.loads(status_file.read_text())["children"]["detector"]
            if detector["state"] == "running" and detector["pid"] not in killed:
                os.kill(detector["pid"], signal.SIGKILL)
                killed.add(detector["pid"])
            time.sleep(0.05)
        code = proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        stderr_file.close()
        output.text()
        proc.stdout.close()
    stderr = (tmp_path / "stderr").read_text()
    assert code == 1, stderr
    assert "pharmatrack: error: detector failed 3 times within 60s (last: signal SIGKILL); stopping the stack" in stderr
    assert stderr.count("detector exited unexpectedly (signal SIGKILL)") == 3
    time.sleep(0.5)
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], [p.cmdline() for p in alive]
