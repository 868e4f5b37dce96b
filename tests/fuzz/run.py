"""`make fuzz`: schemathesis over every operation of /openapi.json, against `pharmatrack up --demo`.

The stack runs on free ports with a temporary data folder (its own Postgres, anvil and demo data). The
run is repeated with a manufacturer's, a pharmacy's and a regulator's demo API key (found by the roles
`/v1/me` reports, so a change of the demo's parties does not break it). It fails on any 5xx, any answer
whose status, content type, headers or body the document does not describe, any request the document
calls invalid that is not refused with a 4xx, any request the server drops (a crash), and if the stack
is not still up at the end.

    python -m tests.fuzz.run [--max-examples N] [--seed S] [--env NAME=VALUE ...]

`--env` (or the caller's environment) sets the stack's settings, e.g. higher rate limits for the fuzzer.
The last line is `fuzz operations <O> cases <C> failures <F> server_errors <X> roles <R> seconds <T>`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.upenv import up_env

ROLES = ("manufacturer", "dispenser", "regulator")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",  # a request the document says is invalid must get a 4xx: no silent accept
)
ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, key: str | None = None, timeout: float = 10) -> tuple[int, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def start_stack(workdir: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    env, port = up_env(workdir, workers=2, **extra_env)
    log = (workdir / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--demo"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    return proc, f"http://127.0.0.1:{port}", workdir / "data" / "demo-api-keys.json"


def wait_ready(proc: subprocess.Popen, base: str, keys_file: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"fuzz: `pharmatrack up --demo` exited with {proc.returncode} while starting")
        try:
            status, body = _get(f"{base}/v1/products", timeout=2)
        except OSError:
            status, body = 0, None
        if status == 200 and body and body.get("items") and keys_file.exists():
            return
        time.sleep(0.5)
    raise SystemExit(f"fuzz: the stack did not serve demo data within {timeout:.0f} s")


def keys_by_role(base: str, keys_file: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in json.loads(keys_file.read_text()).values():
        status, me = _get(f"{base}/v1/me", key)
        if status != 200:
            raise SystemExit(f"fuzz: a demo API key was refused by /v1/me ({status})")
        for role in me["roles"]:
            found.setdefault(role, key)
    missing = [r for r in ROLES if r not in found]
    if missing:
        raise SystemExit(f"fuzz: the demo has no API key with the role(s) {', '.join(missing)}")
    return {role: found[role] for role in ROLES}


def schemathesis(base: str, role: str, key: str, args, report: Path) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        args.checks,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        str(args.workers),
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--output-truncate",
        "true",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.role_timeout, check=False)
    return done.returncode, done.stdout + done.stderr


def spot_checks(base: str, key: str) -> list[str]:
    """What schemathesis cannot send (it %-encodes properly): malformed %-escapes in the raw request target must
    be refused by the real server too (gunicorn passes the raw target as RAW_URI; app/api/urls.py)."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base).netloc
    problems = []
    for target, where in (
        ("/v1/verify?code=(01)09506000134352(21)%ZZ", ("query", "code")),
        (
            "/01/09506000134352/21/%ZZ?reqGLN=9506000000039&corrUUID=8f3c1f0e-4c1a-4d59-9d7b-2a4f0a6c1e11",
            ("path", "serial"),
        ),
    ):
        conn = http.client.HTTPConnection(host, timeout=10)
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {key}")
        conn.endheaders()
        resp = conn.getresponse()
        body = json.loads(resp.read() or b"null") if resp.getheader("Content-Type", "").endswith("json") else None
        conn.close()
        named = (body or {}).get("errors", {}).get(where[0], {}).get(where[1])
        if resp.status != 400 or not named or not named[0].startswith("percent_encoding: "):
            problems.append(f"GET {target}: {resp.status} {body}")
    return problems


def _count(output: str, pattern: str) -> int:
    found = re.search(pattern, output)
    return int(found.group(1)) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_MAX_EXAMPLES", "10")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "12")))
    # One worker: schemathesis' threads hit CPython 3.11's ast.parse thread-safety bug ("AST constructor recursion
    # depth mismatch") in hypothesis' lambda descriptions.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--role-timeout", type=float, default=150.0, help="Seconds one role's run may take")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="A setting for the stack")
    parser.add_argument("--checks", default=",".join(CHECKS), help="schemathesis checks (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="Keep the stack's folder (logs, reports)")
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="pharmatrack-fuzz-"))
    proc, base, keys_file = start_stack(workdir, extra_env)
    failed_roles, totals = [], {"operations": 0, "cases": 0, "failures": 0, "server_errors": 0}
    try:
        wait_ready(proc, base, keys_file)
        print(f"fuzz: stack up at {base} after {time.monotonic() - started:.0f} s ({workdir})", flush=True)
        keys = keys_by_role(base, keys_file)
        spotted = spot_checks(base, keys["dispenser"])
        for problem in spotted:
            print(f"fuzz: spot check failed: {problem}")
        print(f"fuzz: malformed %-escapes in the raw URL: {'FAILED' if spotted else '400 naming the parameter'}")
        if spotted:
            failed_roles.append("spot checks")
        for role, key in keys.items():
            t0 = time.monotonic()
            code, output = schemathesis(base, role, key, args, workdir / f"junit-{role}.xml")
            print(f"--- schemathesis as a {role} (exit {code}, {time.monotonic() - t0:.0f} s)")
            print(output.rstrip(), flush=True)
            totals["operations"] = max(totals["operations"], _count(output, r"(\d+) selected"))
            totals["cases"] += _count(output, r"(\d+) generated")
            totals["failures"] += _count(output, r"(\d+) failures?\b")
            totals["server_errors"] += len(re.findall(r"Server error", output))
            if code != 0:
                failed_roles.append(role)
            if proc.poll() is not None:
                print(f"fuzz: the stack died during the {role} run (exit {proc.returncode})")
                failed_roles.append("stack")
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if failed_roles or args.keep:
            print(f"fuzz: the stack's log and the reports are in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(
        f"fuzz operations {totals['operations']} cases {totals['cases']} failures {totals['failures']} "
        f"server_errors {totals['server_errors']} roles {len(ROLES)} seconds {elapsed:.0f}"
    )
    if failed_roles:
        print(f"fuzz: FAILED ({', '.join(failed_roles)})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
