"""The Inception network published FIDs use, in Keras, and its weights from pytorch-fid.

FIDs in papers come from the 2015 TensorFlow Inception graph (TTUR's `fid.py`), which
pytorch-fid ships as `pt_inception-2015-12-05-6726825d.pth` (as does clean-fid's
`legacy_pytorch` mode; its default modes run NVIDIA's TorchScript `inception-2015-12-05.pt`
of the same graph, which this does not read, after their own resize): torchvision's
InceptionV3 layout with `FIDInceptionA`/`C`/`E_1` (3x3 average pools that
leave the zero padding out of the mean, as TensorFlow's do), `FIDInceptionE_2` (a max pool in
its pool branch), BatchNorm eps 0.001, and the 2048-d average-pooled "pool3" features.
`fid_inception_v3` builds it channels-last with the layers named as the PyTorch modules,
`convert_fid_inception` turns the `.pth` (torch needed once) into a `.weights.h5` that
later runs load without torch, and `fid_preprocess` is pytorch-fid's input path.
"""

import os

import keras
import numpy as np
from keras import ops

from keras_i2i.convert.common import StateDictMismatch, WeightMapper, conv_kernel, load_state_dict
from keras_i2i.layers import AvgPool2D, BatchNorm

INPUT_SIZE = 299
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


def _basic_conv(x, name, filters, kernel_size, strides=1, padding="same"):
    """torchvision's `BasicConv2d`: conv (no bias) -> BatchNorm(eps=0.001) -> ReLU. Every
    padded convolution of the network has stride 1 and odd kernels, so "same" is PyTorch's
    symmetric `padding=k // 2`."""
    x = keras.layers.Conv2D(filters, kernel_size, strides, padding, use_bias=False,
                            name=f"{name}.conv", dtype="float32")(x)
    x = BatchNorm(epsilon=0.001, name=f"{name}.bn", dtype="float32")(x)
    return ops.relu(x)


def _avg_pool(x):
    """`F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)`."""
    return AvgPool2D(3, strides=1, padding=1, count_include_pad=False, dtype="float32")(x)


def _max_pool(x, strides=2):
    """`F.max_pool2d(x, 3, stride=2)`, or with `strides=1` `padding=1` (padding never wins)."""
    padding = "same" if strides == 1 else "valid"
    return keras.layers.MaxPooling2D(3, strides, padding, dtype="float32")(x)


def _inception_a(x, name, pool_features):
    branch1x1 = _basic_conv(x, f"{name}.branch1x1", 64, 1)
    branch5x5 = _basic_conv(x, f"{name}.branch5x5_1", 48, 1)
    branch5x5 = _basic_conv(branch5x5, f"{name}.branch5x5_2", 64, 5)
    branch3x3dbl = _basic_conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3)
    branch3x3dbl = _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3)
    branch_pool = _basic_conv(_avg_pool(x), f"{name}.branch_pool", pool_features, 1)
    return ops.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


def _inception_b(x, name):
    branch3x3 = _basic_conv(x, f"{name}.branch3x3", 384, 3, 2, "valid")
    branch3x3dbl = _basic_conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3)
    branch3x3dbl = _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, 2, "valid")
    return ops.concatenate([branch3x3, branch3x3dbl, _max_pool(x)], axis=-1)


def _inception_c(x, name, channels_7x7):
    c7 = channels_7x7
    branch1x1 = _basic_conv(x, f"{name}.branch1x1", 192, 1)
    branch7x7 = _basic_conv(x, f"{name}.branch7x7_1", c7, 1)
    branch7x7 = _basic_conv(branch7x7, f"{name}.branch7x7_2", c7, (1, 7))
    branch7x7 = _basic_conv(branch7x7, f"{name}.branch7x7_3", 192, (7, 1))
    branch7x7dbl = _basic_conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    for i, (filters, kernel) in enumerate(
            [(c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))], start=2):
        branch7x7dbl = _basic_conv(branch7x7dbl, f"{name}.branch7x7dbl_{i}", filters, kernel)
    branch_pool = _basic_conv(_avg_pool(x), f"{name}.branch_pool", 192, 1)
    return ops.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


