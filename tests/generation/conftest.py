"""A tiny generator registered in a real (SQLite) MLflow store, shared by the generation tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

LATENT_DIM = 16
SIDE = 8
MODEL_NAME = "tiny-id-generator"
ALIAS = "champion"
BACKGROUND = 0.8  # tanh output of the plain background: a light grey, as ID photos have


@dataclasses.dataclass(frozen=True)
class RegisteredGenerator:
    """Where the tiny generator lives in the test store."""

    tracking_uri: str
    name: str
    alias: str
    version: str
    run_id: str


def _tiny_generator():
    """Dense -> Reshape(8, 8, 3) -> tanh: a plain background around a 'head and shoulders' block
    whose colour depends on the latent, so photos differ and their background is recolourable."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((LATENT_DIM,)),
            keras.layers.Dense(SIDE * SIDE * 3),
            keras.layers.Reshape((SIDE, SIDE, 3)),
            keras.layers.Activation("tanh"),
        ]
    )
    subject = np.zeros((SIDE, SIDE, 3), dtype=bool)
    subject[2:, 2:6] = True  # centred, reaching the bottom edge like shoulders
    bias = np.where(subject, -0.3, np.arctanh(BACKGROUND)).astype(np.float32).reshape(-1)
    kernel = np.random.default_rng(0).normal(0.0, 0.05, (LATENT_DIM, SIDE * SIDE * 3))
    kernel = (kernel * subject.reshape(1, -1)).astype(np.float32)
    model.layers[0].set_weights([kernel, bias])
    return model


@pytest.fixture(scope="session")
def registered_generator(tmp_path_factory):
    """Logs the tiny generator in a run, registers it and points alias `champion` at it."""
    import mlflow
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("generation-mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        try:
            experiment = mlflow.create_experiment(
                "generation-tests", artifact_location=(root / "artifacts").as_uri()
            )
            with mlflow.start_run(experiment_id=experiment) as run:
                info = mlflow.keras.log_model(_tiny_generator(), name="generator")
            version = mlflow.register_model(info.model_uri, MODEL_NAME).version
            MlflowClient().set_registered_model_alias(MODEL_NAME, ALIAS, version)
        finally:
            mlflow.set_tracking_uri(None)
    return RegisteredGenerator(uri, MODEL_NAME, ALIAS, str(version), run.info.run_id)


@pytest.fixture
def generator_store(registered_generator, monkeypatch):
    """Points MLflow at the store holding the tiny generator, for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_generator.tracking_uri)
    mlflow.set_tracking_uri(registered_generator.tracking_uri)
    yield registered_generator
    mlflow.set_tracking_uri(None)
