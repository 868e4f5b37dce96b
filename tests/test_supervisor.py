"""The supervisor's logic with real (tiny) child processes and a clock the test moves: a child
that dies is started again after its backoff and counted; one that keeps failing stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from app.services.supervision import STATUS_FILE, read_status
from app.stack import Child, ChildFailing, Supervisor, describe_exit


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _spawn(code: str):
    return lambda: subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def _wait_dead(child: Child, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while child.proc is not None and child.proc.poll() is None:
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.02)


def test_a_child_that_dies_is_restarted_after_its_backoff_and_counted(tmp_path):
    clock = Clock()
    sup = Supervisor(tmp_path / STATUS_FILE, max_failures=5, window=60, clock=clock)
    child = sup.add(Child("worker", _spawn("import time; time.sleep(120)")))
    try:
        first = child.proc.pid
        os.kill(first, signal.SIGKILL)
        _wait_dead(child)
        sup.poll()  # noticed: not started again before its backoff (0.5 s)
        assert child.proc is None and child.last_exit == "signal SIGKILL" and child.restarts == 0
        assert read_status(tmp_path)["children"]["worker"]["state"] == "restarting"
        clock.now += 0.5
        sup.poll()
        assert child.proc is not None and child.proc.pid != first and child.proc.poll() is None
        status = read_status(tmp_path)["children"]["worker"]
        assert status == {"state": "running", "pid": child.proc.pid, "restarts": 1, "last_exit": "signal SIGKILL"}
    finally:
        sup.stop_all()
    assert child.proc is None
    assert read_status(tmp_path)["children"]["worker"]["state"] == "stopped"


def test_backoff_doubles_and_a_child_failing_too_often_stops_the_supervisor(tmp_path):
    clock = Clock()
    sup = Supervisor(tmp_path / STATUS_FILE, max_failures=4, window=60, clock=clock)
    child = sup.add(Child("relayer", _spawn("import sys; sys.exit(3)")))
    delays = []
    try:
        for _ in range(3):
            _wait_dead(child)
            sup.poll()
            assert child.proc is None and child.last_exit == "exit code 3"
            delays.append(child.restart_at - clock.now)
            clock.now = child.restart_at
            sup.poll()  # started again
            assert child.proc is not None
        assert delays == [0.5, 1.0, 2.0]
        _wait_dead(child)
        with pytest.raises(ChildFailing) as failing:
            sup.poll()
        assert "relayer failed 4 times within 60s (last: exit code 3)" in str(failing.value)
    finally:
        sup.stop_all()


def test_failures_older_than_the_window_are_forgotten(tmp_path):
    clock = Clock()
    sup = Supervisor(tmp_path / STATUS_FILE, max_failures=2, window=10, clock=clock)
    child = sup.add(Child("detector", _spawn("import sys; sys.exit(1)")))
    try:
        for _ in range(3):  # three failures, each more than the window after the one before: never gives up
            _wait_dead(child)
            sup.poll()
            assert child.restart_at == clock.now + 0.5  # the backoff starts over too
            clock.now += 11
            sup.poll()
        assert child.restarts == 3
    finally:
        sup.stop_all()


def test_a_child_that_cannot_start_counts_as_a_failure(tmp_path):
    from app.errors import ConfigError

    clock = Clock()
    sup = Supervisor(tmp_path / STATUS_FILE, max_failures=2, window=60, clock=clock)
    attempts = []

    def start():
        attempts.append(1)
        if len(attempts) > 1:
            raise ConfigError("anvil", "exited with code 1 at start")
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(0)"])

    child = sup.add(Child("anvil", start))
    _wait_dead(child)
    sup.poll()
    clock.now = child.restart_at
    with pytest.raises(ChildFailing) as failing:
        sup.poll()
    assert "anvil failed 2 times" in str(failing.value) and "failed to start" in str(failing.value)


def test_exit_descriptions():
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-15) == "signal SIGTERM"
    assert describe_exit(None) == "running"


def test_the_status_file_is_replaced_whole(tmp_path):
    sup = Supervisor(tmp_path / STATUS_FILE)
    sup.write_status()
    assert json.loads((tmp_path / STATUS_FILE).read_text())["children"] == {}
    assert not list(tmp_path.glob("*.tmp"))
    assert read_status(tmp_path / "elsewhere") is None


def test_the_status_file_of_an_up_that_has_ended_is_ignored(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / STATUS_FILE).write_text(json.dumps({"pid": dead.pid, "children": {"relayer": {"state": "stopped"}}}))
    assert read_status(tmp_path) is None


def test_a_failing_check_after_a_restart_counts_as_a_failure_and_the_child_is_started_again(tmp_path):
    clock = Clock()
    sup = Supervisor(tmp_path / STATUS_FILE, max_failures=5, window=60, clock=clock)
    child = sup.add(Child("anvil", _spawn("import time; time.sleep(120)")))
    checks = []

    def check(name):
        checks.append(name)
        if len(checks) == 1:
            raise ConnectionError("the node died again")

    sup.after_restart = check
    try:
        os.kill(child.proc.pid, signal.SIGKILL)
        _wait_dead(child)
        sup.poll()
        clock.now = child.restart_at
        sup.poll()  # started, checked, the check failed: stopped, to be started again after 1 s
        assert child.proc is None and child.last_exit == "check after restart failed: ConnectionError"
        assert child.restart_at == clock.now + 1.0
        clock.now = child.restart_at
        sup.poll()
        assert child.proc is not None and child.proc.poll() is None and checks == ["anvil", "anvil"]
        assert child.restarts == 2
    finally:
        sup.stop_all()
