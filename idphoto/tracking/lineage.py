"""The licence lineage of a training run, as MLflow sees it: a dataset input and summary tags.

The summary answers, for any run or model version: how many photos of which licence classes
trained it, which obligations come with them, and for which uses every one of them allows
training. The pure functions here take lineage rows (dicts, as in `lineage.parquet`) and a
licence policy; only `log_dataset` talks to MLflow.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from idphoto.data.lineage import ACCEPTED
from idphoto.licences import Policy
from idphoto.tracking.tags import LINEAGE_PREFIX

# MLflow's SQL store keeps a dataset digest in 36 characters; 32 hex digits are 128 bits.
_MLFLOW_DIGEST_CHARS = 32


@dataclasses.dataclass(frozen=True)
class LineageSummary:
    """What a run's training data is, licence-wise.

    Attributes:
        rows: lineage rows (manifest rows) of the dataset, accepted or not.
        accepted: rows whose photo is in the dataset.
        by_class: accepted rows by licence class.
        obligations: the union of the accepted rows' obligations (attribution, share-alike...).
        allowed_uses: the policy's uses for which every accepted row is allowed.
        ingest_use: the `--use` the dataset was ingested for.
        policy_sha256: the digest of the policy the ingest judged with, and `allowed_uses` too.
        content_sha256: the digest of the dataset's TFRecords.
    """

    rows: int
    accepted: int
    by_class: Mapping[str, int]
    obligations: tuple[str, ...]
    allowed_uses: tuple[str, ...]
    ingest_use: str
    policy_sha256: str
    content_sha256: str


@dataclasses.dataclass(frozen=True)
class Violation:
    """An accepted row that the policy does not allow for a use."""

    id: str
    licence: str
    licence_class: str
    reason: str


def violations(rows: Iterable[Mapping[str, Any]], policy: Policy, use: str) -> list[Violation]:
    """The accepted rows whose licence or consent does not allow `use`, judged afresh.

    A dataset ingested for research keeps non-commercial photos; this is how a commercial
    promotion finds them.
    """
    found = []
    for row in rows:
        if row["decision"] != ACCEPTED:
            continue
        decision = policy.judge(row["licence"] or "", use, row.get("consent"))
        if not decision.allowed:
            found.append(
                Violation(row["id"], row["licence"] or "", decision.licence_class, decision.reason)
            )
    return found


def summarise(
    rows: Sequence[Mapping[str, Any]], policy: Policy, ingest_use: str, content_sha256: str
) -> LineageSummary:
    """Summarises a dataset's lineage rows.

    Args:
        rows: the lineage rows.
        policy: the policy the dataset was made with; `allowed_uses` is judged with it, and its
            digest is the summary's `policy_sha256`.
        ingest_use: the use the dataset was ingested for.
        content_sha256: the dataset's TFRecord content digest (over all splits).
    """
    accepted = [row for row in rows if row["decision"] == ACCEPTED]
    by_class = collections.Counter(row["class"] or "none" for row in accepted)
    obligations = sorted({o for row in accepted for o in (row["obligations"] or ())})
    return LineageSummary(
        rows=len(rows),
        accepted=len(accepted),
        by_class=dict(sorted(by_class.items())),
        obligations=tuple(obligations),
        allowed_uses=tuple(u for u in policy.uses if not violations(accepted, policy, u)),
        ingest_use=ingest_use,
        policy_sha256=policy.digest,
        content_sha256=content_sha256,
    )


def summary_tags(summary: LineageSummary) -> dict[str, str]:
    """The summary as flat MLflow tags (`idphoto.lineage.*`), for runs and model versions."""
    tags = {
        "rows": str(summary.rows),
        "accepted": str(summary.accepted),
        "obligations": ",".join(summary.obligations) or "none",
        "allowed_uses": ",".join(summary.allowed_uses) or "none",
        "ingest_use": summary.ingest_use,
        "policy_sha256": summary.policy_sha256,
        "content_sha256": summary.content_sha256,
        "by_class": json.dumps(dict(summary.by_class), sort_keys=True),
    }
    tags.update({f"class.{name}": str(count) for name, count in summary.by_class.items()})
    return {LINEAGE_PREFIX + key: value for key, value in tags.items()}


def summary_from_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The `idphoto.lineage.*` tags of a run or model version, without the prefix."""
    return {
        k[len(LINEAGE_PREFIX) :]: v for k, v in sorted(tags.items()) if k.startswith(LINEAGE_PREFIX)
    }


def mlflow_dataset(data_dir: str, rows: Sequence[Mapping[str, Any]], summary: LineageSummary):
    """The lineage as an MLflow dataset, named after the data folder.

    Its MLflow digest is the TFRecord content digest (shortened to what MLflow stores), so
    runs trained on the same photos share one dataset entry in the UI.
    """
    import mlflow
    import pandas as pd

    frame = pd.DataFrame(
        [{**row, "obligations": ",".join(row["obligations"] or ())} for row in rows]
    )
    with _quiet_schema_hints():
        return mlflow.data.from_pandas(
            frame,
            source=os.path.abspath(data_dir) if "://" not in data_dir else data_dir,
            name=os.path.basename(os.path.normpath(data_dir)),
            digest=summary.content_sha256[:_MLFLOW_DIGEST_CHARS] or None,
        )


def log_dataset(dataset, summary: LineageSummary) -> None:
    """Logs `mlflow_dataset`'s result as the active run's training input, with the licence
    summary as the run's tags."""
    import mlflow

    with _quiet_schema_hints():
        mlflow.log_input(
            dataset, context="training", tags={"content_sha256": summary.content_sha256}
        )
    mlflow.set_tags(summary_tags(summary))


@contextlib.contextmanager
def _quiet_schema_hints():
    # MLflow warns that a path source fits two source types, and that integer columns cannot
    # hold missing values (ours hold none); neither is actionable here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield
