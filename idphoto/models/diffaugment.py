"""DiffAugment: differentiable augmentation of every image the discriminator sees.

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"
(https://arxiv.org/abs/2006.10738). Augmenting real AND fake images with differentiable ops keeps
a discriminator trained on a small dataset from memorising it, while the generator still gets
gradients through the augmentation. The ops follow the authors' TensorFlow code
(https://github.com/mit-han-lab/data-efficient-gans, `DiffAugment_tf.py`):

- `color`: random brightness (±0.5), saturation (×0–2) and contrast (×0.5–1.5) per image;
- `translation`: shift by up to 1/8 of the side in each axis, filling with zeros;
- `cutout`: zero one square of half the side at a random place.

The random parameters are drawn apart from the ops, as uniform [0, 1) numbers for a whole global
batch from a stateless RNG (`draw_augment_params`), so that a multi-replica run can give each
replica its slice and augment exactly as one device would.

With an application probability p (ADA, Karras et al. 2020, https://arxiv.org/abs/2006.06676),
each op is applied to each image only when that image's gate draw (`draw_augment_gates`) is
below p; p = 1 is plain DiffAugment, p = 0 leaves the images alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf

# Parameter names per op, in a fixed order: each name's index seeds its draw, so adding an op
# to the policy does not change the draws of the others.
_PARAMS = {
    "color": ("brightness", "saturation", "contrast"),
    "translation": ("translation_y", "translation_x"),
    "cutout": ("cutout_y", "cutout_x"),
}
POLICY_OPS = tuple(_PARAMS)

# Gate draws fold in indices from here on, apart from the parameters' indices above.
_GATE_INDEX = 100

_TRANSLATION_RATIO = 8  # shift up to side // 8
_CUTOUT_RATIO = 2  # square of side // 2


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
    """Validates a DiffAugment policy.

    Args:
        policy: op names, each one of `POLICY_OPS`.

    Returns:
        The policy as a tuple.

    Raises:
        ValueError: an unknown or repeated op; the message names `augment.policy`.
    """
    policy = tuple(policy)
    unknown = [op for op in policy if op not in _PARAMS]
    if unknown:
        raise ValueError(
            f"augment.policy has unknown op(s) {unknown}; choose from {', '.join(POLICY_OPS)}"
        )
    if len(set(policy)) != len(policy):
        raise ValueError(f"augment.policy repeats an op: {list(policy)}")
    return policy


def draw_augment_params(
    policy: Sequence[str], batch_size: int | tf.Tensor, seed: tf.Tensor
) -> dict[str, tf.Tensor]:
    """Draws the random parameters of `policy` for a batch.

    Args:
        policy: op names (see `POLICY_OPS`).
        batch_size: images in the batch (the GLOBAL batch in multi-replica training).
        seed: shape-[2] integer seed of a stateless RNG; equal seeds give equal draws.

    Returns:
        Parameter name → (batch_size,) float32 uniform in [0, 1); empty for an empty policy.
    """
    policy = check_policy(policy)
    params = {}
    index = 0
    for op, names in _PARAMS.items():
        for name in names:
            if op in policy:
                params[name] = tf.random.stateless_uniform(
                    [batch_size], seed=tf.random.experimental.stateless_fold_in(seed, index)
                )
            index += 1
    return params


def draw_augment_gates(
    policy: Sequence[str], batch_size: int | tf.Tensor, seed: tf.Tensor
) -> dict[str, tf.Tensor]:
    """Draws, per op of `policy` and image, the uniform number compared with p.

    Args:
        policy: op names (see `POLICY_OPS`).
        batch_size: images in the batch (the GLOBAL batch in multi-replica training).
        seed: shape-[2] integer seed of a stateless RNG; the same seed as the parameters' is
            fine, the gates use other streams.

    Returns:
        Op name → (batch_size,) float32 uniform in [0, 1).
    """
    policy = check_policy(policy)
    return {
        op: tf.random.stateless_uniform(
            [batch_size], seed=tf.random.experimental.stateless_fold_in(seed, _GATE_INDEX + index)
        )
        for index, op in enumerate(_PARAMS)
        if op in policy
    }


def diff_augment(
    images: tf.Tensor,
    policy: Sequence[str],
    params: Mapping[str, tf.Tensor],
    gates: Mapping[str, tf.Tensor] | None = None,
    probability: tf.Tensor | float | None = None,
) -> tf.Tensor:
    """Augments images with the ops of `policy`, in its order.

    Args:
        images: (B, H, W, C) float images in [-1, 1].
        policy: op names (see `POLICY_OPS`); empty returns `images` unchanged.
        params: this batch's rows of `draw_augment_params(policy, ...)`, each (B,).
        gates: this batch's rows of `draw_augment_gates(policy, ...)`; with `probability`,
            an op is applied to an image only where its gate is below the probability.
        probability: scalar p in [0, 1]; None applies every op to every image.

    Returns:
        The augmented (B, H, W, C) images, differentiable with respect to `images`.
    """
    ops = {"color": _color, "translation": _translation, "cutout": _cutout}
    for op in check_policy(policy):
        augmented = ops[op](images, params)
        if probability is None:
            images = augmented
        else:
            # A per-image select, not a branch: the batch keeps one graph, and each image
            # gets (and passes the gradient through) either its own pixels or the augmented.
            applied = tf.reshape(gates[op] < tf.cast(probability, gates[op].dtype), [-1, 1, 1, 1])
            images = tf.where(applied, augmented, images)
    return images


def _per_image(values: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """(B,) → (B, 1, 1, 1), to broadcast one number per image."""
    return tf.reshape(tf.cast(values, dtype), [-1, 1, 1, 1])


def _color(images: tf.Tensor, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Brightness, then saturation (around the pixel's channel mean), then contrast (around the
    image mean); saturation does nothing to one-channel images."""
    brightness = _per_image(params["brightness"], images.dtype) - 0.5
    images = images + brightness
    saturation = _per_image(params["saturation"], images.dtype) * 2.0
    channel_mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - channel_mean) * saturation + channel_mean
    contrast = _per_image(params["contrast"], images.dtype) + 0.5
    image_mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - image_mean) * contrast + image_mean


