"""Settings, read from the environment once, with defaults that run the local stack.

Every setting the service reads is declared in SETTINGS (name, default, meaning); the
README's settings table is written from the same list (`pharmatrack settings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from app.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_CHAIN_ID = 31337

# (env var, default, meaning)
SETTINGS: list[tuple[str, str, str]] = [
    ("DATABASE_URL", "", "PostgreSQL URL. Unset: an embedded Postgres is started in PHARMATRACK_DATA_DIR/postgres."),
    ("PHARMATRACK_DATA_DIR", ".data", "Folder for the embedded Postgres, logs and local chain state."),
    ("RPC_URL", "", "JSON-RPC URL of the chain. Unset: `up` starts anvil on ANVIL_PORT and uses it."),
    ("ANVIL_PORT", "8545", "Port of the anvil node `up` starts."),
    ("CHAIN_ID", "31337", "Chain id of the anvil node `up` starts (a real chain reports its own)."),
    ("BLOCK_TIME", "1", "Seconds between anvil blocks; 0 mines one block per transaction."),
    (
        "ANVIL_STATE_INTERVAL",
        "2",
        "Seconds between saves of the local chain to DATA_DIR/anvil-state.json (kept across restarts); 0: a new chain each time.",
    ),
    (
        "SUPERVISOR_MAX_FAILURES",
        "10",
        "`up` restarts a process that dies, and stops the stack when one fails this often within the window.",
    ),
    (
        "SUPERVISOR_FAILURE_WINDOW",
        "120",
        "Window (seconds) of SUPERVISOR_MAX_FAILURES (with the backoff, about 75 s of a process dying at once).",
    ),
    ("DEPLOYMENT_FILE", "", "Deployment record (contract addresses). Unset: deployments/<chain id>.json."),
    ("DEPLOYER_KEYSTORE", "", "Encrypted JSON keystore that deploys on a real chain (anvil uses its dev account)."),
    ("DEPLOYER_KEYSTORE_PASSWORD_FILE", "", "File holding the keystore's password."),
    (
        "SOLC_BINARY",
        "",
        "Native solc 0.8.30 to compile with. Unset: py-solc-x's install, `solc` on PATH, else npm solcjs.",
    ),
    ("HOST", "127.0.0.1", "Address the API listens on."),
    ("PORT", "8000", "Port the API listens on."),
    ("WEB_CONCURRENCY", "2", "gunicorn worker processes."),
    ("WEB_THREADS", "8", "Threads per gunicorn worker (gthread): requests waiting with ?wait=confirmed hold one each."),
    (
        "API_KEY_CACHE_SECONDS",
        "5",
        "Seconds an API server remembers a valid key; a revocation takes effect within this.",
    ),
    # bounded work per request (issue 12)
    ("MAX_BODY_BYTES", "8388608", "Largest request body in bytes (413 above it); a 100,000-serial lot takes ~2.5 MB."),
    ("JSON_MAX_DEPTH", "32", "Deepest nesting of arrays and objects accepted in a JSON body (400 above it)."),
    ("DB_CONNECT_TIMEOUT", "3", "Seconds to open a database connection (libpq connect_timeout, at least 2)."),
    (
        "DB_REQUEST_TIMEOUT",
        "5",
        "Seconds an API request may hold a database connection (statement_timeout, and a client-side bound that "
        "holds even when the server is hung); then 503 with Retry-After.",
    ),
    ("DB_WORKER_TIMEOUT", "120", "The same client-side bound for the relayer, indexer and detector (they retry)."),
    ("DB_POOL_WAIT", "2", "Seconds a request waits for a free database connection, then 503."),
    (
        "DB_BREAKER_SECONDS",
        "3",
        "After the database failed to answer, requests needing it get 503 at once for this long; then one probes.",
    ),
    ("CORS_ORIGINS", "", "Comma-separated origins allowed to call the API from a browser (CORS); empty: CORS off."),
    ("RATE_LIMIT_WINDOW_SECONDS", "60", "Window of the two rate limits below (fixed windows, shared by all workers)."),
    ("RATE_LIMIT_AUTH_FAILURES", "20", "Failed authentications per client address and window; then 429. 0: off."),
    (
        "RATE_LIMIT_KEY_REQUESTS",
        "120000",
        "Requests per API key and window; then 429. 0: off. Counted per process and shared every second.",
    ),
    ("INDEXER_CONFIRMATIONS", "0", "Blocks an event must be buried under before the mirror shows it, or `finalized`."),
    (
        "INDEXER_WINDOW",
        "2000",
        "Initial eth_getLogs window in blocks (it adapts: halves on refusals, doubles when sparse).",
    ),
    ("INDEXER_REORG_LIMIT", "64", "Deepest reorg the indexer repairs; a deeper one stops it loudly."),
    ("INDEXER_POLL_SECONDS", "1.0", "How often the indexer asks for new blocks when it is caught up."),
    ("INDEXER_MAX_LAG", "50", "Lag (blocks) above which /readyz reports the indexer as degraded."),
    (
        "RELAYER_MAX_PENDING_SECONDS",
        "120",
        "Age of the oldest pending operation above which /readyz reports the relayer as degraded.",
    ),
    ("SIGNER_KEYSTORE_DIR", "", "Encrypted keystores of the organisations' signing keys. Unset: DATA_DIR/keystores."),
    ("SIGNER_PASSWORD_FILE", "", "File holding the signing keystores' password. Unset: DATA_DIR/keystore-password."),
    ("RELAYER_BATCH", "400", "Most operations the relayer packs into one transaction."),
    ("RELAYER_MAX_GAS", "15000000", "Gas limit above which the relayer splits a batch."),
    ("RELAYER_POLL_SECONDS", "0.2", "How often the relayer looks for new operations and receipts when idle."),
    (
        "RELAYER_STUCK_SECONDS",
        "30",
        "Seconds a sent transaction may stay unmined before it is re-sent with higher fees.",
    ),
    ("RELAYER_MAX_ATTEMPTS", "5", "Times an operation is retried after its transaction reverted or was dropped."),
    (
        "VERIFY_LOG_FLUSH_SECONDS",
        "0.05",
        "Verifications are logged in batches this often (a worker killed outright loses at most this much).",
    ),
    ("VERIFY_LOG_BACKLOG", "100000", "Unwritten verification log rows above which verifications are refused (503)."),
    (
        "VERIFY_LOG_RETENTION_MONTHS",
        "0",
        "Months of the verification log kept besides the current one (older month tables are dropped); 0 keeps all.",
    ),
    (
        "RESPONDER_GLN",
        "",
        "GLN the LVM responder answers as when the product's manufacturer is not known here.",
    ),
    (
        "DETECT_TRAVEL_SECONDS",
        "3600",
        "A serial seen at two places less than this apart raises an impossible-travel alert.",
    ),
    (
        "DETECT_FAILED_VERIFICATIONS",
        "5",
        "Failed verifications by one requester within the window that raise an alert.",
    ),
    ("DETECT_WINDOW_SECONDS", "600", "Window of DETECT_FAILED_VERIFICATIONS."),
    ("DETECT_POLL_SECONDS", "1.0", "How often the detector reads new verifications and events."),
    # the pages (issue 16): people's sessions and sign-in
    (
        "SESSION_SECRET_FILE",
        "",
        "File holding the key that signs session cookies. Unset: DATA_DIR/session-secret (made once).",
    ),
    ("SESSION_COOKIE_SECURE", "1", "1: session cookies only over HTTPS (production); 0 for plain-HTTP local use."),
    ("SESSION_HOURS", "12", "Hours a page session lasts from sign-in."),
    ("LOGIN_THROTTLE_WINDOW_SECONDS", "900", "Window of the two sign-in limits below (fixed windows)."),
    ("LOGIN_THROTTLE_ACCOUNT", "5", "Failed sign-ins per account (email) and window; then sign-in is refused."),
    ("LOGIN_THROTTLE_ADDRESS", "20", "Failed sign-ins per client address and window; then sign-in is refused."),
    ("LOG_LEVEL", "INFO", "Python log level (DEBUG, INFO, WARNING, ERROR)."),
    ("READINGS_MAX_CLOCK_SKEW_SECONDS", "300", "Seconds a logger's reading may lie ahead of the API's clock."),
]
_DEFAULTS = {name: default for name, default, _ in SETTINGS}


def _env(name: str, environ) -> str:
    return environ.get(name, _DEFAULTS[name])


def _int(name: str, environ, minimum: int = 0) -> int:
    raw = _env(name, environ)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(name, f"{value} is below the minimum {minimum}")
    return value


def _float(name: str, environ, minimum: float = 0.0) -> float:
    raw = _env(name, environ)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(name, f"{value} is below the minimum {minimum}")
    return value


def _path(raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _responder_gln(value: str) -> str | None:
    if not value:
        return None
    from app import gs1

    try:
        return gs1.parse_gln(value)
    except gs1.GS1Error as exc:
        raise ConfigError("RESPONDER_GLN", f"{exc.rule}: {exc.message}") from None


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError("CORS_ORIGINS", f"{origin!r} is not an origin (scheme://host[:port]) or *")
    return origins


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path
    rpc_url: str | None
    anvil_port: int
    chain_id: int
    block_time: float
    anvil_state_interval: float
    supervisor_max_failures: int
    supervisor_failure_window: float
    deployment_file: Path | None
    deployer_keystore: Path | None
    deployer_keystore_password_file: Path | None
    host: str
    port: int
    web_concurrency: int
    web_threads: int
    api_key_cache_seconds: float
    max_body_bytes: int
    json_max_depth: int
    db_connect_timeout: float
    db_request_timeout: float
    db_worker_timeout: float
    db_pool_wait: float
    db_breaker_seconds: float
    cors_origins: tuple[str, ...]
    rate_limit_window_seconds: int
    rate_limit_auth_failures: int
    rate_limit_key_requests: int
    indexer_confirmations: int | str
    indexer_reorg_limit: int
    indexer_window: int
    indexer_poll_seconds: float
    indexer_max_lag: int
    signer_keystore_dir: Path
    signer_password_file: Path
    relayer_batch: int
    relayer_max_gas: int
    relayer_poll_seconds: float
    relayer_stuck_seconds: float
    relayer_max_attempts: int
    relayer_max_pending_seconds: float
    verify_log_flush_seconds: float
    verify_log_backlog: int
    verify_log_retention_months: int
    responder_gln: str | None
    detect_travel_seconds: float
    detect_failed_verifications: int
    detect_window_seconds: float
    detect_poll_seconds: float
    log_level: str
    session_secret_file: Path
    session_cookie_secure: bool
    session_hours: float
    login_throttle_window_seconds: int
    login_throttle_account: int
    login_throttle_address: int
    readings_max_clock_skew_seconds: float = 300.0

    @classmethod
    def from_env(cls, environ=None) -> Settings:
        env = os.environ if environ is None else environ
        log_level = _env("LOG_LEVEL", env).upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError("LOG_LEVEL", f"{log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
        rpc_url = _env("RPC_URL", env) or None
        if rpc_url and not rpc_url.startswith(("http://", "https://")):
            raise ConfigError("RPC_URL", f"{rpc_url!r} is not an http(s) URL")
        database_url = _env("DATABASE_URL", env) or None
        if database_url and not database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL", f"{database_url!r} is not a postgresql:// URL")
        optional_path = {k: (_path(_env(k, env)) if _env(k, env) else None) for k in
                         ("DEPLOYMENT_FILE", "DEPLOYER_KEYSTORE", "DEPLOYER_KEYSTORE_PASSWORD_FILE")}  # fmt: skip
        data_dir = _path(_env("PHARMATRACK_DATA_DIR", env))
        return cls(
            database_url=database_url,
            data_dir=data_dir,
            rpc_url=rpc_url,
            anvil_port=_int("ANVIL_PORT", env, 1),
            chain_id=_int("CHAIN_ID", env, 1),
            block_time=_float("BLOCK_TIME", env),
            anvil_state_interval=_float("ANVIL_STATE_INTERVAL", env),
            supervisor_max_failures=_int("SUPERVISOR_MAX_FAILURES", env, 1),
            supervisor_failure_window=_float("SUPERVISOR_FAILURE_WINDOW", env, 1.0),
            deployment_file=optional_path["DEPLOYMENT_FILE"],
            deployer_keystore=optional_path["DEPLOYER_KEYSTORE"],
            deployer_keystore_password_file=optional_path["DEPLOYER_KEYSTORE_PASSWORD_FILE"],
            host=_env("HOST", env),
            port=_int("PORT", env, 1),
            web_concurrency=_int("WEB_CONCURRENCY", env, 1),
            web_threads=_int("WEB_THREADS", env, 1),
            api_key_cache_seconds=_float("API_KEY_CACHE_SECONDS", env),
            max_body_bytes=_int("MAX_BODY_BYTES", env, 1024),
            json_max_depth=_int("JSON_MAX_DEPTH", env, 2),
            db_connect_timeout=_float("DB_CONNECT_TIMEOUT", env, 2.0),
            db_request_timeout=_float("DB_REQUEST_TIMEOUT", env, 0.5),
            db_worker_timeout=_float("DB_WORKER_TIMEOUT", env, 1.0),
            db_pool_wait=_float("DB_POOL_WAIT", env, 0.0),
            db_breaker_seconds=_float("DB_BREAKER_SECONDS", env, 0.0),
            cors_origins=_origins(_env("CORS_ORIGINS", env)),
            rate_limit_window_seconds=_int("RATE_LIMIT_WINDOW_SECONDS", env, 1),
            rate_limit_auth_failures=_int("RATE_LIMIT_AUTH_FAILURES", env, 0),
            rate_limit_key_requests=_int("RATE_LIMIT_KEY_REQUESTS", env, 0),
            indexer_confirmations=(
                "finalized" if _env("INDEXER_CONFIRMATIONS", env) == "finalized" else _int("INDEXER_CONFIRMATIONS", env)
            ),
            indexer_reorg_limit=_int("INDEXER_REORG_LIMIT", env, 1),
            indexer_window=_int("INDEXER_WINDOW", env, 1),
            indexer_poll_seconds=_float("INDEXER_POLL_SECONDS", env, 0.01),
            indexer_max_lag=_int("INDEXER_MAX_LAG", env),
            signer_keystore_dir=_path(_env("SIGNER_KEYSTORE_DIR", env) or str(data_dir / "keystores")),
            signer_password_file=_path(_env("SIGNER_PASSWORD_FILE", env) or str(data_dir / "keystore-password")),
            relayer_batch=_int("RELAYER_BATCH", env, 1),
            relayer_max_gas=_int("RELAYER_MAX_GAS", env, 100_000),
            relayer_poll_seconds=_float("RELAYER_POLL_SECONDS", env, 0.01),
            relayer_stuck_seconds=_float("RELAYER_STUCK_SECONDS", env, 1.0),
            relayer_max_attempts=_int("RELAYER_MAX_ATTEMPTS", env, 1),
            relayer_max_pending_seconds=_float("RELAYER_MAX_PENDING_SECONDS", env, 1.0),
            verify_log_flush_seconds=_float("VERIFY_LOG_FLUSH_SECONDS", env, 0.001),
            verify_log_backlog=_int("VERIFY_LOG_BACKLOG", env, 1),
            verify_log_retention_months=_int("VERIFY_LOG_RETENTION_MONTHS", env, 0),
            responder_gln=_responder_gln(_env("RESPONDER_GLN", env)),
            detect_travel_seconds=_float("DETECT_TRAVEL_SECONDS", env, 0.0),
            detect_failed_verifications=_int("DETECT_FAILED_VERIFICATIONS", env, 1),
            detect_window_seconds=_float("DETECT_WINDOW_SECONDS", env, 1.0),
            detect_poll_seconds=_float("DETECT_POLL_SECONDS", env, 0.01),
            log_level=log_level,
            session_secret_file=_path(_env("SESSION_SECRET_FILE", env) or str(data_dir / "session-secret")),
            session_cookie_secure=_int("SESSION_COOKIE_SECURE", env) != 0,
            session_hours=_float("SESSION_HOURS", env, 0.01),
            login_throttle_window_seconds=_int("LOGIN_THROTTLE_WINDOW_SECONDS", env, 1),
            login_throttle_account=_int("LOGIN_THROTTLE_ACCOUNT", env, 1),
            login_throttle_address=_int("LOGIN_THROTTLE_ADDRESS", env, 1),
            readings_max_clock_skew_seconds=_float("READINGS_MAX_CLOCK_SKEW_SECONDS", env),
        )

    @property
    def local_rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.anvil_port}"

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or self.local_rpc_url

    def deployment_path(self, chain_id: int) -> Path:
        return self.deployment_file or PROJECT_ROOT / "deployments" / f"{chain_id}.json"

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigError("DATABASE_URL", "not set (the embedded database only runs under `pharmatrack up`)")
        return self.database_url

    def replace(self, **changes) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)
