"""Padding and nearest upsampling with PyTorch's semantics, NHWC."""

from keras import ops

PAD_TYPES = ("zeros", "reflect", "replicate")


def pad2d(x, padding, pad_type="zeros"):
    """Pads the H and W axes of `x` (B, H, W, C) by `padding` pixels on each side.

    `pad_type` is `"zeros"` (`nn.ZeroPad2d`), `"reflect"` (`nn.ReflectionPad2d`, edge pixel
    not repeated) or `"replicate"` (`nn.ReplicationPad2d`, edge pixel repeated).
    """
    if pad_type not in PAD_TYPES:
        raise ValueError(f"pad_type must be one of {PAD_TYPES}, got {pad_type!r}")
    if padding == 0:
        return x
    if pad_type == "replicate":
        top, bottom = ops.repeat(x[:, :1], padding, axis=1), ops.repeat(x[:, -1:], padding, axis=1)
        x = ops.concatenate([top, x, bottom], axis=1)
        left = ops.repeat(x[:, :, :1], padding, axis=2)
        right = ops.repeat(x[:, :, -1:], padding, axis=2)
        return ops.concatenate([left, x, right], axis=2)
    pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    return ops.pad(x, pads, mode="constant" if pad_type == "zeros" else "reflect")


def upsample_nearest(x, factor=2):
    """`nn.Upsample(scale_factor=factor)` (nearest) of (B, H, W, C): each pixel repeated."""
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)
