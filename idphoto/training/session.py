"""The `idphoto train` session: devices, strategy, run folder, MLflow run, then training."""

from __future__ import annotations

import json
import os

import keras
import mlflow
import tensorflow as tf

from idphoto.data.dataset import RECORD_FILES, IngestedDataset, open_ingested
from idphoto.registry.config import QualityConfig
from idphoto.tracking import tags
from idphoto.training.config import TrainConfig
from idphoto.training.data import check_batch_fits
from idphoto.training.strategy import configure_devices, describe, is_chief, make_strategy
from idphoto.training.trainer import check_resumable, resolved_config, run_name, train

_GATES_PASSED_FILE = "gates_passed.json"  # a run stopped because its quality gates passed


def run_training(
    cfg: TrainConfig,
    data: str,
    out: str | None,
    use: str | None,
    dry_run: bool,
    config_path: str,
    stop_at: QualityConfig | None = None,
    verbose: bool = False,
) -> int:
    """Runs `idphoto train`; returns the exit code (0 done, 1 stopped by a signal).

    With `stop_at` (the promotion's quality thresholds), training ends after the first
    evaluation that passes them; the same command run again then has nothing left to do.
    """
    configure_devices(cfg.runtime)  # before anything makes TensorFlow pick its devices
    dataset = open_ingested(data, use)
    _set_precision(cfg)
    strategy = make_strategy(cfg.runtime)
    info = describe(strategy)
    resolved = resolved_config(cfg, info, dataset)
    name = run_name(cfg, info["replicas"])
    run_dir = out or os.path.join("runs", name)
    derived = resolved["derived"]
    if dry_run or verbose:
        shown = {"run_name": name, "run_dir": run_dir, **resolved}
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        print(
            f"run {name} in {run_dir}: {cfg.model.architecture} {cfg.model.resolution}px, "
            f"{derived['strategy']} over {derived['replicas']} replica(s), global batch "
            f"{derived['global_batch']}, {cfg.schedule.steps} steps (-v shows the whole config)"
        )
    check_batch_fits(dataset, derived["global_batch"])
    if dry_run:
        return 0
    from idphoto.tracking.runs import check_tracking_server, log_params, start_or_resume_run

    uri = check_tracking_server() if is_chief() else ""  # before anything is written
    resuming = check_resumable(run_dir, resolved)
    passed = _gates_passed(run_dir)
    if passed is not None and stop_at is not None:
        print(f"{run_dir} already passed the quality gates at step {passed}; nothing to do")
        return 0
    os.makedirs(run_dir, exist_ok=True)
    if not is_chief():
        result = train(cfg, dataset, strategy, run_dir, resolved, stop_at)
        return 0 if result.completed else 1

    run_tags = {
        tags.CONFIG_FILE: config_path,
        tags.DATA: os.path.abspath(data),
        tags.RUN_DIR: os.path.abspath(run_dir),
        tags.USE: dataset.use,
        tags.STRATEGY: info["strategy"],
        tags.REPLICAS: str(info["replicas"]),
    }
    with start_or_resume_run(run_dir, cfg.tracking.experiment, name, run_tags) as run:
        log_params(resolved)
        lineage = _lineage(dataset)
        if not resuming:
            _log_lineage(dataset, lineage)
        print(f"MLflow run {run.info.run_id} on {uri} ({'resumed' if resuming else 'new'})")
        result = train(cfg, dataset, strategy, run_dir, resolved, stop_at)
        mlflow.log_artifact(os.path.join(run_dir, "config.json"))
        _record_gates_passed(run_dir, result.gates_passed_at)
        if result.completed:
            _log_final_checkpoint(run_dir)
            _describe_result(cfg, result, lineage)
        else:
            mlflow.end_run(status="KILLED")  # resumable: the same command reopens this run
    if not result.completed:
        print(f"stopped at step {result.step}; run the same command again to resume")
        return 1
    ended = " (quality gates passed)" if result.gates_passed_at else ""
    print(f"done: step {result.step}{ended}, run {result.run_id}")
    if result.last_grid:
        print(f"latest sample grid: {result.last_grid}")
    return 0


