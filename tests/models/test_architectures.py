import dataclasses

import keras
import numpy as np
import pytest
from keras import layers

from idphoto.models.architectures import build_discriminator, build_generator
from idphoto.models.config import ModelConfig

SEED = ModelConfig("seed_dcgan", 28, 1, 100, 64, 256, synchronized_batch_norm=True)
TINY = ModelConfig("dcgan", 32, 3, 16, 8, 32, synchronized_batch_norm=True)


def _tutorial_generator() -> keras.Model:
    """The TensorFlow DCGAN tutorial's generator, typed in from the tutorial."""
    return keras.Sequential(
        [
            keras.Input((100,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(
                1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"
            ),
        ]
    )


def _tutorial_discriminator() -> keras.Model:
    """The TensorFlow DCGAN tutorial's discriminator, typed in from the tutorial."""
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )


def _layer_signature(model: keras.Model) -> list[tuple]:
    """Type, output shape and parameter count of every layer (the Input layer left out)."""
    return [
        (type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
        for layer in model.layers
        if not isinstance(layer, layers.InputLayer)
    ]


def _activation_slopes(model: keras.Model) -> list[float]:
    return [layer.negative_slope for layer in model.layers if isinstance(layer, layers.LeakyReLU)]


def test_seed_generator_is_the_tensorflow_tutorial_generator():
    ours, tutorial = build_generator(SEED), _tutorial_generator()
    assert ours.name == "generator"
    assert _layer_signature(ours) == _layer_signature(tutorial)
    assert _activation_slopes(ours) == _activation_slopes(tutorial)
    assert ours.count_params() == tutorial.count_params() == 2_330_944
    trainable = sum(int(np.prod(w.shape)) for w in ours.trainable_weights)
    assert trainable == 2_305_472  # the batch norms' moving statistics are not trained
    assert tuple(ours.output.shape) == (None, 28, 28, 1)


def test_seed_discriminator_is_the_tensorflow_tutorial_discriminator():
    ours, tutorial = build_discriminator(SEED), _tutorial_discriminator()
    assert ours.name == "discriminator"
    assert _layer_signature(ours) == _layer_signature(tutorial)
    assert _activation_slopes(ours) == _activation_slopes(tutorial)
    assert [layer.rate for layer in ours.layers if isinstance(layer, layers.Dropout)] == [0.3, 0.3]
    assert ours.count_params() == tutorial.count_params() == 212_865
    assert tuple(ours.output.shape) == (None, 1)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"resolution": 32}, "model.resolution"),
        ({"channels": 3}, "model.channels"),
        ({"architecture": "stylegan"}, "model.architecture"),
        ({"architecture": "dcgan", "resolution": 48}, "model.resolution"),
        ({"architecture": "dcgan", "resolution": 16}, "model.resolution"),
        ({"architecture": "dcgan", "resolution": 32, "max_filters": 32}, "model.max_filters"),
        ({"architecture": "dcgan", "resolution": 32, "base_filters": 0}, "model.base_filters"),
        ({"latent_dim": 0}, "model.latent_dim"),
    ],
)
@pytest.mark.parametrize("build", [build_generator, build_discriminator])
def test_settings_an_architecture_cannot_use_are_refused_naming_the_key(build, changes, key):
    with pytest.raises(ValueError, match=key):
        build(dataclasses.replace(SEED, **changes))


@pytest.mark.parametrize(("resolution", "channels"), [(32, 3), (64, 1)])
def test_dcgan_makes_images_of_the_configured_size_and_scores_them(resolution, channels):
    cfg = dataclasses.replace(TINY, resolution=resolution, channels=channels)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    images = generator(np.random.default_rng(0).normal(size=(2, 16)).astype("float32"))
    assert images.shape == (2, resolution, resolution, channels)
    assert discriminator(images).shape == (2, 1)
    assert images.dtype == "float32"


def test_dcgan_filters_double_as_resolution_halves_up_to_the_cap():
    cfg = dataclasses.replace(TINY, resolution=64, base_filters=8, max_filters=32)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    transposed = [
        (layer.output.shape[1], layer.filters)
        for layer in generator.layers
        if isinstance(layer, layers.Conv2DTranspose)
    ]
    assert transposed == [(8, 32), (16, 32), (32, 16), (64, 8)]
    assert generator.layers[1].units == 4 * 4 * 32  # the 4×4 start, capped at max_filters
    strided = [
        (layer.output.shape[1], layer.filters)
        for layer in discriminator.layers
        if isinstance(layer, layers.Conv2D)
    ]
    assert strided == [(32, 8), (16, 16), (8, 32), (4, 32)]


def test_dcgan_discriminator_has_no_batch_norm_and_the_generator_syncs_it_when_asked():
    assert not any(
        isinstance(layer, layers.BatchNormalization) for layer in build_discriminator(TINY).layers
    )
    for synchronized in (True, False):
        cfg = dataclasses.replace(TINY, synchronized_batch_norm=synchronized)
        norms = [
            layer
            for layer in build_generator(cfg).layers
            if isinstance(layer, layers.BatchNormalization)
        ]
        assert len(norms) == 4
        assert all(layer.synchronized is synchronized for layer in norms)


@pytest.mark.parametrize("cfg", [SEED, TINY], ids=["seed_dcgan", "dcgan"])
def test_generated_images_stay_within_minus_one_and_one(cfg):
    generator = build_generator(cfg)
    # Large latents drive the tanh into saturation: it must still not leave [-1, 1].
    z = 50 * np.random.default_rng(1).normal(size=(4, cfg.latent_dim)).astype("float32")
    images = np.asarray(generator(z, training=True))
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert images.std() > 0


def test_networks_save_and_load_as_keras_files(tmp_path):
    for model in (build_generator(TINY), build_discriminator(TINY)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        x = np.random.default_rng(2).normal(size=(2, *model.input.shape[1:])).astype("float32")
        np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)
