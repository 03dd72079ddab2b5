"""Two replicas (MirroredStrategy over two logical CPUs) must train exactly like one device.

TensorFlow's logical devices must be configured before it initialises, so the training runs in a
subprocess: this file run as a script. It trains the tiny dcgan GAN with `model.fit` for three
steps at the same global batch under one and two replicas and saves the per-step losses and the
final weights; the tests compare them. Equal results prove the global-batch loss scaling,
synchronized batch norm, replica-independent randomness and the EMA update under distribution.
The fastgan case adds the discriminator's auxiliary reconstruction loss and ADA's adaptive
augmentation probability, which must also move alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

GLOBAL_BATCH = 8
STEPS = 3
METRICS = ("d_loss", "g_loss", "r1_penalty", "d_real_score", "d_fake_score")
CASES = {
    "non_saturating": {"kind": "non_saturating", "r1_gamma": 0.0, "policy": []},
    "hinge_r1_diffaugment": {
        "kind": "hinge",
        "r1_gamma": 1.0,
        "policy": ["color", "translation", "cutout"],
    },
    # p starts at 0.5 and is updated every step, so the gates and p's updates are compared.
    "fastgan_r1_ada": {
        "architecture": "fastgan",
        "kind": "hinge",
        "r1_gamma": 1.0,
        "policy": ["color", "translation", "cutout"],
        "adaptive": True,
    },
}
CASE_METRICS = {"fastgan_r1_ada": METRICS + ("reconstruction_loss", "augment_p")}
# (case, replicas, synchronized batch norm) of every run, by subprocess. The unsynchronized run
# gets its own process: MirroredStrategy instances in one process reuse collective-op keys, and
# TensorFlow rejects a key reused for a tensor of another shape (fewer all-reduces shift them).
PROCESSES = [
    [(case, replicas, True) for case in ("non_saturating", "hinge_r1_diffaugment")
     for replicas in (1, 2)],
    [("non_saturating", 2, False)],
    [("fastgan_r1_ada", replicas, True) for replicas in (1, 2)],
]  # fmt: skip


def _run_name(case: str, replicas: int, synchronized: bool) -> str:
    return f"{case}-{replicas}-{'sync' if synchronized else 'local'}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run's per-step metrics and final weights, trained in subprocesses side by side."""
    folder = tmp_path_factory.mktemp("distributed")
    # The subprocess imports this checkout's idphoto, as the test process does.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    processes = []
    for index, runs_of_process in enumerate(PROCESSES):
        out = folder / f"runs{index}.npz"
        command = [sys.executable, __file__, str(out), json.dumps(runs_of_process)]
        processes.append(
            (out, subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env))
        )
    results = {}
    for out, process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-4000:]
        with np.load(out) as data:
            results.update({key: data[key] for key in data.files})
    return results


def _weights(runs, name, network):
    count = int(runs[f"{name}/{network}/count"])
    return [runs[f"{name}/{network}/{index}"] for index in range(count)]


@pytest.mark.parametrize("case", list(CASES))
def test_two_replicas_report_the_same_losses_each_step_as_one_device(runs, case):
    for metric in CASE_METRICS.get(case, METRICS):
        one = runs[f"{_run_name(case, 1, True)}/{metric}"]
        two = runs[f"{_run_name(case, 2, True)}/{metric}"]
        assert one.shape == (STEPS,)
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5, err_msg=metric)


NETWORKS = ("generator", "discriminator", "ema_generator")
# Every network of every case, and the reconstruction decoders of the one architecture with any.
WEIGHTS = [(case, network) for case in CASES for network in NETWORKS] + [
    ("fastgan_r1_ada", "auxiliary")
]


@pytest.mark.parametrize(("case", "network"), WEIGHTS)
def test_two_replicas_end_with_the_same_weights_as_one_device(runs, case, network):
    one = _weights(runs, _run_name(case, 1, True), network)
    two = _weights(runs, _run_name(case, 2, True), network)
    assert len(one) == len(two) > 0
    for index, (a, b) in enumerate(zip(one, two, strict=True)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"{network} weight {index}")


@pytest.mark.parametrize("replicas", [1, 2])
def test_the_ema_generator_trails_the_generator_and_the_step_counter_counts_steps(runs, replicas):
    name = _run_name("hinge_r1_diffaugment", replicas, True)
    generator = _weights(runs, name, "generator")
    ema = _weights(runs, name, "ema_generator")
    # Compared weights must have moved apart, or equal EMA weights would prove nothing.
    assert any(not np.allclose(g, e) for g, e in zip(generator, ema, strict=True))
    assert int(runs[f"{name}/step_counter"]) == STEPS


