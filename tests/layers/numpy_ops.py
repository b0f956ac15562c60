"""Plain-numpy versions of the PyTorch operations the layers port (NHWC, PyTorch weight layouts)."""

import numpy as np

NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}


def pad(x, padding, pad_type="zeros"):
    return np.pad(
        x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=NUMPY_PAD_MODES[pad_type]
    )


def conv2d(x, weight, bias=None, stride=1, padding=0, pad_type="zeros", dilation=1):
    """`F.conv2d` on NHWC `x` with a PyTorch (out, in, k, k) weight."""
    x = pad(x.astype("float64"), padding, pad_type)
    k = weight.shape[2]
    out_h = (x.shape[1] - dilation * (k - 1) - 1) // stride + 1
    out_w = (x.shape[2] - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((x.shape[0], out_h, out_w, weight.shape[0]))
    for i in range(k):
        for j in range(k):
            patch = x[
                :,
                i * dilation : i * dilation + stride * (out_h - 1) + 1 : stride,
                j * dilation : j * dilation + stride * (out_w - 1) + 1 : stride,
            ]
            y += patch @ weight[:, :, i, j].T
    return y if bias is None else y + bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """`F.conv_transpose2d` on NHWC `x` with a PyTorch (in, out, k, k) weight."""
    b, h, w, _ = x.shape
    k = weight.shape[2]
    out_h = (h - 1) * stride - 2 * padding + k + output_padding
    out_w = (w - 1) * stride - 2 * padding + k + output_padding
    full = np.zeros(
        (
            b,
            max((h - 1) * stride + k, padding + out_h),
            max((w - 1) * stride + k, padding + out_w),
            weight.shape[1],
        )
    )
    for i in range(k):
        for j in range(k):
            full[
                :, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (w - 1) + 1 : stride
            ] += (x @ weight[:, :, i, j])
    y = full[:, padding : padding + out_h, padding : padding + out_w]
    return y if bias is None else y + bias


def instance_norm(x, eps=1e-5):
    x = x.astype("float64")
    mean = x.mean(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + eps)


def resize_nearest(x, out_h, out_w):
    """`F.interpolate(mode="nearest")`: source index `floor(dst * in / out)`."""
    rows = np.arange(out_h) * x.shape[1] // out_h
    cols = np.arange(out_w) * x.shape[2] // out_w
    return x[:, rows][:, :, cols]


def normalize(v, eps=1e-12):
    return v / max(np.linalg.norm(v), eps)
