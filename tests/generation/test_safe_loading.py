"""Models are loaded in Keras safe mode: a model carrying code is refused, not run."""

import keras
import mlflow
import numpy as np
import pytest

from idphoto.errors import UserError
from idphoto.generation.model_source import load_generator, resolve_model


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        latent = keras.Input((4,))
        image = keras.layers.Reshape((2, 2, 1))(keras.layers.Lambda(lambda z: z * 2.0)(latent))
        experiment = mlflow.create_experiment("safe-loading", (tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.keras.log_model(keras.Model(latent, image), name="generator")
        ref = resolve_model(f"runs:/{run.info.run_id}/generator")
        with pytest.raises(UserError) as refused:
            load_generator(ref)
        message = str(refused.value)
        assert "cannot load the model: Requested the deserialization of a `Lambda` layer" in message
        assert "safe_mode=False" in message and "\n" not in message
        # The very same artifact loads with safe mode off: the refusal was safe mode's alone.
        unsafe = mlflow.keras.load_model(ref.load_uri, load_model_kwargs={"safe_mode": False})
        assert "Lambda" in [type(layer).__name__ for layer in unsafe.layers]
        assert (unsafe.predict(np.ones((1, 4), np.float32), verbose=0) == 2.0).all()
    finally:
        mlflow.set_tracking_uri(None)
