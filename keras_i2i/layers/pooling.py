"""Pooling with PyTorch's padding semantics."""

import keras
from keras import ops

from keras_i2i.layers.padding import pad2d


@keras.saving.register_keras_serializable(package="keras_i2i")
class AvgPool2D(keras.layers.Layer):
    """`nn.AvgPool2d(pool_size, stride=strides, padding=padding, count_include_pad=...)`.

    (B, H, W, C) -> (B, H', W', C), `H' = floor((H + 2 * padding - pool_size) / strides) + 1`.
    The defaults are the downsampling between the scales of the pix2pixHD, SPADE and MUNIT
    multi-scale discriminators and of pix2pixHD's local-enhancer input pyramid:
    `AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`, where border windows
    average only the pixels inside the image (TensorFlow's "same" pooling also excludes
    padding but pads asymmetrically for even sizes, so it picks other windows).
    """

    def __init__(self, pool_size=3, strides=2, padding=1, count_include_pad=False, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding
        self.count_include_pad = count_include_pad

    def _pool(self, x):
        x = pad2d(x, self.padding, "zeros")
        return ops.average_pool(x, self.pool_size, self.strides, padding="valid")

    def call(self, inputs):
        pooled = self._pool(inputs)
        if self.count_include_pad or self.padding == 0:
            return pooled
        inside = self._pool(ops.ones_like(inputs[:1, :, :, :1]))
        return pooled / inside

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        h, w = (
            None if n is None else (n + 2 * self.padding - self.pool_size) // self.strides + 1
            for n in (h, w)
        )
        return (b, h, w, c)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "count_include_pad": self.count_include_pad,
        }
