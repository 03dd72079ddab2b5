"""The generator behind an MLflow model URI: which registered version and run it is, and the
loaded Keras model. Every problem a user can cause becomes one line before any heavy work.
"""

from __future__ import annotations

import re
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.errors import UserError
from idphoto.generation.model_ref import ModelRef

_MODELS_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))/?")
_RUNS_URI = re.compile(r"runs:/(?P<run_id>[^/]+)/(?P<path>.+)")
# MLflow 3's logged models (`search_logged_models`, the UI's Models tab): `models:/m-<id>`.
_LOGGED_MODEL_URI = re.compile(r"models:/(?P<model_id>m-[0-9a-f]+)/?")
_URI_FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-ID or runs:/RUN_ID/PATH"


def resolve_model(uri: str) -> ModelRef:
    """Finds the registered model, version and run behind an MLflow model URI.

    Args:
        uri: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, `models:/NAME/latest`, a logged
            model `models:/m-ID` or `runs:/RUN_ID/PATH`.

    Returns:
        The resolved reference.

    Raises:
        UserError: a malformed URI, or an unknown model, version, alias or run (one line).
    """
    client = MlflowClient()
    if match := _LOGGED_MODEL_URI.fullmatch(uri):
        try:
            logged = client.get_logged_model(match["model_id"])
        except MlflowException as err:
            raise UserError(f"--model {uri}: {first_line(err)}") from None
        return ModelRef(uri, uri, "", "", logged.source_run_id or "")
    if match := _MODELS_URI.fullmatch(uri):
        name = match["name"]
        try:
            found = _model_version(client, name, match["alias"], match["version"], uri)
        except MlflowException as err:
            raise UserError(f"--model {uri}: {first_line(err)}") from None
        version = str(found.version)
        return ModelRef(uri, f"models:/{name}/{version}", name, version, found.run_id or "")
    if match := _RUNS_URI.fullmatch(uri):
        try:
            client.get_run(match["run_id"])
        except MlflowException as err:
            raise UserError(f"--model {uri}: {first_line(err)}") from None
        return ModelRef(uri, uri, "", "", match["run_id"])
    raise UserError(f"--model {uri!r} must be {_URI_FORMS}")


def load_generator(ref: ModelRef) -> Any:
    """Loads the Keras generator of `ref` (logged with `mlflow.keras.log_model`).

    Returns:
        A Keras model mapping float32 (B, latent_dim) to (B, H, W, C) in [-1, 1].

    Raises:
        UserError: the artifact is missing or is not an image generator.
    """
    try:
        # Safe mode refuses to deserialise code (Lambda layers, pickled functions) from a model.
        generator = mlflow.keras.load_model(ref.load_uri, load_model_kwargs={"safe_mode": True})
    except (MlflowException, OSError, ValueError) as err:
        raise UserError(f"--model {ref.uri}: cannot load the model: {first_line(err)}") from None
    if len(generator.input_shape) != 2 or len(generator.output_shape) != 4:
        raise UserError(
            f"--model {ref.uri} is not an image generator: it maps {generator.input_shape} to "
            f"{generator.output_shape}, not (batch, latent) to (batch, height, width, channels)"
        )
    return generator


def first_line(err: Exception) -> str:
    """The first line of an exception's message (MLflow's can run to a page)."""
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return message.strip().splitlines()[0][:300]


def _model_version(
    client: MlflowClient, name: str, alias: str | None, version: str | None, uri: str
) -> ModelVersion:
    if alias:
        return client.get_model_version_by_alias(name, alias)
    if version == "latest":
        quoted = name.replace("'", "\\'")
        versions = client.search_model_versions(f"name = '{quoted}'")
        if not versions:
            raise UserError(f"--model {uri}: registered model {name!r} has no versions")
        return max(versions, key=lambda found: int(found.version))
    if version and version.isdigit():
        return client.get_model_version(name, version)
    raise UserError(f"--model {uri}: the version must be a number, 'latest' or @ALIAS")
