"""Multi-scale PatchGAN discriminators (pix2pixHD, SPADE, MUNIT).

Each scale is a stack of `ConvBlock`s applied to the input downsampled `k` times with
`AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`; scale 0 sees the full
resolution.
"""

import keras

from keras_i2i.layers import AvgPool2D, ConvBlock


class _MultiscalePatchDiscriminator(keras.Model):
    """Builds `num_scales` stacks of blocks (`_scale_blocks`) and runs them on an input pyramid."""

    def __init__(self, num_scales, **kwargs):
        super().__init__(**kwargs)
        self.num_scales = num_scales
        self.downsample = AvgPool2D(dtype=self.dtype_policy, name="downsample")

    def _scale_blocks(self, scale):
        """The blocks of scale `scale`, in order; the last one outputs the patch prediction."""
        raise NotImplementedError

    def build(self, input_shape):
        self.scales = [self._scale_blocks(k) for k in range(self.num_scales)]
        for blocks in self.scales:
            shape = input_shape
            for block in blocks:
                block.build(shape)
                shape = block.compute_output_shape(shape)

    def scale_features(self, inputs):
        """Per scale, the list of every block's output (the last: the patch prediction)."""
        x, outputs = inputs, []
        for k, blocks in enumerate(self.scales):
            features, h = [], x
            for block in blocks:
                h = block(h)
                features.append(h)
            outputs.append(features)
            if k + 1 < self.num_scales:
                x = self.downsample(x)
        return outputs


@keras.saving.register_keras_serializable(package="keras_i2i")
class MultiscaleDiscriminator(_MultiscalePatchDiscriminator):
    """pix2pixHD's and SPADE's multi-scale PatchGAN (their `MultiscaleDiscriminator` of
    `NLayerDiscriminator`s).

    Per scale, with 4 x 4 kernels and zero padding 2 (`ceil((4 - 1) / 2)`), LeakyReLU 0.2:
    a stride-2 convolution to `ndf` channels without norm; `n_layers - 1` normalized
    convolutions doubling the channels (capped at `max_filters`), stride 2 except the last
    one, stride 1; a stride-1 convolution to 1 channel (the patch logits).

    `n_layers` follows SPADE's `n_layers_D` (the number of blocks before the prediction);
    pix2pixHD's `n_layers_D` is `n_layers - 1` (its default 3 is `n_layers=4`).

    Input (B, H, W, C): the concatenated condition and image (SPADE: semantics then image;
    pix2pixHD: one-hot labels, instance edge map, image). Output: a list over scales of lists
    of the `n_layers + 1` feature maps (for feature matching; the last one is the patch
    prediction (B, h, w, 1)).

    Args:
        num_D: number of scales.
        n_layers: blocks before the prediction convolution.
        ndf: channels of the first convolution.
        norm: `"none"`, `"instance"`, `"batch"`, or one of these prefixed by `"spectral"`
            (spectral-normalized convolutions). As in SPADE's `get_nonspade_norm_layer`, a
            spectral convolution followed by a norm has no bias; pix2pixHD's `"instance"`
            keeps it.
        max_filters: channel cap (512 in both references).
        kernel_initializer: initializer of every convolution.

    Sub-layers: `scales[k][i]` (`ConvBlock` named `scale{k}_layer{i}`), `downsample`.
    """

    def __init__(
        self,
        num_D=2,
        n_layers=4,
        ndf=64,
        norm="spectralinstance",
        max_filters=512,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(num_scales=num_D, **kwargs)
        self.spectral_norm = norm.startswith("spectral")
        self.block_norm = norm.removeprefix("spectral") or "none"
        if self.block_norm not in ("none", "instance", "batch"):
            raise ValueError(
                f"norm must be none/instance/batch, optionally spectral-prefixed; got {norm!r}"
            )
        self.num_D = num_D
        self.n_layers = n_layers
        self.ndf = ndf
        self.norm = norm
        self.max_filters = max_filters
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _scale_blocks(self, scale):
        common = dict(
            kernel_size=4,
            padding=2,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        blocks = [
            ConvBlock(
                self.ndf, strides=2, activation="lrelu", name=f"scale{scale}_layer0", **common
            )
        ]
        filters = self.ndf
        for n in range(1, self.n_layers):
            filters = min(filters * 2, self.max_filters)
            blocks.append(
                ConvBlock(
                    filters,
                    strides=1 if n == self.n_layers - 1 else 2,
                    norm=self.block_norm,
                    spectral_norm=self.spectral_norm,
                    use_bias=not (self.spectral_norm and self.block_norm != "none"),
                    activation="lrelu",
                    name=f"scale{scale}_layer{n}",
                    **common,
                )
            )
        blocks.append(
            ConvBlock(1, activation="none", name=f"scale{scale}_layer{self.n_layers}", **common)
        )
        return blocks

    def call(self, inputs):
        return self.scale_features(inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "num_D": self.num_D,
            "n_layers": self.n_layers,
            "ndf": self.ndf,
            "norm": self.norm,
            "max_filters": self.max_filters,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class MsImageDiscriminator(_MultiscalePatchDiscriminator):
    """MUNIT's `MsImageDis`.

    Per scale: a 4 x 4 stride-2 block to `dim` channels without norm, `n_layer - 1` such
    blocks doubling the channels with `norm` (padding 1 of `pad_type`, bias, `activation`),
    then a 1 x 1 convolution to 1 channel.

    Input (B, H, W, C) images. Output: a list over scales of the predictions
    (B, H / 2^(n_layer + k), W / 2^(n_layer + k), 1).

    Args (MUNIT's `dis` options):
        num_scales: number of scales.
        n_layer: stride-2 blocks per scale.
        dim: channels of the first block.
        norm: `"none"`, `"instance"`, `"batch"` or `"layer"`.
        activation: `"lrelu"`, `"relu"`, `"tanh"` or `"none"`.
        pad_type: `"reflect"`, `"zeros"` or `"replicate"`.
        kernel_initializer: initializer of every convolution.

    Sub-layers: `scales[k][i]` (`ConvBlock` named `scale{k}_layer{i}`), `downsample`.
    """

    def __init__(
        self,
        num_scales=3,
        n_layer=4,
        dim=64,
        norm="none",
        activation="lrelu",
        pad_type="reflect",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(num_scales=num_scales, **kwargs)
        self.n_layer = n_layer
        self.dim = dim
        self.norm = norm
        self.activation = activation
        self.pad_type = pad_type
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _scale_blocks(self, scale):
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        blocks = []
        for i in range(self.n_layer):
            blocks.append(
                ConvBlock(
                    self.dim * 2**i,
                    kernel_size=4,
                    strides=2,
                    padding=1,
                    pad_type=self.pad_type,
                    norm="none" if i == 0 else self.norm,
                    activation=self.activation,
                    name=f"scale{scale}_layer{i}",
                    **common,
                )
            )
        blocks.append(
            ConvBlock(
                1,
                kernel_size=1,
                activation="none",
                name=f"scale{scale}_layer{self.n_layer}",
                **common,
            )
        )
        return blocks

    def call(self, inputs):
        return [features[-1] for features in self.scale_features(inputs)]

    def get_config(self):
        return {
            **super().get_config(),
            "num_scales": self.num_scales,
            "n_layer": self.n_layer,
            "dim": self.dim,
            "norm": self.norm,
            "activation": self.activation,
            "pad_type": self.pad_type,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