def _uniform_int(values: tf.Tensor, low: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """Maps uniform [0, 1) floats to integers uniform in [low, low + count)."""
    return low + tf.minimum(tf.cast(values * tf.cast(count, values.dtype), tf.int32), count - 1)


def _shift_axis(images: tf.Tensor, shift: tf.Tensor, axis: int) -> tf.Tensor:
    """out[..., i, ...] = images[..., i + shift, ...] along `axis`, zero where out of range."""
    size = tf.shape(images)[axis]
    source = tf.range(size)[tf.newaxis, :] + shift[:, tf.newaxis]  # (B, size)
    inside = (source >= 0) & (source < size)
    # gather is differentiable with respect to the images (its gradient scatters back).
    shifted = tf.gather(images, tf.clip_by_value(source, 0, size - 1), axis=axis, batch_dims=1)
    mask_shape = [-1, 1, 1, 1]
    mask_shape[axis] = size
    return shifted * tf.reshape(tf.cast(inside, images.dtype), mask_shape)


def _translation(images: tf.Tensor, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Shifts each image by up to 1/8 of its side along each axis, filling with zeros."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    max_y, max_x = height // _TRANSLATION_RATIO, width // _TRANSLATION_RATIO
    shift_y = _uniform_int(params["translation_y"], -max_y, 2 * max_y + 1)
    shift_x = _uniform_int(params["translation_x"], -max_x, 2 * max_x + 1)
    return _shift_axis(_shift_axis(images, shift_y, axis=1), shift_x, axis=2)


def _cutout(images: tf.Tensor, params: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Zeroes a square of half the side per image; its centre may sit on the border, so the
    square can be partly outside (as in the reference code)."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    size_y, size_x = height // _CUTOUT_RATIO, width // _CUTOUT_RATIO
    # Centres in [0, side + 1 - size % 2), as in the reference code.
    centre_y = _uniform_int(params["cutout_y"], 0, height + 1 - size_y % 2)
    centre_x = _uniform_int(params["cutout_x"], 0, width + 1 - size_x % 2)
    rows = tf.range(height)[tf.newaxis, :] - (centre_y - size_y // 2)[:, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, :] - (centre_x - size_x // 2)[:, tf.newaxis]
    in_rows = tf.cast((rows >= 0) & (rows < size_y), images.dtype)  # (B, H)
    in_cols = tf.cast((cols >= 0) & (cols < size_x), images.dtype)  # (B, W)
    keep = 1.0 - in_rows[:, :, tf.newaxis] * in_cols[:, tf.newaxis, :]
    return images * keep[:, :, :, tf.newaxis]
