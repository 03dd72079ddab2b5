"""Finishing the ingest output: report, attribution, TFDS metadata and the atomic publish."""

from __future__ import annotations

import collections
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from typing import Any

from idphoto.data import lineage, tfds_layout
from idphoto.errors import UserError

LINEAGE_FILE = "lineage.parquet"
ATTRIBUTION_FILE = "ATTRIBUTION.md"
REPORT_FILE = "ingest_report.json"
_STAGING_MARK = ".partial-"


def prepare_staging(out: str, overwrite: bool) -> str:
    """Checks `out` can be (re)written and returns a fresh staging folder beside it.

    Staging folders left by killed runs are removed first; they never hold a complete dataset.
    """
    out = os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise UserError(f"--out {out} already exists; pass --overwrite to replace it")
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {parent}: {err.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out folder {parent} is not writable")
    prefix = os.path.basename(out) + _STAGING_MARK
    for name in os.listdir(parent):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    staging = os.path.join(parent, f"{prefix}{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    return staging


def publish(staging: str, out: str) -> None:
    """Moves a complete staging folder to `out`, replacing an older dataset there.

    Each rename is atomic, so at any moment `out` is either the old complete dataset, absent,
    or the new complete dataset.
    """
    out = os.path.abspath(out)
    retired = None
    if os.path.exists(out):
        retired = f"{out}{_STAGING_MARK}old-{uuid.uuid4().hex[:8]}"
        os.rename(out, retired)
    os.rename(staging, out)
    if retired:
        shutil.rmtree(retired, ignore_errors=True)


def finish_dataset(
    staging: str, dataset_name: str, resolution: int, image_format: str, use: str
) -> dict[str, int]:
    """Writes the TFDS metadata and ATTRIBUTION.md into a staging folder.

    Returns:
        Examples per split.
    """
    description = (
        f"Aligned ID-framed face photos whose licences allow {use} use; "
        f"provenance of every photo in {LINEAGE_FILE}."
    )
    split_counts = tfds_layout.write_metadata(
        staging, dataset_name, resolution, image_format, description
    )
    table = lineage.read_lineage(os.path.join(staging, LINEAGE_FILE))
    with open(os.path.join(staging, ATTRIBUTION_FILE), "w", encoding="utf-8") as handle:
        handle.write(lineage.attribution_markdown(table, dataset_name))
    return split_counts


def lineage_summary(staging: str) -> dict[str, Any]:
    """Counts the lineage rows by decision, reason and licence class."""
    table = lineage.read_lineage(
        os.path.join(staging, LINEAGE_FILE), ["decision", "reason", "class"]
    )
    rows = table.to_pylist()
    return {
        "rows": len(rows),
        "by_decision": _count(r["decision"] for r in rows),
        "by_reason": _count(r["reason"] for r in rows),
        "by_class": _count(r["class"] or "none" for r in rows),
    }


def counters_by_prefix(counters: dict[str, int], prefix: str) -> dict[str, int]:
    """Selects `prefix:name` counters as {name: value}, sorted by name."""
    return dict(
        sorted((k.split(":", 1)[1], v) for k, v in counters.items() if k.startswith(prefix + ":"))
    )


def write_report(staging: str, report: dict[str, Any]) -> None:
    """Writes ingest_report.json."""
    with open(os.path.join(staging, REPORT_FILE), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
        handle.write("\n")


def format_summary(report: dict[str, Any]) -> str:
    """Renders the report's counts as the table `idphoto ingest` prints."""
    lines = [f"{report['rows_in']} manifest rows -> {report['rows_out']} lineage rows"]
    for decision, count in report["by_decision"].items():
        lines.append(f"  {decision:<10} {count}")
    lines.append("by reason:")
    lines += [f"  {reason:<24} {count}" for reason, count in report["by_reason"].items()]
    lines.append("by licence class:")
    lines += [f"  {name:<24} {count}" for name, count in report["by_class"].items()]
    lines.append(
        "examples per split: " + ", ".join(f"{k}={v}" for k, v in report["splits"].items())
    )
    return "\n".join(lines)


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(collections.Counter(values).items()))
