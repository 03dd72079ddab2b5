"""Finding training runs in MLflow and reading back the dataset record they logged.

A training run is one that logged its dataset's content digest (`tags.CONTENT_SHA256`); with it
it logged the dataset's record files under `dataset/` (lineage, report, attribution, policy).
Promotion, tracing and `lineage show` all find runs and read those files through here.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.data import dataset, lineage
from idphoto.errors import UserError
from idphoto.licences import Policy, parse_policy
from idphoto.tracking import tags

LATEST = "latest"  # `--run latest`: the most recently started finished training run


@dataclasses.dataclass(frozen=True)
class RunDataset:
    """What a training run logged about its dataset.

    Attributes:
        rows: the lineage rows; empty when the run logged none.
        policy: the licence policy the dataset was judged with; None when the run logged no
            policy, or one whose digest is not the run's `policy_sha256` tag.
        problem: why `rows` or `policy` is missing, for the gate that needs them.
    """

    rows: list[dict]
    policy: Policy | None
    problem: str = ""


def is_training_run(run) -> bool:
    """Whether an MLflow run is an idphoto training run (it logged a dataset digest)."""
    return tags.CONTENT_SHA256 in run.data.tags


def training_runs(client: MlflowClient) -> Iterator:
    """Every training run in every experiment of the tracking store, newest first."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    token = None
    while experiments:
        page = client.search_runs(
            experiments,
            max_results=1000,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        yield from (run for run in page if is_training_run(run))
        token = page.token
        if not token:
            return


def find_training_run(client: MlflowClient, run_id: str):
    """The run `run_id`, or with `latest` the most recently started finished training run.

    Raises:
        UserError: no such run, or no finished training run for `latest`.
    """
    if run_id == LATEST:
        for run in training_runs(client):
            if run.info.status == "FINISHED":
                return run
        raise UserError(
            f"no finished training run on {mlflow.get_tracking_uri()}; run `make train`"
        )
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise UserError(f"no MLflow run {run_id} on {mlflow.get_tracking_uri()}") from None


def download_run_dataset(client: MlflowClient, run) -> RunDataset:
    """Reads back the lineage rows and licence policy a training run logged."""
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run_id, tags.DATASET_ARTIFACTS, folder)
        except (MlflowException, OSError):
            return RunDataset([], None, f"run {run_id} logged no dataset record")
        lineage_path = os.path.join(path, dataset.LINEAGE_FILE)
        if not os.path.exists(lineage_path):
            return RunDataset([], None, f"run {run_id} logged no {dataset.LINEAGE_FILE}")
        rows = lineage.read_lineage(lineage_path).to_pylist()
        policy_path = os.path.join(path, dataset.POLICY_FILE)
        if not os.path.exists(policy_path):
            return RunDataset(rows, None, f"run {run_id} logged no {dataset.POLICY_FILE}")
        with open(policy_path, encoding="utf-8") as handle:
            policy = parse_policy(handle.read(), dataset.POLICY_FILE)
    recorded = run.data.tags.get(tags.POLICY_SHA256, "")
    if policy.digest != recorded:
        return RunDataset(
            rows,
            None,
            f"the policy run {run_id} logged ({policy.digest[:12]}) is not the one its dataset "
            f"was judged with ({recorded[:12] or 'none recorded'})",
        )
    return RunDataset(rows, policy)
