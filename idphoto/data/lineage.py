"""The licence lineage: one row per manifest row, accepted or rejected, and what is built from it.

`lineage.parquet` is the record users show when asked where a model's data came from;
`ATTRIBUTION.md` is derived from it for the photos whose licence requires attribution.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ACCEPTED = "accepted"
REJECTED = "rejected"

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("line", pa.int64()),
        ("path", pa.string()),
        ("licence", pa.string()),
        ("spdx", pa.string()),
        ("class", pa.string()),
        ("decision", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("obligations", pa.list_(pa.string())),
        ("sha256", pa.string()),
        ("duplicate_of", pa.string()),
        ("author", pa.string()),
        ("source_url", pa.string()),
        ("title", pa.string()),
        ("consent", pa.bool_()),
        ("landmarks_source", pa.string()),
        ("split", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)


def lineage_row(record: dict[str, Any], decision: str, reason: str, detail: str = "") -> dict:
    """Builds a lineage row from a record that went through (part of) the ingest steps.

    Args:
        record: the manifest row plus whatever later steps added (spdx, class, sha256, ...).
        decision: `accepted` or `rejected`.
        reason: `ok` for accepted rows, else the rejection's reason code.
        detail: a human explanation of the reason.
    """
    consent = record.get("consent_value")
    return {
        "id": record["id"],
        "line": int(record["line"]),
        "path": record["path"],
        "licence": record.get("licence") or "",
        "spdx": record.get("spdx") or "",
        "class": record.get("class") or "",
        "decision": decision,
        "reason": reason,
        "detail": detail,
        "obligations": list(record.get("obligations") or ()),
        "sha256": record.get("sha256") or "",
        "duplicate_of": record.get("duplicate_of") or "",
        "author": record.get("author") or "",
        "source_url": record.get("source_url") or "",
        "title": record.get("title") or "",
        "consent": consent if isinstance(consent, bool) else None,
        "landmarks_source": record.get("landmarks_source") or "",
        "split": record.get("split") or "",
    }


def read_lineage(path: str, columns: list[str] | None = None) -> pa.Table:
    """Reads a `lineage.parquet` file (or a folder holding one)."""
    return pq.read_table(path, columns=columns)


def attribution_markdown(table: pa.Table, dataset_name: str) -> str:
    """Renders ATTRIBUTION.md: title, author, source and licence of each accepted photo that
    requires attribution, sorted by id.

    Text from the manifest is escaped so an author field cannot inject Markdown or HTML.
    """
    rows = sorted(
        (
            r
            for r in table.select(
                ["id", "decision", "obligations", "title", "author", "source_url", "spdx"]
                + ["licence"]
            ).to_pylist()
            if r["decision"] == ACCEPTED and "attribution" in (r["obligations"] or ())
        ),
        key=lambda r: r["id"],
    )
    lines = [
        f"# Attribution for the {_escape(dataset_name)} dataset",
        "",
        "Photos in this dataset used under licences that require attribution "
        f"({len(rows)} photos).",
        "",
    ]
    for r in rows:
        title = _escape_item_start(_escape(r["title"])) or "Untitled"
        author = _escape(r["author"]) or "unknown author"
        source = _escape(r["source_url"]) or "no source given"
        licence = _escape(r["spdx"] or r["licence"])
        lines.append(
            f"- {title} by {author}, {source}, licensed under {licence} (id {_escape(r['id'])})"
        )
    return "\n".join(lines) + "\n"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
# After `_escape`, what would still open a block at the start of a list item: "- x", "1. x".
_ITEM_START_MARKER = re.compile(r"^(\d*)([-.])")


def _escape(text: str | None) -> str:
    """Escapes Markdown/HTML syntax and folds newlines so one photo stays one list item."""
    if not text:
        return ""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat).replace("&", "&amp;")


def _escape_item_start(escaped: str) -> str:
    """Escapes a list marker that opens escaped text placed first in a list item."""
    return _ITEM_START_MARKER.sub(r"\1\\\2", escaped, count=1)
