"""SPADE's style encoder (the VAE's image encoder, appendix A, Fig. 13).

Image (B, H, W, 3) -> bilinear resize to 256 x 256 -> six stride-2 3 x 3 conv blocks
(spectral norm, instance norm, LeakyReLU 0.2) -> flatten (4 x 4 x 8 * ngf) -> `mu`, `logvar`.
"""

import keras
from keras import ops

from keras_i2i.layers import ConvBlock
from keras_i2i.layers.conv import own_initializer

ENCODER_SIZE = 256
_NUM_LAYERS = 6


@keras.saving.register_keras_serializable(package="keras_i2i")
class SPADEStyleEncoder(keras.Model):
    """SPADE's `ConvEncoder`.

    Input images (B, H, W, 3) in [-1, 1], any size: resized to 256 x 256 (bilinear,
    half-pixel centres, no antialiasing: `F.interpolate(mode="bilinear")`) unless already.
    Output `(mu, logvar)`, each (B, z_dim) in float32.

    Blocks `layer1`..`layer6` have ngf, 2, 4, 8, 8, 8 * ngf channels. (The reference builds
    `layer6` only for `crop_size >= 256`, but its dense layers expect the 4 x 4 map that
    only six blocks give, so smaller crops fail there; here there are always six.)

    Args:
        ngf: base width (the reference uses the generator's `ngf`).
        norm: `"spectralinstance"` (SPADE's `norm_E`), or `"instance"`, `"none"`, optionally
            `"spectral"`-prefixed. As in `get_nonspade_norm_layer`, a spectral convolution
            followed by a norm has no bias.
        z_dim: length of `mu` and `logvar` (256 in the reference).
        kernel_initializer: initializer of every convolution and dense layer.

    Sub-layers: `layer1`..`layer6` (`ConvBlock`s), `fc_mu`, `fc_var`.
    """

    def __init__(
        self, ngf=64, norm="spectralinstance", z_dim=256, kernel_initializer="glorot_uniform",
        **kwargs
    ):
        super().__init__(**kwargs)
        spectral_norm = norm.startswith("spectral")
        block_norm = norm.removeprefix("spectral") or "none"
        if block_norm not in ("none", "instance", "batch"):
            raise ValueError(
                f"norm must be none/instance/batch, optionally spectral-prefixed; got {norm!r}"
            )
        self.ngf = ngf
        self.norm = norm
        self.z_dim = z_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.blocks = [
            ConvBlock(
                ngf * min(2**i, 8),
                kernel_size=3,
                strides=2,
                padding=1,
                norm=block_norm,
                activation="lrelu",
                spectral_norm=spectral_norm,
                use_bias=not (spectral_norm and block_norm != "none"),
                name=f"layer{i + 1}",
                **common,
            )
            for i in range(_NUM_LAYERS)
        ]
        dense = dict(dtype=self.dtype_policy)
        self.fc_mu = keras.layers.Dense(
            z_dim, kernel_initializer=own_initializer(self.kernel_initializer), name="fc_mu",
            **dense)
        self.fc_var = keras.layers.Dense(
            z_dim, kernel_initializer=own_initializer(self.kernel_initializer), name="fc_var",
            **dense)

    def build(self, input_shape):
        shape = (input_shape[0], ENCODER_SIZE, ENCODER_SIZE, input_shape[-1])
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        for dense in (self.fc_mu, self.fc_var):
            dense.build((input_shape[0], shape[1] * shape[2] * shape[3]))

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if tuple(x.shape[1:3]) != (ENCODER_SIZE, ENCODER_SIZE):
            x = ops.image.resize(
                x, (ENCODER_SIZE, ENCODER_SIZE), interpolation="bilinear", antialias=False
            )
        for block in self.blocks:
            x = block(x)
        x = ops.reshape(x, (-1, 16 * x.shape[-1]))
        return ops.cast(self.fc_mu(x), "float32"), ops.cast(self.fc_var(x), "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "norm": self.norm,
            "z_dim": self.z_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
