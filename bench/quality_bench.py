"""Quality benchmark: every 64-px architecture (and the seed DCGAN) trained for the same
wall-clock budget on the same data, scored by the trainer's own metrics at fixed times.

The data is the demo's: the sample generator's portraits with their licence mix, duplicates and
public-domain photos, ingested for commercial use. Each training config runs in a subprocess of
its own (`python -m bench.quality_bench CONFIG DATA MARKS OUT`): Keras `fit` with a callback that
copies the EMA generator's weights when the training clock passes each mark (5, 10, 20 and 30
minutes at scale 1). The clock stops while a copy is taken and every evaluation runs after
training, so each architecture gets the same training time. The snapshots are then scored as
`idphoto train` scores them (`idphoto.training.evaluation.Evaluator`: swd against training
photos, id_compliance), beside the real-vs-real SWD floor, and plotted.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from bench.process_tree import quiet_env, run_sampled
from bench.results import REPORT, Measure, Record, Target, guarded
from bench.workspace import Workspace
from idphoto.training.config import DEFAULT_TRAIN_CONFIG

STAGE = "quality"
BASELINES = ("seed_dcgan", "dcgan64")
MARK_MINUTES = (5, 10, 20, 30)
PASSES = Measure(
    STAGE,
    f"minutes of training until {DEFAULT_TRAIN_CONFIG} passes the default quality gates",
    "min",
    Target("value", "<=", 30.0, "min"),
)
_REPO = Path(__file__).resolve().parent.parent
# Curves, their figures and sample grids per config and time; not committed (see docs/).
_OUT = _REPO / "bench" / "quality"
_LOG = logging.getLogger(__name__)


def run(workspace: Workspace, repeats: int) -> list[Record]:
    """Trains every config for the budget once (`repeats` is not used: one run takes an hour
    or more) and returns its records; writes `bench/quality/curves.png` and `curves.json`, and
    a sample grid per config and time."""
    del repeats
    return guarded((PASSES,), lambda: _measure(workspace))


def configs() -> list[str]:
    """The configs compared: the seed DCGAN and every RGB config at 64 px, by file name."""
    from idphoto.config import config_dir
    from idphoto.training.config import load_train_config

    names = []
    for path in sorted((config_dir() / "train").glob("*.yaml")):
        model = load_train_config(path).model
        if path.stem in BASELINES or (model.channels == 3 and model.resolution == 64):
            names.append(path.stem)
    return names


def marks(scale: float) -> list[float]:
    """The times of the snapshots in minutes; `--scale` stretches or shrinks the budget."""
    return [round(minutes * scale, 3) for minutes in MARK_MINUTES]


def _measure(workspace: Workspace) -> list[Record]:
    from idphoto.registry.config import load_promote_config

    _OUT.mkdir(parents=True, exist_ok=True)
    data = workspace.quality_dataset()
    times = marks(workspace.sizes.scale)
    curves = {name: _train_child(workspace, name, data, times) for name in configs()}
    gates = load_promote_config().quality
    records = []
    for name, curve in curves.items():
        for point in curve["points"]:
            for metric, unit in (("swd", "x1e3"), ("id_compliance", "share")):
                measure = Measure(
                    STAGE, f"{metric} of {name} after {point['minutes']:g} min", unit, REPORT
                )
                records.append(measure.summarise([point[metric]], note=f"step {point['step']}"))
    floor = next(iter(curves.values()))["floor"]
    records.append(
        Measure(STAGE, "swd floor: held-out vs training photos", "x1e3", REPORT).summarise(
            [floor["swd_floor"]],
            note=f"reference id_compliance of real photos {floor['id_compliance']:.3f}",
        )
    )
    passed_at = [
        p["minutes"]
        for p in curves[DEFAULT_TRAIN_CONFIG]["points"]
        if p["swd"] <= gates.max_swd and p["id_compliance"] >= gates.min_id_compliance
    ]
    note = f"gates: swd <= {gates.max_swd:g}, id_compliance >= {gates.min_id_compliance:g}"
    if passed_at:
        records.append(PASSES.summarise([passed_at[0] / workspace.sizes.scale], note=note))
    else:
        records.append(PASSES.unmeasured(f"not passed within {times[-1]:g} min; {note}", False))
    _plot(curves, gates, floor, _OUT / "curves.png")
    with open(_OUT / "curves.json", "w", encoding="utf-8") as handle:
        json.dump(curves, handle, indent=2)
    return records


def _train_child(workspace: Workspace, name: str, data: str, times: list[float]) -> dict:
    from idphoto.config import config_dir

    out = workspace.root / f"quality-{name}.json"
    config = str(config_dir() / "train" / f"{name}.yaml")
    command = [sys.executable, "-m", "bench.quality_bench", config, data, json.dumps(times)]
    started = time.monotonic()
    result = run_sampled([*command, str(out)], env=quiet_env(), cwd=str(_REPO))
    result.check(f"quality training of {name}")
    _LOG.info("%s: %.0f s", name, time.monotonic() - started)
    return json.loads(out.read_text())


def _plot(curves: dict, gates, floor: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (swd_axis, compliance_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, curve in curves.items():
        minutes = [p["minutes"] for p in curve["points"]]
        style = "-" if name not in BASELINES else "--"
        swd_axis.plot(minutes, [p["swd"] for p in curve["points"]], style, marker="o", label=name)
        compliance_axis.plot(
            minutes, [p["id_compliance"] for p in curve["points"]], style, marker="o", label=name
        )
    swd_axis.axhline(gates.max_swd, color="red", lw=1, label=f"gate: swd <= {gates.max_swd:g}")
    swd_axis.axhline(floor["swd_floor"], color="grey", lw=1, ls=":", label="real-vs-real floor")
    swd_axis.set(xlabel="minutes of training (2 CPU cores)", ylabel="swd (x1e3)", yscale="log")
    swd_axis.set_title("SWD against training photos (lower is better)")
    compliance_axis.axhline(
        gates.min_id_compliance, color="red", lw=1, label=f"gate: >= {gates.min_id_compliance:g}"
    )
    compliance_axis.axhline(
        floor["id_compliance"], color="grey", lw=1, ls=":", label="real held-out photos"
    )
    compliance_axis.set(xlabel="minutes of training (2 CPU cores)", ylabel="share", ylim=(0, 1.05))
    compliance_axis.set_title("ID compliance of generated photos (higher is better)")
    for axis in (swd_axis, compliance_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- The child process: one config, trained for the budget, then scored ---


def _child(config: str, data: str, times: list[float], out: str) -> None:
    import keras
    import numpy as np

    from idphoto.data.dataset import HELD_OUT_SPLIT, TRAIN_SPLIT, open_ingested
    from idphoto.training.callbacks import image_grid, to_uint8
    from idphoto.training.config import load_train_config
    from idphoto.training.data import real_images, training_batches
    from idphoto.training.evaluation import Evaluator
    from idphoto.training.host_memory import KeepLargeBuffers
    from idphoto.training.strategy import configure_devices, make_strategy
    from idphoto.training.trainer import build_gan

    cfg = load_train_config(config)
    configure_devices(cfg.runtime)
    keras.utils.set_random_seed(cfg.runtime.seed)
    dataset = open_ingested(data)
    strategy = make_strategy(cfg.runtime)
    global_batch = cfg.data.batch_size_per_replica * strategy.num_replicas_in_sync
    batches = training_batches(dataset, cfg.model, cfg.data, global_batch, cfg.runtime.seed)
    with strategy.scope():
        gan = build_gan(cfg, global_batch)
    clock = _snapshots_on_clock(gan, [minutes * 60 for minutes in times])
    gan.fit(
        batches,
        epochs=1,
        steps_per_epoch=10**8,  # the clock stops training
        verbose=0,
        callbacks=[clock, KeepLargeBuffers()],
    )
    samples = cfg.metrics.swd_samples
    evaluator = Evaluator(
        cfg,
        real_images(dataset, TRAIN_SPLIT, cfg.model, samples, cfg.runtime.seed),
        real_images(dataset, HELD_OUT_SPLIT, cfg.model, samples, cfg.runtime.seed),
        dataset.made_with.config,
    )
    latents = np.random.default_rng(cfg.runtime.seed).standard_normal((16, cfg.model.latent_dim))
    points = []
    for minutes, (step, weights) in zip(times, clock.snapshots, strict=True):
        gan.ema_generator.set_weights(weights)
        scores = evaluator(gan.generate)
        points.append({"minutes": minutes, "step": step, **scores})
        grid = image_grid(to_uint8(gan.generate(latents.astype("float32"))), columns=8)
        name = Path(config).stem
        keras.utils.save_img(str(_OUT / f"{name}-{minutes:g}min.png"), grid, scale=False)
    result = {"config": Path(config).stem, "floor": evaluator.reference(), "points": points}
    Path(out).write_text(json.dumps(result, indent=2))


def _snapshots_on_clock(gan, marks_seconds: list[float]):
    """A Keras callback that copies the EMA generator's weights (with the step) as training time
    passes each mark, not counting the copying, and stops training after the last mark."""
    import keras

    class SnapshotsOnClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = list(marks_seconds)
            self.snapshots: list[tuple[int, list]] = []
            self.started = self.paused = 0.0

        def on_train_begin(self, logs=None):
            self.started = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            trained = now - self.started - self.paused
            if self.marks and trained >= self.marks[0]:
                self.marks.pop(0)
                self.snapshots.append((batch + 1, gan.ema_generator.get_weights()))
                _LOG.info("snapshot at step %d after %.0f s of training", batch + 1, trained)
                self.paused += time.monotonic() - now
                gan.stop_training = not self.marks

    return SnapshotsOnClock()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    _child(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])
