"""Tracing a photo through datasets, runs and model versions, and showing a run's lineage.

When a photographer withdraws a photo, `trace` answers: which datasets held it, which runs
trained on them, and which registered model versions (and aliases) came out of those runs.
It reads what training logged: the dataset content digest tag and the lineage of every run
(`idphoto.tracking.training_runs`).
"""

from __future__ import annotations

import dataclasses
import json

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.data.lineage import ACCEPTED
from idphoto.errors import UserError
from idphoto.registry.gates import GATES
from idphoto.tracking import tags
from idphoto.tracking.lineage import summary_from_tags
from idphoto.tracking.training_runs import (
    download_run_dataset,
    find_training_run,
    training_runs,
)

_FIELDS = {"id": "id", "sha256": "sha256", "source_url": "source_url"}


@dataclasses.dataclass(frozen=True)
class ModelVersionRef:
    """A registered model version and the aliases that name it."""

    name: str
    version: str
    aliases: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RunRef:
    """A training run and the model versions registered from it."""

    run_id: str
    run_name: str
    versions: tuple[ModelVersionRef, ...]


@dataclasses.dataclass(frozen=True)
class DatasetHit:
    """A dataset whose lineage holds the photo, and where the photo went."""

    content_sha256: str
    photo_id: str
    decision: str  # accepted: the photo is in the dataset and reached every run below
    reason: str
    split: str
    runs: tuple[RunRef, ...]


def trace(field: str, value: str, client: MlflowClient | None = None) -> list[DatasetHit]:
    """Finds every dataset, run and model version a photo reached.

    Args:
        field: `id`, `sha256` or `source_url`.
        value: the photo's id, pixel sha256 or source URL.

    Returns:
        One hit per dataset whose lineage lists the photo, accepted or rejected; runs and
        versions only for datasets that accepted it.
    """
    if field not in _FIELDS:
        raise UserError(f"cannot trace by {field!r}; use one of {', '.join(_FIELDS)}")
    client = client or MlflowClient()
    by_digest: dict[str, list] = {}
    for run in training_runs(client):
        by_digest.setdefault(run.data.tags[tags.CONTENT_SHA256], []).append(run)
    if not by_digest:
        raise UserError(
            f"{mlflow.get_tracking_uri()} holds no idphoto training run; is MLFLOW_TRACKING_URI "
            "the store your runs are in?"
        )
    hits = []
    for digest, runs in sorted(by_digest.items()):
        rows = _lineage_of(client, runs)
        for row in (r for r in rows if r.get(_FIELDS[field]) == value):
            reached = row["decision"] == ACCEPTED
            refs = tuple(_run_ref(client, run) for run in runs) if reached else ()
            hits.append(
                DatasetHit(
                    digest, row["id"], row["decision"], row["reason"], row["split"] or "", refs
                )
            )
    return hits