def _inception_d(x, name):
    branch3x3 = _basic_conv(x, f"{name}.branch3x3_1", 192, 1)
    branch3x3 = _basic_conv(branch3x3, f"{name}.branch3x3_2", 320, 3, 2, "valid")
    branch7x7x3 = _basic_conv(x, f"{name}.branch7x7x3_1", 192, 1)
    branch7x7x3 = _basic_conv(branch7x7x3, f"{name}.branch7x7x3_2", 192, (1, 7))
    branch7x7x3 = _basic_conv(branch7x7x3, f"{name}.branch7x7x3_3", 192, (7, 1))
    branch7x7x3 = _basic_conv(branch7x7x3, f"{name}.branch7x7x3_4", 192, 3, 2, "valid")
    return ops.concatenate([branch3x3, branch7x7x3, _max_pool(x)], axis=-1)


def _inception_e(x, name, pool):
    """`FIDInceptionE_1` (`pool=_avg_pool`) or `FIDInceptionE_2` (`pool=_max_pool` stride 1)."""
    branch1x1 = _basic_conv(x, f"{name}.branch1x1", 320, 1)
    branch3x3 = _basic_conv(x, f"{name}.branch3x3_1", 384, 1)
    branch3x3 = ops.concatenate([_basic_conv(branch3x3, f"{name}.branch3x3_2a", 384, (1, 3)),
                                 _basic_conv(branch3x3, f"{name}.branch3x3_2b", 384, (3, 1))],
                                axis=-1)
    branch3x3dbl = _basic_conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    branch3x3dbl = _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 384, 3)
    branch3x3dbl = ops.concatenate(
        [_basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_3a", 384, (1, 3)),
         _basic_conv(branch3x3dbl, f"{name}.branch3x3dbl_3b", 384, (3, 1))], axis=-1)
    branch_pool = _basic_conv(pool(x), f"{name}.branch_pool", 192, 1)
    return ops.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=-1)


def fid_inception_v3(weights=None):
    """pytorch-fid's `fid_inception_v3` up to pool3, as a functional `keras.Model`.

    Input (N, 299, 299, 3) in [-1, 1] (see `fid_preprocess`); output (N, 2048) float32, the
    average-pooled `Mixed_7c` features. Runs in float32 whatever the dtype policy.

    Args:
        weights: `None` (random initialization: for tests), a `.weights.h5` written by
            `convert_fid_inception`, or the PyTorch state dict itself (`.pth`, read with torch;
            or a mapping of arrays), converted on the fly.
    """
    load = _weights_loader(weights)
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")
    x = _basic_conv(inputs, "Conv2d_1a_3x3", 32, 3, 2, "valid")
    x = _basic_conv(x, "Conv2d_2a_3x3", 32, 3, padding="valid")
    x = _basic_conv(x, "Conv2d_2b_3x3", 64, 3)
    x = _max_pool(x)
    x = _basic_conv(x, "Conv2d_3b_1x1", 80, 1)
    x = _basic_conv(x, "Conv2d_4a_3x3", 192, 3, padding="valid")
    x = _max_pool(x)
    for name, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        x = _inception_a(x, name, pool_features)
    x = _inception_b(x, "Mixed_6a")
    for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                               ("Mixed_6e", 192)):
        x = _inception_c(x, name, channels_7x7)
    x = _inception_d(x, "Mixed_7a")
    x = _inception_e(x, "Mixed_7b", _avg_pool)
    x = _inception_e(x, "Mixed_7c", lambda y: _max_pool(y, strides=1))
    pool3 = keras.layers.GlobalAveragePooling2D(name="pool3", dtype="float32")(x)
    model = keras.Model(inputs, pool3, name="fid_inception_v3")
    load(model)
    return model


def _weights_loader(weights):
    """The function loading `weights` into the built network; a bad path fails before the
    network is built."""
    if weights is None:
        return lambda model: None
    if not isinstance(weights, (str, os.PathLike)):
        return lambda model: load_torch_weights(model, weights)
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such file (the FID Inception weights: pytorch-fid's {WEIGHTS_FILE}, "
            "or its conversion by convert_fid_inception)")
    if path.endswith(".weights.h5"):
        return lambda model: model.load_weights(path)
    if path.endswith((".pth", ".pt", ".npz")):
        return lambda model: load_torch_weights(model, path)
    raise ValueError(f"{path}: expected a .weights.h5 (converted) or .pth file")


