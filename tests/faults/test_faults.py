"""Faults lose nothing: a killed ingest, a full disk, a missing or restarted tracking server.

The long loop over kill points and seeds is `make reliability` (tests/faults/fault_loop.py);
this is one short round of it. A killed training run is covered in tests/training.
"""

import json
import os
import resource
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import MlflowServer, free_port
from tests.faults import fault_loop

pytestmark = pytest.mark.slow


def _idphoto(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "idphoto", *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})}, **kwargs,
    )  # fmt: skip


def _last_line(done):
    return done.stderr.strip().splitlines()[-1]


def test_a_killed_ingest_leaves_nothing_partial_and_a_rerun_matches_an_uninterrupted_one(
    sample_manifest, ingested_research, tmp_path
):
    reference = fault_loop.lineage_rows(ingested_research)
    tally = fault_loop.Tally()
    fault_loop.ingest_round(sample_manifest, str(tmp_path), reference, "research", 7.0, tally)
    assert tally.faults == 1, "the job ended before it could be killed"
    assert tally.problems == []
    assert tally.rows_checked == len(reference) and tally.runs == 1
    assert (tally.rows_lost, tally.licence_leaks, tally.crashes, tally.partial_outputs) == (
        0, 0, 0, 0
    )  # fmt: skip
    assert [p for p in os.listdir(tmp_path) if ".partial-" in p] == []


def test_a_full_disk_stops_ingest_in_one_line_and_leaves_no_dataset(sample_manifest, tmp_path):
    def small_files():  # every file the job writes may hold at most 20 kB: the disk "fills"
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out"
    done = _idphoto(
        "ingest", "--manifest", sample_manifest, "--out", str(out), "--use", "research",
        "--runner=DirectRunner", "--direct_running_mode=in_memory", preexec_fn=small_files,
    )  # fmt: skip
    assert done.returncode == 2
    assert _last_line(done) == (
        f"idphoto ingest: error: cannot write the dataset under {out}: [Errno 27] File too large"
    )
    assert os.listdir(tmp_path) == []  # neither the dataset nor its staging folder


def test_an_output_folder_that_cannot_be_created_is_one_line_before_any_work(sample_manifest):
    done = _idphoto("ingest", "--manifest", sample_manifest, "--out", "/proc/idphoto/out")
    assert done.returncode == 2
    assert _last_line(done).startswith("idphoto ingest: error: cannot create /proc/idphoto")


def test_train_and_promote_fail_in_one_line_when_the_tracking_server_is_down(
    ingested_research, tmp_path
):
    down = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    run_dir = tmp_path / "run"
    done = _idphoto("train", "--data", ingested_research, "--config",
                    "configs/train/seed_dcgan.yaml", "--out", str(run_dir),
                    "--set", "data.batch_size_per_replica=4", env=down)  # fmt: skip
    assert done.returncode == 2
    assert "is unreachable" in _last_line(done) and not run_dir.exists()
    done = _idphoto("promote", "--run", "0" * 32, "--use", "research", env=down)
    assert done.returncode == 2
    assert _last_line(done).startswith("idphoto promote: error: MLflow tracking store")


def test_a_server_restart_between_training_and_promotion_loses_nothing(ingested_research, tmp_path):
    (tmp_path / "server").mkdir()
    server = MlflowServer(tmp_path / "server", free_port()).start()
    try:
        env = {"MLFLOW_TRACKING_URI": server.uri}
        run_dir = tmp_path / "run"
        done = _idphoto("train", "--data", ingested_research, "--config",
                        "configs/train/seed_dcgan.yaml", "--out", str(run_dir), "--steps", "4",
                        "--set", "data.batch_size_per_replica=4", "--set", "schedule.log_every=2",
                        "--set", "schedule.eval_every=4", "--set", "metrics.swd_samples=8",
                        "--set", "metrics.compliance_samples=4", env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]

        def snapshot():
            client = MlflowClient(server.uri)
            run = client.get_run(run_id)
            history = [(m.step, m.value) for m in client.get_metric_history(run_id, "d_loss")]
            artifacts = sorted(a.path for a in client.list_artifacts(run_id))
            return run.data.params, run.data.tags, history, artifacts

        before = snapshot()
        server.stop()
        server.start()
        assert snapshot() == before
        done = _idphoto("promote", "--run", run_id, "--use", "research",
                        "--set", "quality.max_swd=1e9", "--set", "quality.min_id_compliance=0",
                        "--set", "near_copy.samples=16", "--set", "near_copy.neighbours=3",
                        env=env)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        assert "promoted: models:/idphoto-generator@champion -> version 1" in done.stdout
    finally:
        server.stop()
