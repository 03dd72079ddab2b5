"""The GAN: its settings (`config`), generator and discriminator builders (`architectures`),
the training model (`gan`) and DiffAugment (`diffaugment`).

Import from the submodules: `idphoto.models.config` loads without TensorFlow, so a config error
comes back before Keras starts.
"""
