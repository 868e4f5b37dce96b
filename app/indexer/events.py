"""Event specs built from contract ABIs, and the pure raw-log → row decoder.

Each ABI event maps to one append-only mirror table ``ev_<snake_case name>`` whose columns are
``block_number, log_index, tx_hash`` followed by the event's inputs in ABI order (snake_case).
Being append-only keyed by (block_number, log_index), a reorg rollback is a DELETE above the
common ancestor, and a full re-index produces identical rows.

Decoding goes straight from the JSON-RPC log (hex strings) through eth-abi's cached tuple
decoders: web3's per-event processing builds AttributeDicts and is ~20x slower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils import keccak

BASE_COLUMNS = ("block_number", "log_index", "tx_hash")

# Event parameter names that are reserved words in SQL get a column name that needs no quoting.
RENAMED = {"from": "from_org", "to": "to_org"}
SQL_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "system_user",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ]
)


def column_name(param: str) -> str:
    name = RENAMED.get(snake(param), snake(param))
    if name in SQL_RESERVED:
        raise ValueError(f"event parameter {param!r} is a reserved word in SQL: add it to RENAMED")
    return name


def snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", name).lower()


def _canonical_type(inp: dict) -> str:
    if inp["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in inp["components"])
        return f"({inner}){inp['type'][5:]}"
    return inp["type"]


def sql_type(abi_type: str) -> str:
    """Postgres column type for an ABI type (documented mapping, checked by a meta-test)."""
    if abi_type.endswith("[]"):
        return sql_type(abi_type[:-2]) + "[]"
    if abi_type in ("address", "bytes", "string") or abi_type.startswith("bytes"):
        return "text" if abi_type == "string" else "bytea"
    if abi_type == "bool":
        return "boolean"
    bits = int(re.sub(r"\D", "", abi_type) or 256)
    if abi_type.startswith("uint"):
        return "integer" if bits <= 16 else "bigint" if bits <= 48 else "numeric"
    if abi_type.startswith("int"):
        return "smallint" if bits <= 16 else "integer" if bits <= 32 else "bigint" if bits <= 64 else "numeric"
    raise ValueError(f"no column type for ABI type {abi_type}")


@dataclass(frozen=True)
class EventSpec:
    name: str
    signature: str
    topic0: bytes
    table: str
    columns: tuple[str, ...]  # event inputs only, in ABI order
    types: tuple[str, ...]
    indexed: tuple[bool, ...]

    @property
    def all_columns(self) -> tuple[str, ...]:
        return BASE_COLUMNS + self.columns

    @property
    def data_types(self) -> list[str]:
        """Types to decode the data with. Strings decode as bytes (the same ABI encoding) so an
        event carrying invalid UTF-8 cannot stop the indexer; _value cleans them."""
        return [_as_bytes_type(t) for t, i in zip(self.types, self.indexed, strict=True) if not i]

    @classmethod
    def from_abi(cls, entry: dict) -> EventSpec:
        types = tuple(_canonical_type(i) for i in entry["inputs"])
        signature = f"{entry['name']}({','.join(types)})"
        return cls(
            name=entry["name"],
            signature=signature,
            topic0=keccak(text=signature),
            table="ev_" + snake(entry["name"]),
            columns=tuple(column_name(i["name"]) for i in entry["inputs"]),
            types=types,
            indexed=tuple(bool(i.get("indexed")) for i in entry["inputs"]),
        )


def specs_from_abi(abi: list[dict]) -> dict[bytes, EventSpec]:
    """topic0 → spec for every non-anonymous event in an ABI."""
    specs = [EventSpec.from_abi(e) for e in abi if e.get("type") == "event" and not e.get("anonymous")]
    return {s.topic0: s for s in specs}


def _hex_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(value[2:])


def _int(value) -> int:
    return value if isinstance(value, int) else int(value, 16)


def _topic_value(abi_type: str, topic: bytes):
    """Indexed static values sit in the topic itself; dynamic ones are only their keccak hash."""
    if abi_type == "address":
        return topic[12:]
    if abi_type.endswith("]"):
        return topic
    if abi_type.startswith("uint"):
        return int.from_bytes(topic, "big")
    if abi_type.startswith("int"):
        return int.from_bytes(topic, "big", signed=True)
    if abi_type == "bool":
        return topic[-1] != 0
    return topic  # bytes32 as is; string/bytes/arrays: the hash


def _as_bytes_type(abi_type: str) -> str:
    return "bytes" + abi_type[len("string") :] if abi_type.startswith("string") else abi_type


def clean_text(raw: bytes) -> str:
    """On-chain strings are whatever a caller sent: invalid UTF-8 and NUL (which Postgres text
    cannot hold) become U+FFFD, deterministically, so a re-index stores the same text."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _value(abi_type: str, value):
    if abi_type == "string":
        return clean_text(value)
    if abi_type == "string[]":
        return [clean_text(v) for v in value]
    if abi_type == "address":
        return bytes.fromhex(value[2:])
    if abi_type.endswith("[]") and abi_type.startswith("address"):
        return [bytes.fromhex(v[2:]) for v in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def decode_log(spec: EventSpec, log: dict) -> tuple:
    """A raw log (JSON-RPC hex dict or web3 AttributeDict) → the row for spec.table."""
    topics = [_hex_bytes(t) for t in log["topics"]]
    data_values = iter(abi_decode(spec.data_types, _hex_bytes(log["data"]))) if spec.data_types else iter(())
    topic_iter = iter(topics[1:])
    values = []
    for abi_type, is_indexed in zip(spec.types, spec.indexed, strict=True):
        if is_indexed:
            values.append(_topic_value(abi_type, next(topic_iter)))
        else:
            values.append(_value(abi_type, next(data_values)))
    return (_int(log["blockNumber"]), _int(log["logIndex"]), _hex_bytes(log["transactionHash"]), *values)


def column_types(spec: EventSpec) -> list[tuple[str, str]]:
    """(column, Postgres type) of the event's own columns, for the DDL of its mirror table
    (app/db/indexer.create_table_sql)."""
    return [(c, sql_type(t)) for c, t in zip(spec.columns, spec.types, strict=True)]
