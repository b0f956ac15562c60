"""DRIT's encoders: the content encoder (`E_content`) and the attribute encoders
(`E_attr_concat`, `E_attr`), with MDMM's single-branch, domain-conditioned forms
(`MD_E_content`, `MD_E_attr_concat`, `MD_E_attr`).

    image of domain i -- content branch i -- shared residual block (+ N(0, 1) in training)
                                                        --> content (B, H/4, W/4, 4 width)
    image of domain i [, domain code] -- attribute branch i --> (mu, logvar) or z (B, 8)

A "branch" is one domain's copy of the weights: DRIT has two (a, b), MDMM one shared by every
domain, which sees the one-hot domain code tiled over the image instead.
"""

import keras
from keras import ops

from keras_i2i.layers import AvgPool2D, Conv2D, ConvBlock, ResidualBlock
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER

# PyTorch's `nn.Linear` default, `kaiming_uniform_(a=sqrt(5))`: U(+-1 / sqrt(fan_in)).
LINEAR_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"},
}


def with_code(x, code):
    """`[x, code tiled over H x W]` (B, H, W, C + N), `code` (B, N) cast to x's dtype."""
    b, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
    tiled = ops.broadcast_to(ops.cast(code, x.dtype)[:, None, None, :], (b, h, w, code.shape[-1]))
    return ops.concatenate([x, tiled], axis=-1)


def global_average(x, dtype):
    """Mean over H and W (computed in float32) -> (B, C) of `dtype`."""
    return ops.cast(ops.mean(ops.cast(x, "float32"), axis=(1, 2)), dtype)


def leaky_relu_conv(filters, kernel_size, strides=1, padding=0, **kwargs):
    """DRIT's `LeakyReLUConv2d`: reflect pad, conv with bias, `nn.LeakyReLU()` (slope 0.01)
    (its `norm` argument is never applied)."""
    return ConvBlock(filters, kernel_size, strides=strides, padding=padding, pad_type="reflect",
                     activation="lrelu", negative_slope=0.01, **kwargs)


