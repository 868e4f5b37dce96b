import pytest

from app.config import SETTINGS, Settings
from app.errors import ConfigError


def test_defaults_run_the_local_stack():
    s = Settings.from_env({})
    assert s.database_url is None
    assert s.rpc_url is None
    assert s.effective_rpc_url == "http://127.0.0.1:8545"
    assert (s.port, s.host, s.chain_id) == (8000, "127.0.0.1", 31337)
    assert s.deployment_path(31337).name == "31337.json"


def test_env_overrides_are_read():
    s = Settings.from_env({"PORT": "9001", "RPC_URL": "https://rpc.example:8545", "INDEXER_CONFIRMATIONS": "12"})
    assert s.port == 9001
    assert s.effective_rpc_url == "https://rpc.example:8545"
    assert s.indexer_confirmations == 12


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"PORT": "eighty"}, "PORT", "not a whole number"),
        ({"PORT": "0"}, "PORT", "below the minimum"),
        ({"BLOCK_TIME": "-1"}, "BLOCK_TIME", "below the minimum"),
        ({"RPC_URL": "ws://x"}, "RPC_URL", "not an http(s) URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", "not a postgresql:// URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "not one of"),
    ],
)
def test_bad_values_name_the_setting(env, setting, fragment):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.setting == setting
    assert fragment in info.value.problem


def test_every_setting_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [name for name, _, _ in SETTINGS if f"`{name}`" not in readme]
    assert missing == []
