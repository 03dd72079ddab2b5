"""A training run: data → strategy → GAN → `fit` with callbacks → checkpoints and MLflow.

Re-running the same command continues a killed run: the run folder holds the resolved config,
the checkpoints (models, optimizers, EMA, step, RNG stream position) and the MLflow run id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random

import keras
import mlflow
import numpy as np
import tensorflow as tf

from idphoto import config as config_io
from idphoto.data.dataset import HELD_OUT_SPLIT, TRAIN_SPLIT, IngestedDataset
from idphoto.errors import UserError
from idphoto.registry.config import QualityConfig
from idphoto.training import callbacks as cb
from idphoto.training.config import TrainConfig
from idphoto.training.data import real_images, training_batches
from idphoto.training.evaluation import Evaluator
from idphoto.training.export import export_generator
from idphoto.training.host_memory import KeepLargeBuffers
from idphoto.training.strategy import describe, is_chief, make_strategy

CONFIG_FILE = "config.json"
# Keys that may change when a run is resumed: extending a run is the point of resuming it.
_RESUMABLE_CHANGES = ("schedule.steps",)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """How a run ended."""

    run_dir: str
    run_id: str | None
    step: int
    completed: bool  # False when stopped by a signal before the last step
    last_grid: str | None
    metrics: dict
    gates_passed_at: int | None = None  # the step training stopped at, its gates passed
    model_id: str | None = None  # the MLflow logged model of the exported generator


def run_name(cfg: TrainConfig, replicas: int) -> str:
    """Builds a run name from the settings that matter, e.g. `dcgan64-bs64-lr2e-4-hinge`."""
    lr = f"{cfg.optimizer.generator.learning_rate:.0e}".replace("e-0", "e-").replace("e+0", "e")
    batch = cfg.data.batch_size_per_replica * replicas
    return f"{cfg.name}-bs{batch}-lr{lr}-{cfg.loss.kind.replace('_', '')}"


def resolved_config(cfg: TrainConfig, strategy_info: dict, dataset: IngestedDataset) -> dict:
    """Returns the config as plain data plus what was derived from it, as saved and logged."""
    return {
        **config_io.to_dict(cfg),
        "derived": {
            "global_batch": cfg.data.batch_size_per_replica * strategy_info["replicas"],
            "data": dataset.path,
            "use": dataset.use,
            **strategy_info,
        },
    }


def check_resumable(run_dir: str, resolved: dict) -> bool:
    """Whether `run_dir` holds an earlier run of this config (True) or nothing (False).

    Raises:
        UserError: the folder holds a run of a different config.
    """
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    before, now = config_io.flatten(saved), config_io.flatten(resolved)
    changed = sorted(
        key
        for key in set(before) | set(now)
        if before.get(key) != now.get(key) and key not in _RESUMABLE_CHANGES
    )
    if changed:
        raise UserError(
            f"{run_dir} holds a run with a different config ({', '.join(changed[:3])}); "
            "use another --out or the same settings to resume it"
        )
    return True


def train(
    cfg: TrainConfig,
    dataset: IngestedDataset,
    strategy: tf.distribute.Strategy,
    run_dir: str,
    resolved: dict,
    stop_at: QualityConfig | None = None,
) -> TrainResult:
    """Trains (or resumes) the GAN and returns how the run ended.

    Args:
        cfg: the training config.
        dataset: the ingested dataset.
        strategy: the distribution strategy.
        run_dir: the run folder (checkpoints, samples, the exported generator).
        resolved: the resolved config, as saved in the run folder.
        stop_at: promotion quality thresholds; training stops after the first evaluation
            that passes them (None: train every step of the schedule).
    """
    chief = is_chief()
    os.makedirs(run_dir, exist_ok=True)
    _seed_everything(cfg)
    global_batch = resolved["derived"]["global_batch"]

    with strategy.scope():
        gan = build_gan(cfg, global_batch)
        step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    checkpoint = tf.train.Checkpoint(gan=gan, step=step_counter)
    # Only the chief's checkpoints are kept; other workers must still save (collective ops)
    # and write to a scratch folder of their own.
    folder = os.path.join(run_dir, "checkpoints" if chief else f".worker-scratch-{_task_index()}")
    manager = tf.train.CheckpointManager(
        checkpoint, folder, max_to_keep=cfg.schedule.keep_checkpoints
    )
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    first_step = int(step_counter.numpy())
    last_step = cfg.schedule.steps
    batches = training_batches(
        dataset, cfg.model, cfg.data, global_batch, cfg.runtime.seed, skip_batches=first_step
    )

    def save(step: int) -> None:
        step_counter.assign(step)
        manager.save(checkpoint_number=step)

    if chief:
        with open(os.path.join(run_dir, CONFIG_FILE), "w", encoding="utf-8") as handle:
            json.dump(resolved, handle, indent=2, sort_keys=True)
    run = mlflow.active_run() if chief else None
    log = run is not None
    latents = (
        np.random.default_rng(cfg.runtime.seed)
        .standard_normal((16, cfg.model.latent_dim))
        .astype(np.float32)
    )
    samples = cfg.metrics.swd_samples
    evaluator = Evaluator(
        cfg,
        real_images(dataset, TRAIN_SPLIT, cfg.model, samples, cfg.runtime.seed),
        real_images(dataset, HELD_OUT_SPLIT, cfg.model, samples, cfg.runtime.seed),
        dataset.made_with.config,
    )
    grids = cb.SampleGrids(
        first_step,
        last_step,
        cfg.schedule.sample_every,
        lambda z: gan.generate(z).numpy(),
        latents,
        os.path.join(run_dir, "samples"),
        log,
    )
    evaluation = cb.Evaluation(
        first_step, last_step, cfg.schedule.eval_every, lambda: evaluator(gan.generate), log
    )
    stopper = cb.StopOnSignal(first_step, save)
    callbacks = [
        cb.ProgressAndMetrics(first_step, last_step, cfg.schedule.log_every, log),
        cb.Checkpoints(first_step, last_step, cfg.schedule.checkpoint_every, save),
        grids,
        evaluation,
        stopper,
        KeepLargeBuffers(),
    ]
    at_gates = None
    if stop_at is not None:
        at_gates = cb.StopAtGates(first_step, evaluation, lambda m: _passes(m, stop_at))
        callbacks.insert(callbacks.index(evaluation) + 1, at_gates)
    if log and first_step == 0:
        floors = evaluator.reference()
        mlflow.log_metrics(
            {"swd_floor" if k == "swd_floor" else f"reference_{k}": v for k, v in floors.items()},
            step=0,
        )
    if first_step < last_step:
        gan.fit(
            batches,
            epochs=1,
            steps_per_epoch=last_step - first_step,
            verbose=0,
            shuffle=False,  # the dataset shuffles itself
            callbacks=callbacks,
        )
    completed = stopper.stopped_at is None
    gates_passed_at = at_gates.stopped_at if at_gates is not None else None
    step = stopper.stopped_at or gates_passed_at or last_step
    if completed and first_step < step and int(step_counter.numpy()) != step:
        save(step)
    if gates_passed_at is not None and grids.last_path != grids.path_of(step):
        grids.on_step(step, {})  # the grid of the model the run ends with
    model_id = None
    if completed and chief:
        model_id = export_generator(gan.ema_generator, run_dir, log)
    return TrainResult(
        run_dir=run_dir,
        run_id=run.info.run_id if run else None,
        step=step,
        completed=completed,
        last_grid=grids.last_path,
        metrics=evaluation.latest,
        gates_passed_at=gates_passed_at,
        model_id=model_id,
    )


def _passes(metrics: dict, thresholds: QualityConfig) -> str:
    """The quality gate's figure when `metrics` pass the thresholds, else ''."""
    from idphoto.registry.gates import quality_gate

    result = quality_gate(metrics, thresholds, holder_swd=None)
    return result.figure if result.ok else ""


