"""Faults lose nothing: a killed ingest, a full disk, a missing or restarted tracking server.

The long loop over kill points and seeds is `make reliability` (tests/faults/fault_loop.py);
this is one short round of it. A killed training run is covered in tests/training.
"""

import json
import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from idphoto import publish
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


KILL_POINTS = ["staging folder created", "first shard written", "before the rename"]


def _kill_ingest_at(point, command, out):
    """Kills the ingest at `point`; returns whether the kill landed there."""
    if point == "staging folder created":
        return fault_loop.kill_when(command, lambda: bool(fault_loop.staging_folders(out)))
    if point == "first shard written":
        return fault_loop.kill_when(command, lambda: fault_loop.shards_written(out))
    # Microseconds between finishing and publishing: the job kills itself at its fail point.
    env = {**os.environ, publish.FAIL_POINT_ENV: publish.BEFORE_RENAME}
    done = subprocess.run(command, capture_output=True, timeout=600, env=env)
    return done.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_ingest_killed_at_each_step_publishes_nothing_and_a_rerun_matches_an_uninterrupted_one(
    point, sample_manifest, ingested_research, tmp_path
):
    reference = fault_loop.lineage_rows(ingested_research)
    out = str(tmp_path / "out")
    assert _kill_ingest_at(point, fault_loop.ingest_command(sample_manifest, out, "research"), out)
    assert fault_loop.staging_folders(out) and not os.path.exists(out)  # killed mid-way
    tally = fault_loop.Tally()
    state = fault_loop.check_and_rerun(sample_manifest, out, reference, "research", point, tally)
    assert state == "absent" and tally.problems == []
    assert tally.rows_checked == len(reference) and tally.runs == 1
    assert (tally.rows_lost, tally.licence_leaks, tally.crashes, tally.partial_outputs) == (
        0, 0, 0, 0
    )  # fmt: skip
    assert fault_loop.staging_folders(out) == []  # the rerun removed the killed run's staging


# A real full file system: a 100 kB tmpfs mounted in a user and mount namespace of its own
# (`unshare -rm`, no root needed), with the ingest writing into it; what is left on it is
# listed before the namespace, and the tmpfs with it, goes away.
_ON_A_FULL_DISK = """
disk=$1; listing=$2; shift 2
mount -t tmpfs -o size=100k tmpfs "$disk" || exit 99
"$@"; code=$?
ls -A "$disk" > "$listing"
exit $code
"""


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_a_full_disk_stops_ingest_in_one_line_and_leaves_no_dataset(
    mode, sample_manifest, tmp_path
):
    disk, listing = tmp_path / "disk", tmp_path / "left-on-disk.txt"
    disk.mkdir()
    out = disk / "out"
    ingest = [sys.executable, "-m", "idphoto", "ingest", "--manifest", sample_manifest,
              "--out", str(out), "--use", "research", "--runner=DirectRunner",
              f"--direct_running_mode={mode}"]  # fmt: skip
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _ON_A_FULL_DISK, "sh", str(disk), str(listing), *ingest],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    # The whole of stderr is one line: Beam's logged worker error and traceback are not shown.
    assert done.stderr.splitlines() == [
        f"idphoto ingest: error: cannot write the dataset under {out}: "
        "[Errno 28] No space left on device"
    ]
    assert listing.read_text() == ""  # neither the dataset nor its staging folder


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
    assert "Traceback" not in done.stderr
    done = _idphoto("promote", "--run", "0" * 32, "--use", "research", env=down)
    assert done.returncode == 2
    assert _last_line(done).startswith("idphoto promote: error: MLflow tracking store")
    assert "Traceback" not in done.stderr


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
            """Everything the run holds: params, tags, every metric's whole history, and every
            artifact file (recursively) with its size."""
            client = MlflowClient(server.uri)
            run = client.get_run(run_id)
            histories = {
                key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
                for key in run.data.metrics
            }
            return run.data.params, run.data.tags, histories, _artifact_files(client, run_id)

        before = snapshot()
        assert {"d_loss", "swd", "id_compliance"} <= set(before[2])
        assert "dataset/lineage.parquet" in before[3] and "checkpoint/ckpt-4.index" in before[3]
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


def _artifact_files(client, run_id, path=None):
    files = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            files.update(_artifact_files(client, run_id, item.path))
        else:
            files[item.path] = item.file_size
    return files