def run_summary(run_id: str, client: MlflowClient | None = None) -> dict:
    """A run's (or with `latest`, the latest finished training run's) licence summary, dataset
    inputs, promotion records and model versions, as plain data (numbers as numbers)."""
    client = client or MlflowClient()
    run = find_training_run(client, run_id)
    run_id = run.info.run_id
    inputs = [
        {"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source}
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    ]
    return {
        "run_id": run_id,
        "run_name": run.info.run_name,
        "lineage": _lineage_summary(summary_from_tags(run.data.tags)),
        "metrics": {k: run.data.metrics[k] for k in _SHOWN_METRICS if k in run.data.metrics},
        "datasets": inputs,
        "gates": _gate_records(run.data.tags),
        "promotions": {
            key[len(tags.PROMOTION_PREFIX) :]: value
            for key, value in sorted(run.data.tags.items())
            if key.startswith(tags.PROMOTION_PREFIX)
        },
        "versions": [dataclasses.asdict(v) for v in _run_ref(client, run).versions],
    }


_SHOWN_METRICS = ("swd", "swd_heldout", "swd_floor", "id_compliance", "reference_id_compliance")


def _lineage_summary(raw: dict[str, str]) -> dict:
    """The `idphoto.lineage.*` tags read back into numbers, lists and a dict by class."""

    def listed(key: str) -> list[str]:
        value = raw.get(key, "none")
        return [] if value in ("", "none") else value.split(",")

    return {
        "rows": int(raw.get("rows", 0)),
        "accepted": int(raw.get("accepted", 0)),
        "by_class": json.loads(raw.get("by_class", "{}")),
        "obligations": listed("obligations"),
        "allowed_uses": listed("allowed_uses"),
        "ingest_use": raw.get("ingest_use", ""),
        "policy_sha256": raw.get("policy_sha256", ""),
        "content_sha256": raw.get("content_sha256", ""),
    }


def _gate_records(run_tags: dict[str, str]) -> dict[str, dict]:
    """The last promotion attempt per use: each gate's status and figure, when and for which
    alias it was checked."""
    records: dict[str, dict] = {}
    for key, value in sorted(run_tags.items()):
        if not key.startswith(tags.GATE_PREFIX):
            continue
        use, _, rest = key[len(tags.GATE_PREFIX) :].partition(".")
        record = records.setdefault(use, {"gates": {}})
        gate, _, part = rest.partition(".")
        if gate in GATES:
            entry = record["gates"].setdefault(gate, {})
            entry[part or "status"] = value  # status, figure, forced_reason
        else:
            record[rest] = value
    return records


def format_run_summary(summary: dict) -> str:
    """`lineage show` as tables for people."""
    lineage = summary["lineage"]
    lines = [
        f"run {summary['run_id']} ({summary['run_name']})",
        "",
        f"training data: {lineage['accepted']} of {lineage['rows']} manifest rows accepted, "
        f"ingested for {lineage['ingest_use'] or '?'} use",
        f"  allowed uses  {', '.join(lineage['allowed_uses']) or 'none'}",
        f"  obligations   {', '.join(lineage['obligations']) or 'none'}",
        f"  content       {lineage['content_sha256'][:16]}",
        f"  policy        {lineage['policy_sha256'][:16]}",
        "  by licence class:",
        *(f"    {name:<24} {count:>6}" for name, count in lineage["by_class"].items()),
    ]
    if summary["metrics"]:
        lines += ["", "quality:"]
        lines += [f"  {name:<24} {value:>10.4g}" for name, value in summary["metrics"].items()]
    lines += ["", "datasets:"]
    lines += [f"  {d['name']:<24} digest {d['digest']}  {d['source']}" for d in summary["datasets"]]
    for use, record in summary["gates"].items():
        when = record.get("checked_at", "?")
        lines += ["", f"gates for {use} use (alias {record.get('alias', '?')}, checked {when}):"]
        for gate in GATES:
            entry = record["gates"].get(gate, {})
            lines.append(
                f"  {gate:<10} {entry.get('status', '-'):<7} {entry.get('figure', '')}".rstrip()
            )
    if summary["promotions"]:
        lines += ["", "promotions:"]
        lines += [f"  {key:<24} {value}" for key, value in summary["promotions"].items()]
    lines += ["", "model versions:"]
    for v in summary["versions"] or [None]:
        if v is None:
            lines.append("  none")
            continue
        aliases = f"  @{', @'.join(v['aliases'])}" if v["aliases"] else ""
        lines.append(f"  {v['name']} version {v['version']}{aliases}")
    return "\n".join(lines)


def _lineage_of(client: MlflowClient, runs: list) -> list[dict]:
    for run in runs:  # any run of the dataset will do; the first one that logged its lineage
        rows = download_run_dataset(client, run).rows
        if rows:
            return rows
    return []


def _run_ref(client: MlflowClient, run) -> RunRef:
    try:
        found = client.search_model_versions(f"run_id='{run.info.run_id}'")
    except MlflowException:
        found = []
    # Search results leave `aliases` empty on some stores; the version itself carries them.
    found = [client.get_model_version(v.name, v.version) for v in found]
    versions = tuple(
        sorted(
            (
                ModelVersionRef(v.name, str(v.version), tuple(sorted(v.aliases or ())))
                for v in found
            ),
            key=lambda v: (v.name, int(v.version)),
        )
    )
    return RunRef(run.info.run_id, run.info.run_name or "", versions)
