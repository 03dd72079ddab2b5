"""Tracing a photo through datasets, runs and model versions, and showing a run's lineage.

When a photographer withdraws a photo, `trace` answers: which datasets held it, which runs
trained on them, and which registered model versions (and aliases) came out of those runs.
It reads what training logged: the `idphoto.lineage.content_sha256` tag and the
`dataset/lineage.parquet` artifact of every run.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.data.lineage import ACCEPTED, read_lineage
from idphoto.errors import UserError
from idphoto.tracking.lineage import TAG_PREFIX, summary_from_tags

_DIGEST_TAG = TAG_PREFIX + "content_sha256"
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
    for run in _training_runs(client):
        by_digest.setdefault(run.data.tags[_DIGEST_TAG], []).append(run)
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
    """A run's licence summary, dataset inputs, promotion records and model versions."""
    client = client or MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise UserError(f"no MLflow run {run_id}") from None
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
            if k.startswith(("idphoto.promotion.", "idphoto.gate."))
        },
        "versions": [dataclasses.asdict(v) for v in _run_ref(client, run).versions],
    }


def _training_runs(client: MlflowClient) -> Iterator:
    experiments = [e.experiment_id for e in client.search_experiments()]
    token = None
    while experiments:
        page = client.search_runs(experiments, max_results=1000, page_token=token)
        yield from (run for run in page if _DIGEST_TAG in run.data.tags)
        token = page.token
        if not token:
            return


def _lineage_of(client: MlflowClient, runs: list) -> list[dict]:
    for run in runs:  # any run of the dataset will do; the first one with the artifact
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = client.download_artifacts(run.info.run_id, "dataset/lineage.parquet", folder)
            except (MlflowException, OSError):
                continue
            return read_lineage(path).to_pylist()
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
