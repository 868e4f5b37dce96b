"""Compile the Solidity sources to artifacts, reproducibly.

One standard-JSON input is built from the sources (every import resolved and inlined as
content, so the input alone determines the output). It goes to a native solc through
py-solc-x when one is available (``SOLC_BINARY``, a py-solc-x install of the pinned
version, or ``solc`` on PATH at that version), else to the npm ``solcjs`` build. Both get
the same input and so produce the same bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import ConfigError

SOLC_VERSION = "0.8.30"
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCES = PROJECT_ROOT / "contracts"
DEFAULT_BUILD_DIR = PROJECT_ROOT / "build" / "contracts"
NODE_MODULES = PROJECT_ROOT / "node_modules"

_IMPORT_RE = re.compile(r"""^\s*import\s+(?:[^'";]*?\bfrom\s+)?["']([^"']+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class Artifact:
    name: str
    source: str
    abi: list
    bytecode: str
    deployed_bytecode: str
    compiler: str
    source_hash: str

    def to_json(self) -> dict:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "compiler": self.compiler,
            "sourceHash": self.source_hash,
        }

    @classmethod
    def from_json(cls, data: dict) -> Artifact:
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            compiler=data["compiler"],
            source_hash=data["sourceHash"],
        )


def _resolve_import(importer: str, target: str, src_dir: Path) -> tuple[str, Path]:
    """Map an import to (source unit name, file on disk)."""
    if target.startswith("."):
        unit = os.path.normpath(os.path.join(os.path.dirname(importer), target)).replace(os.sep, "/")
    else:
        unit = target
    for root in (src_dir, NODE_MODULES):
        candidate = root / unit
        if candidate.is_file():
            return unit, candidate
    raise ConfigError(
        "contracts", f"{importer} imports {target!r}, which is neither in {src_dir} nor in node_modules (run `npm ci`)"
    )


def collect_sources(src_dir: Path = DEFAULT_SOURCES) -> dict[str, str]:
    """Every .sol file under src_dir plus everything it imports, by source unit name."""
    src_dir = Path(src_dir)
    roots = sorted(p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*.sol"))
    if not roots:
        raise ConfigError("contracts", f"no Solidity sources under {src_dir}")
    sources: dict[str, str] = {}
    pending = [(unit, src_dir / unit) for unit in roots]
    while pending:
        unit, path = pending.pop()
        if unit in sources:
            continue
        text = path.read_text(encoding="utf-8")
        sources[unit] = text
        for target in _IMPORT_RE.findall(text):
            pending.append(_resolve_import(unit, target, src_dir))
    return dict(sorted(sources.items()))


def standard_input(sources: dict[str, str]) -> dict:
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "viaIR": False,
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def source_hash(input_json: dict) -> str:
    return hashlib.sha256(json.dumps(input_json, sort_keys=True).encode()).hexdigest()


def _native_solc() -> Path | None:
    explicit = os.environ.get("SOLC_BINARY")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("SOLC_BINARY", f"{explicit} is not a file")
        return path
    from solcx.exceptions import SolcNotInstalled
    from solcx.install import get_executable

    try:
        return Path(get_executable(SOLC_VERSION))
    except SolcNotInstalled:
        pass
    on_path = shutil.which("solc")
    if on_path:
        out = subprocess.run([on_path, "--version"], capture_output=True, text=True, check=False).stdout
        if f"Version: {SOLC_VERSION}+" in out:
            return Path(on_path)
    return None


def _solcjs() -> Path:
    path = NODE_MODULES / ".bin" / "solcjs"
    if not path.exists():
        raise ConfigError(
            "SOLC_BINARY", "no native solc " + SOLC_VERSION + " and no npm solcjs; run `npm ci` or set SOLC_BINARY"
        )
    return path


def _run_solcjs(input_json: dict) -> tuple[dict, str]:
    """solcjs speaks standard JSON but may print banner lines before the JSON document."""
    exe = _solcjs()
    # solcjs reads stdin with readFileSync(0), which fails with EAGAIN on a pipe the writer has
    # not filled yet, and exits before a large write to a stdout pipe has drained (the JSON is
    # cut at 64 KiB). Regular files on both ends avoid both.
    with tempfile.TemporaryFile("w+") as stdin, tempfile.TemporaryFile("w+") as stdout:
        json.dump(input_json, stdin)
        stdin.seek(0)
        proc = subprocess.run(
            [str(exe), "--standard-json"], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False
        )
        stdout.seek(0)
        out = stdout.read()
    start = out.find("{")
    if proc.returncode != 0 or start < 0:
        raise ConfigError("contracts", f"solcjs failed: {(proc.stderr or out).strip()[:500]}")
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return json.loads(out[start:]), version


def _run_native(exe: Path, input_json: dict) -> tuple[dict, str]:
    import solcx

    try:
        output = solcx.compile_standard(input_json, solc_binary=exe, allow_empty=True)
    except solcx.exceptions.SolcError as exc:
        raise ConfigError("contracts", f"solc failed: {exc.stderr_data or exc}") from exc
    return output, _native_version(exe)


def _native_version(exe: Path) -> str:
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Version:\s*(\S+)", out)
    return match.group(1) if match else "unknown"


def compile_input(input_json: dict) -> tuple[dict, str]:
    """Compile a standard-JSON input; returns (output, compiler version string)."""
    exe = _native_solc()
    output, version = _run_native(exe, input_json) if exe else _run_solcjs(input_json)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ConfigError(
            "contracts", "compilation failed: " + "; ".join(e["formattedMessage"].strip() for e in errors)[:2000]
        )
    if not version.startswith(SOLC_VERSION + "+"):
        raise ConfigError("SOLC_BINARY", f"compiler is {version}, the project pins {SOLC_VERSION}")
    return output, version


def compile_contracts(src_dir: Path = DEFAULT_SOURCES, out_dir: Path | None = DEFAULT_BUILD_DIR) -> dict[str, Artifact]:
    """Compile every contract under src_dir; write one JSON artifact per contract to out_dir.

    Artifacts are keyed by contract name (project sources only, not imported libraries).
    When out_dir already holds artifacts built from the same input, they are reused.
    """
    src_dir = Path(src_dir)
    input_json = standard_input(collect_sources(src_dir))
    digest = source_hash(input_json)
    if out_dir is not None:
        cached = _load_cached(Path(out_dir), digest)
        if cached is not None:
            return cached
    output, version = compile_input(input_json)
    own_units = {p.relative_to(src_dir).as_posix() for p in src_dir.rglob("*.sol")}
    artifacts: dict[str, Artifact] = {}
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        if unit not in own_units:
            continue
        for name, data in sorted(contracts.items()):
            artifacts[name] = Artifact(
                name=name,
                source=unit,
                abi=data["abi"],
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                compiler=version,
                source_hash=digest,
            )
    if out_dir is not None:
        _write(Path(out_dir), artifacts, digest)
    return artifacts


def _write(out_dir: Path, artifacts: dict[str, Artifact], digest: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    for name, artifact in artifacts.items():
        (out_dir / f"{name}.json").write_text(json.dumps(artifact.to_json(), indent=1, sort_keys=True))
    (out_dir / "_build.json").write_text(json.dumps({"sourceHash": digest, "contracts": sorted(artifacts)}))


def _load_cached(out_dir: Path, digest: str) -> dict[str, Artifact] | None:
    index = out_dir / "_build.json"
    if not index.is_file():
        return None
    meta = json.loads(index.read_text())
    if meta.get("sourceHash") != digest:
        return None
    try:
        return {
            name: Artifact.from_json(json.loads((out_dir / f"{name}.json").read_text())) for name in meta["contracts"]
        }
    except (OSError, KeyError, ValueError):
        return None


def load_artifacts(out_dir: Path = DEFAULT_BUILD_DIR, src_dir: Path = DEFAULT_SOURCES) -> dict[str, Artifact]:
    """Artifacts for the current sources, compiling when the build folder is stale or empty."""
    return compile_contracts(src_dir, out_dir)
