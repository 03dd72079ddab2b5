"""Models are loaded in Keras safe mode: a model carrying code is refused, not run."""

import keras
import mlflow
import pytest

from idphoto.errors import UserError
from idphoto.generation.model_source import load_generator, resolve_model


def test_a_model_with_a_lambda_layer_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        latent = keras.Input((4,))
        image = keras.layers.Reshape((2, 2, 1))(keras.layers.Lambda(lambda z: z * 2.0)(latent))
        with mlflow.start_run() as run:
            mlflow.keras.log_model(keras.Model(latent, image), name="generator")
        ref = resolve_model(f"runs:/{run.info.run_id}/generator")
        with pytest.raises(UserError, match="cannot load the model") as refused:
            load_generator(ref)
        assert "\n" not in str(refused.value)
    finally:
        mlflow.set_tracking_uri(None)
