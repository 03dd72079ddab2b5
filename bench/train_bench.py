"""Training benchmarks: `idphoto train` against a bare compiled GAN step, the share of step time
spent waiting for input, and two logical CPU devices against one.

`idphoto train` runs in a subprocess (its own TensorFlow, devices and MLflow store) and its
steps/s are read from its progress lines; the first line is skipped, since it includes tracing.
The baseline is built in this process from the same config with the same builders, and times
`GAN.train_step` wrapped in `tf.function` (compiled as Keras compiles it) on one batch of the
same photos held in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.clock import CpuClock
from bench.process_tree import quiet_env, run_sampled
from bench.results import REPORT, Measure, Record, Target, guarded, ratio_at_least
from bench.workspace import Workspace
from idphoto.data.dataset import TRAIN_SPLIT

STAGE = "train"
STEPS = Measure(STAGE, "steps/s of idphoto train (dcgan64, CPU)", "steps/s", ratio_at_least(0.9))
INPUT_WAIT = Measure(
    STAGE, "share of step time waiting for input", "%", Target("value", "<=", 5.0, "%")
)
DEVICES = Measure(STAGE, "steps/s, 2 logical devices vs 1, same global batch", "steps/s", REPORT)

_GLOBAL_BATCH = 32
_PROGRESS = re.compile(r"^step (\d+)/(\d+) .*?([0-9.]+) steps/s\s*$", re.MULTILINE)
_RUN_TIMEOUT_S = 1800
_WARM_UP_STEPS = 3
_REPO = Path(__file__).resolve().parent.parent
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Runs every training measure `repeats` times and returns their records."""
    return guarded((STEPS, DEVICES, INPUT_WAIT), lambda: _measure(workspace, repeats))


def config_path() -> Path:
    """The 64x64 training config, wherever the bench is run from."""
    from idphoto.config import config_dir

    return config_dir() / "train" / "dcgan64.yaml"


def train_cli(workspace: Workspace, run_dir: Path, devices: int) -> list[float]:
    """Runs `idphoto train` on the workspace's dataset and returns its timed steps/s lines.

    Evaluation, sample grids and checkpoints are pushed past the last step; the last step
    still evaluates (on few samples), after its progress line has been printed.
    """
    sizes = workspace.sizes
    shutil.rmtree(run_dir, ignore_errors=True)  # a leftover folder would resume, not start
    never = 100 * sizes.train_steps
    overrides = {
        "schedule.log_every": sizes.train_log_every,
        "schedule.eval_every": never,
        "schedule.sample_every": never,
        "schedule.checkpoint_every": never,
        "metrics.swd_samples": 16,
        "metrics.compliance_samples": 4,
        "runtime.cpu_devices": devices,
        "data.batch_size_per_replica": _GLOBAL_BATCH // devices,
    }
    command = [
        sys.executable, "-m", "idphoto", "train", "--data", workspace.ingested(),
        "--config", str(config_path()), "--out", str(run_dir),
        "--steps", str(sizes.train_steps),
    ]  # fmt: skip
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    env = quiet_env(MLFLOW_TRACKING_URI=workspace.tracking_uri())
    result = run_sampled(command, env=env, cwd=str(workspace.root), timeout=_RUN_TIMEOUT_S)
    result.check(f"idphoto train ({devices} device(s))")
    rates = [float(rate) for _, _, rate in _PROGRESS.findall(result.stdout)]
    if len(rates) < 2:
        raise RuntimeError(f"idphoto train printed {len(rates)} progress lines; 2 or more needed")
    _LOG.info("idphoto train, %d device(s): %.0f s, rates %s", devices, result.seconds, rates)
    return rates[1:]


def build_gan(strategy=None):
    """The dcgan64 GAN, built and compiled as `idphoto.training.trainer.train` does, with the
    config as `idphoto train` reads it; in `strategy`'s scope when one is given.

    Returns:
        The config and the compiled GAN.
    """
    import keras

    from idphoto.training.config import load_train_config
    from idphoto.training.trainer import build_gan as build_trainer_gan

    cfg = load_train_config(config_path(), {"data.batch_size_per_replica": _GLOBAL_BATCH})
    keras.utils.set_random_seed(cfg.runtime.seed)
    with strategy.scope() if strategy else contextlib.nullcontext():
        gan = build_trainer_gan(cfg, _GLOBAL_BATCH)
    return cfg, gan


