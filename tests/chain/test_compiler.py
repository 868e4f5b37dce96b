import json
import shutil

import pytest

from app.chain import compiler
from app.errors import ConfigError


def test_same_sources_give_the_same_bytecode(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(compiler.DEFAULT_SOURCES, src)
    first = compiler.compile_contracts(src, out_dir=tmp_path / "a")
    second = compiler.compile_contracts(src, out_dir=tmp_path / "b")
    assert first.keys() == second.keys()
    assert "PharmaTrack" in first
    for name in first:
        assert first[name].bytecode == second[name].bytecode
        assert first[name].source_hash == second[name].source_hash
        assert first[name].compiler.startswith(compiler.SOLC_VERSION + "+")


def test_artifacts_are_written_with_abi_bytecode_version_and_hash(tmp_path):
    compiler.compile_contracts(out_dir=tmp_path)
    data = json.loads((tmp_path / "PharmaTrack.json").read_text())
    assert {"abi", "bytecode", "deployedBytecode", "compiler", "sourceHash"} <= data.keys()
    assert data["bytecode"].startswith("0x60")
    assert any(item.get("name") == "LotCommissioned" for item in data["abi"])


def test_a_changed_source_changes_the_hash(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "A.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract A { uint x; }\n")
    before = compiler.compile_contracts(src, out_dir=None)["A"]
    (src / "A.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract A { uint y; }\n")
    after = compiler.compile_contracts(src, out_dir=None)["A"]
    assert before.source_hash != after.source_hash


def test_openzeppelin_imports_resolve_from_node_modules():
    sources = compiler.collect_sources(compiler.DEFAULT_SOURCES)
    text = 'import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";'
    unit, path = compiler._resolve_import(
        "X.sol", "@openzeppelin/contracts/access/AccessControl.sol", compiler.DEFAULT_SOURCES
    )
    assert path.is_file() and unit.startswith("@openzeppelin/")
    assert compiler._IMPORT_RE.findall(text) == ["@openzeppelin/contracts/access/AccessControl.sol"]
    assert all(not name.startswith("/") for name in sources)


def test_missing_import_is_a_config_error(tmp_path):
    (tmp_path / "B.sol").write_text('// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\nimport "./Nope.sol";\n')
    with pytest.raises(ConfigError, match=r"Nope\.sol"):
        compiler.compile_contracts(tmp_path, out_dir=None)


def test_compile_errors_are_reported(tmp_path):
    (tmp_path / "C.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract C { oops }\n")
    with pytest.raises(ConfigError, match="compilation failed"):
        compiler.compile_contracts(tmp_path, out_dir=None)
