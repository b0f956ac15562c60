"""MUNIT's generator (`AdaINGen`): one auto-encoder per domain.

    image -- content_encoder --> content (B, H/4, W/4, 4 dim) ----------------+
    image -- style_encoder --> style (B, style_dim) -- mlp --> AdaIN params --+-- decoder
                                                                                   |
                                                                     image <-------+

The content encoder and the decoder's residual blocks keep the content's spatial layout; the
style, a small vector, sets every AdaIN scale and bias of the decoder through the MLP.
"""

import keras
from keras import ops

from keras_i2i.layers import Conv2D, ConvBlock, ResidualBlock
from keras_i2i.layers.blocks import ACTIVATIONS
from keras_i2i.layers.conv import own_initializer

INITIALIZERS = ("kaiming", "gaussian", "xavier", "orthogonal")


def initializer(init):
    """MUNIT's `weights_init(init)` as a Keras kernel initializer (biases start at zero).

    `"kaiming"`: N(0, 2 / fan_in) (`kaiming_normal`, the generators' default); `"gaussian"`:
    N(0, 0.02) (the discriminators'); `"xavier"`: `xavier_normal` with gain sqrt(2);
    `"orthogonal"`: orthogonal with gain sqrt(2).
    """
    if init == "kaiming":
        return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")
    if init == "gaussian":
        return keras.initializers.RandomNormal(0.0, 0.02)
    if init == "xavier":
        return keras.initializers.VarianceScaling(2.0, "fan_avg", "untruncated_normal")
    if init == "orthogonal":
        return keras.initializers.Orthogonal(gain=2.0**0.5)
    raise ValueError(f"init must be one of {INITIALIZERS}, got {init!r}")


def _conv_block(filters, kernel_size, strides=1, norm="none", activation="relu",
                pad_type="reflect", kernel_initializer=None, dtype=None, name=None, upsample=1):
    """MUNIT's `Conv2dBlock`: pad (k // 2; 1 for the stride-2 4 x 4 convs), conv, norm,
    activation; with `upsample=2` preceded by its decoder's `nn.Upsample(scale_factor=2)`."""
    return ConvBlock(
        filters,
        kernel_size,
        strides=strides,
        padding=1 if strides == 2 else kernel_size // 2,
        pad_type=pad_type,
        norm=norm,
        activation=activation,
        kernel_initializer=kernel_initializer,
        dtype=dtype,
        name=name,
        upsample=upsample,
    )


def _build_chain(blocks, input_shape):
    """Builds `blocks` (those not built yet) in order from `input_shape`; returns the last
    output shape."""
    shape = input_shape
    for block in blocks:
        if not block.built:
            block.build(shape)
        shape = block.compute_output_shape(shape)
    return shape


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")


