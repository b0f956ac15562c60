"""DRIT's image discriminators (configurations of `MsImageDiscriminator`) and MDMM's
discriminator with its domain classifier (`MD_Dis`). The content discriminator, shared
with MDMM, is `keras_i2i.models.discriminators.ContentDiscriminator`.

Spectral norm (`--dis_spectral_norm`): DRIT's copy of PyTorch 0.5's spectral norm runs the
power iteration (`v = normalize(W^T u)`, `u = normalize(W v)`) in every training-mode call and
divides the weight by `sigma = u . W v`, as `keras_i2i.layers.Conv2D(spectral_norm=True)`
does; in eval mode it uses the `weight` buffer of its last training-mode call as it is.
`keras_i2i.convert.drit` loads that buffer into `Conv2D`'s `v` (see `spectral_vectors`
there), so that the eval-mode output is the reference's; the next training call recomputes
`v` from `u`, as the reference does.
"""

import keras

from keras_i2i.layers import Conv2D
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER, MsImageDiscriminator
from keras_i2i.models.drit.encoders import global_average, leaky_relu_conv


def domain_discriminator(num_scales=3, width=64, norm="none", spectral_norm=False,
                         kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
    """DRIT's image discriminator of one domain, an `MsImageDiscriminator`.

    `num_scales > 1` (`MultiScaleDis`, `--dis_scale 3` by default): per scale four
    `LeakyReLUConv2d` 4 x 4 stride 2 (reflect padding 1, slope 0.01) to 1, 2, 4, 8 `width`
    and a 1 x 1 conv to 1 channel; the input is average-pooled between scales. Output: a list
    over scales of (B, H / 16, W / 16, 1), (B, H / 32, W / 32, 1), ... (rounded as the convs).

    `num_scales=1` (`Dis`): six `LeakyReLUConv2d` 3 x 3 stride 2 to 1, 2, ..., 32 `width`
    and a 1 x 1 conv: a one-element list [(B, H / 64, W / 64, 1)] (the reference flattens the
    map; its loss is the mean over the same values).

    Args:
        num_scales: the reference's `--dis_scale`.
        width: channels of the first convolution (64 in the reference).
        norm: `"none"` for every reference run: the reference's `--dis_norm` is never
            applied (its `LeakyReLUConv2d` compares two string literals). Other values
            (`"instance"`, ...) normalize every block after the first, as `MsImageDis`.
        spectral_norm: `--dis_spectral_norm`, on every convolution (see the module).
        kernel_initializer: of every convolution (the reference's N(0, 0.02)).
        **kwargs: `name`, `dtype`.
    """
    layout = dict(n_layer=6, kernel_size=3) if num_scales == 1 else dict(n_layer=4)
    return MsImageDiscriminator(num_scales=num_scales, dim=width, norm=norm, activation="lrelu",
                                pad_type="reflect", kernel_initializer=kernel_initializer,
                                negative_slope=0.01, spectral_norm=spectral_norm,
                                **layout, **kwargs)


def low_resolution_discriminator(width=64, spectral_norm=False,
                                 kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
    """The discriminator of DRIT++'s multi-scale generator-discriminator option (not in the
    reference code): one scale of three `LeakyReLUConv2d` 4 x 4 stride 2 (to 1, 2, 4
    `width`) and a 1 x 1 conv, for images of 1/4 and 1/2 the resolution (54 and 108 pixels
    at 216; 8 and 16 at 32)."""
    return MsImageDiscriminator(num_scales=1, n_layer=3, dim=width, norm="none",
                                activation="lrelu", pad_type="reflect",
                                kernel_initializer=kernel_initializer, negative_slope=0.01,
                                spectral_norm=spectral_norm, **kwargs)


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class MultiDomainDiscriminator(keras.Model):
    """MDMM's `MD_Dis`: an adversarial patch map and domain-classification logits.

    Six `LeakyReLUConv2d` 3 x 3 stride 2 (reflect padding 1, slope 0.01) to 1, 2, 4, 8, 16
    and 16 `width` channels, then two heads without bias: `adversarial`, a 1 x 1 conv with
    zero padding 1 (so the map has a border of exact zeros, as the reference's), and
    `classifier`, a `crop_size // 64` conv to `num_domains` channels, averaged over its map.

    Input (B, H, W, C) images. Output `(adversarial, logits)`: adversarial (B, h + 2, w + 2,
    1) with h = H / 64 rounded up (6 x 6 at 216), logits (B, num_domains).

    Args:
        num_domains: number of domains (`c_dim`).
        crop_size: the training crop (`--crop_size`, 216), which sets the classifier's kernel.
        width: channels of the first convolution (64 in the reference).
        spectral_norm: `--dis_spectral_norm`, on the six strided convs (not the heads).
        kernel_initializer: of every convolution (the reference's N(0, 0.02)).

    Sub-layers: `blocks` (`ConvBlock`s `layer{i}`), `adversarial`, `classifier` (`Conv2D`).
    """

    def __init__(self, num_domains=3, crop_size=216, width=64, spectral_norm=False,
                 kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
        super().__init__(**kwargs)
        self.num_domains = num_domains
        self.crop_size = crop_size
        self.width = width
        self.spectral_norm = spectral_norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.blocks = [
            leaky_relu_conv(width * 2 ** min(i, 4), 3, strides=2, padding=1,
                            spectral_norm=spectral_norm, name=f"layer{i}", **common)
            for i in range(6)]
        self.adversarial = Conv2D(1, 1, padding=1, use_bias=False, name="adversarial", **common)
        self.classifier = Conv2D(num_domains, crop_size // 64, use_bias=False,
                                 name="classifier", **common)

    def build(self, input_shape):
        shape = input_shape
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.adversarial.build(shape)
        self.classifier.build(shape)

    def call(self, images):
        x = images
        for block in self.blocks:
            x = block(x)
        return self.adversarial(x), global_average(self.classifier(x), self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_domains": self.num_domains,
            "crop_size": self.crop_size,
            "width": self.width,
            "spectral_norm": self.spectral_norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
