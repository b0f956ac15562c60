"""The convolution block family every generator and discriminator is built from.

In the spirit of imaginaire's `Conv2dBlock`: one block whose padding, convolution (plain,
spectral-normalized or transposed), normalization and activation are arguments, so that
pix2pixHD's, SPADE's and MUNIT's blocks are configurations of one piece of code.
"""

import keras
from keras import ops

from keras_i2i.layers.conv import Conv2D, Conv2DTranspose
from keras_i2i.layers.normalization import (
    AdaptiveInstanceNorm,
    BatchNorm,
    InstanceNormalization,
    LayerNorm,
)

NORMS = ("none", "instance", "instance_running", "batch", "layer", "layer_biased", "adain")
ACTIVATIONS = {
    "none": lambda x: x,
    "relu": ops.relu,
    "lrelu": lambda x: ops.leaky_relu(x, negative_slope=0.2),
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
}


def _make_norm(norm, policy):
    if norm == "layer_biased":
        return LayerNorm(unbiased=False, name="norm", dtype=policy)
    if norm == "instance_running":
        return InstanceNormalization(track_running_stats=True, name="norm", dtype=policy)
    layers = {
        "instance": InstanceNormalization,
        "batch": BatchNorm,
        "layer": LayerNorm,
        "adain": AdaptiveInstanceNorm,
    }
    return layers[norm](name="norm", dtype=policy)


