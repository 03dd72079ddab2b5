import dataclasses
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from idphoto.models.architectures import build_auxiliary, build_discriminator, build_generator
from idphoto.models.config import (
    AdaptiveAugmentConfig,
    AugmentConfig,
    EmaConfig,
    LossConfig,
    ModelConfig,
)
from idphoto.models.fastgan import ReconstructionHead, _select_quadrant
from idphoto.models.gan import GAN

TINY = ModelConfig("fastgan", 32, 3, 16, 8, 32, synchronized_batch_norm=True)
BATCH = 8
IMAGES = np.tanh(np.random.default_rng(0).normal(size=(BATCH, 32, 32, 3))).astype("float32")
NO_ADA = AdaptiveAugmentConfig(False, 0.6, 4, 20000, 0.0)


def _latents(count, cfg=TINY):
    return np.random.default_rng(1).normal(size=(count, cfg.latent_dim)).astype("float32")


@pytest.mark.parametrize(("resolution", "channels"), [(32, 3), (64, 3), (64, 1)])
def test_fastgan_makes_images_of_the_configured_size_and_scores_each_one(resolution, channels):
    cfg = dataclasses.replace(TINY, resolution=resolution, channels=channels)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    images = generator(_latents(2, cfg), training=True)
    assert images.shape == (2, resolution, resolution, channels) and images.dtype == "float32"
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    logits, features_8, features_16 = discriminator(images)
    assert logits.shape == (2, 1) and logits.dtype == "float32"
    assert features_8.shape[1:3] == (8, 8) and features_16.shape[1:3] == (16, 16)


def test_each_discriminator_logit_depends_on_its_own_image_only():
    # No batch norm in D: R1 and the two-replica equality need per-example outputs.
    discriminator = build_discriminator(TINY)
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in discriminator.layers)
    alone = discriminator(IMAGES[:1], training=True)[0]
    together = discriminator(IMAGES, training=True)[0][:1]
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("resolution", "excited"), [(32, [32]), (64, [32, 64]), (128, [32, 64, 128])]
)
def test_maps_of_side_32_and_up_are_excited_by_the_map_eight_times_smaller(resolution, excited):
    generator = build_generator(dataclasses.replace(TINY, resolution=resolution))
    products = [layer for layer in generator.layers if isinstance(layer, layers.Multiply)]
    # An excitation multiplies a map by one gate per channel, from a 4×4 convolution of a 4×4
    # map; the GLUs multiply two maps of the same side.
    excitations = [p for p in products if tuple(p.input[1].shape[1:3]) == (1, 1)]
    assert [p.output.shape[1] for p in excitations] == excited
    glus = [p for p in products if p not in excitations]
    assert all(p.input[0].shape[1:3] == p.input[1].shape[1:3] for p in glus)


