"""Side work of a training run, as Keras callbacks: progress, MLflow metrics, sample grids,
checkpoints, evaluation and stopping on a signal. `train_step` itself stays free of effects.

Callbacks know the global step as `first_step + batch + 1`, where `first_step` is where this
process resumed: Keras counts batches from 0 in every `fit` call.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable

import keras
import mlflow
import numpy as np
import tensorflow as tf
from PIL import Image


class _StepCallback(keras.callbacks.Callback):
    """Runs `on_step(step, logs)` every `every` global steps and at the last one."""

    def __init__(self, first_step: int, last_step: int, every: int):
        super().__init__()
        self.first_step = first_step
        self.last_step = last_step
        self.every = max(1, every)

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        if step % self.every == 0 or step == self.last_step:
            self.on_step(step, logs or {})

    def on_step(self, step: int, logs: dict) -> None:
        raise NotImplementedError


class ProgressAndMetrics(_StepCallback):
    """Prints one progress line per `every` steps and logs the losses to MLflow (chief only)."""

    def __init__(self, first_step: int, last_step: int, every: int, log_to_mlflow: bool):
        super().__init__(first_step, last_step, every)
        self.log_to_mlflow = log_to_mlflow
        self._clock = (time.monotonic(), first_step)

    def on_step(self, step, logs):
        now, then_step = time.monotonic(), self._clock[1]
        rate = (step - then_step) / max(now - self._clock[0], 1e-9)
        self._clock = (now, step)
        values = {k: float(v) for k, v in logs.items() if _is_number(v)}
        shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(values.items()))
        print(f"step {step}/{self.last_step}  {shown}  {rate:.2f} steps/s", flush=True)
        if self.log_to_mlflow:
            mlflow.log_metrics({**values, "steps_per_second": rate}, step=step, synchronous=False)


class SampleGrids(_StepCallback):
    """Saves a grid of images from fixed latents, so runs and steps compare like for like."""

    def __init__(
        self,
        first_step: int,
        last_step: int,
        every: int,
        generate: Callable[[np.ndarray], np.ndarray],
        latents: np.ndarray,
        folder: str,
        log_to_mlflow: bool,
    ):
        super().__init__(first_step, last_step, every)
        self.generate = generate
        self.latents = latents
        self.folder = folder
        self.log_to_mlflow = log_to_mlflow
        self.last_path: str | None = None

    def path_of(self, step: int) -> str:
        """Where the grid of `step` is written."""
        return os.path.join(self.folder, f"step-{step:07d}.png")

    def on_step(self, step, logs):
        grid = image_grid(to_uint8(self.generate(self.latents)))
        os.makedirs(self.folder, exist_ok=True)
        self.last_path = self.path_of(step)
        Image.fromarray(grid).save(self.last_path)
        if self.log_to_mlflow:
            # Both: MLflow's image log (a step slider in the UI) and a stable artifact name.
            mlflow.log_image(grid, key="samples", step=step)
            mlflow.log_artifact(self.last_path, artifact_path="samples")


class Checkpoints(_StepCallback):
    """Saves a checkpoint every `every` steps, numbered by the global step."""

    def __init__(self, first_step, last_step, every, save: Callable[[int], None]):
        super().__init__(first_step, last_step, every)
        self.save = save

    def on_step(self, step, logs):
        self.save(step)


class Evaluation(_StepCallback):
    """Computes the quality metrics every `every` steps and logs them to MLflow."""

    def __init__(self, first_step, last_step, every, evaluate: Callable[[], dict], log: bool):
        super().__init__(first_step, last_step, every)
        self.evaluate = evaluate
        self.log_to_mlflow = log
        self.latest: dict = {}
        self.evaluated_at: int | None = None

    def on_step(self, step, logs):
        self.latest = self.evaluate()
        self.evaluated_at = step
        shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(self.latest.items()))
        print(f"eval step {step}  {shown}", flush=True)
        if self.log_to_mlflow:
            mlflow.log_metrics(self.latest, step=step, synchronous=False)


class StopAtGates(keras.callbacks.Callback):
    """Stops training after the first evaluation whose metrics pass the promotion's quality
    thresholds, so a run ends as soon as its model could be promoted.

    Every worker evaluates the same weights with the same deterministic metrics, so every
    worker of a multi-worker run stops at the same step.
    """

    def __init__(self, first_step: int, evaluation: Evaluation, passes: Callable[[dict], str]):
        super().__init__()
        self.first_step = first_step
        self.evaluation = evaluation
        self.passes = passes
        self.stopped_at: int | None = None

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        if self.evaluation.evaluated_at != step or self.stopped_at is not None:
            return
        figure = self.passes(self.evaluation.latest)
        if figure:
            self.stopped_at = step
            self.model.stop_training = True
            print(f"quality gates passed at step {step} ({figure}): stopping", flush=True)


class StopOnSignal(keras.callbacks.Callback):
    """Turns SIGTERM/SIGINT into a checkpoint at the next step boundary and a clean stop.

    Schedulers (Kubernetes, Slurm) send SIGTERM before killing a job; saving then loses at
    most one step of work.
    """

    def __init__(self, first_step: int, save: Callable[[int], None]):
        super().__init__()
        self.first_step = first_step
        self.save = save
        self.received: int | None = None
        self.stopped_at: int | None = None
        self._previous = {}

    def on_train_begin(self, logs=None):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def on_train_end(self, logs=None):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.received is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.received = signum
        print(f"signal {signum}: checkpointing and stopping after this step", file=sys.stderr)

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None and self.stopped_at is None:
            self.stopped_at = self.first_step + batch + 1
            self.save(self.stopped_at)
            self.model.stop_training = True


def to_uint8(images: np.ndarray | tf.Tensor) -> np.ndarray:
    """Maps generator output in [-1, 1] to uint8 [0, 255]."""
    array = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((array + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tiles (N, H, W, C) uint8 images into one RGB image, with a 2-pixel gap."""
    count, height, width, channels = images.shape
    if channels == 1:
        images = np.repeat(images, 3, axis=3)
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    gap = 2
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = image
    return grid


def _is_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
