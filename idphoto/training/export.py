"""Export of the trained generator: a `.keras` file in the run folder and an MLflow model."""

from __future__ import annotations

import os

import keras
import mlflow
import numpy as np
from mlflow.models import infer_signature

GENERATOR_FILE = "generator.keras"
MLFLOW_MODEL_NAME = "generator"  # artifact name: `runs:/<run id>/generator`


def export_generator(generator: keras.Model, run_dir: str, log_to_mlflow: bool) -> str | None:
    """Saves the (EMA) generator as `generator.keras` in the run folder and, when tracking,
    logs it as an MLflow Keras model.

    The signature maps a float32 latent batch (N, latent_dim) to float32 images
    (N, H, W, C) in [-1, 1], so `mlflow.pyfunc` users know what to feed it.

    Returns:
        The MLflow logged model's id (`m-...`), or None when not tracking.
    """
    generator.save(os.path.join(run_dir, GENERATOR_FILE))
    if not log_to_mlflow:
        return None
    latent_dim = generator.input_shape[-1]
    example = np.random.default_rng(0).standard_normal((2, latent_dim)).astype(np.float32)
    signature = infer_signature(example, np.asarray(generator(example, training=False)))
    info = mlflow.keras.log_model(generator, name=MLFLOW_MODEL_NAME, signature=signature)
    return info.model_id