def load_torch_weights(model, source):
    """Loads pytorch-fid's FID Inception state dict into `fid_inception_v3()`'s `model`.

    `source` is as `keras_i2i.convert.common.load_state_dict` (a `.pth` needs torch). The
    classifier (`fc.*`) is not used; any other missing or extra key, or a shape that is not
    the network's, raises a one-line `ValueError` naming the first problem.
    """
    mapper = WeightMapper(load_state_dict(source))
    for layer in model.layers:
        name = layer.name
        if isinstance(layer, keras.layers.Conv2D):
            mapper.assign(layer.kernel, f"{name}.weight", conv_kernel)
        elif isinstance(layer, BatchNorm):
            mapper.norm(layer, name)
    mapper.skip("fc.weight", "fc.bias")
    try:
        mapper.finish()
    except StateDictMismatch as error:
        where = source if isinstance(source, (str, os.PathLike)) else "the state dict"
        raise ValueError(
            f"{where} is not pytorch-fid's FID Inception: {error.one_line()}") from None


def convert_fid_inception(source, target):
    """Converts pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (`source`; torch
    needed) into a Keras `.weights.h5` (`target`) that `fid_inception_v3(weights=target)`
    loads without torch. Returns `target`."""
    target = os.fspath(target)
    if not target.endswith(".weights.h5"):
        raise ValueError(f"{target}: the converted weights file name must end in .weights.h5")
    fid_inception_v3(weights=source).save_weights(target)
    return target


def _bilinear_matrix(in_size, out_size):
    """(out_size, in_size) float32 weights of `F.interpolate(mode="bilinear",
    align_corners=False, antialias=False)` along one axis: the source `(i + 0.5) * scale - 0.5`
    (clamped at 0; `scale = in / out` in float32, the source rounded to float32 once, as
    PyTorch's fused multiply-add does) blended with its right neighbour (the last pixel
    repeated at the far edge)."""
    scale = np.float64(np.float32(in_size) / np.float32(out_size))
    source = np.maximum(scale * (np.arange(out_size) + 0.5) - 0.5, 0.0).astype(np.float32)
    left = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    right = np.minimum(left + 1, in_size - 1)
    weight_right = source - left.astype(np.float32)
    matrix = np.zeros((out_size, in_size), np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, left), np.float32(1.0) - weight_right)
    np.add.at(matrix, (rows, right), weight_right)
    return matrix


def fid_preprocess(images, quantize=True):
    """pytorch-fid's input path for package images: (N, H, W, 3) in [-1, 1] -> the network's
    (N, 299, 299, 3) float32 in [-1, 1].

    pytorch-fid reads 8-bit image files as `x / 255` in [0, 1], resizes them to 299 x 299 with
    `F.interpolate(mode="bilinear", align_corners=False)` (no antialiasing, also when
    shrinking) and maps them to `2 x - 1`. This does the same: with `quantize=True` the
    images are first rounded to the 8-bit levels `floor((x + 1) * 127.5 + 0.5)` (clipped to
    0..255), what saving them as PNG with `torchvision.utils.save_image` gives (pix2pixHD's
    and SPADE's `tensor2im` truncate instead); `quantize=False` feeds `(x + 1) / 2` unrounded.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"Expected images of shape (N, H, W, 3), got {images.shape}.")
    if quantize:
        levels = np.clip(np.floor((images + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)
        unit = levels.astype(np.float32) / np.float32(255.0)
    else:
        unit = (images + np.float32(1.0)) / np.float32(2.0)
    rows = _bilinear_matrix(images.shape[1], INPUT_SIZE)
    columns = _bilinear_matrix(images.shape[2], INPUT_SIZE)
    x = ops.einsum("ph,nhwc->npwc", rows, ops.convert_to_tensor(unit))
    x = ops.einsum("qw,npwc->npqc", columns, x)
    return 2.0 * x - 1.0
