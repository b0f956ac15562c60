"""LPIPS, the learned perceptual image patch similarity (Zhang et al., CVPR 2018, "The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), computed as the `lpips`
package's `LPIPS(net=..., version="0.1")` computes it.

Both images are shifted and scaled (the package's `ScalingLayer`), run through an ImageNet
backbone (torchvision's AlexNet, VGG16 or SqueezeNet 1.1 features), and at each of its L
compared ReLU outputs the features are unit-normalized over channels; the squared difference
is weighted per channel by a learned 1 x 1 convolution (`NetLinLayer`, no bias), averaged over
space, and the layers summed.

The weights come from two PyTorch files on the user's disk: the package's linear layers
(`lpips/weights/v0.1/<net>.pth`) and torchvision's backbone (`alexnet-owt-7be5be79.pth`,
`vgg16-397923af.pth`, `squeezenet1_1-b8a52dc0.pth`). `convert_lpips` turns them into one Keras
weights file, which `LPIPS(net, weights=path)` loads without torch.
"""

import os

import keras
from keras import ops

from keras_i2i.convert.common import StateDictMismatch, WeightMapper, load_state_dict
from keras_i2i.layers import Conv2D

NETS = ("alex", "vgg", "squeeze")

# The package's ScalingLayer: [-1, 1] images -> about torchvision's ImageNet normalization.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# `lpips.normalize_tensor`'s eps, added to the channel norm.
EPS = 1e-10
# The smallest image side each backbone's last compared layer has a pixel for.
MIN_SIZE = {"alex": 31, "vgg": 16, "squeeze": 17}


def _conv(x, key, filters, kernel_size, strides=1, padding=0):
    """torchvision's `features.<key>` `Conv2d` and the ReLU after it; the layer is named after
    the key (`3.squeeze` -> `features_3_squeeze`), which `convert_lpips` reads back."""
    conv = Conv2D(filters, kernel_size, strides, padding, dtype="float32",
                  name="features_" + key.replace(".", "_"))
    return ops.relu(conv(x))


def _max_pool(x, pool_size=3, strides=2, ceil_mode=False):
    """`nn.MaxPool2d(pool_size, strides, ceil_mode=...)`; ceil mode pads the bottom and right
    with `strides - 1` zeros, which cannot win a window of ReLU outputs."""
    if ceil_mode:
        x = keras.layers.ZeroPadding2D(((0, strides - 1), (0, strides - 1)), dtype="float32")(x)
    return keras.layers.MaxPooling2D(pool_size, strides, dtype="float32")(x)


def _fire(x, index, squeeze, expand):
    """torchvision's SqueezeNet `Fire` module: (..., C) -> (..., 2 * expand)."""
    x = _conv(x, f"{index}.squeeze", squeeze, 1)
    expand1x1 = _conv(x, f"{index}.expand1x1", expand, 1)
    expand3x3 = _conv(x, f"{index}.expand3x3", expand, 3, padding=1)
    return ops.concatenate([expand1x1, expand3x3], axis=-1)


def _alexnet(x):
    """AlexNet's relu1 ... relu5, (N, H, W, 3) -> 64, 192, 384, 256, 256 channels."""
    relu1 = _conv(x, "0", 64, 11, strides=4, padding=2)
    relu2 = _conv(_max_pool(relu1), "3", 192, 5, padding=2)
    relu3 = _conv(_max_pool(relu2), "6", 384, 3, padding=1)
    relu4 = _conv(relu3, "8", 256, 3, padding=1)
    relu5 = _conv(relu4, "10", 256, 3, padding=1)
    return [relu1, relu2, relu3, relu4, relu5]


def _vgg16(x):
    """VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 -> 64, 128, 256, 512, 512 channels."""
    outputs, index = [], 0
    for block, (filters, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        if block:
            x = _max_pool(x, 2, 2)
            index += 1
        for _ in range(convs):
            x = _conv(x, str(index), filters, 3, padding=1)
            index += 2
        outputs.append(x)
    return outputs


def _squeezenet(x):
    """SqueezeNet 1.1's relu1 and the outputs of Fire modules 4, 7, 9, 10, 11, 12 -> 64, 128,
    256, 384, 384, 512, 512 channels."""
    relu1 = _conv(x, "0", 64, 3, strides=2)
    relu2 = _fire(_fire(_max_pool(relu1, ceil_mode=True), 3, 16, 64), 4, 16, 64)
    relu3 = _fire(_fire(_max_pool(relu2, ceil_mode=True), 6, 32, 128), 7, 32, 128)
    relu4 = _fire(_max_pool(relu3, ceil_mode=True), 9, 48, 192)
    relu5 = _fire(relu4, 10, 48, 192)
    relu6 = _fire(relu5, 11, 64, 256)
    relu7 = _fire(relu6, 12, 64, 256)
    return [relu1, relu2, relu3, relu4, relu5, relu6, relu7]


_BACKBONES = {"alex": _alexnet, "vgg": _vgg16, "squeeze": _squeezenet}


def normalize_channels(features):
    """`lpips.normalize_tensor`: `features / (||features||_channels + EPS)`, (N, h, w, C)."""
    return features / (ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True)) + EPS)


