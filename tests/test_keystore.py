"""KeyStore: organisations' keys in encrypted JSON keystores (pure: files in tmp_path, no chain)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from app.chain.keystore import KeyStore
from app.errors import ConfigError

PASSWORD = "correct horse battery staple"
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def _password_file(tmp_path: Path, password: str = PASSWORD, name: str = "password") -> Path:
    path = tmp_path / name
    path.write_text(password + "\n")
    return path


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys", _password_file(tmp_path))


def _signer_of(account, text: str = "pharmatrack") -> str:
    message = encode_defunct(text=text)
    signed = account.sign_message(message)
    return Account.recover_message(message, signature=signed.signature)


def test_create_list_and_load_round_trip(store: KeyStore, tmp_path: Path):
    first = store.create(kdf_light=True)
    second = store.create(kdf_light=True)
    assert first != second
    assert store.addresses() == sorted([first, second])
    assert (tmp_path / "keys" / f"{first.lower()}.json").is_file()

    fresh = KeyStore(tmp_path / "keys", tmp_path / "password")  # nothing cached: decrypts from disk
    account = fresh.account(first)
    assert account.address == first
    assert _signer_of(account) == first
    assert fresh.account(first.lower()) is account  # cached, whatever the address's case


def test_default_kdf_round_trip(store: KeyStore, tmp_path: Path):
    address = store.create()
    keystore = json.loads((tmp_path / "keys" / f"{address.lower()}.json").read_text())
    assert keystore["version"] == 3
    assert keystore["crypto"]["kdf"] == "scrypt"
    account = KeyStore(tmp_path / "keys", tmp_path / "password").account(address)
    assert _signer_of(account) == address


def test_light_kdf_is_pbkdf2(store: KeyStore, tmp_path: Path):
    address = store.create(kdf_light=True)
    keystore = json.loads((tmp_path / "keys" / f"{address.lower()}.json").read_text())
    assert keystore["crypto"]["kdf"] == "pbkdf2"


def test_permissions(store: KeyStore, tmp_path: Path):
    address = store.create(kdf_light=True)
    directory = tmp_path / "keys"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / f"{address.lower()}.json").stat().st_mode) == 0o600
    assert [p.name for p in directory.iterdir()] == [f"{address.lower()}.json"]  # no temp file left


def test_password_trailing_newline_only_is_stripped(tmp_path: Path):
    directory = tmp_path / "keys"
    address = KeyStore(directory, _password_file(tmp_path, " secret ")).create(kdf_light=True)
    (tmp_path / "no-newline").write_text(" secret ")
    assert KeyStore(directory, tmp_path / "no-newline").account(address).address == address
    (tmp_path / "stripped").write_text("secret\n")
    with pytest.raises(ConfigError) as err:
        KeyStore(directory, tmp_path / "stripped").account(address)
    assert err.value.setting == "SIGNER_PASSWORD_FILE"


def test_wrong_password(store: KeyStore, tmp_path: Path):
    address = store.create(kdf_light=True)
    wrong = "not-the-password-42"
    other = KeyStore(tmp_path / "keys", _password_file(tmp_path, wrong, name="wrong"))
    with pytest.raises(ConfigError) as err:
        other.account(address)
    assert err.value.setting == "SIGNER_PASSWORD_FILE"
    assert str(err.value) == f"SIGNER_PASSWORD_FILE: cannot decrypt the keystore of {address}: wrong password?"
    assert wrong not in str(err.value)
    assert PASSWORD not in str(err.value)
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_unusable_password_file(tmp_path: Path, content: str | None):
    password_file = tmp_path / "password"
    if content is not None:
        password_file.write_text(content)
    store = KeyStore(tmp_path / "keys", password_file)  # lazy: no error yet
    with pytest.raises(ConfigError) as err:
        store.create(kdf_light=True)
    assert err.value.setting == "SIGNER_PASSWORD_FILE"
    assert not (tmp_path / "keys").exists()


def test_password_file_not_set(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        KeyStore(tmp_path / "keys", None).create(kdf_light=True)
    assert err.value.setting == "SIGNER_PASSWORD_FILE"


def test_missing_key(store: KeyStore):
    with pytest.raises(ConfigError) as err:
        store.account(ANVIL_ADDRESS_0)
    assert err.value.setting == "SIGNER_KEYSTORE_DIR"
    assert err.value.problem == f"no keystore for {ANVIL_ADDRESS_0}"
    assert store.addresses() == []


def test_invalid_address_is_not_echoed(store: KeyStore):
    with pytest.raises(ValueError) as err:
        store.account(ANVIL_KEY_0)  # a key passed by mistake
    assert ANVIL_KEY_0[2:] not in str(err.value)


def test_import_known_key(store: KeyStore, tmp_path: Path):
    assert store.import_key(ANVIL_KEY_0, kdf_light=True) == ANVIL_ADDRESS_0
    assert store.addresses() == [ANVIL_ADDRESS_0]
    account = KeyStore(tmp_path / "keys", tmp_path / "password").account(ANVIL_ADDRESS_0)
    assert account.key.to_0x_hex() == ANVIL_KEY_0
    assert store.import_key(bytes.fromhex(ANVIL_KEY_0[2:]), kdf_light=True) == ANVIL_ADDRESS_0  # again: no-op


def test_import_invalid_key_is_not_echoed(store: KeyStore):
    bad = "0x" + "zz" * 32
    with pytest.raises(ValueError) as err:
        store.import_key(bad)
    assert "zz" not in str(err.value)


def test_import_refuses_to_overwrite_another_key(store: KeyStore, tmp_path: Path):
    # A file named after anvil's account 0 that holds account 1's key.
    directory = tmp_path / "keys"
    directory.mkdir()
    squatter = directory / f"{ANVIL_ADDRESS_0.lower()}.json"
    squatter.write_text(json.dumps(Account.encrypt(ANVIL_KEY_1, PASSWORD, kdf="pbkdf2", iterations=2)))
    before = squatter.read_text()
    with pytest.raises(ConfigError) as err:
        store.import_key(ANVIL_KEY_0, kdf_light=True)
    assert err.value.setting == "SIGNER_KEYSTORE_DIR"
    assert "refusing to overwrite" in err.value.problem
    assert squatter.read_text() == before


def test_import_refuses_to_overwrite_a_file_it_cannot_open(store: KeyStore, tmp_path: Path):
    directory = tmp_path / "keys"
    directory.mkdir()
    other = directory / f"{ANVIL_ADDRESS_0.lower()}.json"
    other.write_text(json.dumps(Account.encrypt(ANVIL_KEY_0, "another password", kdf="pbkdf2", iterations=2)))
    before = other.read_text()
    with pytest.raises(ConfigError, match="refusing to overwrite") as err:
        store.import_key(ANVIL_KEY_0, kdf_light=True)
    assert err.value.setting == "SIGNER_PASSWORD_FILE"
    assert other.read_text() == before


def test_address_field_must_match_file_name(store: KeyStore, tmp_path: Path):
    address = store.create(kdf_light=True)
    path = tmp_path / "keys" / f"{address.lower()}.json"
    renamed = path.with_name(f"{ANVIL_ADDRESS_0.lower()}.json")
    path.rename(renamed)
    with pytest.raises(ConfigError) as err:
        KeyStore(tmp_path / "keys", tmp_path / "password").account(ANVIL_ADDRESS_0)
    assert err.value.setting == "SIGNER_KEYSTORE_DIR"

    # Without an address field, the decrypted key is checked instead.
    keystore = json.loads(renamed.read_text())
    del keystore["address"]
    renamed.write_text(json.dumps(keystore))
    with pytest.raises(ConfigError) as err:
        KeyStore(tmp_path / "keys", tmp_path / "password").account(ANVIL_ADDRESS_0)
    assert err.value.setting == "SIGNER_KEYSTORE_DIR"


def test_corrupt_keystore(store: KeyStore, tmp_path: Path):
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / f"{ANVIL_ADDRESS_0.lower()}.json").write_text("{not json")
    with pytest.raises(ConfigError) as err:
        store.account(ANVIL_ADDRESS_0)
    assert err.value.setting == "SIGNER_KEYSTORE_DIR"


def test_addresses_ignores_other_files(store: KeyStore, tmp_path: Path):
    address = store.create(kdf_light=True)
    directory = tmp_path / "keys"
    (directory / "notes.json").write_text("{}")
    (directory / f"{ANVIL_ADDRESS_0}.json").write_text("{}")  # not lowercase: not ours
    (directory / f".{ANVIL_ADDRESS_0.lower()}.abc.tmp").write_text("")
    assert store.addresses() == [address]


def test_repr_hides_secrets(store: KeyStore):
    store.import_key(ANVIL_KEY_0, kdf_light=True)
    store.account(ANVIL_ADDRESS_0)
    text = repr(store) + str(store)
    assert ANVIL_KEY_0[2:] not in text.lower()
    assert PASSWORD not in text
    assert "keys" in text