class BranchedNetwork(keras.layers.Layer):
    """What the encoders and the generator share: per-domain image channels (`channels`; MDMM
    has one branch, and the domain code's `num_domains` channels), `width`, the convolutions'
    initializer and arguments (`block_args`), and their config."""

    def __init__(self, channels, width, num_domains, kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(channels)
        self.width = width
        self.num_domains = num_domains
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if num_domains and len(self.channels) != 1:
            raise ValueError(
                f"num_domains > 0 (MDMM) takes one branch: channels of length 1, got "
                f"{self.channels}")
        self.block_args = dict(kernel_initializer=self.kernel_initializer,
                               dtype=self.dtype_policy)

    def _input_channels(self, branch):
        return self.channels[branch] + self.num_domains

    def _check_domain_code(self, domain_code):
        if self.num_domains and domain_code is None:
            raise ValueError(f"{type(self).__name__} with num_domains needs a domain_code")

    def _inputs(self, images, domain_code):
        """The images, with the domain code tiled after them in MDMM."""
        self._check_domain_code(domain_code)
        return with_code(images, domain_code) if self.num_domains else images

    def get_config(self):
        return {
            **super().get_config(),
            "channels": list(self.channels),
            "width": self.width,
            "num_domains": self.num_domains,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class ContentEncoder(BranchedNetwork):
    """DRIT's `E_content` (MDMM's `MD_E_content` with one branch).

    Per branch (`convA`, `convB`; MDMM `conv`): a 7 x 7 `LeakyReLUConv2d` to `width`, two
    [reflect pad 1, 3 x 3 stride-2 conv, instance norm, ReLU] to 2 and 4 `width`, three
    residual blocks (reflect pad, 3 x 3 conv, instance norm, ReLU, again without the ReLU,
    plus the input); then one residual block shared by the branches (`conv_share`). The
    reference's last layer, N(0, 1) noise in training (`GaussianNoiseLayer`), is added by the
    models (`DRIT`, `MDMM`), which draw every random number of a step from their own seeds.

    `call(images, branch=0)`: images (B, H, W, channels[branch]) -> content
    (B, ceil(H / 4), ceil(W / 4), 4 width).

    Args:
        channels: image channels per branch (`input_dim_a`, `input_dim_b`; one entry for MDMM).
        width: base width (64 in the reference, whose 256 is `4 * width`).
        kernel_initializer: of every convolution (the reference's N(0, 0.02)).

    Sub-layers: `branches[i]` (`keras.Sequential` of the branch's 6 blocks), `shared`
    (`ResidualBlock`).
    """

    def __init__(self, channels=(3, 3), width=64, kernel_initializer=GAUSSIAN_INITIALIZER,
                 **kwargs):
        super().__init__(channels, width, 0, kernel_initializer, **kwargs)
        residual = dict(norm="instance", pad_type="reflect", **self.block_args)
        self.branches = [
            keras.Sequential(
                [leaky_relu_conv(width, 7, padding=3, name="conv_0", **self.block_args)]
                + [ConvBlock(width * 2**i, 3, strides=2, padding=1, pad_type="reflect",
                             norm="instance", name=f"conv_{i}", **self.block_args)
                   for i in (1, 2)]
                + [ResidualBlock(name=f"residual_{i}", **residual) for i in range(3)],
                name=f"branch_{branch}",
            )
            for branch in range(len(self.channels))
        ]
        self.shared = ResidualBlock(name="shared", **residual)

    def build(self, input_shape=None):
        """Builds every branch from the configuration (the input shape adds nothing)."""
        for branch, channels in zip(self.branches, self.channels):
            branch.build((None, None, None, channels))
        self.shared.build((None, None, None, 4 * self.width))

    def call(self, images, branch=0):
        return self.shared(self.branches[branch](images))

    def get_config(self):
        config = super().get_config()
        del config["num_domains"]
        return config


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class DownsamplingResidualBlock(keras.layers.Layer):
    """DRIT's `BasicBlock` (from BicycleGAN's ResNet encoder), pre-activation:
    `avgpool2(conv3x3(lrelu(conv3x3(lrelu(x))))) + conv1x1(avgpool2(x))`, LeakyReLU 0.2,
    reflect padding 1, the first conv keeping the C input channels, the second to `filters`.

    (B, H, W, C) -> (B, H // 2, W // 2, filters).

    Sub-layers: `conv_0`, `conv_1` (`ConvBlock`s), `pool` (2 x 2 average), `shortcut`
    (1 x 1 `Conv2D`).
    """

    def __init__(self, filters, kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        conv = dict(kernel_size=3, padding=1, pad_type="reflect", **common)
        self.conv_0 = ConvBlock(input_shape[-1], activation="lrelu", name="conv_0", **conv)
        self.conv_1 = ConvBlock(self.filters, activation="none", name="conv_1", **conv)
        self.pool = AvgPool2D(2, 2, 0, dtype=self.dtype_policy, name="pool")
        self.shortcut = Conv2D(self.filters, 1, name="shortcut", **common)
        self.conv_0.build(input_shape)
        self.conv_1.build(input_shape)
        self.shortcut.build(input_shape)

    def call(self, x):
        y = self.conv_1(self.conv_0(ops.leaky_relu(x, negative_slope=0.2)))
        return self.pool(y) + self.shortcut(self.pool(x))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        h, w = (None if n is None else n // 2 for n in (h, w))
        return (b, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class AttributeEncoder(BranchedNetwork):
    """DRIT's attribute encoders (MDMM's with `num_domains > 0`).

    `variational=True` (`E_attr_concat`, `--concat 1`; MDMM `MD_E_attr_concat`), per branch
    (`conv_A` / `conv_B`, MDMM `conv`): reflect pad 1 and a 4 x 4 stride-2 conv to `width`,
    three `DownsamplingResidualBlock`s to 2, 3 and 4 `width`, LeakyReLU 0.2, global average,
    then the linear `fc` (mean) and `fcVar` (log-variance).

    `variational=False` (`E_attr`, `--concat 0`; MDMM `MD_E_attr`), per branch (`model_a` /
    `model_b`, MDMM `model`): reflect-padded convs with ReLU, 7 x 7 to `width` and four
    4 x 4 stride-2 to 2, 4, 4 and 4 `width`, global average, a 1 x 1 conv to the attribute.

    `call(images, branch=0, domain_code=None)`: images (B, H, W, channels[branch]) ->
    `(mu, logvar)`, each (B, attribute_dim), or z (B, attribute_dim). With `num_domains`
    the branch sees `[images, domain_code tiled over H x W]`, `domain_code` one-hot
    (B, num_domains).

    Args:
        channels: image channels per branch (one entry with `num_domains`).
        attribute_dim: attribute size (`nz`, 8).
        width: base width (64 in the reference).
        variational: the VAE encoder (`E_attr_concat`) or the deterministic one (`E_attr`).
        num_domains: MDMM's number of domains (`c_dim`), 0 for DRIT.
        kernel_initializer: of every convolution (the reference's N(0, 0.02)); the linear
            layers keep PyTorch's `nn.Linear` default.

    Sub-layers: `branches[i]` (`keras.Sequential` up to the last block before the average)
    and per branch `mean_layers[i]`, `log_variance_layers[i]` (`Dense`) or
    `projections[i]` (1 x 1 `Conv2D`).
    """

    def __init__(self, channels=(3, 3), attribute_dim=8, width=64, variational=True,
                 num_domains=0, kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
        super().__init__(channels, width, num_domains, kernel_initializer, **kwargs)
        self.attribute_dim = attribute_dim
        self.variational = variational
        branches = range(len(self.channels))
        self.branches = [
            keras.Sequential(self._branch_blocks(), name=f"branch_{i}") for i in branches
        ]
        if variational:
            def dense(name):
                return keras.layers.Dense(attribute_dim, kernel_initializer=LINEAR_INITIALIZER,
                                          dtype=self.dtype_policy, name=name)

            self.mean_layers = [dense(f"mean_{i}") for i in branches]
            self.log_variance_layers = [dense(f"log_variance_{i}") for i in branches]
        else:
            self.projections = [Conv2D(attribute_dim, 1, name=f"projection_{i}",
                                       **self.block_args) for i in branches]

    def _branch_blocks(self):
        w, common = self.width, self.block_args
        if self.variational:
            return [ConvBlock(w, 4, strides=2, padding=1, pad_type="reflect", activation="none",
                              name="conv_0", **common)] + [
                DownsamplingResidualBlock(w * n, name=f"block_{n - 1}", **common)
                for n in (2, 3, 4)]
        conv = dict(pad_type="reflect", activation="relu", **common)
        return [ConvBlock(w, 7, padding=3, name="conv_0", **conv)] + [
            ConvBlock(w * filters, 4, strides=2, padding=1, name=f"conv_{i + 1}", **conv)
            for i, filters in enumerate((2, 4, 4, 4))]

    def build(self, input_shape=None):
        """Builds every branch from the configuration (the input shape adds nothing)."""
        features = 4 * self.width
        for i, branch in enumerate(self.branches):
            branch.build((None, None, None, self._input_channels(i)))
            if self.variational:
                self.mean_layers[i].build((None, features))
                self.log_variance_layers[i].build((None, features))
            else:
                self.projections[i].build((None, 1, 1, features))

    def call(self, images, branch=0, domain_code=None):
        x = self.branches[branch](self._inputs(images, domain_code))
        if not self.variational:
            pooled = global_average(x, self.compute_dtype)[:, None, None, :]
            return self.projections[branch](pooled)[:, 0, 0, :]
        features = global_average(ops.leaky_relu(x, negative_slope=0.2), self.compute_dtype)
        return self.mean_layers[branch](features), self.log_variance_layers[branch](features)

    def get_config(self):
        return {
            **super().get_config(),
            "attribute_dim": self.attribute_dim,
            "variational": self.variational,
        }
