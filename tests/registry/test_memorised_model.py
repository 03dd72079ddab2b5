"""The near-copy gate refuses a generator that memorised its training photos.

A FastGAN trained without augmentation on the ten photos the small sample set accepts for
research learns them by heart within a few hundred steps: many of its samples are then far
nearer to one training photo than to the others, and promotion must refuse it.
"""

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from idphoto.cli import main
from idphoto.config import config_dir

pytestmark = pytest.mark.slow
MEMORISE = [
    "--steps", "600",
    "--set", "model.resolution=32",
    "--set", "data.batch_size_per_replica=4",
    "--set", "augment.policy=[]",
    "--set", "augment.adaptive.enabled=false",
    "--set", "optimizer.generator.learning_rate=1e-3",
    "--set", "optimizer.discriminator.learning_rate=1e-3",
    "--set", "ema.decay=0.9",
    "--set", "schedule.eval_every=600",
    "--set", "schedule.sample_every=600",
    "--set", "schedule.log_every=100",
    "--set", "metrics.swd_samples=32",
    "--set", "metrics.compliance_samples=4",
    "--set", "runtime.deterministic=true",
]  # fmt: skip


def test_a_generator_that_memorised_a_tiny_dataset_is_refused_as_a_near_copy(
    ingested_research, tmp_path, monkeypatch, capsys
):
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir = tmp_path / "memorised"
    done = subprocess.run(
        [sys.executable, "-m", "idphoto", "train", "--data", ingested_research,
         "--config", str(config_dir() / "train" / "fastgan64.yaml"), "--out", str(run_dir),
         *MEMORISE],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    code = main(
        ["promote", "--run", "latest", "--use", "research",
         "--set", "quality.max_swd=1e9", "--set", "quality.min_id_compliance=0",
         "--set", "near_copy.neighbours=5"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith("near_copy"))
    assert line.split()[1] == "failed"
    copies = int(line.split()[2])  # "near_copy  failed  N of 256 samples below ratio ..."
    assert copies >= 3, line
    assert "refused (near_copy)" in out
    client = MlflowClient(tracking)
    assert not client.search_registered_models()  # no version was created
