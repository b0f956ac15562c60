"""Convolutions with PyTorch's padding semantics and the reference spectral normalization.

TensorFlow's `"same"` padding is asymmetric for even kernels and strided convolutions, while
PyTorch pads `padding` pixels on every side; these layers always pad explicitly and then
convolve `"valid"`, so a port of `nn.Conv2d(..., padding=p)` gives the same output size and
the same pixel alignment.
"""

import keras
from keras import ops

from keras_i2i.layers import conv_routes
from keras_i2i.layers.padding import PAD_TYPES, pad2d, upsample_nearest  # noqa: F401


@keras.saving.register_keras_serializable(package="keras_i2i")
class ReflectionPadding2D(keras.layers.Layer):
    """`nn.ReflectionPad2d(padding)`: (B, H, W, C) -> (B, H + 2p, W + 2p, C)."""

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, inputs):
        return pad2d(inputs, self.padding, "reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        h, w = (None if n is None else n + 2 * self.padding for n in (h, w))
        return (b, h, w, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _l2_normalize(x, eps=1e-12):
    """`F.normalize(x, dim=0, eps=1e-12)`: x / max(||x||, eps)."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), eps)


def _unit_normal(shape, dtype=None):
    """A random unit vector, as `torch.nn.utils.spectral_norm` initializes `u` and `v`."""
    return _l2_normalize(keras.random.normal(shape, dtype=dtype))


def own_initializer(initializer):
    """A copy of `initializer` for one layer.

    Keras draws an unseeded random initializer's seed once, so an instance shared by several
    layers (a model passing its `kernel_initializer` to every block) gives equal-shaped
    layers identical weights; each layer with weights initializes from its own copy instead.
    """
    return keras.initializers.get(keras.initializers.serialize(keras.initializers.get(initializer)))


class _Convolution(keras.layers.Layer):
    """The arguments, bias and config the convolutions share."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides,
        padding,
        use_bias,
        kernel_initializer,
        bias_initializer,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = own_initializer(kernel_initializer)
        self.bias_initializer = own_initializer(bias_initializer)

    def _add_kernel_and_bias(self, kernel_shape, autocast=True):
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            autocast=autocast,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer
            )

    def _add_bias(self, y):
        """`y + bias`, added in float32 under mixed precision: the bias gradient, a sum over
        every output pixel, then accumulates in float32 (JAX sums a bfloat16 broadcast's
        gradient in bfloat16: pix2pixHD's bias gradients were 52% off)."""
        if self.compute_dtype in ("float32", "float64"):
            return y + self.bias
        return ops.cast(ops.cast(y, "float32") + ops.cast(self.bias, "float32"), y.dtype)

    def _spatial_output_shape(self, input_shape, size):
        b, h, w, _ = input_shape
        h, w = (None if n is None else size(n) for n in (h, w))
        return (b, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class Conv2D(_Convolution):
    """`nn.Conv2d` with explicit symmetric padding and optional spectral normalization.

    Input (B, H, W, C_in) -> output (B, H', W', filters) with
    `H' = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / strides) + 1`, H
    doubled first with `upsample=2`.

    Weights: `kernel` (k, k, C_in, filters) (PyTorch `weight` transposed), `bias` (filters,).
    With `spectral_norm=True` (`torch.nn.utils.spectral_norm`, 1 power iteration) the raw
    `kernel` (PyTorch `weight_orig`) is the trainable variable, and two non-trainable unit
    vectors `u` (filters,) and `v` (k * k * C_in,) estimate its largest singular value. With
    `W` the kernel reshaped to (k * k * C_in, filters), the forward pass uses the kernel
    divided by `sigma = u . (W^T v)`; when called with `training=True` one power iteration
    `v = normalize(W u)`, `u = normalize(W^T v)` runs first and is stored. `sigma` is
    computed in float32 whatever the compute dtype.

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        strides: stride.
        padding: pixels padded on each side before the convolution.
        pad_type: `"zeros"`, `"reflect"` or `"replicate"`.
        dilation_rate: dilation (only with `strides=1`).
        use_bias: whether to add a bias.
        spectral_norm: whether to divide the kernel by its spectral norm.
        kernel_initializer, bias_initializer: Keras initializers.
        upsample: 2 convolves the nearest x2 upsampled input (`nn.Upsample(scale_factor=2)`
            before the conv, as MUNIT's decoder), computed at the input's resolution
            (`upsampled_conv`); needs stride 1, no dilation and `kernel_size = 2 padding + 1`.
        one_hot_channels: how many leading input channels hold a one-hot map (exactly one 1
            per pixel). Inside `one_hot_lookup()`, inference convolves them with
            `one_hot_conv` (from their argmax) and the other channels (there must be some)
            as usual; needs stride 1, no dilation and no upsampling.

    Stride-1 convolutions to at most `TAP_MATMUL_MAX_FILTERS` filters run as one matrix
    product per pixel (`tap_matmul_conv`), those with at most `TINY_OUTPUT_PIXELS` static
    output pixels as one product of their window matrix (`windows_matmul_conv`). Stride-1
    convolutions of static, small inputs take their gradients as matrix products
    (`conv_with_matmul_gradients`, the same values, faster for small maps of many channels);
    stride-2 convolutions with even kernels of static inputs run as stride-1 convolutions of
    2 x 2 blocks (`space_to_depth_conv`, the same values, faster gradients under XLA).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding=0,
        pad_type="zeros",
        dilation_rate=1,
        use_bias=True,
        spectral_norm=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        upsample=1,
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            use_bias,
            kernel_initializer,
            bias_initializer,
            **kwargs,
        )
        if one_hot_channels and (strides, dilation_rate, upsample) != (1, 1, 1):
            raise ValueError(
                "one_hot_channels needs strides=1, dilation_rate=1 and upsample=1, got "
                f"{strides}, {dilation_rate} and {upsample}"
            )
        if pad_type not in PAD_TYPES:
            raise ValueError(f"pad_type must be one of {PAD_TYPES}, got {pad_type!r}")
        if strides > 1 and dilation_rate > 1:
            raise ValueError("strides > 1 together with dilation_rate > 1 is not supported")
        if upsample not in (1, 2):
            raise ValueError(f"upsample must be 1 or 2, got {upsample!r}")
        if upsample == 2 and (strides, dilation_rate, kernel_size) != (1, 1, 2 * padding + 1):
            raise ValueError(
                "upsample=2 needs strides=1, dilation_rate=1 and kernel_size = 2 * padding + 1, "
                f"got {strides}, {dilation_rate} and kernel_size {kernel_size}, padding {padding}"
            )
        self.pad_type = pad_type
        self.dilation_rate = dilation_rate
        self.spectral_norm = spectral_norm
        self.upsample = upsample
        self.one_hot_channels = one_hot_channels

    def build(self, input_shape):
        in_channels = input_shape[-1]
        k = self.kernel_size
        self._add_kernel_and_bias(
            (k, k, in_channels, self.filters), autocast=not self.spectral_norm
        )
        if self.spectral_norm:
            sn_weight = dict(initializer=_unit_normal, trainable=False, autocast=False)
            self.u = self.add_weight(name="u", shape=(self.filters,), **sn_weight)
            self.v = self.add_weight(name="v", shape=(k * k * in_channels,), **sn_weight)

    def normalized_kernel(self, training=False):
        """The kernel divided by its spectral norm (float32); updates `u`, `v` when training."""
        kernel = ops.convert_to_tensor(self.kernel)
        w = ops.reshape(kernel, (-1, self.filters))
        u, v = ops.convert_to_tensor(self.u), ops.convert_to_tensor(self.v)
        if training:
            w_const = ops.stop_gradient(w)
            v = _l2_normalize(ops.matmul(w_const, u))
            u = _l2_normalize(ops.matmul(ops.transpose(w_const), v))
            self.v.assign(v)
            self.u.assign(u)
        sigma = ops.sum(u * ops.matmul(ops.transpose(w), v))
        return kernel / sigma

    def call(self, inputs, training=None):
        self._check_size(inputs.shape)
        if self.spectral_norm:
            kernel = ops.cast(self.normalized_kernel(training), self.compute_dtype)
        else:
            kernel = self.kernel
        n = self.one_hot_channels
        bias = self.bias if self.use_bias else None
        if n and inputs.shape[-1] > n and not training and conv_routes.lookup_enabled():
            # The other channels' convolution, added last, keeps XLA from fusing the gathers
            # into the consumers' reductions (an instance norm: 20x slower there).
            labels = ops.argmax(inputs[..., :n], axis=-1)
            lookup = conv_routes.one_hot_conv(labels, kernel[:, :, :n], self.padding,
                                              self.pad_type, bias)
            return lookup + self._convolve(inputs[..., n:], kernel[:, :, n:], training)
        y = self._convolve(inputs, kernel, training)
        return y if bias is None else self._add_bias(y)

    def _convolve(self, inputs, kernel, training):
        """The convolution without bias: `inputs` upsampled (`upsample`), padded and
        convolved "valid" (by a faster route of `conv_routes` where those are enabled for
        training steps or inference)."""
        kernel = ops.cast(kernel, self.compute_dtype)
        if conv_routes.enabled(bool(training)):
            return conv_routes.convolve(inputs, kernel, self.padding, self.pad_type, self.strides,
                                        self.dilation_rate, self.upsample)
        if self.upsample == 2:
            inputs = upsample_nearest(inputs)
        return ops.conv(pad2d(inputs, self.padding, self.pad_type), kernel,
                        strides=self.strides, padding="valid", dilation_rate=self.dilation_rate)

    @property
    def _span(self):
        """The side of the input window an output pixel reads."""
        return self.dilation_rate * (self.kernel_size - 1) + 1

    def _check_size(self, shape):
        """Refuses a static (B, H, W, C) input smaller than the window once upsampled and
        padded (the plain convolution fails deep in the backend; a route would return an
        empty map)."""
        sides = [self.upsample * n + 2 * self.padding for n in shape[1:3] if n is not None]
        if any(side < self._span for side in sides):
            raise ValueError(f"{self.name}: a {self._span}x{self._span} window does not fit "
                             f"its {shape[1]}x{shape[2]} input (padded by {self.padding}): the "
                             "images are too small for this network")

    def compute_output_shape(self, input_shape):
        return self._spatial_output_shape(
            input_shape,
            lambda n: (self.upsample * n + 2 * self.padding - self._span) // self.strides + 1,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "pad_type": self.pad_type,
            "dilation_rate": self.dilation_rate,
            "spectral_norm": self.spectral_norm,
            "upsample": self.upsample,
            "one_hot_channels": self.one_hot_channels,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class Conv2DTranspose(_Convolution):
    """`nn.ConvTranspose2d(padding=p, output_padding=op)`.

    Input (B, H, W, C_in) -> output (B, H', W', filters) with
    `H' = (H - 1) * strides - 2 * padding + kernel_size + output_padding`, e.g. pix2pixHD's
    kernel 3, stride 2, padding 1, output_padding 1 doubles H. The full ("valid") transposed
    convolution is cropped to `[padding : padding + H']`; positions past its end that
    `output_padding` adds receive only the bias, as in PyTorch. At inference, where the
    convolution routes are enabled (`conv_routes.enabled`), it is computed as one stride-1
    convolution per output phase (`phase_conv_transpose`); training steps keep the
    transposed convolution, whose gradients XLA computes faster.

    Weights: `kernel` (k, k, filters, C_in) (PyTorch `weight` (C_in, filters, k, k)
    transposed), `bias` (filters,).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding=0,
        output_padding=0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            use_bias,
            kernel_initializer,
            bias_initializer,
            **kwargs,
        )
        if output_padding >= strides:
            raise ValueError(
                f"output_padding ({output_padding}) must be smaller than strides ({strides})"
            )
        self.output_padding = output_padding

    def build(self, input_shape):
        k = self.kernel_size
        self._add_kernel_and_bias((k, k, self.filters, input_shape[-1]))

    def call(self, inputs, training=None):
        if not training and conv_routes.enabled(training=False):
            y = conv_routes.phase_conv_transpose(
                inputs, self.kernel, self.strides, self.padding, self.output_padding
            )
        else:  # in training steps too: XLA's gradients of it are the faster ones
            y = self._transposed_conv(inputs)
        return self._add_bias(y) if self.use_bias else y

    def _transposed_conv(self, inputs):
        y = ops.conv_transpose(inputs, self.kernel, strides=self.strides, padding="valid")
        # TF's valid output is H * s + max(k - s, 0); PyTorch's uncropped one (H - 1) * s + k.
        trailing = max(self.strides - self.kernel_size, 0) + self.padding - self.output_padding
        if trailing < 0:
            y = ops.pad(y, [[0, 0], [0, -trailing], [0, -trailing], [0, 0]])
        end = -trailing if trailing > 0 else None
        return y[:, self.padding : end, self.padding : end]

    def compute_output_shape(self, input_shape):
        def size(n):
            return (
                (n - 1) * self.strides - 2 * self.padding + self.kernel_size + self.output_padding
            )

        return self._spatial_output_shape(input_shape, size)

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}