def test_fastgan_networks_load_in_safe_mode_where_idphoto_is_not_imported(tmp_path):
    # Standard layers only: a generator logged to MLflow must load wherever Keras runs.
    script = (
        "import sys, keras, numpy as np\n"
        "model = keras.models.load_model(sys.argv[1], safe_mode=True)\n"
        "assert not any(name.startswith('idphoto') for name in sys.modules)\n"
        "np.save(sys.argv[3], keras.tree.flatten(model(np.load(sys.argv[2])))[0])\n"
    )
    for model in (build_generator(TINY), build_discriminator(TINY)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        x = np.random.default_rng(2).normal(size=(2, *model.input.shape[1:])).astype("float32")
        np.save(tmp_path / "x.npy", x)
        done = subprocess.run(
            [sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"),
             str(tmp_path / "y.npy")],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        ours = keras.tree.flatten(model(x))[0]
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ours, rtol=1e-6, atol=1e-6)


def test_mixed_precision_keeps_images_and_logits_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator, discriminator = build_generator(TINY), build_discriminator(TINY)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    images = generator(_latents(2))
    assert images.dtype == "float32"
    assert discriminator(images)[0].dtype == "float32"


def test_quadrants_are_chosen_per_example_in_reading_order():
    maps = tf.reshape(tf.range(4 * 4 * 4, dtype=tf.float32), [4, 4, 4, 1])
    chosen = _select_quadrant(maps, tf.eye(4)).numpy()
    np.testing.assert_array_equal(chosen[0], maps[0, :2, :2])
    np.testing.assert_array_equal(chosen[1], maps[1, :2, 2:])
    np.testing.assert_array_equal(chosen[2], maps[2, 2:, :2])
    np.testing.assert_array_equal(chosen[3], maps[3, 2:, 2:])


def test_other_architectures_have_no_auxiliary_loss():
    assert build_auxiliary(dataclasses.replace(TINY, architecture="dcgan")) is None
    assert isinstance(build_auxiliary(TINY), ReconstructionHead)


def test_reconstruction_loss_is_per_example_and_zero_for_a_perfect_decoder():
    head = build_auxiliary(TINY)
    features = build_discriminator(TINY)(IMAGES)[1:]
    uniform = tf.linspace(0.0, 0.99, BATCH)
    loss = head(IMAGES, features, uniform)
    assert loss.shape == (BATCH,) and np.all(loss.numpy() > 0)

    class Perfect(keras.Model):
        """Returns the targets themselves: the whole image at half size and the chosen quadrant."""

        def call(self, inputs):
            return small, quadrant

    small = tf.nn.avg_pool2d(IMAGES, 2, 2, "VALID")
    quadrant = _select_quadrant(IMAGES, tf.one_hot(tf.cast(uniform * 4, tf.int32), 4))
    np.testing.assert_allclose(ReconstructionHead(Perfect())(IMAGES, features, uniform), 0.0)


def _fastgan(policy=(), adaptive=NO_ADA, r1_gamma=0.0):
    keras.utils.set_random_seed(0)
    gan = GAN(
        build_generator(TINY),
        build_discriminator(TINY),
        latent_dim=TINY.latent_dim,
        loss=LossConfig("hinge", r1_gamma),
        augment=AugmentConfig(policy, adaptive),
        ema=EmaConfig(True, 0.9),
        global_batch_size=BATCH,
        seed=0,
        auxiliary=build_auxiliary(TINY),
    )
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
    )
    return gan


def test_fastgan_trains_with_augmentation_and_ada():
    adaptive = AdaptiveAugmentConfig(True, 0.6, 1, 80, 0.5)
    gan = _fastgan(policy=("color", "translation", "cutout"), adaptive=adaptive, r1_gamma=1.0)
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(BATCH).repeat()
    history = gan.fit(dataset, epochs=2, steps_per_epoch=1, verbose=0).history
    assert all(np.isfinite(values).all() for values in history.values())
    assert "augment_p" in history and "reconstruction_loss" in history


def test_fastgan_trains_its_discriminator_and_decoders_together():
    gan = _fastgan(r1_gamma=1.0)
    decoders = [w.numpy() for w in gan.auxiliary.trainable_weights]
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(BATCH).repeat()
    history = gan.fit(dataset, epochs=6, steps_per_epoch=1, verbose=0).history
    assert set(history) == {
        "d_loss",
        "g_loss",
        "r1_penalty",
        "d_real_score",
        "d_fake_score",
        "reconstruction_loss",
    }
    assert all(np.isfinite(values).all() for values in history.values())
    # The decoders learn the fixed images (no augmentation here, so the targets stay put).
    assert min(history["reconstruction_loss"][-2:]) < history["reconstruction_loss"][0]
    moved = [
        not np.allclose(w.numpy(), before)
        for w, before in zip(gan.auxiliary.trainable_weights, decoders, strict=True)
    ]
    assert all(moved)
    # The decoders' weights are in the GAN's, so checkpoints hold them.
    ids = {id(w) for w in gan.weights}
    assert all(id(w) in ids for w in gan.auxiliary.weights)