@keras.saving.register_keras_serializable(package="keras_i2i")
class ConvBlock(keras.layers.Layer):
    """pad -> conv -> norm -> activation (imaginaire's "CNA" order).

    Input (B, H, W, C_in), or `[x, adain_params]` with `norm="adain"` (`adain_params`
    (B, 2 * filters) laid out `[bias | scale]`, see `AdaptiveInstanceNorm`). Output
    (B, H', W', filters), sizes as `Conv2D` (or `Conv2DTranspose` with `transposed=True`).

    Args:
        filters, kernel_size, strides, padding, pad_type: as `Conv2D`.
        norm: `"none"`, `"instance"` (`InstanceNorm2d(affine=False)`), `"instance_running"`
            (`InstanceNorm2d(affine=False, track_running_stats=True)`, vid2vid's), `"batch"`
            (`BatchNorm2d`), `"layer"` (MUNIT's `LayerNorm`), `"layer_biased"` (DRIT's
            `LayerNorm`, `F.layer_norm`: `LayerNorm(unbiased=False)`) or `"adain"`.
        activation: `"relu"`, `"lrelu"` (slope `negative_slope`), `"tanh"`, `"sigmoid"` or
            `"none"`.
        spectral_norm: spectral-normalize the convolution.
        use_bias: convolution bias (SPADE drops it when spectral norm is followed by a norm).
        transposed: use `Conv2DTranspose` (zero padding, no spectral norm).
        output_padding: `Conv2DTranspose`'s `output_padding`.
        kernel_initializer: Keras initializer of the convolution.
        upsample: 2 upsamples the input (nearest) before the padding, as `Conv2D(upsample=2)`.
        one_hot_channels: leading one-hot input channels, as `Conv2D`.
        negative_slope: the slope of `"lrelu"` (0.2; `nn.LeakyReLU()`'s default is 0.01).

    Sub-layers: `conv` and, unless `norm="none"`, `norm_layer` (named "norm"). A `training`
    argument given to the call reaches them (spectral-norm power iteration, batch statistics).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding=0,
        pad_type="zeros",
        norm="none",
        activation="relu",
        spectral_norm=False,
        use_bias=True,
        transposed=False,
        output_padding=0,
        kernel_initializer="glorot_uniform",
        upsample=1,
        one_hot_channels=0,
        negative_slope=0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if transposed and (spectral_norm or pad_type != "zeros" or upsample != 1):
            raise ValueError(
                "transposed convolutions take zero padding, no spectral norm and no upsampling"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.pad_type = pad_type
        self.norm = norm
        self.activation = activation
        self.spectral_norm = spectral_norm
        self.use_bias = use_bias
        self.transposed = transposed
        self.output_padding = output_padding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.upsample = upsample
        self.one_hot_channels = one_hot_channels
        self.negative_slope = negative_slope

    def build(self, input_shape):
        x_shape = input_shape[0] if self.norm == "adain" else input_shape
        conv = dict(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )
        if self.transposed:
            self.conv = Conv2DTranspose(output_padding=self.output_padding, **conv)
        else:
            self.conv = Conv2D(
                pad_type=self.pad_type,
                spectral_norm=self.spectral_norm,
                upsample=self.upsample,
                one_hot_channels=self.one_hot_channels,
                **conv,
            )
        self.conv.build(x_shape)
        if self.norm != "none":
            self.norm_layer = _make_norm(self.norm, self.dtype_policy)
            y_shape = self.conv.compute_output_shape(x_shape)
            self.norm_layer.build([y_shape, input_shape[1]] if self.norm == "adain" else y_shape)

    def call(self, inputs):
        x = inputs[0] if self.norm == "adain" else inputs
        y = self.conv(x)
        if self.norm != "none":
            y = self.norm_layer([y, inputs[1]] if self.norm == "adain" else y)
        if self.activation == "lrelu":
            return ops.leaky_relu(y, negative_slope=self.negative_slope)
        return ACTIVATIONS[self.activation](y)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(
            input_shape[0] if self.norm == "adain" else input_shape
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "pad_type": self.pad_type,
            "norm": self.norm,
            "activation": self.activation,
            "spectral_norm": self.spectral_norm,
            "use_bias": self.use_bias,
            "transposed": self.transposed,
            "output_padding": self.output_padding,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "upsample": self.upsample,
            "one_hot_channels": self.one_hot_channels,
            "negative_slope": self.negative_slope,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class ResidualBlock(keras.layers.Layer):
    """`x + norm(conv(pad(act(norm(conv(pad(x)))))))`: pix2pixHD's `ResnetBlock`, MUNIT's
    `ResBlock`.

    Input (B, H, W, C) -> (B, H, W, C); both convolutions keep C channels (kernel k, padding
    k // 2). With `norm="adain"` the input is `[x, adain_params]`, `adain_params` (B, 4C):
    the first 2C (`[bias | scale]`) feed `conv_0`'s AdaIN, the next 2C `conv_1`'s, MUNIT's
    module order.

    Args:
        kernel_size, pad_type, norm, activation, spectral_norm, use_bias, kernel_initializer:
            as `ConvBlock` (the second block has no activation).

    Sub-layers: `ConvBlock`s `conv_0`, `conv_1`.
    """

    def __init__(
        self,
        kernel_size=3,
        pad_type="reflect",
        norm="instance",
        activation="relu",
        spectral_norm=False,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.pad_type = pad_type
        self.norm = norm
        self.activation = activation
        self.spectral_norm = spectral_norm
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        adain = self.norm == "adain"
        x_shape = input_shape[0] if adain else input_shape
        channels = x_shape[-1]
        block = dict(
            filters=channels,
            kernel_size=self.kernel_size,
            padding=self.kernel_size // 2,
            pad_type=self.pad_type,
            norm=self.norm,
            spectral_norm=self.spectral_norm,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        self.conv_0 = ConvBlock(activation=self.activation, name="conv_0", **block)
        self.conv_1 = ConvBlock(activation="none", name="conv_1", **block)
        block_shape = [x_shape, (x_shape[0], 2 * channels)] if adain else x_shape
        self.conv_0.build(block_shape)
        self.conv_1.build(block_shape)

    def call(self, inputs):
        if self.norm == "adain":
            x, params = inputs
            first, second = ops.split(params, 2, axis=-1)
            y = self.conv_1([self.conv_0([x, first]), second])
        else:
            x = inputs
            y = self.conv_1(self.conv_0(x))
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape[0] if self.norm == "adain" else input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "pad_type": self.pad_type,
            "norm": self.norm,
            "activation": self.activation,
            "spectral_norm": self.spectral_norm,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def generator_block(filters, kernel_size=3, strides=1, **options):
    """A `ConvBlock` of pix2pixHD's and vid2vid's generators: reflection pad 3 before a 7 x 7
    kernel (the references' `ReflectionPad2d(3)`), zero padding 1 around a 3 x 3 one; with
    `transposed=True` the stride-2 transposed convolution doubling H and W
    (`output_padding=1`). `options` (norm, activation, initializer, name, ...) are
    `ConvBlock`'s."""
    padding = dict(padding=3, pad_type="reflect") if kernel_size == 7 else dict(padding=1)
    output_padding = int(options.get("transposed", False))
    return ConvBlock(filters, kernel_size, strides, output_padding=output_padding, **padding,
                     **options)


def build_sequence(blocks, input_shape):
    """Builds `blocks` one after the other from `input_shape`; returns the output shape."""
    shape = input_shape
    for block in blocks:
        block.build(shape)
        shape = block.compute_output_shape(shape)
    return shape


def run_sequence(blocks, x):
    """`x` through `blocks` in order (an empty list is the identity, as `nn.Sequential()`)."""
    for block in blocks:
        x = block(x)
    return x
