"""Organisations' signing keys, kept as encrypted JSON keystores (Web3 Secret Storage v3).

A KeyStore is a directory holding one keystore per account, named ``<lowercase 0x address>.json``
(mode 0600, in a 0700 directory), all encrypted with the one password read from a password file
(SIGNER_KEYSTORE_DIR, SIGNER_PASSWORD_FILE). Encryption and decryption are eth_account's
(``Account.encrypt`` / ``Account.decrypt``); nothing here does crypto by hand.

Keys and the password stay inside the KeyStore: they are never logged, never put in an exception
message and never shown by ``repr``. Decrypted accounts are cached per instance, since the
default KDF (scrypt) takes most of a second per key.

Unlike DEPLOYER_KEYSTORE (app.chain.deploy, one keystore file, password ``strip()``-ed), only a
trailing newline is removed from SIGNER_PASSWORD_FILE's content: other whitespace is part of the
password.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from app.errors import ConfigError

DIR_SETTING = "SIGNER_KEYSTORE_DIR"
PASSWORD_SETTING = "SIGNER_PASSWORD_FILE"  # noqa: S105 - a setting's name, not a password

# kdf_light=True: PBKDF2 with this few iterations instead of scrypt. It makes a keystore cheap to
# brute-force, so it is for tests only; never use it for a key that guards anything.
LIGHT_KDF_ITERATIONS = 1024

# What eth_keyfile raises (as ValueError) when the password derives the wrong key (v3, v4).
_WRONG_PASSWORD_MESSAGES = {"MAC mismatch", "Checksum mismatch"}


class KeyStore:
    """A directory of encrypted keystores sharing one password (read lazily, on first use)."""

    def __init__(self, directory: Path, password_file: Path | None):
        self.directory = Path(directory)
        self.password_file = Path(password_file) if password_file is not None else None
        self._password: str | None = None
        self._accounts: dict[str, LocalAccount] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyStore(directory={str(self.directory)!r}, password_file={str(self.password_file)!r})"

    # -- writing -------------------------------------------------------------------------------

    def create(self, kdf_light: bool = False) -> str:
        """Make a new random account, store its keystore and return its checksummed address.
        ``kdf_light`` is for tests only (see LIGHT_KDF_ITERATIONS)."""
        account = Account.create()
        self._write(account, kdf_light)
        return account.address

    def import_key(self, private_key: bytes | str, kdf_light: bool = False) -> str:
        """Store an existing key (bytes or hex) and return its checksummed address. Importing a key
        already stored is a no-op; a file in its place that this password does not open as that
        key is never overwritten (ConfigError)."""
        account = _account_from_key(private_key)
        if self._path(account.address).exists():
            self._check_existing(account)
        else:
            self._write(account, kdf_light)
        return account.address

    def _check_existing(self, account: LocalAccount) -> None:
        try:
            stored = self.account(account.address)
        except ConfigError as exc:
            raise ConfigError(
                exc.setting, f"{exc.problem}; refusing to overwrite {self._path(account.address)}"
            ) from None
        if stored.key != account.key:  # unreachable unless the file was tampered with
            raise ConfigError(DIR_SETTING, f"{self._path(account.address)} holds another key; refusing to overwrite")

    def _write(self, account: LocalAccount, kdf_light: bool) -> None:
        if kdf_light:
            keystore = Account.encrypt(
                account.key, self._read_password(), kdf="pbkdf2", iterations=LIGHT_KDF_ITERATIONS
            )
        else:
            keystore = Account.encrypt(account.key, self._read_password())
        self._ensure_directory()
        _write_private(self._path(account.address), json.dumps(keystore))
        with self._lock:
            self._accounts[account.address] = account

    def _ensure_directory(self) -> None:
        if self.directory.is_dir():
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # exactly 0700, whatever the umask
        except OSError as exc:
            raise ConfigError(DIR_SETTING, f"cannot create {self.directory} ({exc.strerror})") from None

    # -- reading -------------------------------------------------------------------------------

    def addresses(self) -> list[str]:
        """Checksummed addresses of the keystores in the directory (files named otherwise are ignored)."""
        if not self.directory.is_dir():
            return []
        names = (path.stem for path in self.directory.glob("*.json") if path.is_file())
        return sorted(to_checksum_address(name) for name in names if _is_address_name(name))

    def account(self, address: str) -> LocalAccount:
        """The decrypted account of ``address`` (decrypted once per instance, then cached)."""
        address = _checksum(address)
        with self._lock:
            if address not in self._accounts:
                self._accounts[address] = self._decrypt(address)
            return self._accounts[address]

    def _decrypt(self, address: str) -> LocalAccount:
        path = self._path(address)
        keystore = _read_keystore(path, address)
        try:
            key = Account.decrypt(keystore, self._read_password())
        except ValueError as exc:
            if str(exc) in _WRONG_PASSWORD_MESSAGES:
                raise ConfigError(
                    PASSWORD_SETTING, f"cannot decrypt the keystore of {address}: wrong password?"
                ) from None
            raise ConfigError(DIR_SETTING, f"{path} is not a valid keystore ({type(exc).__name__})") from None
        except (KeyError, TypeError, NotImplementedError) as exc:
            raise ConfigError(DIR_SETTING, f"{path} is not a valid keystore ({type(exc).__name__})") from None
        account = Account.from_key(key)
        if account.address != address:
            raise ConfigError(DIR_SETTING, f"{path} holds the key of another address; it must be named after it")
        return account

    def _read_password(self) -> str:
        if self._password is None:
            self._password = _read_password_file(self.password_file)
        return self._password

    def _path(self, address: str) -> Path:
        return self.directory / f"{address.lower()}.json"


def _read_password_file(path: Path | None) -> str:
    if path is None:
        raise ConfigError(PASSWORD_SETTING, "not set; it must name a file holding the keystores' password")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(PASSWORD_SETTING, f"cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(PASSWORD_SETTING, f"{path} is not UTF-8 text") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ConfigError(PASSWORD_SETTING, f"{path} is empty")
    return password


def _read_keystore(path: Path, address: str) -> dict:
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(DIR_SETTING, f"no keystore for {address}") from None
    except OSError as exc:
        raise ConfigError(DIR_SETTING, f"cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(DIR_SETTING, f"{path} is not a JSON keystore") from None
    if not isinstance(keystore, dict):
        raise ConfigError(DIR_SETTING, f"{path} is not a JSON keystore")
    # Checked before the (slow) decryption; the decrypted key is checked again afterwards.
    named = keystore.get("address")
    if named is not None and (not is_address(str(named)) or to_checksum_address(str(named)) != address):
        raise ConfigError(DIR_SETTING, f"{path} says it holds the key of {named}, not {address}")
    return keystore


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + os.replace), readable by the owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _account_from_key(private_key: bytes | str) -> LocalAccount:
    # eth_account's own messages may quote the value: never let them carry a key.
    try:
        return Account.from_key(private_key)
    except (ValueError, TypeError):
        raise ValueError("not a valid private key (32 bytes, or 64 hex digits)") from None


def _checksum(address: str) -> str:
    if not isinstance(address, str) or not is_address(address):
        # Not echoed: a key passed here by mistake must not end up in a log.
        raise ValueError("not an Ethereum address")
    return to_checksum_address(address)


def _is_address_name(name: str) -> bool:
    return name == name.lower() and name.startswith("0x") and is_address(name)