def _gates_passed(run_dir: str) -> int | None:
    """The step a run in `run_dir` stopped at because its quality gates passed, if it did."""
    try:
        with open(os.path.join(run_dir, _GATES_PASSED_FILE), encoding="utf-8") as handle:
            return int(json.load(handle)["step"])
    except FileNotFoundError:
        return None


def _record_gates_passed(run_dir: str, step: int | None) -> None:
    """Marks (or, when training went on past an earlier stop, unmarks) the run as ended by its
    quality gates; the step is also an MLflow tag."""
    path = os.path.join(run_dir, _GATES_PASSED_FILE)
    if step is None:
        if os.path.exists(path):
            os.remove(path)
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"step": step}, handle)
    mlflow.set_tag(tags.GATES_PASSED_AT, str(step))


def _lineage(dataset: IngestedDataset):
    """The dataset's licence summary (judged with the policy it was made with) and its MLflow
    dataset."""
    from idphoto.tracking.lineage import mlflow_dataset, summarise

    rows = dataset.lineage_rows()
    made_with = dataset.made_with
    content = dataset.content_digests()["all"]
    summary = summarise(rows, made_with.policy, made_with.use, content)
    return summary, mlflow_dataset(dataset.path, rows, summary)


def _log_lineage(dataset: IngestedDataset, lineage) -> None:
    """Logs the dataset as the run's training input, the licence summary as tags, and its
    record files as artifacts under `dataset/`."""
    from idphoto.tracking.charts import lineage_chart
    from idphoto.tracking.lineage import log_dataset

    summary, mlflow_dataset = lineage
    log_dataset(mlflow_dataset, summary)
    chart = lineage_chart(dataset.lineage_rows(), mlflow_dataset.name)
    mlflow.log_image(chart, artifact_file=f"{tags.DATASET_ARTIFACTS}/lineage-chart.png")
    for name in RECORD_FILES:
        path = dataset.record_file(name)
        if os.path.exists(path):  # a local copy; MLflow uploads files from this machine
            mlflow.log_artifact(path, artifact_path=tags.DATASET_ARTIFACTS)


# Shown on the logged model's page with the dataset they were measured against.
_MODEL_METRICS = ("swd", "swd_heldout", "id_compliance")


def _describe_result(cfg: TrainConfig, result, lineage) -> None:
    """Logs the final quality on the MLflow logged model (with its dataset) and sums up data and
    result in the run's description."""
    summary, mlflow_dataset = lineage
    run = mlflow.active_run()
    metrics = mlflow.tracking.MlflowClient().get_run(run.info.run_id).data.metrics
    final = {k: v for k, v in result.metrics.items() if k in _MODEL_METRICS}
    if "steps_per_second" in metrics:
        final["steps_per_second"] = metrics["steps_per_second"]
    if result.model_id and final:
        mlflow.log_metrics(
            final, step=result.step, model_id=result.model_id, dataset=mlflow_dataset
        )
    classes = ", ".join(f"{n} {name}" for name, n in summary.by_class.items())
    quality = ", ".join(f"{k} {v:.4g}" for k, v in final.items() if k != "steps_per_second")
    floor = metrics.get("swd_floor")
    mlflow.set_tag(
        "mlflow.note.content",
        f"{cfg.name} ({cfg.model.architecture}, {cfg.model.resolution} px) trained "
        f"{result.step} steps on {mlflow_dataset.name}: {summary.accepted} accepted photos of "
        f"{summary.rows} manifest rows ({classes}), ingested for {summary.ingest_use} use, "
        f"allowed for {', '.join(summary.allowed_uses) or 'no'} use. "
        f"Result: {quality or 'not evaluated'}"
        + (f" (real-vs-real swd floor {floor:.4g})." if floor is not None else "."),
    )


def _log_final_checkpoint(run_dir: str) -> None:
    """Logs the last checkpoint (models, optimizers, EMA, step) so the run can be continued
    from MLflow alone."""
    folder = os.path.join(run_dir, "checkpoints")
    prefix = tf.train.latest_checkpoint(folder)
    if prefix:
        for path in [os.path.join(folder, "checkpoint"), *tf.io.gfile.glob(prefix + ".*")]:
            mlflow.log_artifact(path, artifact_path="checkpoint")


def _set_precision(cfg: TrainConfig) -> None:
    policy = cfg.runtime.precision
    if policy == "auto":
        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    keras.mixed_precision.set_global_policy(policy)
