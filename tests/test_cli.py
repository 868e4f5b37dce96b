"""The CLI: bad configuration exits non-zero with one line naming the setting, never a traceback."""

import json
import os
import subprocess
import sys

import pytest

from app.chain.anvil import free_port


def run_cli(*args, env=None, timeout=60):
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RPC_URL", "DEPLOYMENT_FILE"}}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        check=False,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(proc, setting, fragment):
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"pharmatrack: error: {setting}: "), lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr


def test_unreachable_rpc_url(tmp_path):
    proc = run_cli("deploy", env={"RPC_URL": f"http://127.0.0.1:{free_port()}"})
    assert_one_line_error(proc, "RPC_URL", "cannot reach a JSON-RPC node")


def test_malformed_rpc_url():
    proc = run_cli("deploy", env={"RPC_URL": "ftp://somewhere"})
    assert_one_line_error(proc, "RPC_URL", "not an http(s) URL")


def test_wrong_database_url():
    proc = run_cli("migrate", env={"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"})
    assert_one_line_error(proc, "DATABASE_URL", "cannot connect")


def test_missing_deployment(anvil, tmp_path):
    missing = tmp_path / "none.json"
    proc = run_cli("index", "--once", env={"RPC_URL": anvil.rpc_url, "DEPLOYMENT_FILE": str(missing)})
    assert_one_line_error(proc, "DEPLOYMENT_FILE", "does not exist; run `pharmatrack deploy`")


def test_deployment_for_another_chain(anvil, deployment, tmp_path):
    record = json.loads(deployment.path.read_text())
    record["chainId"] = 1
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(record))
    proc = run_cli("index", "--once", env={"RPC_URL": anvil.rpc_url, "DEPLOYMENT_FILE": str(stale)})
    assert_one_line_error(proc, "DEPLOYMENT_FILE", "is for chain 1")


def test_bad_numeric_setting():
    proc = run_cli("migrate", env={"PORT": "eighty"})
    assert_one_line_error(proc, "PORT", "not a whole number")


def test_deploy_migrate_and_index_work_against_real_services(anvil, database_url, tmp_path):
    env = {"RPC_URL": anvil.rpc_url, "DATABASE_URL": database_url, "DEPLOYMENT_FILE": str(tmp_path / "d.json")}
    deployed = run_cli("deploy", env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert "PharmaTrack" in deployed.stdout
    record = json.loads((tmp_path / "d.json").read_text())
    assert record["chainId"] == 31337 and record["contracts"]["PharmaTrack"]["address"].startswith("0x")
    again = run_cli("deploy", "--if-needed", env=env)
    assert again.returncode == 0 and "already deployed" in again.stdout
    assert json.loads((tmp_path / "d.json").read_text()) == record
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0 and "applied 0 migration(s)" in migrated.stdout
    indexed = run_cli("index", "--once", env=env)
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed" in indexed.stdout


@pytest.mark.parametrize("fmt", ["--markdown", None])
def test_settings_lists_every_env_var(fmt):
    from app.config import SETTINGS

    proc = run_cli("settings", *([fmt] if fmt else []))
    assert proc.returncode == 0
    for name, _, _ in SETTINGS:
        assert name in proc.stdout
