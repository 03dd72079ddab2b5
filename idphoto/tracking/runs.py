"""MLflow runs of training: one per run folder, resumed when the same run continues."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto import config
from idphoto.errors import UserError

_RUN_FILE = "mlflow_run.json"
# MLflow caps a batch of params at 100 and a param value at 6000 characters.
_PARAMS_PER_BATCH = 100
_MAX_PARAM_CHARS = 6000


def check_tracking_server(read_only: bool = False) -> str:
    """Fails fast, in one line, when the tracking store cannot be reached.

    Args:
        read_only: the command only reads: a SQLite store that does not exist is an error
            (opening it would create an empty one, which then answers "not found").

    Returns:
        The tracking URI in use.
    """
    uri = mlflow.get_tracking_uri()
    if read_only and uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///") :])
        if not database.is_file():
            raise UserError(
                f"no tracking store at {database} (MLFLOW_TRACKING_URI={uri}); set "
                "MLFLOW_TRACKING_URI to the store your runs are in"
            )
    # A dead server should fail in seconds, not after MLflow's default retries (minutes).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # the client raises many transport-specific types
        first = (str(err) or type(err).__name__).splitlines()[0][:200]
        raise UserError(f"MLflow tracking store {uri} is unreachable: {first}") from None
    return uri


def start_or_resume_run(
    run_dir: str, experiment: str, run_name: str, tags: Mapping[str, str]
) -> mlflow.ActiveRun:
    """Starts the MLflow run of `run_dir`, or resumes the one recorded there.

    The run id is kept in `run_dir/mlflow_run.json`, so re-running a killed training continues
    the same MLflow run instead of starting a second one.
    """
    record_path = os.path.join(run_dir, _RUN_FILE)
    uri = mlflow.get_tracking_uri()
    if os.path.exists(record_path):
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
        if record.get("tracking_uri") == uri:
            return mlflow.start_run(run_id=record["run_id"])
        raise UserError(
            f"{run_dir} belongs to an MLflow run on {record.get('tracking_uri')}, not {uri}; "
            "set MLFLOW_TRACKING_URI to it or use another --out"
        )
    use_experiment(experiment)
    run = mlflow.start_run(run_name=run_name, tags=dict(tags))
    with open(record_path, "w", encoding="utf-8") as handle:
        json.dump({"run_id": run.info.run_id, "tracking_uri": uri}, handle)
    return run


# MLflow 3 opens an experiment on the view this tag names; without it, the GenAI traces view.
_EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def use_experiment(name: str) -> str:
    """Makes `name` the active experiment, creating it when missing; returns its id.

    On a SQLite store a new experiment keeps its artifacts in `mlartifacts/` beside the
    database file (MLflow's default, `./mlruns`, would follow the working folder of whichever
    command first created it). Its runs open in MLflow's model-training view.
    """
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is None:
        location = _artifacts_beside_database(mlflow.get_tracking_uri(), name)
        with contextlib.suppress(MlflowException):  # created meanwhile by a concurrent run
            client.create_experiment(name, artifact_location=location, tags=_EXPERIMENT_KIND)
        found = client.get_experiment_by_name(name)
    elif found.tags.get("mlflow.experimentKind") != _EXPERIMENT_KIND["mlflow.experimentKind"]:
        for key, value in _EXPERIMENT_KIND.items():
            client.set_experiment_tag(found.experiment_id, key, value)
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return found.experiment_id


def _artifacts_beside_database(uri: str, experiment: str) -> str | None:
    if not uri.startswith("sqlite:///"):
        return None  # servers and other stores choose their own artifact location
    database = Path(uri[len("sqlite:///") :]).resolve()
    return (database.parent / "mlartifacts" / experiment).as_uri()


def log_params(params: Mapping[str, Any]) -> None:
    """Logs a nested config as flat `a.b.c` params, skipping ones a resumed run already has."""
    flat = {key: _param_text(value) for key, value in config.flatten(params).items()}
    run = mlflow.active_run()
    existing = MlflowClient().get_run(run.info.run_id).data.params if run else {}
    fresh = {k: v for k, v in flat.items() if k not in existing}
    items = sorted(fresh.items())
    for start in range(0, len(items), _PARAMS_PER_BATCH):
        mlflow.log_params(dict(items[start : start + _PARAMS_PER_BATCH]))


def _param_text(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return text[:_MAX_PARAM_CHARS]
