import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from idphoto.models.ada import AugmentProbability
from idphoto.models.architectures import build_discriminator, build_generator
from idphoto.models.config import (
    AdaptiveAugmentConfig,
    AugmentConfig,
    EmaConfig,
    LossConfig,
    ModelConfig,
)
from idphoto.models.diffaugment import diff_augment, draw_augment_gates, draw_augment_params
from idphoto.models.gan import GAN

ADA = AdaptiveAugmentConfig(True, target=0.6, interval=2, images_to_full=100, initial_p=0.5)
TINY = ModelConfig("dcgan", 32, 3, 16, 8, 32, synchronized_batch_norm=True)
BATCH = 8
IMAGES = np.tanh(np.random.default_rng(0).normal(size=(BATCH, 32, 32, 3))).astype("float32")
POLICY = ("color", "translation", "cutout")


def _steps(probability, logits, steps, first=0):
    for step in range(first, first + steps):
        probability.update(tf.constant(logits, tf.float32), tf.constant(step, tf.int64))
    return float(probability.p.numpy())


def test_p_rises_when_the_discriminator_is_sure_of_the_real_images():
    # 10 images per step, 2 steps per update: p moves by 20 / 100 per update.
    probability = AugmentProbability(ADA)
    assert _steps(probability, [[3.0]] * 10, steps=1) == pytest.approx(0.5)  # not due yet
    assert _steps(probability, [[3.0]] * 10, steps=1, first=1) == pytest.approx(0.7)


def test_p_falls_when_the_discriminator_is_unsure_of_the_real_images():
    # r_t = (4 - 6) / 10 = -0.2, below the target 0.6: D is not overfitting.
    logits = [[1.0]] * 4 + [[-1.0]] * 6
    assert _steps(AugmentProbability(ADA), logits, steps=2) == pytest.approx(0.3)


def test_p_stays_within_zero_and_one():
    assert _steps(AugmentProbability(ADA), [[5.0]] * 10, steps=20) == 1.0
    assert _steps(AugmentProbability(ADA), [[-5.0]] * 10, steps=20) == 0.0


def test_the_heuristic_averages_over_the_interval():
    # One sure step and one unsure step: r_t = (10 - 10) / 20 = 0 < 0.6, so p falls.
    probability = AugmentProbability(ADA)
    probability.update(tf.fill([10, 1], 2.0), tf.constant(0, tf.int64))
    probability.update(tf.fill([10, 1], -2.0), tf.constant(1, tf.int64))
    assert float(probability.p.numpy()) == pytest.approx(0.3)
    assert float(probability.count.numpy()) == 0.0  # the sums restart after an update


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"target": 1.5}, "augment.adaptive.target"),
        ({"interval": 0}, "augment.adaptive.interval"),
        ({"images_to_full": 0}, "augment.adaptive.images_to_full"),
        ({"initial_p": -0.1}, "augment.adaptive.initial_p"),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_key(changes, key):
    with pytest.raises(ValueError, match=key):
        AugmentProbability(dataclasses.replace(ADA, **changes))


def _draws(batch=BATCH, seed=(1, 2)):
    key = tf.constant(seed, tf.int64)
    return draw_augment_params(POLICY, batch, key), draw_augment_gates(POLICY, batch, key)


def test_each_op_is_applied_to_the_images_whose_gate_is_below_p():
    params, gates = _draws()
    everything = diff_augment(IMAGES, POLICY, params).numpy()
    np.testing.assert_array_equal(diff_augment(IMAGES, POLICY, params, gates, 0.0), IMAGES)
    np.testing.assert_array_equal(diff_augment(IMAGES, POLICY, params, gates, 1.0), everything)
    # One op at p = 0.5: exactly the images whose cutout gate is below 0.5 are cut.
    cut = diff_augment(IMAGES, ("cutout",), params, gates, 0.5).numpy()
    below = gates["cutout"].numpy() < 0.5
    assert 0 < below.sum() < BATCH
    for index in range(BATCH):
        assert np.array_equal(cut[index], IMAGES[index]) != below[index]


def test_gates_use_their_own_random_streams():
    params, gates = _draws(batch=64)
    assert set(gates) == set(POLICY)
    for op, values in gates.items():
        assert values.shape == (64,)
        assert not any(np.allclose(values, other) for other in params.values()), op


def _gan(adaptive=ADA):
    keras.utils.set_random_seed(0)
    gan = GAN(
        build_generator(TINY),
        build_discriminator(TINY),
        latent_dim=TINY.latent_dim,
        loss=LossConfig("hinge", 0.0),
        augment=AugmentConfig(POLICY, adaptive),
        ema=EmaConfig(True, 0.9),
        global_batch_size=BATCH,
        seed=0,
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
    )
    return gan


def _fit(gan, steps):
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(BATCH).repeat()
    return gan.fit(dataset, epochs=steps, steps_per_epoch=1, verbose=0).history


def test_a_discriminator_that_memorises_eight_images_drives_p_up():
    # The discriminator soon scores every one of the 8 training images as real.
    adaptive = dataclasses.replace(ADA, interval=1, images_to_full=400, initial_p=0.0)
    history = _fit(_gan(adaptive), steps=12)
    p = np.array(history["augment_p"])
    assert np.all((p >= 0) & (p <= 1))
    # Each update moves p by exactly one step of 8 / 400, up or down.
    np.testing.assert_allclose(np.abs(np.diff(np.concatenate([[0.0], p]))), 0.02, atol=1e-6)
    assert p[-1] > p[len(p) // 2] > 0


def test_without_ada_no_probability_is_logged():
    history = _fit(_gan(dataclasses.replace(ADA, enabled=False)), steps=1)
    assert "augment_p" not in history


def test_a_resumed_run_restores_p_and_continues_as_if_never_stopped(tmp_path):
    adaptive = dataclasses.replace(ADA, interval=1, images_to_full=40)
    expected = _fit(_gan(adaptive), steps=3)
    first = _gan(adaptive)
    _fit(first, steps=2)
    saved_p = float(first.augment_probability.p.numpy())
    assert saved_p != adaptive.initial_p
    path = tf.train.Checkpoint(model=first, d=first.d_optimizer, g=first.g_optimizer).save(
        str(tmp_path / "ckpt")
    )
    resumed = _gan(adaptive)
    tf.train.Checkpoint(model=resumed, d=resumed.d_optimizer, g=resumed.g_optimizer).restore(path)
    assert float(resumed.augment_probability.p.numpy()) == saved_p
    third = _fit(resumed, steps=1)
    for name in expected:
        np.testing.assert_allclose(third[name][0], expected[name][2], rtol=1e-5, err_msg=name)