class BareStep:
    """`GAN.train_step` compiled with `tf.function` as Keras compiles it (XLA only when the
    model's `jit_compile` resolves to True), on the default strategy, fed two ways: one batch
    of the dataset's photos held in memory, or the training input pipeline."""

    def __init__(self, workspace: Workspace):
        import tensorflow as tf

        cfg, gan = build_gan()
        self.compiled = f"jit_compile={bool(gan.jit_compile)}"
        self.cpu: dict[str, float] = {}
        self._step = tf.function(gan.train_step, jit_compile=bool(gan.jit_compile))
        self._batches = iter(_batches(workspace, cfg))
        self._batch = tf.constant(next(self._batches))
        # Tracing and first allocations, then one pass over the photos: the pipeline caches
        # decoded photos, and a full run (thousands of steps) reads from that cache.
        for _ in range(_WARM_UP_STEPS):
            _wait(self._step(self._batch))
        for _ in range(-(-workspace.ingested_splits()[TRAIN_SPLIT] // _GLOBAL_BATCH) + 1):
            _wait(self._step(next(self._batches)))

    def in_memory_rate(self, steps: int) -> float:
        """Steps/s on the in-memory batch (its CPU use is kept in `cpu`)."""
        with CpuClock() as clock:
            for _ in range(steps):
                outputs = self._step(self._batch)
            _wait(outputs)
        self.cpu = clock.shares()
        return steps / clock.wall

    def input_wait(self, steps: int) -> tuple[float, float]:
        """Times `next(iterator)` of the training pipeline against whole steps.

        Returns:
            The share (percent) of the loop's time spent in `next`, and the loop's steps/s.
        """
        waiting = total = 0.0
        for _ in range(steps):
            started = time.perf_counter()
            batch = next(self._batches)
            fetched = time.perf_counter()
            _wait(self._step(batch))
            done = time.perf_counter()
            waiting += fetched - started
            total += done - started
        return 100.0 * waiting / total, steps / total


def diagnose_step_overhead(workspace: Workspace, steps: int) -> str:
    """Looks for where `idphoto train` loses time against the bare step, in a fresh process
    (see `_diagnose`): Keras `fit` on a one-device MirroredStrategy and the real pipeline first,
    as `idphoto train` runs it, then the bare step in that same process."""
    command = [
        sys.executable, "-m", "bench.train_bench", "--data", workspace.ingested(),
        "--steps", str(steps),
    ]  # fmt: skip
    result = run_sampled(command, env=quiet_env(), cwd=str(_REPO), timeout=_RUN_TIMEOUT_S)
    found = json.loads(result.check("bench.train_bench diagnosis").stdout.strip().splitlines()[-1])
    return (
        "Diagnosis, measured once in a fresh process: Keras fit (MirroredStrategy(['/cpu:0']), "
        f"training_batches, no callbacks) ran at {found['fit']:.3g} steps/s; after it, the bare "
        f"step ran at {found['bare']:.3g} steps/s using {_cpu_split(found['bare_cpu'])}"
    )


def _diagnose(data: str, steps: int) -> dict:
    """The figures `diagnose_step_overhead` reports; run as the first work of a fresh process."""
    import tensorflow as tf

    from idphoto.data.dataset import open_ingested
    from idphoto.training.data import training_batches

    dataset = open_ingested(data)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    cfg, gan = build_gan(strategy)
    batches = training_batches(dataset, cfg.model, cfg.data, _GLOBAL_BATCH, cfg.runtime.seed)
    clock = _fit_clock(_WARM_UP_STEPS)
    gan.fit(
        batches,
        epochs=1,
        steps_per_epoch=steps + _WARM_UP_STEPS,
        verbose=0,
        shuffle=False,
        callbacks=[clock],
    )
    cfg, bare = build_gan()
    step = tf.function(bare.train_step, jit_compile=bool(bare.jit_compile))
    batch = tf.constant(next(iter(batches)))
    for _ in range(_WARM_UP_STEPS):
        _wait(step(batch))
    with CpuClock() as cpu:
        for _ in range(steps):
            outputs = step(batch)
        _wait(outputs)
    return {"fit": clock.rate, "bare": steps / cpu.wall, "bare_cpu": cpu.shares()}


def _cpu_split(shares: dict[str, float]) -> str:
    return (
        f"{shares['user']:.0f} % user + {shares['system']:.0f} % system CPU, "
        f"{shares['faults_per_s'] / 1000:.0f}k page faults/s"
    )


def _measure(workspace: Workspace, repeats: int) -> list[Record]:
    timed = workspace.sizes.train_log_every * workspace.sizes.train_intervals
    one, two, bare, shares, loop_rates = [], [], [], [], []
    folder = workspace.root / "train"
    step = None
    for repeat in range(repeats):
        one.append(_harmonic_mean(train_cli(workspace, folder / f"one-{repeat}", 1)))
        two.append(_harmonic_mean(train_cli(workspace, folder / f"two-{repeat}", 2)))
        step = step or BareStep(workspace)
        bare.append(step.in_memory_rate(timed))
        share, loop_rate = step.input_wait(timed)
        shares.append(share)
        loop_rates.append(loop_rate)
        _LOG.info(
            "train repeat %d: cli %.3g / %.3g steps/s (1 / 2 devices), bare %.3g, loop %.3g, "
            "input wait %.2f %%",
            repeat + 1, one[-1], two[-1], bare[-1], loop_rate, share,
        )  # fmt: skip
    photos = workspace.ingested_splits()[TRAIN_SPLIT]
    steps_note = (
        f"global batch {_GLOBAL_BATCH}, {photos} training photos; value: the progress lines "
        f"of `idphoto train` after the first ({timed} steps, every "
        f"{workspace.sizes.train_log_every}); baseline: tf.function(GAN.train_step) "
        f"({step.compiled}, as Keras compiles it) on one in-memory batch, {timed} steps, in "
        f"the bench process on the default strategy, using {_cpu_split(step.cpu)} (last repeat)"
    )
    record = STEPS.summarise(one, bare, steps_note)
    if record.passed is False:
        diagnosis = diagnose_step_overhead(workspace, timed)
        record = STEPS.summarise(one, bare, f"{steps_note}. {diagnosis}")
    return [
        record,
        DEVICES.summarise(
            two,
            one,
            f"runtime.cpu_devices=2 with batch_size_per_replica {_GLOBAL_BATCH // 2} vs "
            f"cpu_devices=1 with {_GLOBAL_BATCH}; both `idphoto train`; the two logical devices "
            f"share {os.cpu_count()} cores",
        ),
        INPUT_WAIT.summarise(
            shares,
            note=f"manual loop over idphoto.training.data.training_batches with the compiled "
            f"train_step, {timed} steps after one pass over the photos: time in next(iterator) "
            f"over the loop's time. The loop ran at {statistics.median(loop_rates):.3g} steps/s "
            f"with real data vs {statistics.median(bare):.3g} on the in-memory batch: that gap "
            "also counts time the pipeline takes from the step by sharing the cores",
        ),
    ]


def _batches(workspace: Workspace, cfg):
    from idphoto.data.dataset import open_ingested
    from idphoto.training.data import training_batches

    dataset = open_ingested(workspace.ingested())
    return training_batches(dataset, cfg.model, cfg.data, _GLOBAL_BATCH, cfg.runtime.seed)


def _fit_clock(warm_up: int):
    """A Keras callback whose `rate` is the steps/s of the steps after the first `warm_up`."""
    import keras

    class FitClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.started: float | None = None
            self.rate = float("nan")

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == warm_up:
                self.started = time.perf_counter()
            elif self.started is not None:
                self.rate = (batch + 1 - warm_up) / (time.perf_counter() - self.started)

    return FitClock()


def _wait(outputs) -> None:
    """Blocks until a step's outputs exist, so the clock stops after the work."""
    next(iter(outputs.values())).numpy()


def main(argv: list[str] | None = None) -> None:
    """Runs `_diagnose` and prints its rates as JSON (used by `diagnose_step_overhead`)."""
    parser = argparse.ArgumentParser(description="diagnosis of the training step overhead")
    parser.add_argument("--data", required=True, help="ingest output folder")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    args = parser.parse_args(argv)
    print(json.dumps(_diagnose(args.data, args.steps)))


def _harmonic_mean(rates: list[float]) -> float:
    # Every progress line covers the same number of steps, so the run's rate over all of them
    # is the harmonic mean of the per-line rates.
    return len(rates) / sum(1.0 / r for r in rates)


if __name__ == "__main__":
    main()
