"""Tracing a photo through datasets, runs and model versions, and showing a run's lineage.

When a photographer withdraws a photo, `trace` answers: which datasets held it, which runs
trained on them, and which registered model versions (and aliases) came out of those runs.
It reads what training logged: the dataset content digest tag and the lineage of every run
(`idphoto.tracking.training_runs`).
"""

from __future__ import annotations

import dataclasses

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.data.lineage import ACCEPTED
from idphoto.errors import UserError
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
    inputs, promotion records and model versions."""
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
        "lineage": summary_from_tags(run.data.tags),
        "datasets": inputs,
        "promotions": {
            k: v
            for k, v in sorted(run.data.tags.items())
            if k.startswith((tags.PROMOTION_PREFIX, tags.GATE_PREFIX))
        },
        "versions": [dataclasses.asdict(v) for v in _run_ref(client, run).versions],
    }


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