class LPIPS:
    """LPIPS distance, as `lpips.LPIPS(net=net)(images_0, images_1)` (version 0.1).

    Always float32, whatever the dtype policy. Not a Keras layer: `model`, the Keras model
    of the whole computation, holds the weights.

    Args:
        net: the backbone, `"alex"` (AlexNet, the package's default), `"vgg"` (VGG16) or
            `"squeeze"` (SqueezeNet 1.1).
        weights: a `.weights.h5` file written by `convert_lpips`, or None: a randomly
            initialized backbone and linear weights of 1 (the package's `lpips=False` baseline
            over that backbone), for tests.

    Call: `lpips(images_0, images_1)`, both (N, H, W, 3) in [-1, 1] (the package's default
    `normalize=False`), H and W at least `MIN_SIZE[net]` -> (N,) float32 distances.

    >>> lpips = LPIPS("alex")
    >>> images = keras.random.uniform((2, 32, 32, 3), -1.0, 1.0, seed=0)
    >>> [float(d) for d in lpips(images, images)]
    [0.0, 0.0]
    """

    def __init__(self, net="alex", weights=None):
        if net not in NETS:
            raise ValueError(f"net must be one of {NETS}, got {net!r}")
        self.net = net
        inputs = keras.Input((None, None, 3), dtype="float32")
        self.backbone = keras.Model(inputs, _BACKBONES[net](inputs), name=f"{net}_features")
        self.linear_layers = []
        for index, features in enumerate(self.backbone.outputs):
            linear = Conv2D(1, 1, use_bias=False, kernel_initializer="ones", dtype="float32",
                            name=f"lin{index}")
            linear.build(features.shape)
            self.linear_layers.append(linear)
        images = [keras.Input((None, None, 3), dtype="float32") for _ in range(2)]
        self.model = keras.Model(
            images, self.distance(*map(self.features, images)), name=f"lpips_{net}")
        self.model.trainable = False
        if weights is not None:
            self._load(os.fspath(weights))

    def _load(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"LPIPS weights file {path} does not exist (convert_lpips "
                                    "writes one from the lpips package's and torchvision's .pth)")
        try:
            self.model.load_weights(path)
        except ValueError as error:
            first_line = str(error).strip().splitlines()[0].rstrip(":")
            raise ValueError(f"{path} holds no LPIPS {self.net!r} weights ({first_line})") from None

    def _check(self, images):
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"LPIPS takes images (N, H, W, 3), got shape {shape}")
        # Smaller images leave a layer empty (TensorFlow's CPU kernels then crash the process).
        if any(side is not None and side < MIN_SIZE[self.net] for side in shape[1:3]):
            raise ValueError(f"LPIPS {self.net!r} needs images of at least "
                             f"{MIN_SIZE[self.net]} x {MIN_SIZE[self.net]}, got shape {shape}")

    def features(self, images):
        """(N, H, W, 3) in [-1, 1] -> the L compared feature maps (N, h_l, w_l, C_l),
        unit-normalized over channels."""
        self._check(images)
        x = (ops.cast(images, "float32") - ops.convert_to_tensor(SHIFT)) / ops.convert_to_tensor(
            SCALE)
        return [normalize_channels(f) for f in self.backbone(x, training=False)]

    def distance(self, features_0, features_1):
        """LPIPS between two lists of `features` of N images each -> (N,): the sum over layers
        of the spatial mean of `lin_l((features_0 - features_1)^2)`."""
        return sum(ops.mean(linear(ops.square(f0 - f1)), axis=(1, 2, 3))
                   for linear, f0, f1 in zip(self.linear_layers, features_0, features_1))

    def __call__(self, images_0, images_1):
        shapes = tuple(images_0.shape), tuple(images_1.shape)
        if shapes[0] != shapes[1]:
            raise ValueError(f"LPIPS compares images of one shape, got {shapes[0]} and "
                             f"{shapes[1]}")
        self._check(images_0)
        return self.model([images_0, images_1], training=False)


def convert_lpips(linear_pth, backbone_pth, net, out_path):
    """Writes the Keras weights of `LPIPS(net)` from the PyTorch files (needs torch).

    Args:
        linear_pth: the lpips package's `weights/v0.1/<net>.pth` (keys `lin<l>.model.1.weight`).
        backbone_pth: torchvision's ImageNet state dict of the backbone (keys
            `features.<i>.weight`, `.bias`; the classifier's are ignored), e.g.
            `alexnet-owt-7be5be79.pth` for `"alex"`.
        net: `"alex"`, `"vgg"` or `"squeeze"`.
        out_path: the Keras weights file to write, ending in `.weights.h5`.

    Returns:
        The converted `LPIPS`. A key missing from a file or an entry of the wrong shape raises
        a one-line `ValueError` naming the file and the key.
    """
    lpips = LPIPS(net)
    convs = [layer for layer in lpips.backbone.layers if isinstance(layer, Conv2D)]
    for path, prefix, layers in (
        (backbone_pth, "features.",
         [(layer, layer.name.removeprefix("features_").replace("_", ".")) for layer in convs]),
        (linear_pth, "",
         [(layer, f"lin{index}.model.1") for index, layer in enumerate(lpips.linear_layers)]),
    ):
        mapper = WeightMapper(load_state_dict(path, prefix))
        for layer, key in layers:
            mapper.conv(layer, key)
        try:
            mapper.finish()
        except StateDictMismatch as error:
            raise ValueError(f"{os.fspath(path)}: {error.one_line(prefix)}") from None
    lpips.model.save_weights(os.fspath(out_path))
    return lpips
