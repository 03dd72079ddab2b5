"""Choice of the `tf.distribute` strategy: every local GPU, the CPU, or several machines."""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf

from idphoto.errors import UserError
from idphoto.training.config import RuntimeConfig


def configure_devices(runtime: RuntimeConfig) -> None:
    """Splits the CPU into logical devices when asked and no GPU is present.

    Must run before TensorFlow initialises its devices (before any op runs).
    """
    if runtime.cpu_devices < 1:
        raise UserError("runtime.cpu_devices must be at least 1")
    if runtime.cpu_devices == 1 or tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    # Already initialised (e.g. a second run in one process): keep what is there.
    with contextlib.suppress(RuntimeError):
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * runtime.cpu_devices
        )


def make_strategy(runtime: RuntimeConfig) -> tf.distribute.Strategy:
    """Returns MultiWorkerMirroredStrategy under `TF_CONFIG`, else MirroredStrategy.

    MirroredStrategy spans the chosen GPUs (all visible ones when `runtime.gpus` is empty),
    or the logical CPU devices when there is no GPU.
    """
    if _tf_config_has_cluster():
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus:
        if runtime.gpus:
            missing = [i for i in runtime.gpus if i >= len(gpus)]
            if missing:
                raise UserError(f"runtime.gpus names GPU {missing[0]}; {len(gpus)} are visible")
            gpus = [gpus[i] for i in runtime.gpus]
        return tf.distribute.MirroredStrategy(gpus)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus)


def is_chief() -> bool:
    """Whether this process is the chief (worker 0): the one that logs and exports."""
    if not _tf_config_has_cluster():
        return True
    task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
    return task.get("type") in ("chief", None) or (
        task.get("type") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    )


def describe(strategy: tf.distribute.Strategy) -> dict:
    """Returns the strategy's name, replica count and devices, for logs and `--dry-run`."""
    devices = getattr(strategy.extended, "worker_devices", ())
    return {
        "strategy": _public_name(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(devices),
    }


def _public_name(strategy: tf.distribute.Strategy) -> str:
    # TensorFlow's MultiWorkerMirroredStrategy is implemented by a class with another name.
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def _tf_config_has_cluster() -> bool:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return False
    try:
        return bool(json.loads(raw).get("cluster"))
    except json.JSONDecodeError:
        raise UserError("TF_CONFIG is not valid JSON") from None