@pytest.mark.parametrize("case", list(CASES))
def test_every_replica_holds_the_same_copy_of_every_weight_including_the_ema(runs, case):
    assert float(runs[f"{_run_name(case, 2, True)}/replica_spread"]) == 0.0


def test_per_replica_batch_norm_statistics_make_two_replicas_differ(runs):
    # The comparison above can see replica effects: unsynchronized batch norm normalises each
    # half-batch by its own statistics, which must show up in the weights.
    one = _weights(runs, _run_name("non_saturating", 1, True), "generator")
    local = _weights(runs, _run_name("non_saturating", 2, False), "generator")
    assert any(not np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(one, local, strict=True))


def _train(case: str, replicas: int, synchronized: bool) -> dict[str, np.ndarray]:
    """Trains the tiny GAN for STEPS steps with `fit`; returns metrics per step and weights."""
    import keras
    import tensorflow as tf

    from idphoto.models.architectures import build_auxiliary, build_discriminator, build_generator
    from idphoto.models.config import (
        AdaptiveAugmentConfig,
        AugmentConfig,
        EmaConfig,
        LossConfig,
        ModelConfig,
    )
    from idphoto.models.gan import GAN

    settings = CASES[case]
    model = ModelConfig(settings.get("architecture", "dcgan"), 32, 3, 16, 8, 32, synchronized)
    # An update every step, fast enough to move p visibly in three steps.
    adaptive = AdaptiveAugmentConfig(settings.get("adaptive", False), 0.6, 1, 16, 0.5)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{index}" for index in range(replicas)])
    with strategy.scope():
        keras.utils.set_random_seed(0)  # same initial weights in every run
        gan = GAN(
            build_generator(model),
            build_discriminator(model),
            latent_dim=model.latent_dim,
            loss=LossConfig(settings["kind"], settings["r1_gamma"]),
            augment=AugmentConfig(tuple(settings["policy"]), adaptive),
            ema=EmaConfig(True, 0.5),
            global_batch_size=GLOBAL_BATCH,
            seed=7,
            auxiliary=build_auxiliary(model),
        )
        # SGD for both networks: Adam barely notices a gradient off by a constant factor (it
        # divides by the gradient's scale), which SGD would show at once; and Adam turns the
        # last-bit differences of a 2-replica all-reduce on near-zero gradients into steps of
        # the full learning rate, which no tolerance can tell from a real error.
        gan.compile(
            d_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
            g_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
        )
    images = np.random.default_rng(0).uniform(-1, 1, (3 * GLOBAL_BATCH, 32, 32, 3))
    dataset = (
        tf.data.Dataset.from_tensor_slices(images.astype("float32"))
        .batch(GLOBAL_BATCH, drop_remainder=True)
        .repeat()
    )
    # One step per epoch: the epoch logs are then per-step values.
    history = gan.fit(dataset, epochs=STEPS, steps_per_epoch=1, verbose=0).history
    name = _run_name(case, replicas, synchronized)
    out = {
        f"{name}/{metric}": np.array(history[metric]) for metric in CASE_METRICS.get(case, METRICS)
    }
    out[f"{name}/step_counter"] = np.array(gan.step_counter.numpy())
    # Reading a mirrored variable gives replica 0's copy; every replica's copy must agree.
    out[f"{name}/replica_spread"] = np.array(
        max(
            float(np.max(np.abs(np.asarray(copy) - np.asarray(copies[0])), initial=0.0))
            for variable in gan.weights
            for copies in [strategy.experimental_local_results(variable.value)]
            for copy in copies
        )
    )
    for network in ("generator", "discriminator", "ema_generator", "auxiliary"):
        if getattr(gan, network) is None:
            continue
        weights = getattr(gan, network).weights
        out[f"{name}/{network}/count"] = np.array(len(weights))
        for index, weight in enumerate(weights):
            out[f"{name}/{network}/{index}"] = weight.numpy()
    return out


def _main(out_path: str, runs_json: str) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    results = {}
    for case, replicas, synchronized in json.loads(runs_json):
        results.update(_train(case, replicas, synchronized))
    np.savez(out_path, **results)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
