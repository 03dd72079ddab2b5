"""Finishing the ingest output: TFDS metadata, ATTRIBUTION.md, the policy copy and the report.

The layout itself (file names, splits) belongs to `idphoto.data.dataset`.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable
from typing import Any

from apache_beam.io.filesystems import FileSystems

from idphoto.data import digest, lineage, tfds_layout
from idphoto.data.dataset import (
    ATTRIBUTION_FILE,
    LINEAGE_FILE,
    POLICY_FILE,
    REPORT_FILE,
    digest_path,
    join,
    read_lineage_table,
)


def finish_dataset(
    staging: str, dataset_name: str, resolution: int, image_format: str, use: str, policy_text: str
) -> dict[str, int]:
    """Writes the TFDS metadata, ATTRIBUTION.md and the policy's copy into a staging folder.

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
    table = read_lineage_table(staging)
    _write_text(join(staging, ATTRIBUTION_FILE), lineage.attribution_markdown(table, dataset_name))
    _write_text(join(staging, POLICY_FILE), policy_text)
    return split_counts


def collect_digests(staging: str, splits: Iterable[str]) -> dict[str, str]:
    """Reads the per-split content digests the job wrote, removes their files, and returns
    them with the dataset's digest under `all`."""
    found = {}
    for split in splits:
        with FileSystems.open(digest_path(staging, split)) as handle:
            found[split] = handle.read().decode("ascii").strip()
    FileSystems.delete([digest_path(staging, split) for split in found])
    return {**found, "all": digest.dataset_digest(found)}


def lineage_summary(staging: str) -> dict[str, Any]:
    """Counts the lineage rows by decision, reason and licence class, and the accepted ones
    by split."""
    table = read_lineage_table(staging, ["decision", "reason", "class", "split"])
    rows = table.to_pylist()
    return {
        "rows": len(rows),
        "accepted_by_split": _count(r["split"] for r in rows if r["decision"] == lineage.ACCEPTED),
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
    _write_text(join(staging, REPORT_FILE), json.dumps(report, indent=2, sort_keys=True) + "\n")


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


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(
        path, mime_type="text/plain", compression_type="uncompressed"
    ) as handle:
        handle.write(text.encode("utf-8"))
