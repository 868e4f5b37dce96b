"""The `pharmatrack` command line."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys

import click

from app import logs
from app.config import SETTINGS, Settings
from app.errors import ConfigError, PharmatrackError, ServiceUnavailable
from app.stack import Interrupted

log = logging.getLogger("pharmatrack")


def _settings() -> Settings:
    settings = Settings.from_env()
    logs.setup(settings.log_level)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """pharmatrack: serialized drug custody on an EVM chain, with an API and a Postgres mirror."""


@cli.command()
def compile():
    """Compile contracts/ to build/contracts (reproducible: same sources, same bytecode)."""
    from app.chain.compiler import DEFAULT_BUILD_DIR, compile_contracts

    artifacts = compile_contracts()
    for name, artifact in artifacts.items():
        size = (len(artifact.deployed_bytecode) - 2) // 2
        click.echo(f"{name:20s} {size:6d} bytes  {artifact.compiler}  sources {artifact.source_hash[:12]}")
    click.echo(f"artifacts in {DEFAULT_BUILD_DIR}")


@cli.command()
@click.option("--if-needed", is_flag=True, help="Do nothing when a valid deployment record for this chain exists.")
def deploy(if_needed: bool):
    """Deploy the contracts to RPC_URL and write the deployment record for that chain."""
    from app.chain.deploy import Signer, deploy_all, load_checked
    from app.chain.web3factory import connect

    settings = _settings()
    w3 = connect(settings.effective_rpc_url)
    path = settings.deployment_path(w3.eth.chain_id)
    if if_needed and path.is_file():
        try:
            existing = load_checked(w3, path)
        except ConfigError as exc:
            click.echo(f"deployment record unusable ({exc.problem}); deploying anew", err=True)
        else:
            click.echo(f"already deployed on chain {existing.chain_id}: {path}")
            return
    signer = Signer(w3, settings.deployer_keystore, settings.deployer_keystore_password_file)
    deployment = deploy_all(w3, signer, path)
    for name, record in deployment.contracts.items():
        click.echo(f"{name:20s} {record['address']}  block {record['block']}")
    click.echo(f"deployment record: {deployment.path}")


@cli.command()
def migrate():
    """Apply pending database migrations."""
    from app import stack
    from app.db import migrate as migrations

    settings = _settings()
    with stack.database(settings) as url:
        applied = migrations.apply(url)
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@cli.command()
def serve():
    """Serve the API with gunicorn on HOST:PORT."""
    from app import stack

    settings = _settings()
    with stack.database(settings) as url, stack.StopSignal() as stop:
        env = {**os.environ, "DATABASE_URL": url, "RPC_URL": settings.effective_rpc_url}
        proc = stack.spawn(stack.gunicorn_args(settings), env, "api")
        while not stop.event.wait(0.5):
            if proc.poll() is not None:
                raise ConfigError("PORT", f"gunicorn exited with code {proc.returncode}")
        stack.stop_process(proc)


@cli.command()
@click.option("--once", is_flag=True, help="Index up to the safe head, then exit.")
@click.option("--verify", is_flag=True, help="Re-index into a scratch schema and compare with the live mirror.")
@click.option("--reset-on-new-chain", is_flag=True, help="Empty the mirror if it was built from another chain.")
def index(once: bool, verify: bool, reset_on_new_chain: bool):
    """Run the indexer: mirror contract events into Postgres."""
    from app import stack
    from app.chain.client import ChainClient
    from app.chain.deploy import load_checked
    from app.chain.web3factory import connect
    from app.chain.window import AdaptiveWindow
    from app.db import Database
    from app.db import indexer as db_indexer
    from app.indexer.core import Indexer
    from app.indexer.progress import Progress
    from app.indexer.registry import specs_for

    settings = _settings()
    w3 = connect(settings.effective_rpc_url)
    deployment = load_checked(w3, settings.deployment_path(w3.eth.chain_id))
    chain = ChainClient(settings.effective_rpc_url, timeout=30)
    with stack.database(settings) as url, stack.StopSignal() as stop:
        if verify:
            _verify(url, chain, deployment, specs_for(deployment), stop.event)
            return
        db = Database.for_worker(settings, url, maxconn=2)
        indexer = Indexer.for_deployment(
            db,
            chain,
            deployment,
            confirmations=settings.indexer_confirmations,
            reorg_limit=settings.indexer_reorg_limit,
            reset_on_new_chain=reset_on_new_chain,
            window=AdaptiveWindow(size=settings.indexer_window, maximum=max(settings.indexer_window, 50_000)),
            **stack.indexer_hooks(),
        )
        with db.connection() as conn:
            cursor = db_indexer.read_cursor(conn)
        progress = Progress(indexer.safe_head(), cursor.block_number if cursor else deployment.start_block)
        try:
            if once:
                blocks = 0
                while not stop.event.is_set() and (
                    (step := indexer.run_once()).blocks or step.rolled_back_to is not None
                ):
                    blocks += step.blocks
                    progress(step)
                click.echo(f"indexed {blocks} block(s), {progress.events} event(s)")
            else:
                log.info("indexer running", extra={"confirmations": settings.indexer_confirmations})
                indexer.run_forever(stop.event, settings.indexer_poll_seconds, progress=progress)
                log.info("indexer stopped")
        finally:
            progress.close()
            db.close()


@cli.command()
@click.option(
    "--reset-on-new-chain",
    is_flag=True,
    help="Void what the outbox had in flight on another chain (queue it again) instead of refusing to start.",
)
def relay(reset_on_new_chain: bool):
    """Run the relayer: sign and send accepted operations, settle them from receipts."""
    from app import stack
    from app.relayer.core import Relayer

    settings = _settings()
    with stack.database(settings) as url, stack.StopSignal() as stop:
        relayer = Relayer.from_settings(settings.replace(database_url=url), reset_on_new_chain=reset_on_new_chain)
        log.info("relayer running", extra={"batch": settings.relayer_batch})
        try:
            relayer.run_forever(stop.event)  # adopts the chain first: voids a replaced one's, or refuses
        finally:
            relayer.db.close()
        log.info("relayer stopped")


@cli.command()
def detect():
    """Run the detection rules: alerts from verifications, refused scans and temperature excursions."""
    from app import stack
    from app.db import Database
    from app.detector.core import Detector, Thresholds

    settings = _settings()
    with stack.database(settings) as url, stack.StopSignal() as stop:
        db = Database.for_worker(settings, url, maxconn=1)
        detector = Detector(db, Thresholds.from_settings(settings))
        log.info("detector running", extra={"thresholds": str(detector.thresholds)})
        try:
            detector.run_forever(stop.event, settings.detect_poll_seconds)
        finally:
            db.close()
        log.info("detector stopped")


@cli.command()
@click.option("--poll-seconds", default=0.5, show_default=True, help="Wait between idle rounds.")
@click.option("--backoff-base", default=1.0, show_default=True, help="First retry after this many seconds, doubling.")
@click.option("--backoff-max", default=3600.0, show_default=True, help="Longest wait between retries (seconds).")
@click.option("--allow-private-destinations", is_flag=True,
              help="Also POST to loopback, private and link-local addresses (a local receiver in development).")  # fmt: skip
def deliver(poll_seconds: float, backoff_base: float, backoff_max: float, allow_private_destinations: bool):
    """Run the EPCIS webhook delivery: queue what subscriptions match, POST it signed, retry with backoff."""
    from app import stack
    from app.db import Database
    from app.services.epcis.subscriptions import Deliverer

    settings = _settings()
    with stack.database(settings) as url, stack.StopSignal() as stop:
        db = Database.for_worker(settings, url, maxconn=1)
        deliverer = Deliverer(db, backoff_base=backoff_base, backoff_max=backoff_max,
                              allow_private=allow_private_destinations)  # fmt: skip
        log.info("webhook delivery running", extra={"backoff_base": backoff_base})
        try:
            deliverer.run_forever(stop.event, poll_seconds)
        finally:
            db.close()
        log.info("webhook delivery stopped")


def _verify(url, chain, deployment, specs, stop) -> None:
    from app.indexer.audit import verify

    report = verify(url, chain, deployment, specs, stop=stop)
    for line in report.differences[:20]:
        click.echo(line)
    rows = sum(report.rows.values())
    if not report.ok:
        click.echo(
            f"verify: FAILED up to block {report.block}: {len(report.differences)} difference(s) shown", err=True
        )
        raise SystemExit(1)
    click.echo(f"verify: OK up to block {report.block}: {rows} row(s) in {len(report.rows)} table(s) identical")


@cli.command()
@click.option("--api", "api_url", default=None, help="API base URL to confirm the demo data through.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the API to show the data.")
def demo(api_url: str | None, timeout: float):
    """Seed a small demo supply chain on the local chain; with --api, wait until the API serves it."""
    from app import demo as demo_data
    from app import stack

    settings = _settings()
    with stack.database(settings) as url:
        summary = demo_data.seed(settings.replace(database_url=url))
    _print_demo(summary)
    if api_url:
        product = demo_data.wait_visible(api_url, timeout)
        click.echo(f"demo: the API serves product {product['gtin']} at {api_url}/v1/products")


def _print_demo(summary: dict) -> None:
    state = "already there" if summary["already_seeded"] else "seeded"
    click.echo(f"demo supply chain {state}: GTIN {summary['gtin']}, lot {summary['lot']}, {summary['packs']} packs")
    for party in summary["parties"]:
        click.echo(f"  {party['name']:<38} GLN {party['gln']}  {party['account']}")
    if summary.get("api_keys"):
        click.echo("  demo API keys (one per party, by GLN) written to PHARMATRACK_DATA_DIR/demo-api-keys.json")
        click.echo("  demo people for the pages (/login; email -> password) in PHARMATRACK_DATA_DIR/demo-people.json")


@cli.command()
@click.option("--demo/--no-demo", "with_demo", default=False, help="Seed demo data once the stack is ready.")
@click.option("--ready-timeout", default=120.0, show_default=True, help="Seconds to wait for /readyz.")
def up(with_demo: bool, ready_timeout: float):
    """Start everything: database, chain, contracts, migrations, indexer and API; Ctrl-C stops it all.
    A process that dies is restarted (with backoff); one that keeps failing stops the stack."""
    from app import stack
    from app.services.supervision import STATUS_FILE

    settings = _settings()
    # The handlers outlive the unwinding, so a second signal while stopping cannot kill `up` half-way
    # (leaving anvil and the embedded Postgres behind).
    with stack.StopSignal(starting=True) as stop, contextlib.ExitStack() as scope:
        env_url = scope.enter_context(stack.database(settings))
        supervisor = stack.Supervisor(
            settings.data_dir / STATUS_FILE, settings.supervisor_max_failures, settings.supervisor_failure_window
        )
        scope.callback(supervisor.stop_all)  # the children first (the last started first), then the database
        rpc_url, node = _chain_for_up(settings, supervisor)
        own_chain = node is not None
        deployment_path = _deploy_for_up(settings, rpc_url, own_chain)
        from app.db import migrate as migrations

        stop.check()
        migrations.apply(env_url)
        stop.check()
        child_env = {
            **os.environ,
            "DATABASE_URL": env_url,
            "RPC_URL": rpc_url,
            "DEPLOYMENT_FILE": str(deployment_path),
        }
        # A new dev chain makes an embedded mirror and the outbox's in-flight transactions stale: the
        # indexer and the relayer reset them. Never for a database the user named (DATABASE_URL): they
        # refuse the mismatch loudly instead.
        reset = ["--reset-on-new-chain"] if own_chain and not settings.database_url else []
        commands = {
            "indexer": [sys.executable, "-m", "app.cli", "index", *reset],
            "relayer": [sys.executable, "-m", "app.cli", "relay", *reset],
            "detector": [sys.executable, "-m", "app.cli", "detect"],
            "deliverer": [sys.executable, "-m", "app.cli", "deliver"],
            "api": stack.gunicorn_args(settings),
        }
        for name, argv in commands.items():
            supervisor.add(stack.Child(name, functools.partial(stack.spawn, argv, child_env, name)))
        if own_chain:
            supervisor.after_restart = functools.partial(_after_chain_restart, supervisor, rpc_url, deployment_path)
        base = f"http://{settings.host}:{settings.port}"
        stack.wait_ready(f"{base}/readyz", ready_timeout, supervisor.children["api"].proc)
        stop.check()
        if with_demo:
            from app import demo as demo_data

            summary = demo_data.seed(Settings.from_env(child_env))
            _print_demo(summary)
            demo_data.wait_visible(base, 60, summary.get("block"))
        stop.started()
        click.echo(
            f"\npharmatrack is up\n  API      {base}\n  products {base}/v1/products\n  docs     {base}/docs\n  OpenAPI  {base}/openapi.json\n"
            f"  ready    {base}/readyz\n  chain    {rpc_url}\n  database {_redact(env_url)}\nCtrl-C stops everything.\n",
        )
        while not stop.event.wait(0.2):
            supervisor.poll()
        click.echo("stopping …", err=True)
    click.echo("stopped", err=True)


def _chain_for_up(settings: Settings, supervisor):
    """RPC_URL when set (checked reachable); else an anvil of our own, supervised, its chain saved
    in the data folder (ANVIL_STATE_INTERVAL) so that a restart brings the same chain back."""
    from app import stack
    from app.chain.anvil import AnvilNode
    from app.chain.web3factory import connect

    if settings.rpc_url:
        connect(settings.rpc_url)
        return settings.rpc_url, None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    node = AnvilNode(
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        block_time=settings.block_time or None,
        log_path=settings.data_dir / "anvil.log",
        state_path=settings.data_dir / "anvil-state.json" if settings.anvil_state_interval else None,
        state_interval=settings.anvil_state_interval,
    )
    supervisor.add(stack.Child("anvil", lambda: node.start().process, lambda _proc: node.stop()))
    return node.rpc_url, node


def _deploy_for_up(settings: Settings, rpc_url: str, own_chain: bool):
    from app.chain.deploy import Signer, deploy_all, load_checked
    from app.chain.web3factory import connect

    w3 = connect(rpc_url)
    path = settings.deployment_path(w3.eth.chain_id)
    if own_chain:
        try:  # our anvil kept its chain (its saved state): the contracts are still there
            return load_checked(w3, path).path
        except ConfigError as exc:
            log.info("deploying the contracts on the local chain", extra={"why": exc.problem})
            return deploy_all(w3, Signer(w3), path).path
    return load_checked(w3, path).path


def _after_chain_restart(supervisor, rpc_url: str, deployment_path, name: str) -> None:
    """Anvil was restarted. Its saved state normally brings the same chain back (the processes
    using it carry on; a lost tail of blocks is a reorg to them). A new chain (no or a broken state
    file) gets the contracts deployed anew, and every process using the chain restarts on it: the
    indexer resets the mirror, the relayer voids what it had sent to the old chain."""
    if name != "anvil":
        return
    from app.chain.deploy import Signer, deploy_all, load_checked
    from app.chain.web3factory import connect

    w3 = connect(rpc_url)
    try:
        load_checked(w3, deployment_path)
        log.warning("anvil restarted with the same chain", extra={"block": w3.eth.block_number})
        return
    except ConfigError as exc:
        log.warning("anvil restarted with a new chain (%s): deploying anew", exc.problem)
    deploy_all(w3, Signer(w3), deployment_path)
    for child in ("indexer", "relayer", "detector", "api"):
        supervisor.restart(child)


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


@contextlib.contextmanager
def _service_db():
    """A connection to the service database in one transaction, for the admin commands; a
    rejected value names its command-line option."""
    from app import stack
    from app.db import connect
    from app.services.orgs import OrgError

    with stack.database(_settings()) as url:
        conn = connect(url)
        try:
            with conn:
                yield conn
        except OrgError as exc:
            raise ConfigError(f"--{exc.field}", exc.problem) from None
        finally:
            conn.close()


@cli.group()
def org():
    """Trading partners known to the service (names, GLNs, chain accounts, roles)."""


@org.command("add")
@click.option("--name", required=True, help="Organisation name, e.g. 'Riverside Pharmacy'.")
@click.option("--gln", required=True, help="Its GLN-13.")
@click.option("--account", help="Its chain address (0x…), the one registered on the contract.")
@click.option("--new-key", is_flag=True, help="Instead of --account: create its signing key in SIGNER_KEYSTORE_DIR.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="manufacturer, distributor, dispenser or regulator (repeatable).",
)
def org_add(name: str, gln: str, account: str | None, new_key: bool, roles: tuple[str, ...]):
    """Add an organisation. The relayer signs its writes with the keystore of its account; register
    the account on the contract (admin) before it posts writes."""
    from app.chain.keystore import KeyStore
    from app.services import orgs

    if bool(account) == new_key:
        raise ConfigError("--account", "give either --account or --new-key")
    if new_key:
        settings = _settings()
        account = KeyStore(settings.signer_keystore_dir, settings.signer_password_file).create()
    with _service_db() as conn:
        org_id = orgs.add_organisation(conn, name, gln, account, list(roles))
    click.echo(f"organisation {org_id} added: {name} (GLN {gln}, {', '.join(sorted(roles))}, account {account})")


@org.command("list")
def org_list():
    """List organisations."""
    from app.services import orgs

    with _service_db() as conn:
        rows = orgs.list_organisations(conn)
    for row in rows:
        state = " (suspended)" if row["suspended_at"] else ""
        click.echo(f"{row['gln']}  0x{bytes(row['account']).hex()}  {','.join(row['roles']):<24} {row['name']}{state}")


@cli.group()
def key():
    """API keys: each belongs to one organisation and acts with its roles."""


@key.command("create")
@click.option("--gln", required=True, help="GLN of the organisation the key acts for.")
@click.option("--label", required=True, help="What the key is for, e.g. 'dock scanner 3'.")
def key_create(gln: str, label: str):
    """Create an API key; it is printed once and only its hash is stored."""
    from app.services import orgs

    with _service_db() as conn:
        secret = orgs.create_key(conn, gln, label)
    click.echo(secret)
    click.echo("store it now: it cannot be shown again", err=True)


@key.command("revoke")
@click.argument("prefix")
def key_revoke(prefix: str):
    """Revoke a key by its prefix (the 10 characters after 'pt_')."""
    from app.services import orgs

    with _service_db() as conn:
        revoked = orgs.revoke_key(conn, prefix)
    if not revoked:
        raise ConfigError("PREFIX", f"no active key with prefix {prefix!r}")
    click.echo(f"key {prefix} revoked")


@cli.group()
def user():
    """People who sign in to the pages: each under one organisation, with one role."""


def _read_password() -> str:
    """From a hidden prompt (asked twice) on a terminal, else the first line of standard input; never echoed
    nor logged."""
    import sys

    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@user.command("add")
@click.option("--gln", required=True, help="GLN of the person's organisation.")
@click.option("--email", required=True, help="The person's email: what they sign in with.")
@click.option("--name", required=True, help="The person's name, e.g. 'Ana Lopez'.")
@click.option("--role", required=True, help="pharmacist, warehouse, quality, inspector or admin.")
def user_add(gln: str, email: str, name: str, role: str):
    """Add a person. The password is asked for (hidden) or read from standard input."""
    from app.services import people

    password = _read_password()
    with _service_db() as conn:
        person_id = people.add_person(conn, gln, email, name, role, password)
    click.echo(f"person {person_id} added: {email.strip().lower()} ({role}, GLN {gln})")


@user.command("list")
@click.option("--gln", help="Only this organisation's people.")
def user_list(gln: str | None):
    """List people."""
    from app.services import people

    with _service_db() as conn:
        rows = people.list_people(conn, gln)
    for row in rows:
        state = " (disabled)" if row["disabled_at"] else ""
        click.echo(f"{row['email']:<40} {row['role']:<10} {row['gln']}  {row['name']} — {row['organisation']}{state}")


@user.command("disable")
@click.argument("email")
def user_disable(email: str):
    """Disable a person: signed out on their next request, and no sign-in again."""
    from app.services import people

    with _service_db() as conn:
        if not people.disable(conn, email):
            raise ConfigError("EMAIL", f"no enabled person with email {email!r}")
    click.echo(f"{email.strip().lower()} disabled")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print as a Markdown table (for the README).")
def settings_cmd(markdown: bool):
    """List every setting: env var, default, meaning."""
    if markdown:
        click.echo("| env var | default | meaning |\n|---|---|---|")
        for name, default, meaning in SETTINGS:
            click.echo(f"| `{name}` | {f'`{default}`' if default else '(unset)'} | {meaning} |")
        return
    for name, default, meaning in SETTINGS:
        click.echo(f"{name}={default}\n    {meaning}")


@cli.group()
def epcis():
    """EPCIS 2.0 (CBV 2.0) export of the custody events in the chain mirror."""


@epcis.command("export")
@click.option(
    "--code", "codes", multiple=True, help="A pack, case, pallet or tote (any GS1 form, EPC URI) (repeatable)."
)
@click.option("--lot", "lots", multiple=True, help="A lot: (01)<GTIN>(10)<lot>, urn:epc:class:lgtin:… (repeatable).")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "xml12"]),
    default="json",
    show_default=True,
    help="json: EPCIS 2.0 JSON-LD; xml12: EPCIS 1.2 XML (what a DSCSA partner's 1.2 system reads).",
)
def epcis_export(codes: tuple[str, ...], lots: tuple[str, ...], out: str, fmt: str):
    """Write the EPCIS events of these objects (the whole record: an operator's export) as an EPCISDocument."""
    import json

    from app import gs1
    from app.services.epcis import export, query, xmldoc

    if not codes and not lots:
        raise ConfigError("--code", "give --code or --lot")
    items = []
    try:
        items += [gs1.parse(c, expect=(gs1.Kind.PACK, gs1.Kind.LOGISTIC_UNIT)) for c in codes]
        items += [gs1.parse(lot, expect=(gs1.Kind.LOT,)) for lot in lots]
    except gs1.GS1Error as exc:
        raise ConfigError("--code" if codes else "--lot", f"{exc.field}: {exc.message}") from None
    with _service_db() as conn:
        events, provs = query.visible_events(conn, query.OPERATOR, items)
    doc = export.document(events, provs)
    if fmt == "xml12":
        with open(out, "wb") as f:
            f.write(xmldoc.document_1_2(doc))
    else:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, default=str)
    click.echo(f"{len(events)} EPCIS event(s) written to {out}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: configuration problems print one line and exit non-zero."""
    try:
        code = cli.main(args=argv, prog_name="pharmatrack", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except Interrupted as exc:
        click.echo(f"pharmatrack: interrupted ({exc}) while starting; stopped what had started", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"pharmatrack: error: {exc.setting}: {exc.problem}", err=True)
        sys.exit(2)
    except ServiceUnavailable as exc:
        click.echo(f"pharmatrack: error: {exc.component} unavailable: {exc.problem}", err=True)
        sys.exit(3)
    except PharmatrackError as exc:
        click.echo(f"pharmatrack: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
