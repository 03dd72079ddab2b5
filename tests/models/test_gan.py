import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from idphoto.models.architectures import build_auxiliary, build_discriminator, build_generator
from idphoto.models.config import (
    AdaptiveAugmentConfig,
    AugmentConfig,
    EmaConfig,
    LossConfig,
    ModelConfig,
)
from idphoto.models.diffaugment import diff_augment, draw_augment_params
from idphoto.models.gan import _LATENTS_G, GAN, discriminator_loss, generator_loss

TINY = ModelConfig("dcgan", 32, 3, 16, 8, 32, synchronized_batch_norm=True)
BATCH = 8
FULL_POLICY = ("color", "translation", "cutout")
NO_ADA = AdaptiveAugmentConfig(False, 0.6, 4, 20000, 0.0)
# A fixed tiny dataset: one batch of 32×32 RGB images in [-1, 1].
IMAGES = np.tanh(np.random.default_rng(0).normal(size=(BATCH, 32, 32, 3))).astype("float32")


def _gan(
    kind="hinge",
    r1_gamma=0.0,
    policy=(),
    ema=None,
    seed=0,
    discriminator=None,
    learning_rate=1e-3,
    run_eagerly=True,
):
    """A tiny dcgan GAN; eager by default, as tracing costs more than these tiny steps."""
    keras.utils.set_random_seed(0)  # the same initial weights every time
    gan = GAN(
        build_generator(TINY),
        discriminator or build_discriminator(TINY),
        latent_dim=TINY.latent_dim,
        loss=LossConfig(kind, r1_gamma),
        augment=AugmentConfig(policy, NO_ADA),
        ema=ema or EmaConfig(True, 0.9),
        global_batch_size=BATCH,
        seed=seed,
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
        run_eagerly=run_eagerly,
    )
    return gan


def _fit(gan, steps):
    """Trains `steps` steps on IMAGES; returns each metric per step."""
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(BATCH).repeat()
    history = gan.fit(dataset, epochs=steps, steps_per_epoch=1, verbose=0).history
    return {name: np.array(values) for name, values in history.items()}


def _softplus(x):
    return np.log1p(np.exp(x))


REAL = np.array([[2.0], [-1.0], [0.0]], "float32")
FAKE = np.array([[0.5], [-3.0], [0.0]], "float32")


def test_non_saturating_losses_are_cross_entropy_on_logits():
    np.testing.assert_allclose(
        discriminator_loss("non_saturating", REAL, FAKE),
        _softplus(-REAL[:, 0]) + _softplus(FAKE[:, 0]),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        generator_loss("non_saturating", FAKE), _softplus(-FAKE[:, 0]), rtol=1e-6
    )
    # At logit 0 both terms are log 2: D cannot tell real from fake.
    at_zero = float(discriminator_loss("non_saturating", REAL, FAKE)[2])
    assert at_zero == pytest.approx(2 * np.log(2))


def test_hinge_losses_stop_pushing_past_the_margin():
    np.testing.assert_allclose(discriminator_loss("hinge", REAL, FAKE), [1.5, 2.0, 2.0])
    np.testing.assert_allclose(generator_loss("hinge", FAKE), [-0.5, 3.0, 0.0])


def test_unknown_loss_kinds_and_negative_r1_are_refused_naming_the_key():
    with pytest.raises(ValueError, match="loss.kind"):
        discriminator_loss("wasserstein", REAL, FAKE)
    with pytest.raises(ValueError, match="loss.kind"):
        _gan(kind="wasserstein")
    with pytest.raises(ValueError, match="loss.r1_gamma"):
        _gan(r1_gamma=-1.0)
    with pytest.raises(ValueError, match="augment.policy"):
        _gan(policy=("blur",))


