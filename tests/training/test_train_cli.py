"""`idphoto train` end to end: config handling, MLflow tracking, resume, determinism, replicas."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from idphoto.cli import main
from idphoto.config import config_dir

pytestmark = pytest.mark.slow
SEED = "configs/train/seed_dcgan.yaml"
# A few steps of the smallest model, with every side task firing more than once.
QUICK = [
    "--set", "data.batch_size_per_replica=4",
    "--set", "schedule.log_every=2",
    "--set", "schedule.sample_every=3",
    "--set", "schedule.checkpoint_every=3",
    "--set", "schedule.eval_every=3",
    "--set", "metrics.swd_samples=8",
    "--set", "metrics.compliance_samples=4",
]  # fmt: skip


def _train(args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "idphoto", "train", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _run_record(run_dir):
    with open(os.path.join(run_dir, "mlflow_run.json")) as handle:
        return json.load(handle)["run_id"]


def test_dry_run_prints_the_resolved_config_and_strategy(ingested_research, capsys):
    code = main(["train", "--data", ingested_research, "--config", SEED, "--dry-run",
                 "--set", "model.latent_dim=64",
                 "--set", "data.batch_size_per_replica=4"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["model"]["latent_dim"] == 64
    assert out["derived"]["strategy"] == "MirroredStrategy" and out["derived"]["replicas"] >= 1
    assert out["run_name"].startswith("seed-dcgan-bs4-lr1e-4")


def test_unknown_key_and_bad_type_fail_in_one_line_naming_the_key(ingested_research, capsys):
    assert (
        main(["train", "--data", ingested_research, "--config", SEED, "--set", "model.colour=1"])
        == 2
    )
    assert "unknown key 'model.colour'" in capsys.readouterr().err
    assert (
        main(["train", "--data", ingested_research, "--config", SEED, "--set", "data.mirror=3"])
        == 2
    )
    assert "'data.mirror' must be true or false" in capsys.readouterr().err


def test_missing_or_mismatched_dataset_stops_before_any_model_is_built(
    ingested_research, tmp_path, capsys
):
    assert main(["train", "--data", str(tmp_path / "none"), "--config", SEED]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(["train", "--data", ingested_research, "--config", SEED, "--use", "commercial"]) == 2
    )
    assert "ingested for research use" in capsys.readouterr().err


def test_a_batch_larger_than_the_training_split_stops_before_mlflow_or_the_run_folder(
    ingested_research, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    args = ["train", "--data", ingested_research, "--config", SEED, "--out", str(tmp_path / "r")]
    assert main([*args, "--set", "data.batch_size_per_replica=1000"]) == 2
    assert "fewer than one global batch of 1000" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "mlflow.db").exists()


def test_a_run_logs_params_metrics_grids_and_a_model_with_a_signature(
    ingested_research, tracking, tmp_path
):
    run_dir = str(tmp_path / "run")
    done = _train(
        ["--data", ingested_research, "--config", SEED, "--out", run_dir, "--steps", "6", *QUICK]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking)
    run = client.get_run(_run_record(run_dir))
    assert run.data.params["model.architecture"] == "seed_dcgan"
    assert run.data.params["derived.global_batch"] == "4"
    assert run.data.tags["idphoto.use"] == "research"
    history = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
    assert history == [2, 4, 6]
    assert {"swd", "id_compliance", "reference_id_compliance"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"dataset", "config.json", "checkpoint"} <= artifacts
    saved = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")}
    assert "checkpoint/ckpt-6.index" in saved
    grids = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
    assert {"samples/step-0000003.png", "samples/step-0000006.png"} <= grids  # stable names
    dataset = {a.path for a in client.list_artifacts(run.info.run_id, "dataset")}
    assert {"dataset/lineage-chart.png", "dataset/lineage.parquet"} <= dataset
    assert os.path.exists(os.path.join(run_dir, "samples", "step-0000006.png"))
    model = mlflow.keras.load_model(f"runs:/{run.info.run_id}/generator")
    info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/generator")
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 100]
    import numpy as np

    images = np.asarray(model(np.zeros((2, 100), np.float32)))
    assert images.shape == (2, 28, 28, 1) and np.abs(images).max() <= 1.0
    # The logged model's own page shows its final quality against the dataset it trained on.
    logged = client.get_logged_model(info.model_uri.removeprefix("models:/"))
    on_model = {m.key: m for m in logged.metrics}
    assert {"swd", "id_compliance", "steps_per_second"} <= set(on_model)
    assert on_model["swd"].value == run.data.metrics["swd"] and on_model["swd"].step == 6
    assert on_model["swd"].dataset_digest == run.data.tags["idphoto.lineage.content_sha256"][:32]
    description = run.data.tags["mlflow.note.content"]
    assert description.startswith("seed-dcgan (seed_dcgan, 28 px) trained 6 steps on research")
    assert "accepted photos of" in description and "swd " in description


def _interruptible(data, run_dir, steps, checkpoint_every):
    """Flags of a quick run with checkpoints but no evaluation, to be stopped on its way."""
    return ["--data", data, "--config", SEED, "--out", run_dir, "--steps", str(steps), *QUICK,
            "--set", f"schedule.checkpoint_every={checkpoint_every}",
            "--set", "schedule.eval_every=1000", "--set", "schedule.sample_every=1000"]  # fmt: skip


def _names_latest(state_file, checkpoint):
    try:
        with open(state_file) as handle:
            return f'model_checkpoint_path: "{checkpoint}"' in handle.read()
    except FileNotFoundError:
        return False


def _start_training(args, output):
    return subprocess.Popen(
        [sys.executable, "-m", "idphoto", "train", *args], stdout=output, stderr=output, text=True
    )


def test_killed_run_resumes_from_its_checkpoint_in_the_same_mlflow_run(
    ingested_research, tracking, tmp_path
):
    run_dir = str(tmp_path / "run")
    args = _interruptible(ingested_research, run_dir, steps=60, checkpoint_every=10)
    process = _start_training(args, subprocess.DEVNULL)
    # Killed on progress, not on a clock: once the checkpoint manager names ckpt-20 its latest
    # (ckpt-20.index alone is written before the checkpoint is complete).
    state = os.path.join(run_dir, "checkpoints", "checkpoint")
    while process.poll() is None and not _names_latest(state, "ckpt-20"):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before its kill point"
    first_run_id = _run_record(run_dir)
    resumed = _train(args)  # the same command
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(resumed)" in resumed.stdout
    assert _run_record(run_dir) == first_run_id
    client = MlflowClient(tracking)
    experiment = client.get_run(first_run_id).info.experiment_id
    same_folder = client.search_runs(
        [experiment], filter_string=f"tags.`idphoto.run_dir` = '{os.path.abspath(run_dir)}'"
    )
    assert [r.info.run_id for r in same_folder] == [first_run_id]  # no second run
    # Every logged point, before the kill and after it, is in the one history; points the killed
    # process logged after its last checkpoint are logged again on resume.
    steps = [m.step for m in client.get_metric_history(first_run_id, "d_loss")]
    assert set(steps) == set(range(2, 61, 2))
    first_logged_after_resume = [
        line for line in resumed.stdout.splitlines() if line.startswith("step ")
    ][0]
    assert int(first_logged_after_resume.split()[1].split("/")[0]) > 20  # continued, not restarted


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_the_step_it_lands_on_and_a_rerun_continues_from_it(
    signum, ingested_research, tracking, tmp_path
):
    run_dir = str(tmp_path / "run")
    args = _interruptible(ingested_research, run_dir, steps=400, checkpoint_every=1000)
    process = _start_training(args, subprocess.PIPE)
    for line in process.stdout:  # the signal lands once training has visibly started
        if line.startswith("step 4/"):
            break
    process.send_signal(signum)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, err[-3000:]
    assert f"signal {int(signum)}: checkpointing and stopping after this step" in err
    saved = [n for n in os.listdir(os.path.join(run_dir, "checkpoints")) if n.endswith(".index")]
    (stopped_at,) = [int(n.removeprefix("ckpt-").removesuffix(".index")) for n in saved]
    assert 4 <= stopped_at < 400  # no periodic checkpoint before 1000: this one is the signal's
    assert f"stopped at step {stopped_at}; run the same command again to resume" in out
    resumed = _train([*args[: args.index("--steps")], "--steps", str(stopped_at + 4),
                      *args[args.index("--steps") + 2 :]])  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(resumed)" in resumed.stdout and f"done: step {stopped_at + 4}" in resumed.stdout
    ran = [int(line.split()[1].split("/")[0]) for line in resumed.stdout.splitlines()
           if line.startswith("step ")]  # fmt: skip
    assert ran and min(ran) > stopped_at  # continued from the signal's checkpoint


def test_fixed_seed_with_op_determinism_gives_identical_losses(ingested_research, tmp_path):
    losses = []
    for name in ("a", "b"):
        done = _train(
            ["--data", ingested_research, "--config", SEED, "--out", str(tmp_path / name),
             "--steps", "4", *QUICK, "--set", "runtime.deterministic=true",
             "--set", "schedule.eval_every=1000"],
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/{name}.db"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        losses.append(
            [
                line.split("steps/s")[0].rsplit("  ", 1)[0]
                for line in done.stdout.splitlines()
                if line.startswith("step ")
            ]
        )
    assert losses[0] and losses[0] == losses[1]


def test_two_logical_cpu_devices_train_as_two_replicas(ingested_research, tmp_path):
    done = _train(
        ["--data", ingested_research, "--config", SEED, "--out", str(tmp_path / "r2"),
         "--steps", "2", *QUICK, "--set", "runtime.cpu_devices=2",
         "--set", "schedule.eval_every=1000", "-v"],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/r2.db"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = json.loads(done.stdout[: done.stdout.index("\n}") + 2])
    assert resolved["derived"]["replicas"] == 2 and resolved["derived"]["global_batch"] == 8


def test_two_worker_processes_with_tf_config_complete_a_run(ingested_research, tmp_path):
    from tests.conftest import free_port

    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    run_dir = str(tmp_path / "multi")
    workers = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config),
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/multi.db"}  # fmt: skip
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "idphoto",
                    "train",
                    "--data",
                    ingested_research,
                    "--config",
                    SEED,
                    "--out",
                    run_dir,
                    "--steps",
                    "3",
                    *QUICK,
                    "--set",
                    "schedule.eval_every=1000",
                    "-v",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )  # fmt: skip
        )
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    chief_out = outputs[0][0]
    resolved = json.loads(chief_out[: chief_out.index("\n}") + 2])
    assert resolved["derived"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert resolved["derived"]["replicas"] == 2
    assert os.path.exists(os.path.join(run_dir, "checkpoints", "ckpt-3.index"))
    assert os.path.exists(os.path.join(run_dir, "generator.keras"))
    # Only the chief logs: one MLflow run, whose every metric point was logged once.
    client = MlflowClient(f"sqlite:///{tmp_path}/multi.db")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert len(runs) == 1 and runs[0].info.run_id == _run_record(run_dir)
    history = [m.step for m in client.get_metric_history(runs[0].info.run_id, "d_loss")]
    assert sorted(history) == [2, 3]  # log_every=2 and the last step, once each, not per worker


def test_stop_at_gates_ends_the_run_at_the_first_passing_evaluation(
    ingested_research, tracking, tmp_path
):
    lenient = tmp_path / "lenient.yaml"
    default = (config_dir() / "promote" / "default.yaml").read_text()
    lenient.write_text(
        default.replace("max_swd: 150.0", "max_swd: 1.0e+9").replace(
            "min_id_compliance: 0.7", "min_id_compliance: 0.0"
        )
    )
    run_dir = str(tmp_path / "run")
    args = ["--data", ingested_research, "--config", SEED, "--out", run_dir, "--steps", "9",
            *QUICK, "--stop-at-gates", str(lenient)]  # fmt: skip
    done = _train(args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "quality gates passed at step 3" in done.stdout
    assert "done: step 3 (quality gates passed)" in done.stdout
    run = MlflowClient(tracking).get_run(_run_record(run_dir))
    assert run.data.tags["idphoto.gates_passed_at"] == "3"
    assert os.path.exists(os.path.join(run_dir, "generator.keras"))
    assert os.path.exists(os.path.join(run_dir, "checkpoints", "ckpt-3.index"))
    again = _train(args)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    # The project's own gates cannot pass after a few steps: the run goes to --steps.
    strict = _train(
        ["--data", ingested_research, "--config", SEED, "--out", str(tmp_path / "strict"),
         "--steps", "6", *QUICK, "--stop-at-gates"]
    )  # fmt: skip
    assert strict.returncode == 0, strict.stderr[-3000:]
    assert "done: step 6, run" in strict.stdout


def test_the_whole_resolved_config_is_printed_only_when_asked_for(ingested_research, tmp_path):
    args = ["--data", ingested_research, "--config", SEED, "--out", str(tmp_path / "r"),
            "--steps", "1", *QUICK, "--set", "schedule.eval_every=1000"]  # fmt: skip
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/q.db"}
    quiet = _train(args, env=env)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    first = quiet.stdout.splitlines()[0]
    assert first.startswith("run seed-dcgan-bs4") and "-v shows the whole config" in first
    assert '"optimizer"' not in quiet.stdout
    verbose = _train([*args, "--out", str(tmp_path / "v"), "-v"], env=env)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert json.loads(verbose.stdout[: verbose.stdout.index("\n}") + 2])["optimizer"]


def test_tensorflow_start_up_lines_are_kept_off_the_terminal(ingested_research):
    done = _train(["--data", ingested_research, "--config", SEED, "--dry-run", *QUICK])
    assert done.returncode == 0, done.stderr[-3000:]
    for noise in ("absl::InitializeLog", "oneDNN", "cuda drivers", "cuInit", "cpu_feature_guard"):
        assert noise not in done.stderr