class _ConvStack(keras.layers.Layer):
    """What the encoders and the decoder share: the activation, padding and initializer of
    their `Conv2dBlock`s (`self.block_args`), and their config."""

    def __init__(self, activation, pad_type, kernel_initializer, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        self.activation = activation
        self.pad_type = pad_type
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.block_args = dict(activation=activation, pad_type=pad_type,
                               kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)

    def get_config(self):
        return {
            **super().get_config(),
            "activation": self.activation,
            "pad_type": self.pad_type,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class ContentEncoder(_ConvStack):
    """MUNIT's `ContentEncoder`: a 7 x 7 conv to `dim` channels, `n_downsample` 4 x 4 stride-2
    convs doubling the channels, `n_res` residual blocks; instance norm throughout.

    Input (B, H, W, C) images -> content code (B, H / 2^n, W / 2^n, dim * 2^n), n =
    `n_downsample`.

    Args:
        dim: channels of the first conv.
        n_downsample: stride-2 convs.
        n_res: residual blocks.
        activation, pad_type, kernel_initializer: as `ConvBlock`.
    """

    def __init__(self, dim=64, n_downsample=2, n_res=4, activation="relu", pad_type="reflect",
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(activation, pad_type, kernel_initializer, **kwargs)
        self.dim = dim
        self.n_downsample = n_downsample
        self.n_res = n_res
        blocks = self.block_args
        self.blocks = [_conv_block(dim, 7, norm="instance", name="initial", **blocks)]
        for i in range(n_downsample):
            self.blocks.append(_conv_block(dim * 2 ** (i + 1), 4, 2, norm="instance",
                                           name=f"downsample_{i}", **blocks))
        self.blocks += [
            ResidualBlock(norm="instance", name=f"residual_{i}", **blocks) for i in range(n_res)
        ]

    def build(self, input_shape):
        _build_chain(self.blocks, input_shape)

    def call(self, images):
        x = images
        for block in self.blocks:
            x = block(x)
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        factor = 2**self.n_downsample
        h, w = (None if n is None else n // factor for n in (h, w))
        return (b, h, w, self.dim * factor)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "n_downsample": self.n_downsample,
            "n_res": self.n_res,
        }


def _area_resize(masks, size):
    """Masks (B, H, W, K) averaged over blocks to `size` (h, w), H and W multiples of them."""
    shape = ops.shape(masks)
    h, w = size
    blocks = ops.reshape(masks, (shape[0], h, shape[1] // h, w, shape[2] // w, shape[3]))
    return ops.mean(blocks, axis=(2, 4))


@keras.saving.register_keras_serializable(package="keras_i2i")
class StyleEncoder(_ConvStack):
    """MUNIT's `StyleEncoder`: a 7 x 7 conv to `dim` channels, two 4 x 4 stride-2 convs doubling
    the channels and `n_downsample - 2` keeping them, global average pooling, a 1 x 1 conv to
    `style_dim`; no normalization (MUNIT's AdaINGen uses `n_downsample=4`).

    Input (B, H, W, C) images -> style code (B, style_dim).
    """

    def __init__(self, dim=64, style_dim=8, n_downsample=4, activation="relu",
                 pad_type="reflect", kernel_initializer="he_normal", **kwargs):
        super().__init__(activation, pad_type, kernel_initializer, **kwargs)
        if n_downsample < 2:
            raise ValueError(f"n_downsample must be at least 2, got {n_downsample}")
        self.dim = dim
        self.style_dim = style_dim
        self.n_downsample = n_downsample
        self.blocks = [_conv_block(dim, 7, name="initial", **self.block_args)]
        for i in range(n_downsample):
            filters = dim * 2 ** min(i + 1, 2)
            self.blocks.append(
                _conv_block(filters, 4, 2, name=f"downsample_{i}", **self.block_args)
            )
        self.projection = Conv2D(style_dim, 1, kernel_initializer=self.kernel_initializer,
                                 dtype=self.dtype_policy, name="projection")

    def build(self, input_shape):
        b, _, _, channels = _build_chain(self.blocks, input_shape)
        self.projection.build((b, 1, 1, channels))

    def call(self, images, regions=None):
        """Images (B, H, W, C) -> styles (B, style_dim); with `regions` (B, H, W, K) masks in
        [0, 1], the style of each region (B, K, style_dim): the features averaged over the
        region (at their resolution, the masks area-averaged) instead of everywhere; an empty
        region gets the whole image's style."""
        x = images
        for block in self.blocks:
            x = block(x)
        x = ops.cast(x, "float32")
        if regions is None:
            pooled = ops.mean(x, axis=(1, 2), keepdims=True)
            return self.projection(ops.cast(pooled, self.compute_dtype))[:, 0, 0, :]
        weights = _area_resize(ops.cast(regions, "float32"), ops.shape(x)[1:3])
        area = ops.sum(weights, axis=(1, 2))[..., None]
        pooled = ops.where(
            area > 1e-6,
            ops.einsum("bhwc,bhwk->bkc", x, weights) / ops.maximum(area, 1e-6),
            ops.mean(x, axis=(1, 2))[:, None, :],
        )
        return self.projection(ops.cast(pooled[:, :, None, :], self.compute_dtype))[:, :, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.style_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "style_dim": self.style_dim,
            "n_downsample": self.n_downsample,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class MLP(keras.layers.Layer):
    """MUNIT's `MLP`: `n_blk` dense layers, `dim` wide with `activation` after each but the
    last, which is linear to `output_dim`.

    Input (B, S) style codes -> (B, output_dim) (the decoder's AdaIN parameters).
    """

    def __init__(self, output_dim, dim=256, n_blk=3, activation="relu",
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        self.output_dim = output_dim
        self.dim = dim
        self.n_blk = n_blk
        self.activation = activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense_layers = [
            keras.layers.Dense(
                output_dim if i == n_blk - 1 else dim,
                kernel_initializer=own_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=f"dense_{i}",
            )
            for i in range(n_blk)
        ]

    def build(self, input_shape):
        _build_chain(self.dense_layers, input_shape)

    def call(self, style):
        x = style
        for layer in self.dense_layers[:-1]:
            x = ACTIVATIONS[self.activation](layer(x))
        return self.dense_layers[-1](x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "dim": self.dim,
            "n_blk": self.n_blk,
            "activation": self.activation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class Decoder(_ConvStack):
    """MUNIT's `Decoder`: `n_res` AdaIN residual blocks on `dim` channels, `n_upsample` times
    [nearest x2 upsampling, 5 x 5 conv halving the channels, MUNIT's layer norm], a 7 x 7
    conv to `output_channels`, tanh.

    Inputs `[content, adain_params]`: content (B, h, w, dim); adain_params (B, 4 dim n_res)
    (`num_adain_params`), per residual block `[bias | scale]` of its first then of its second
    AdaIN (MUNIT's module order). Output (B, h 2^n, w 2^n, output_channels) in [-1, 1].
    """

    def __init__(self, dim=256, output_channels=3, n_upsample=2, n_res=4, activation="relu",
                 pad_type="reflect", kernel_initializer="he_normal", **kwargs):
        super().__init__(activation, pad_type, kernel_initializer, **kwargs)
        self.dim = dim
        self.output_channels = output_channels
        self.n_upsample = n_upsample
        self.n_res = n_res
        blocks = self.block_args
        self.residual_blocks = [
            ResidualBlock(norm="adain", name=f"residual_{i}", **blocks) for i in range(n_res)
        ]
        # The upsampling and the 5 x 5 conv after it are one `ConvBlock(upsample=2)`, which
        # computes them at the lower resolution (2.8x fewer multiply-adds, the same result).
        self.upsample_blocks = [
            _conv_block(dim // 2 ** (i + 1), 5, norm="layer", name=f"upsample_{i}", upsample=2,
                        **blocks)
            for i in range(n_upsample)
        ]
        self.output_block = _conv_block(
            output_channels, 7, name="output", **{**blocks, "activation": "tanh"}
        )

    def build(self, input_shape):
        x_shape, params_shape = input_shape
        block_params = (params_shape[0], self.num_adain_params // self.n_res)
        for block in self.residual_blocks:
            if not block.built:
                block.build([x_shape, block_params])
        self.output_block.build(_build_chain(self.upsample_blocks, x_shape))

    @property
    def num_adain_params(self):
        """Length of the AdaIN parameter vector the decoder takes per sample."""
        return 4 * self.dim * self.n_res

    def call(self, inputs):
        x, params = inputs
        for block, block_params in zip(
            self.residual_blocks, ops.split(params, self.n_res, axis=-1)
        ):
            x = block([x, block_params])
        for block in self.upsample_blocks:
            x = block(x)
        return self.output_block(x)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape[0]
        factor = 2**self.n_upsample
        h, w = (None if n is None else n * factor for n in (h, w))
        return (b, h, w, self.output_channels)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "output_channels": self.output_channels,
            "n_upsample": self.n_upsample,
            "n_res": self.n_res,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class AdaINGenerator(keras.Model):
    """MUNIT's `AdaINGen`: the auto-encoder of one domain.

    `encode(images)` -> `(content, style)`: content (B, H / 4, W / 4, 4 dim) (with
    `n_downsample=2`), style (B, style_dim). `decode(content, style)` -> images (B, H, W,
    channels) in [-1, 1]. Calling the model on images encodes them, on `[content, style]`
    decodes.

    Args (MUNIT's `gen` options):
        channels: image channels (`input_dim_a` / `input_dim_b`).
        dim: channels of the encoders' first convs.
        style_dim: length of the style code.
        mlp_dim: width of the MLP.
        n_downsample: stride-2 convs of the content encoder (the decoder upsamples as often;
            the style encoder always has 4).
        n_res: residual blocks of the content encoder and of the decoder.
        activation: `"relu"`, `"lrelu"`, `"tanh"` or `"none"`.
        pad_type: `"reflect"`, `"zeros"` or `"replicate"`.
        init: weight initialization (`initializer`).

    Sub-networks: `style_encoder`, `content_encoder`, `mlp` and `decoder`.
    """

    def __init__(self, channels=3, dim=64, style_dim=8, mlp_dim=256, n_downsample=2, n_res=4,
                 activation="relu", pad_type="reflect", init="kaiming", **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.dim = dim
        self.style_dim = style_dim
        self.mlp_dim = mlp_dim
        self.n_downsample = n_downsample
        self.n_res = n_res
        self.activation = activation
        self.pad_type = pad_type
        self.init = init
        common = dict(activation=activation, pad_type=pad_type,
                      kernel_initializer=initializer(init), dtype=self.dtype_policy)
        self.style_encoder = StyleEncoder(dim, style_dim, 4, name="style_encoder", **common)
        self.content_encoder = ContentEncoder(
            dim, n_downsample, n_res, name="content_encoder", **common
        )
        self.decoder = Decoder(
            dim * 2**n_downsample, channels, n_downsample, n_res, name="decoder", **common
        )
        self.mlp = MLP(self.decoder.num_adain_params, mlp_dim, 3, activation, initializer(init),
                       dtype=self.dtype_policy, name="mlp")

    def build(self, input_shape=None):
        """Builds every part from the configuration (the input shape adds nothing)."""
        images = (None, None, None, self.channels)
        self.style_encoder.build(images)
        self.content_encoder.build(images)
        self.mlp.build((None, self.style_dim))
        self.decoder.build(
            [self.content_encoder.compute_output_shape(images), (None, self.mlp.output_dim)]
        )

    def call(self, inputs):
        """Images -> `[content, style]` (encoding); `[content, style]` -> images (decoding).

        One entry point for both directions, so that a per-network `tf.function` (the base
        model's XLA under strategies) covers every use of the generator.
        """
        if isinstance(inputs, (list, tuple)):
            content, style = inputs
            return self.decoder([content, self.mlp(style)])
        return [self.content_encoder(inputs), self.style_encoder(inputs)]

    def encode(self, images):
        """Images (B, H, W, channels) -> `(content, style)`."""
        content, style = self(images)
        return content, style

    def decode(self, content, style):
        """Content (B, h, w, C) and style (B, style_dim) -> images (B, H, W, channels)."""
        return self([content, style])

    def reconstruct(self, images):
        """`decode(*encode(images))`, the reference `AdaINGen.forward`."""
        return self.decode(*self.encode(images))

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "dim": self.dim,
            "style_dim": self.style_dim,
            "mlp_dim": self.mlp_dim,
            "n_downsample": self.n_downsample,
            "n_res": self.n_res,
            "activation": self.activation,
            "pad_type": self.pad_type,
            "init": self.init,
        }
