"""Every RGB architecture through `idphoto train` and `idphoto generate`: a stopped run resumes
exactly where it stopped, and its logged model (latent in, image out) makes labelled photos."""

import json
import os
import subprocess
import sys

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from idphoto.generation.generate import generate_photos
from idphoto.generation.labelling import read_label

pytestmark = pytest.mark.slow
ARCHITECTURES = ["dcgan64", "fastgan64"]
SMALL = [
    "--set", "data.batch_size_per_replica=4",
    "--set", "schedule.log_every=1",
    "--set", "schedule.checkpoint_every=1",
    "--set", "schedule.sample_every=1000",
    "--set", "schedule.eval_every=1000",
    "--set", "metrics.swd_samples=8",
    "--set", "metrics.compliance_samples=4",
    # Op determinism: a resumed run can then be compared bit for bit with an uninterrupted one.
    "--set", "runtime.deterministic=true",
]  # fmt: skip


def _train(data, config, run_dir, steps, tracking_uri):
    done = subprocess.run(
        [sys.executable, "-m", "idphoto", "train", "--data", data,
         "--config", f"configs/train/{config}.yaml", "--out", run_dir, "--steps", str(steps),
         *SMALL],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _generator_weights(run_dir):
    model = keras.saving.load_model(os.path.join(run_dir, "generator.keras"), safe_mode=True)
    return model.get_weights()


@pytest.mark.parametrize("config", ARCHITECTURES)
def test_a_stopped_run_resumes_exactly_and_its_model_generates_labelled_photos(
    config, ingested_research, tmp_path, monkeypatch
):
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    straight = str(tmp_path / "straight")
    _train(ingested_research, config, straight, 4, tracking)
    resumed = str(tmp_path / "resumed")
    _train(ingested_research, config, resumed, 2, tracking)
    second = _train(ingested_research, config, resumed, 4, tracking)  # the same run, extended
    assert "(resumed)" in second
    steps = [line.split()[1] for line in second.splitlines() if line.startswith("step ")]
    assert steps == ["3/4", "4/4"]  # continued from the checkpoint, not restarted
    for a, b in zip(_generator_weights(straight), _generator_weights(resumed), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    mlflow.set_tracking_uri(tracking)
    try:
        with open(os.path.join(resumed, "mlflow_run.json")) as handle:
            run_id = json.load(handle)["run_id"]
        uri = f"runs:/{run_id}/generator"
        signature = mlflow.models.get_model_info(uri).signature
        latent = signature.inputs.to_dict()[0]["tensor-spec"]["shape"]
        image = signature.outputs.to_dict()[0]["tensor-spec"]["shape"]
        assert list(latent) == [-1, 128] and list(image) == [-1, 64, 64, 3]
        summary = generate_photos(uri, 2, "passport-35x45", tmp_path / "photos", seed=3)
    finally:
        mlflow.set_tracking_uri(None)
    assert summary.count == 2 and (summary.width_px, summary.height_px) == (413, 531)
    # A SQLite store keeps its artifacts beside the database, whatever the working folder.
    experiment = MlflowClient(tracking).get_experiment_by_name("idphoto")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "idphoto").as_uri()
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    label = read_label(os.path.join(summary.out_dir, "photo-00001.png"))
    assert label["run_id"] == run_id
    assert label["digital_source_type"].endswith("/trainedAlgorithmicMedia")
