"""Normalization layers of the reference implementations (PyTorch semantics, NHWC).

Statistics are computed in float32 for float16, bfloat16 and float32 maps (in float64 for
float64 ones), and the result is cast back to the compute dtype.
"""

import keras
from keras import ops

from keras_i2i.layers.conv import Conv2D
from keras_i2i.layers.resize import resize_nearest


def _widened(x):
    """`x` in the dtype its statistics are computed in: float64 for float64, else float32
    (half-precision sums lose the mean)."""
    wide = keras.backend.standardize_dtype(x.dtype) == "float64"
    return ops.cast(x, "float64" if wide else "float32")


def instance_normalize(x, epsilon=1e-5):
    """`(x - mean) / sqrt(var + epsilon)` over H, W per sample and channel (biased variance).

    `x` (B, H, W, C) of any float dtype; returns float32 (float64 for float64 `x`).
    """
    x = _widened(x)
    mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
    return (x - mean) * ops.rsqrt(variance + epsilon)


@keras.saving.register_keras_serializable(package="keras_i2i")
class InstanceNormalization(keras.layers.Layer):
    """`nn.InstanceNorm2d(C, affine=affine, eps=epsilon, track_running_stats=...)`:
    (B, H, W, C) -> same shape.

    Weights with `affine=True`: `gamma` (C,) (PyTorch `weight`), `beta` (C,) (`bias`).
    With `track_running_stats=True` (vid2vid's instance norm) also `moving_mean`,
    `moving_variance` (C,) (`running_mean`, `running_var`): `training=True` normalizes each
    sample with its own statistics and updates `moving = momentum * moving + (1 - momentum)
    * batch average` (the variance with the unbiased per-sample variances, as PyTorch does;
    PyTorch's `momentum=0.1` is `momentum=0.9` here); otherwise the moving statistics are used.
    """

    def __init__(self, epsilon=1e-5, affine=False, track_running_stats=False, momentum=0.9,
                 **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.momentum = momentum

    def build(self, input_shape):
        channels = (input_shape[-1],)
        if self.affine:
            self.gamma = self.add_weight(
                name="gamma", shape=channels, initializer="ones", autocast=False
            )
            self.beta = self.add_weight(
                name="beta", shape=channels, initializer="zeros", autocast=False
            )
        if self.track_running_stats:
            moving = dict(shape=channels, trainable=False, autocast=False)
            self.moving_mean = self.add_weight(name="moving_mean", initializer="zeros", **moving)
            self.moving_variance = self.add_weight(
                name="moving_variance", initializer="ones", **moving
            )

    def _update_moving_statistics(self, x):
        mean, variance = ops.moments(x, axes=(1, 2))
        shape = ops.shape(x)
        count = ops.cast(shape[1] * shape[2], x.dtype)
        unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * ops.mean(mean, axis=0))
        self.moving_variance.assign(
            m * self.moving_variance + (1.0 - m) * ops.mean(unbiased, axis=0)
        )

    def call(self, inputs, training=None):
        if self.track_running_stats and not training:
            x = _widened(inputs)
            y = (x - self.moving_mean) * ops.rsqrt(self.moving_variance + self.epsilon)
        else:
            y = instance_normalize(inputs, self.epsilon)
            if self.track_running_stats:
                self._update_moving_statistics(_widened(inputs))
        if self.affine:
            y = y * self.gamma + self.beta
        return ops.cast(y, self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
            "momentum": self.momentum,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class LayerNorm(keras.layers.Layer):
    """Layer norm per sample over H, W, C with a per-channel `gamma`, `beta`: (B, H, W, C) ->
    same shape. Two references' formulas:

    - `unbiased=True` (MUNIT's `LayerNorm`): `(x - mean) / (std + epsilon)` with the
      *unbiased* std; `gamma` initialized uniform in [0, 1) as in MUNIT.
    - `unbiased=False` (DRIT's `LayerNorm`, i.e. `F.layer_norm` over C, H, W):
      `(x - mean) / sqrt(var + epsilon)` with the biased variance; `gamma` initialized to 1.

    Not `keras.layers.LayerNormalization` over H, W, C, whose `gamma` is per element.
    Weights: `gamma` (C,), `beta` (C,) (initialized to 0).
    """

    def __init__(self, epsilon=1e-5, unbiased=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.unbiased = unbiased

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(
            name="gamma",
            shape=channels,
            initializer=keras.initializers.RandomUniform(0.0, 1.0) if self.unbiased else "ones",
            autocast=False,
        )
        self.beta = self.add_weight(
            name="beta", shape=channels, initializer="zeros", autocast=False
        )

    def call(self, inputs):
        x = _widened(inputs)
        centered = x - ops.mean(x, axis=(1, 2, 3), keepdims=True)
        squares = ops.square(centered)
        if self.unbiased:
            shape = ops.shape(x)
            count = ops.cast(shape[1] * shape[2] * shape[3], x.dtype)
            variance = ops.sum(squares, axis=(1, 2, 3), keepdims=True) / (count - 1.0)
            # sqrt's gradient at 0 is infinite, and times the zero gradient of a constant
            # input's std it is NaN (INIT's padding crops are constant); a floor far below
            # epsilon**2 changes no output.
            std = ops.sqrt(ops.maximum(variance, 1e-20))
            normalized = centered / (std + self.epsilon)
        else:
            variance = ops.mean(squares, axis=(1, 2, 3), keepdims=True)
            normalized = centered * ops.rsqrt(variance + self.epsilon)
        return ops.cast(normalized * self.gamma + self.beta, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "unbiased": self.unbiased}


@keras.saving.register_keras_serializable(package="keras_i2i")
class BatchNorm(keras.layers.Layer):
    """`nn.BatchNorm2d` (or SPADE's `SynchronizedBatchNorm2d`): (B, H, W, C) -> same shape.

    `training=True` normalizes with the batch statistics (biased variance) and updates
    `moving = momentum * moving + (1 - momentum) * batch`, the variance with the unbiased
    batch variance, as PyTorch does (PyTorch's `momentum=0.1` is `momentum=0.9` here).
    Otherwise the moving statistics are used. With `synchronized=True` the batch statistics
    are all-reduced over the replicas of a `tf.distribute` strategy (TensorFlow cannot
    all-reduce inside a nested XLA function on CPU replicas; on GPUs it can); under JAX they
    are those of the global batch anyway.

    Weights: `moving_mean`, `moving_variance` (C,) (PyTorch `running_mean`, `running_var`);
    with `affine=True` also `gamma` (`weight`) and `beta` (`bias`).
    """

    def __init__(self, epsilon=1e-5, momentum=0.9, affine=True, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.momentum = momentum
        self.affine = affine
        self.synchronized = synchronized

    def build(self, input_shape):
        channels = (input_shape[-1],)
        if self.affine:
            self.gamma = self.add_weight(
                name="gamma", shape=channels, initializer="ones", autocast=False
            )
            self.beta = self.add_weight(
                name="beta", shape=channels, initializer="zeros", autocast=False
            )
        moving = dict(shape=channels, trainable=False, autocast=False)
        self.moving_mean = self.add_weight(name="moving_mean", initializer="zeros", **moving)
        self.moving_variance = self.add_weight(name="moving_variance", initializer="ones", **moving)

    def call(self, inputs, training=None):
        x = _widened(inputs)
        if training:
            # Under JAX the batch is one global array (`keras.distribution.DataParallel`
            # shards it): its statistics are the global batch's already.
            replicated = self.synchronized and keras.backend.backend() == "tensorflow"
            mean, variance = ops.moments(x, axes=(0, 1, 2), synchronized=replicated)
            shape = ops.shape(x)
            count = ops.cast(shape[0] * shape[1] * shape[2], x.dtype)
            if replicated:
                import tensorflow as tf

                count = count * tf.distribute.get_strategy().num_replicas_in_sync
            unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
            self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * unbiased)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.affine:
            y = y * self.gamma + self.beta
        return ops.cast(y, self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "momentum": self.momentum,
            "affine": self.affine,
            "synchronized": self.synchronized,
        }


def _zero_bias_unit_scale(shape, dtype=None):
    """Initial `[bias | scale]` = `[0 ... 0 | 1 ... 1]`, so a fresh projection is the identity."""
    half = shape[0] // 2
    return ops.cast(ops.concatenate([ops.zeros((half,)), ops.ones((shape[0] - half,))]), dtype)


@keras.saving.register_keras_serializable(package="keras_i2i")
class AdaptiveInstanceNorm(keras.layers.Layer):
    """AdaIN: `instance_normalize(x) * scale + bias` with per-sample `scale`, `bias` (B, C).

    Inputs, x being (B, H, W, C):
      - `[x, params]`, `params` (B, 2C) laid out `[bias | scale]`: MUNIT's MLP output sliced
        per AdaIN layer, whose first half is the mean (`bias`) and second the std (`weight`).
      - `[x, gamma, beta]`, the scale and the bias as separate (B, C) tensors.
      - `[x, style]` with `project_style=True`: `style` (B, S) goes through this layer's own
        `style_projection` Dense to `[bias | scale]` (initialized to bias 0, scale 1).
    Output (B, H, W, C). As in MUNIT, `scale` multiplies directly (not `1 + scale`).
    """

    def __init__(self, epsilon=1e-5, project_style=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.project_style = project_style

    def build(self, input_shape):
        if self.project_style:
            x_shape, style_shape = input_shape
            self.style_projection = keras.layers.Dense(
                2 * x_shape[-1],
                bias_initializer=_zero_bias_unit_scale,
                dtype=self.dtype_policy,
                name="style_projection",
            )
            self.style_projection.build(style_shape)

    def call(self, inputs):
        x = inputs[0]
        if len(inputs) == 3:
            scale, bias = inputs[1], inputs[2]
        else:
            params = self.style_projection(inputs[1]) if self.project_style else inputs[1]
            bias, scale = ops.split(params, 2, axis=-1)
        scale = _widened(scale)[:, None, None, :]
        bias = _widened(bias)[:, None, None, :]
        return ops.cast(instance_normalize(x, self.epsilon) * scale + bias, self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "project_style": self.project_style,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class SpatiallyAdaptiveNorm(keras.layers.Layer):
    """SPADE: `param_free_norm(x) * (1 + gamma(segmap)) + beta(segmap)`.

    Inputs `[x, segmap]`: `x` (B, H, W, C); `segmap` (B, H_s, W_s, L), resized to H x W
    nearest with PyTorch's pixel choice (`resize_nearest`). Output (B, H, W, C).

    The segmap goes through `mlp_shared` (k x k conv to `hidden_channels`, ReLU), then the
    k x k convs `mlp_gamma` and `mlp_beta` to C channels (zero padding k // 2). With
    `one_hot_channels` (the segmap's leading one-hot channels), `mlp_shared` may look up their
    kernel rows instead (see `Conv2D`). The
    parameter-free norm is `"instance"` (`InstanceNorm2d(affine=False)`) or `"batch"`
    (`BatchNorm` without affine, moving statistics at inference, all-reduced across replicas
    with `synchronized=True`: SPADE's `syncbatch`).
    """

    def __init__(
        self,
        param_free_norm="instance",
        synchronized=False,
        hidden_channels=128,
        kernel_size=3,
        epsilon=1e-5,
        momentum=0.9,
        kernel_initializer="glorot_uniform",
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if param_free_norm not in ("instance", "batch"):
            raise ValueError(
                f"param_free_norm must be 'instance' or 'batch', got {param_free_norm!r}"
            )
        self.param_free_norm = param_free_norm
        self.synchronized = synchronized
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.epsilon = epsilon
        self.momentum = momentum
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.one_hot_channels = one_hot_channels

    def build(self, input_shape):
        x_shape, segmap_shape = input_shape
        channels = x_shape[-1]
        common = dict(dtype=self.dtype_policy)
        if self.param_free_norm == "instance":
            self.normalization = InstanceNormalization(
                self.epsilon, name="param_free_norm", **common
            )
        else:
            self.normalization = BatchNorm(
                self.epsilon,
                self.momentum,
                affine=False,
                synchronized=self.synchronized,
                name="param_free_norm",
                **common,
            )
        conv = dict(
            kernel_size=self.kernel_size,
            padding=self.kernel_size // 2,
            kernel_initializer=self.kernel_initializer,
            **common,
        )
        self.mlp_shared = Conv2D(
            self.hidden_channels, one_hot_channels=self.one_hot_channels, name="mlp_shared", **conv
        )
        self.mlp_gamma = Conv2D(channels, name="mlp_gamma", **conv)
        self.mlp_beta = Conv2D(channels, name="mlp_beta", **conv)
        hidden_shape = (*segmap_shape[:-1], self.hidden_channels)
        self.normalization.build(x_shape)
        self.mlp_shared.build(segmap_shape)
        self.mlp_gamma.build(hidden_shape)
        self.mlp_beta.build(hidden_shape)

    def call(self, inputs):
        x, segmap = inputs
        normalized = self.normalization(x)
        segmap = resize_nearest(ops.cast(segmap, self.compute_dtype), ops.shape(x)[1:3])
        actv = ops.relu(self.mlp_shared(segmap))
        return normalized * (1.0 + self.mlp_gamma(actv)) + self.mlp_beta(actv)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "param_free_norm": self.param_free_norm,
            "synchronized": self.synchronized,
            "hidden_channels": self.hidden_channels,
            "kernel_size": self.kernel_size,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "one_hot_channels": self.one_hot_channels,
        }
