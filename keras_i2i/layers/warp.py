"""Backward warping by an optical-flow field (vid2vid's `resample`)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_i2i")
class FlowWarp(keras.layers.Layer):
    """Bilinear backward warp with border padding.

    Inputs `[image, flow]`: image (B, H, W, C); flow (B, H, W, 2) in pixels, `(dx, dy)`.
    Output (B, H, W, C): pixel (x, y) is the image sampled at `(x + dx, y + dy)`, bilinearly,
    the coordinates clamped to the image (`grid_sample(..., padding_mode="border")` with
    `align_corners=True`, as vid2vid normalizes the flow by `(size - 1) / 2`).
    Differentiable in the image and the flow; gather-based, so XLA-compilable. The
    interpolation runs in float32.
    """

    def call(self, inputs):
        image, flow = inputs
        shape = ops.shape(image)
        flow = ops.cast(flow, "float32")
        x = ops.cast(ops.arange(shape[2]), "float32")[None, None, :] + flow[..., 0]
        y = ops.cast(ops.arange(shape[1]), "float32")[None, :, None] + flow[..., 1]
        return ops.cast(bilinear_sample(image, x, y), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def bilinear_sample(image, x, y):
    """`image` (B, H, W, C) sampled bilinearly at pixel coordinates `x`, `y` (B, ...) (pixel
    (i, j) at x = j, y = i), the coordinates clamped to the image; float32 (B, ..., C).
    Gather-based (XLA-compilable), differentiable in the image and the coordinates."""
    shape = ops.shape(image)
    batch, height, width = shape[0], shape[1], shape[2]
    x = ops.clip(ops.cast(x, "float32"), 0.0, ops.cast(width - 1, "float32"))
    y = ops.clip(ops.cast(y, "float32"), 0.0, ops.cast(height - 1, "float32"))
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)

    pixels = ops.reshape(ops.cast(image, "float32"), (-1, shape[3]))
    offsets = ops.arange(batch, dtype="int32") * (height * width)
    offsets = ops.reshape(offsets, (-1,) + (1,) * (len(x.shape) - 1))

    def sample(yi, xi):
        return ops.take(pixels, offsets + yi * width + xi, axis=0)

    top = sample(y0, x0) * (1.0 - wx) + sample(y0, x1) * wx
    bottom = sample(y1, x0) * (1.0 - wx) + sample(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy
