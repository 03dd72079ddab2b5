"""The GAN: generator and discriminator builders, the training model and DiffAugment."""

from idphoto.models.architectures import build_auxiliary, build_discriminator, build_generator
from idphoto.models.diffaugment import diff_augment, draw_augment_gates, draw_augment_params
from idphoto.models.gan import GAN, discriminator_loss, generator_loss

__all__ = [
    "GAN",
    "build_auxiliary",
    "build_discriminator",
    "build_generator",
    "diff_augment",
    "discriminator_loss",
    "draw_augment_gates",
    "draw_augment_params",
    "generator_loss",
]
