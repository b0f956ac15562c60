"""Nearest-neighbour resizing with PyTorch's pixel choice."""

from keras import ops


def _source_indices(in_size, out_size):
    """PyTorch's nearest index `min(floor(dst * (in / out)), in - 1)` (float32, like its kernel)."""
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    index = ops.floor(ops.cast(ops.arange(out_size), "float32") * scale)
    return ops.minimum(ops.cast(index, "int32"), in_size - 1)


def resize_nearest(x, size):
    """`F.interpolate(x, size=size, mode="nearest")` for NHWC tensors of any dtype.

    Output pixel `dst` takes input pixel `floor(dst * in / out)` along H and W (for a factor-k
    downsample the top-left pixel of each k x k block), unlike TensorFlow's half-pixel
    nearest resize. Works for any output size, with dynamic shapes and under XLA.

    Args:
        x: (B, H, W, C) tensor.
        size: `(out_h, out_w)`: ints, scalar int tensors, or a 2-element int tensor.

    Returns:
        (B, out_h, out_w, C) tensor of `x`'s dtype.
    """
    out_h, out_w = size[0], size[1]
    in_shape = ops.shape(x)
    x = ops.take(x, _source_indices(in_shape[1], out_h), axis=1)
    return ops.take(x, _source_indices(in_shape[2], out_w), axis=2)