@pytest.mark.parametrize("kind", ["non_saturating", "hinge"])
def test_discriminator_learns_to_tell_the_fixed_images_from_fakes_in_a_few_steps(kind):
    # Compiled (not eager), as in real training.
    history = _fit(_gan(kind=kind, run_eagerly=False), steps=4)
    for values in history.values():
        assert np.isfinite(values).all()
    assert history["d_loss"][-1] < history["d_loss"][0]
    margin = history["d_real_score"] - history["d_fake_score"]
    assert margin[-1] > margin[0]


def test_r1_penalty_is_half_gamma_times_the_squared_input_gradient():
    # A linear discriminator's input gradient is its kernel, for every image.
    linear = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    gan = _gan(r1_gamma=4.0, discriminator=linear)
    kernel = linear.layers[-1].kernel.numpy()
    history = _fit(gan, steps=1)
    assert history["r1_penalty"][0] == pytest.approx(0.5 * 4.0 * np.sum(kernel**2), rel=1e-5)


def test_r1_penalty_is_zero_without_gamma_and_positive_with_it():
    assert _fit(_gan(r1_gamma=0.0), steps=1)["r1_penalty"][0] == 0.0
    assert _fit(_gan(r1_gamma=1.0), steps=1)["r1_penalty"][0] > 0.0


@pytest.mark.parametrize(("first_step", "decay"), [(0, 0.1), (200, 0.9)])
def test_ema_weights_move_toward_the_generator_by_the_warmed_up_decay(first_step, decay):
    # d = min(0.9, (1 + step) / (10 + step)): 0.1 on the first step, the configured 0.9 later.
    gan = _gan(ema=EmaConfig(True, 0.9))
    gan.step_counter.assign(first_step)
    before = [w.numpy() for w in gan.ema_generator.weights]
    _fit(gan, steps=1)
    moved = 0
    for average, old, weight in zip(
        gan.ema_generator.weights, before, gan.generator.weights, strict=True
    ):
        if not weight.trainable:  # batch-norm statistics: see the next test
            continue
        expected = decay * old + (1.0 - decay) * weight.numpy()
        moved += not np.allclose(average.numpy(), weight.numpy())
        np.testing.assert_allclose(average.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert moved > 0
    z = np.zeros((2, TINY.latent_dim), "float32")
    np.testing.assert_allclose(gan.generate(z), gan.ema_generator(z, training=False))


def test_ema_batch_norm_statistics_are_those_of_the_averaged_weights():
    gan = _gan(ema=EmaConfig(True, 0.9))
    before = [w.numpy() for w in gan.ema_generator.weights]
    _fit(gan, steps=1)
    # Replay the step: the averaged weights with the old statistics, one training-mode pass on
    # the generator step's latents.
    replay = keras.models.clone_model(gan.ema_generator)
    replay.set_weights(
        [
            average.numpy() if average.trainable else old
            for average, old in zip(gan.ema_generator.weights, before, strict=True)
        ]
    )
    replay(gan._latents(tf.constant(0, tf.int64), _LATENTS_G, BATCH), training=True)
    ours = gan.ema_generator.non_trainable_weights
    assert len(ours) > 0
    for average, expected in zip(ours, replay.non_trainable_weights, strict=True):
        np.testing.assert_allclose(average.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    # Not the generator's: those belong to other weights.
    assert any(
        not np.allclose(a.numpy(), b.numpy())
        for a, b in zip(ours, gan.generator.non_trainable_weights, strict=True)
    )


def test_without_ema_the_generator_itself_generates():
    gan = _gan(ema=EmaConfig(False, 0.9))
    assert gan.ema_generator is gan.generator


def test_runs_with_the_same_seed_repeat_and_another_seed_differs():
    first = _fit(_gan(policy=FULL_POLICY, r1_gamma=1.0, seed=5), steps=3)
    again = _fit(_gan(policy=FULL_POLICY, r1_gamma=1.0, seed=5), steps=3)
    other = _fit(_gan(policy=FULL_POLICY, r1_gamma=1.0, seed=6), steps=3)
    for name in first:
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)
    assert not np.allclose(other["g_loss"], first["g_loss"])


def test_a_resumed_run_continues_the_same_random_stream(tmp_path):
    straight = _gan(policy=FULL_POLICY)
    expected = _fit(straight, steps=2)
    first = _gan(policy=FULL_POLICY)
    _fit(first, steps=1)
    path = tf.train.Checkpoint(model=first, d=first.d_optimizer, g=first.g_optimizer).save(
        str(tmp_path / "ckpt")
    )
    resumed = _gan(policy=FULL_POLICY)
    tf.train.Checkpoint(model=resumed, d=resumed.d_optimizer, g=resumed.g_optimizer).restore(path)
    assert int(resumed.step_counter.numpy()) == 1
    second = _fit(resumed, steps=1)
    for name in expected:
        np.testing.assert_allclose(second[name][0], expected[name][1], rtol=1e-5, err_msg=name)
    assert int(resumed.step_counter.numpy()) == 2


def _one_sgd_step(precision, architecture="dcgan"):
    """One step at `precision` from the usual initial weights; returns the GAN, its metrics and
    the size of the weight update."""
    model = dataclasses.replace(TINY, architecture=architecture)
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        gan = GAN(
            build_generator(model),
            build_discriminator(model),
            latent_dim=model.latent_dim,
            loss=LossConfig("hinge", 1.0),
            augment=AugmentConfig(FULL_POLICY, NO_ADA),
            ema=EmaConfig(True, 0.9),
            global_batch_size=BATCH,
            seed=0,
            auxiliary=build_auxiliary(model),
        )
        optimizers = [keras.optimizers.SGD(0.1) for _ in "dg"]
        if precision == "mixed_float16":
            optimizers = [keras.optimizers.LossScaleOptimizer(opt) for opt in optimizers]
        gan.compile(*optimizers, run_eagerly=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    weights = gan.discriminator.trainable_weights + gan.generator.trainable_weights
    before = [w.numpy() for w in weights]
    history = _fit(gan, steps=1)
    update = np.sqrt(
        sum(np.sum((w.numpy() - b) ** 2) for w, b in zip(weights, before, strict=True))
    )
    return gan, history, update


@pytest.mark.parametrize("architecture", ["dcgan", "fastgan"])
def test_mixed_precision_scales_the_loss_and_keeps_images_and_logits_float32(architecture):
    _, _, full_update = _one_sgd_step("float32", architecture)
    gan, history, mixed_update = _one_sgd_step("mixed_float16", architecture)
    assert gan.generator.layers[-2].compute_dtype == "float16"  # the body runs in float16
    assert gan.generate(np.zeros((2, TINY.latent_dim), "float32")).dtype == "float32"
    outputs = gan.discriminator(IMAGES)
    logits = outputs[0] if isinstance(outputs, list | tuple) else outputs
    assert logits.dtype == "float32"
    assert all(np.isfinite(values).all() for values in history.values())
    # SGD moves weights in proportion to the gradient: if the loss were not scaled before
    # differentiation, the optimizer's unscaling would shrink the update 32768-fold.
    assert mixed_update == pytest.approx(full_update, rel=0.1)


def _params(policy, seed=(1, 2), batch=BATCH):
    return draw_augment_params(policy, batch, tf.constant(seed, tf.int64))


def _constant_params(policy, value):
    return {name: tf.fill([BATCH], value) for name in _params(policy)}


def test_augment_params_are_uniform_per_image_and_depend_only_on_the_seed():
    params = _params(FULL_POLICY)
    assert len(params) == 7
    for values in params.values():
        assert values.shape == (BATCH,)
        assert values.numpy().min() >= 0.0 and values.numpy().max() < 1.0
    again, other = _params(FULL_POLICY), _params(FULL_POLICY, seed=(1, 3))
    assert all(np.array_equal(again[name], params[name]) for name in params)
    assert not np.allclose(other["brightness"], params["brightness"])
    # An op's draws do not depend on which other ops are in the policy.
    np.testing.assert_array_equal(_params(("cutout",))["cutout_x"], params["cutout_x"])
    assert _params(()) == {}


@pytest.mark.parametrize("policy", [(), ("color",), ("translation",), ("cutout",), FULL_POLICY])
def test_diff_augment_keeps_the_shape_and_passes_gradients_to_the_images(policy):
    images = tf.constant(IMAGES)
    with tf.GradientTape() as tape:
        tape.watch(images)
        augmented = diff_augment(images, policy, _params(policy))
        total = tf.reduce_sum(augmented * tf.range(32, dtype=tf.float32)[:, None, None])
    assert augmented.shape == images.shape and augmented.dtype == images.dtype
    gradient = tape.gradient(total, images)
    assert gradient is not None and np.abs(gradient.numpy()).sum() > 0


@pytest.mark.parametrize("op", ["color", "translation", "cutout"])
def test_each_op_really_changes_the_images(op):
    augmented = diff_augment(IMAGES, (op,), _params((op,))).numpy()
    for index in range(BATCH):
        assert not np.allclose(augmented[index], IMAGES[index])


def test_translation_shifts_by_up_to_an_eighth_filling_with_zeros():
    params = _constant_params(("translation",), 0.0)  # lowest draw: shift -4 in y
    params["translation_x"] = tf.fill([BATCH], 0.9999)  # highest draw: shift +4 in x
    shifted = diff_augment(IMAGES, ("translation",), params).numpy()
    expected = np.zeros_like(IMAGES)
    expected[:, 4:, :-4] = IMAGES[:, :-4, 4:]  # out[y, x] = in[y - 4, x + 4]
    np.testing.assert_array_equal(shifted, expected)


def test_cutout_zeroes_a_square_of_half_the_side():
    cut = diff_augment(IMAGES, ("cutout",), _constant_params(("cutout",), 0.5)).numpy()
    expected = IMAGES.copy()
    expected[:, 8:24, 8:24] = 0.0  # centre 16, side 16
    np.testing.assert_array_equal(cut, expected)


def test_neutral_color_params_leave_images_unchanged():
    same = diff_augment(IMAGES, ("color",), _constant_params(("color",), 0.5)).numpy()
    np.testing.assert_allclose(same, IMAGES, atol=1e-6)


def _grey(images):
    return np.repeat(images.mean(axis=3, keepdims=True), 3, axis=3)


def _half_contrast(images):
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return (images - mean) * 0.5 + mean


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("brightness", lambda images: images - 0.5),  # lowest draw: -0.5
        ("saturation", _grey),  # lowest draw: ×0, every pixel its channels' mean
        ("contrast", _half_contrast),  # lowest draw: ×0.5 around the image mean
    ],
)
def test_color_adjusts_brightness_saturation_and_contrast(param, expected):
    params = _constant_params(("color",), 0.5)
    params[param] = tf.zeros([BATCH])
    adjusted = diff_augment(IMAGES, ("color",), params).numpy()
    np.testing.assert_allclose(adjusted, expected(IMAGES), atol=1e-5)


def test_seed_dcgan_trains_with_its_dropout_discriminator():
    seed_cfg = dataclasses.replace(TINY, architecture="seed_dcgan", resolution=28, channels=1)
    gan = GAN(
        build_generator(seed_cfg),
        build_discriminator(seed_cfg),
        latent_dim=seed_cfg.latent_dim,
        loss=LossConfig("non_saturating", 0.0),
        augment=AugmentConfig((), NO_ADA),
        ema=EmaConfig(False, 0.999),
        global_batch_size=BATCH,
        seed=0,
    )
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), run_eagerly=True)
    images = tf.image.resize(IMAGES[..., :1], (28, 28))
    history = gan.fit(
        tf.data.Dataset.from_tensor_slices(images).batch(BATCH).repeat(),
        epochs=1,
        steps_per_epoch=2,
        verbose=0,
    ).history
    assert all(np.isfinite(values).all() for values in history.values())
    assert int(gan.step_counter.numpy()) == 2
