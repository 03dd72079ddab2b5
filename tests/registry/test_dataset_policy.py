"""Every stage judges with the licence policy the dataset was made with, not today's default.

A team with a separate licence deal ingests with its own policy, under which non-commercial
photos may train a commercial model. The training run's summary tags and the promotion's
licence gate must judge with that policy (whose digest the run records); a second policy given
to `promote --policy` is judged beside it, and the promotion shows both decisions.
"""

import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from idphoto.cli import main
from idphoto.config import config_dir
from idphoto.data.dataset import open_ingested
from idphoto.licences import load_policy
from tests.conftest import MlflowServer, free_port

pytestmark = pytest.mark.slow
ALIAS = "dataset-policy"
RELAXED_QUALITY = [
    "--set", "quality.max_swd=1e9",
    "--set", "quality.min_id_compliance=0",
    "--set", "quality.beat_current=false",
    "--set", "near_copy.samples=32",
    "--set", "near_copy.neighbours=3",
]  # fmt: skip


def _licensed_archive_policy(folder) -> str:
    """The default policy, plus a deal that lets non-commercial photos train commercial models."""
    text = (config_dir() / "licence_policy.yaml").read_text()
    nc_rule = "allow: [research]\n    obligations: [attribution, non-commercial]"
    assert nc_rule in text
    text = text.replace(nc_rule, "allow: [research, commercial]\n    obligations: [attribution]")
    path = folder / "licensed-archive.yaml"
    path.write_text(text.replace("required_for: [commercial]", "required_for: []"))
    return str(path)


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory):
    """A tracking server of this module's own: its runs must not show up in other tests."""
    server = MlflowServer(tmp_path_factory.mktemp("archive-mlflow"), free_port()).start()
    yield server.uri
    server.stop()


@pytest.fixture
def tracking(archive_server, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", archive_server)
    mlflow.set_tracking_uri(archive_server)
    yield archive_server
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def archive_run(sample_manifest, archive_server, tmp_path_factory):
    mlflow_server = archive_server
    root = tmp_path_factory.mktemp("archive")
    policy = _licensed_archive_policy(root)
    data = str(root / "ingested")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    ingest = [sys.executable, "-m", "idphoto", "ingest", "--manifest", sample_manifest,
              "--out", data, "--use", "commercial", "--policy", policy,
              "--runner=DirectRunner", "--direct_running_mode=in_memory"]  # fmt: skip
    done = subprocess.run(ingest, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    train = [sys.executable, "-m", "idphoto", "train", "--data", data,
             "--config", str(config_dir() / "train" / "seed_dcgan.yaml"),
             "--out", str(root / "run"), "--steps", "4",
             "--set", "data.batch_size_per_replica=4", "--set", "schedule.eval_every=4",
             "--set", "metrics.swd_samples=8", "--set", "metrics.compliance_samples=4"]  # fmt: skip
    done = subprocess.run(train, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(root / "run" / "mlflow_run.json") as handle:
        run_id = json.load(handle)["run_id"]
    return {"policy": policy, "data": data, "run_id": run_id}


def test_the_dataset_carries_its_policy_and_config(archive_run):
    dataset = open_ingested(archive_run["data"])
    assert dataset.made_with.use == "commercial"
    with open(archive_run["policy"]) as handle:
        assert dataset.made_with.policy_text == handle.read()
    assert dataset.made_with.policy.digest == load_policy(archive_run["policy"]).digest
    accepted = [r for r in dataset.lineage_rows() if r["decision"] == "accepted"]
    assert any(r["class"] == "cc-by-nc" for r in accepted)


def test_training_tags_judge_allowed_uses_with_the_datasets_policy(archive_run, tracking):
    tags = MlflowClient().get_run(archive_run["run_id"]).data.tags
    assert tags["idphoto.lineage.policy_sha256"] == load_policy(archive_run["policy"]).digest
    # Under the project's default policy the NC photos would allow research only.
    assert tags["idphoto.lineage.allowed_uses"] == "research,commercial"
    artifacts = {a.path for a in MlflowClient().list_artifacts(archive_run["run_id"], "dataset")}
    assert "dataset/licence_policy.yaml" in artifacts


def test_promotion_judges_with_the_datasets_policy_wherever_it_runs(
    archive_run, tracking, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # no configs/ here: nothing may be read relative to this folder
    argv = ["promote", "--run", archive_run["run_id"], "--use", "commercial", "--alias", ALIAS]
    code = main([*argv, *RELAXED_QUALITY])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "licence    passed" in out


def test_a_second_policy_is_judged_beside_the_datasets_and_the_difference_named(
    archive_run, tracking, capsys
):
    default = str(config_dir() / "licence_policy.yaml")
    argv = ["promote", "--run", archive_run["run_id"], "--use", "commercial", "--alias", ALIAS]
    code = main([*argv, "--policy", default, *RELAXED_QUALITY])
    out = capsys.readouterr().out
    assert code == 1, out
    line = next(line for line in out.splitlines() if line.startswith("licence"))
    assert "licence    failed" in line
    assert "dataset's policy: passed" in line
    assert f"--policy {default}: failed" in line and "non_commercial" in line
    assert f"rejected only by --policy {default}" in line