def build_gan(cfg: TrainConfig, global_batch: int):
    """The GAN of `cfg`, built and compiled; call it in the strategy's scope.

    Args:
        cfg: the training config.
        global_batch: the batch over all replicas that losses are averaged over.
    """
    from idphoto.models.architectures import build_auxiliary, build_discriminator, build_generator
    from idphoto.models.gan import GAN

    gan = GAN(
        build_generator(cfg.model),
        build_discriminator(cfg.model),
        latent_dim=cfg.model.latent_dim,
        loss=cfg.loss,
        augment=cfg.augment,
        ema=cfg.ema,
        global_batch_size=global_batch,
        seed=cfg.runtime.seed,
        auxiliary=build_auxiliary(cfg.model),
    )
    gan.compile(d_optimizer=_adam(cfg, "discriminator"), g_optimizer=_adam(cfg, "generator"))
    return gan


def _adam(cfg: TrainConfig, network: str) -> keras.optimizers.Optimizer:
    settings = getattr(cfg.optimizer, network)
    optimizer = keras.optimizers.Adam(
        learning_rate=settings.learning_rate, beta_1=settings.beta_1, beta_2=settings.beta_2
    )
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _seed_everything(cfg: TrainConfig) -> None:
    keras.utils.set_random_seed(cfg.runtime.seed)  # Python, NumPy and TensorFlow at once
    random.seed(cfg.runtime.seed)
    if cfg.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()


def _task_index() -> int:
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


__all__ = [
    "TrainResult",
    "build_gan",
    "check_resumable",
    "describe",
    "make_strategy",
    "run_name",
    "train",
]
