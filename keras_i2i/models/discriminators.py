"""Multi-scale PatchGAN discriminators (pix2pixHD, SPADE, vid2vid, MUNIT, DRIT) and DRIT's
content discriminator.

Each scale of a multi-scale discriminator is a stack of `ConvBlock`s applied to the input
downsampled `k` times with `AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`;
scale 0 sees the full resolution.
"""

import keras
from keras import ops

from keras_i2i.layers import AvgPool2D, ConvBlock

# The `gaussian_weights_init` of DRIT (and pix2pixHD's `weights_init`): conv weights N(0, 0.02).
GAUSSIAN_INITIALIZER = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}


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
        # Built with one scale too (unused then), so that Keras sees every layer built.
        self.downsample.build(input_shape)
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
    """pix2pixHD's, SPADE's and vid2vid's multi-scale PatchGAN (their `MultiscaleDiscriminator`
    of `NLayerDiscriminator`s).

    Per scale, with 4 x 4 kernels and zero padding 2 (`ceil((4 - 1) / 2)`), LeakyReLU 0.2:
    a stride-2 convolution to `ndf` channels (see `ndf_max`) without norm; `n_layers - 1`
    normalized
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
            (spectral-normalized convolutions), or `"instance_running"` (vid2vid's
            `InstanceNorm2d(track_running_stats=True)`). As in SPADE's
            `get_nonspade_norm_layer`, a spectral convolution followed by a norm has no bias;
            pix2pixHD's `"instance"` keeps it.
        max_filters: channel cap (512 in the references).
        ndf_max: None: every scale starts with `ndf` channels (pix2pixHD, SPADE). Else scale
            k (the input downsampled k times) starts with `min(ndf_max, ndf * 2^k)`: vid2vid's
            `MultiscaleDiscriminator`, whose scales widen as they coarsen up to its
            `ndf_max = 64`.
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
        ndf_max=None,
        **kwargs,
    ):
        super().__init__(num_scales=num_D, **kwargs)
        self.spectral_norm = norm.startswith("spectral")
        self.block_norm = norm.removeprefix("spectral") or "none"
        if self.block_norm not in ("none", "instance", "batch") and norm != "instance_running":
            raise ValueError(
                "norm must be none/instance/batch, optionally spectral-prefixed, or "
                f"instance_running; got {norm!r}"
            )
        self.num_D = num_D
        self.n_layers = n_layers
        self.ndf = ndf
        self.norm = norm
        self.max_filters = max_filters
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.ndf_max = ndf_max

    def _scale_blocks(self, scale):
        filters = self.ndf if self.ndf_max is None else min(self.ndf_max, self.ndf * 2**scale)
        common = dict(
            kernel_size=4,
            padding=2,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        blocks = [
            ConvBlock(filters, strides=2, activation="lrelu", name=f"scale{scale}_layer0", **common)
        ]
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
            "ndf_max": self.ndf_max,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class MsImageDiscriminator(_MultiscalePatchDiscriminator):
    """MUNIT's `MsImageDis` (and DRIT's `MultiScaleDis` and `Dis`, see
    `keras_i2i.models.drit.domain_discriminator`).

    Per scale: a `kernel_size` stride-2 block to `dim` channels without norm, `n_layer - 1`
    such blocks doubling the channels with `norm` (padding 1 of `pad_type`, bias,
    `activation`), then a 1 x 1 convolution to 1 channel.

    Input (B, H, W, C) images. Output: a list over scales of the predictions
    (B, H / 2^(n_layer + k), W / 2^(n_layer + k), 1) (sizes rounded as the convolutions do).

    Args (MUNIT's `dis` options):
        num_scales: number of scales.
        n_layer: stride-2 blocks per scale.
        dim: channels of the first block.
        norm: `"none"`, `"instance"`, `"batch"` or `"layer"`.
        activation: `"lrelu"`, `"relu"`, `"tanh"` or `"none"`.
        pad_type: `"reflect"`, `"zeros"` or `"replicate"`.
        kernel_initializer: initializer of every convolution.
        kernel_size: kernel of the stride-2 blocks (4; DRIT's single-scale `Dis` has 3).
        negative_slope: the slope of `"lrelu"` (0.2; DRIT's `nn.LeakyReLU()` has 0.01).
        spectral_norm: spectral-normalize every convolution, the 1 x 1 one included (DRIT's
            `--dis_spectral_norm`).

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
        kernel_size=4,
        negative_slope=0.2,
        spectral_norm=False,
        **kwargs,
    ):
        super().__init__(num_scales=num_scales, **kwargs)
        self.n_layer = n_layer
        self.dim = dim
        self.norm = norm
        self.activation = activation
        self.pad_type = pad_type
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_size = kernel_size
        self.negative_slope = negative_slope
        self.spectral_norm = spectral_norm

    def _scale_blocks(self, scale):
        common = dict(
            kernel_initializer=self.kernel_initializer,
            spectral_norm=self.spectral_norm,
            dtype=self.dtype_policy,
        )
        blocks = []
        for i in range(self.n_layer):
            blocks.append(
                ConvBlock(
                    self.dim * 2**i,
                    kernel_size=self.kernel_size,
                    strides=2,
                    padding=1,
                    pad_type=self.pad_type,
                    norm="none" if i == 0 else self.norm,
                    activation=self.activation,
                    negative_slope=self.negative_slope,
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
            "kernel_size": self.kernel_size,
            "negative_slope": self.negative_slope,
            "spectral_norm": self.spectral_norm,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class ContentDiscriminator(keras.Model):
    """DRIT's `Dis_content` (MDMM's `MD_Dis_content`): tells which domain a content code
    comes from.

    `num_strided` blocks [reflect pad 1, `kernel_size` stride-2 conv, LeakyReLU 0.01], one
    [4 x 4 stride-1 conv without padding, LeakyReLU 0.01], then a 1 x 1 conv to one logit (or
    `num_domains`); 4 `width` channels, biases, no normalization (the reference asks its
    layers for instance norm but never applies it).

    Input: content codes (B, h, w, C), h and w at least `min_input_size` (53 with the
    reference's kernel 7 and 3 strided blocks: images of at least 209 x 209 through DRIT's
    content encoder); a smaller static size raises a ValueError.

    Output:
        - `num_domains=0` (DRIT): the logits flattened as the reference's `view(-1)`: (B,)
          when the last map is 1 x 1 (codes of `min_input_size` to `max_input_size` pixels,
          53 to 60 in the reference), else (B * h' * w',), sample-major.
        - `num_domains > 0` (MDMM): domain logits (B, num_domains); the last map must be
          1 x 1, so a static size above `max_input_size` raises a ValueError too.

    Args:
        width: base width; the convolutions have `4 * width` channels (256 in the reference).
        kernel_size: kernel of the strided blocks (7).
        num_strided: number of strided blocks (3).
        num_domains: 0 for DRIT's single logit, else MDMM's number of domains.
        kernel_initializer: initializer of every convolution (the reference's N(0, 0.02)).

    Sub-layers: `blocks` (`ConvBlock`s named `layer{i}`, the last the 1 x 1 prediction).
    """

    def __init__(
        self,
        width=64,
        kernel_size=7,
        num_strided=3,
        num_domains=0,
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.width = width
        self.kernel_size = kernel_size
        self.num_strided = num_strided
        self.num_domains = num_domains
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(
            filters=4 * width,
            activation="lrelu",
            negative_slope=0.01,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        self.blocks = [
            ConvBlock(kernel_size=kernel_size, strides=2, padding=1, pad_type="reflect",
                      name=f"layer{i}", **common)
            for i in range(num_strided)
        ]
        self.blocks.append(ConvBlock(kernel_size=4, name=f"layer{num_strided}", **common))
        self.blocks.append(
            ConvBlock(max(num_domains, 1), 1, activation="none", name=f"layer{num_strided + 1}",
                      kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        )

    def _input_size_range(self):
        """The content sizes whose last map is 1 x 1 (the 4 x 4 conv sees 4 pixels)."""
        low = high = 4
        for _ in range(self.num_strided):
            low, high = 2 * low + self.kernel_size - 4, 2 * high + self.kernel_size - 3
        return low, high

    @property
    def min_input_size(self):
        """The smallest content height and width the discriminator takes."""
        return self._input_size_range()[0]

    @property
    def max_input_size(self):
        """The largest content height and width whose prediction is one value per sample."""
        return self._input_size_range()[1]

    def _check_size(self, shape):
        low, high = self._input_size_range()
        sizes = [n for n in shape[1:3] if n is not None]
        if any(n < low for n in sizes):
            raise ValueError(
                f"ContentDiscriminator needs content codes of at least {low}x{low} (images of "
                f"at least {4 * low - 3}x{4 * low - 3}), got {shape[1]}x{shape[2]}"
            )
        if self.num_domains and any(n > high for n in sizes):
            raise ValueError(
                f"ContentDiscriminator with num_domains needs content codes of {low} to {high} "
                f"pixels (a 1 x 1 prediction), got {shape[1]}x{shape[2]}"
            )

    def build(self, input_shape):
        self._check_size(input_shape)
        shape = input_shape
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, content):
        self._check_size(content.shape)
        x = content
        for block in self.blocks:
            x = block(x)
        return ops.reshape(x, (-1, self.num_domains) if self.num_domains else (-1,))

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "kernel_size": self.kernel_size,
            "num_strided": self.num_strided,
            "num_domains": self.num_domains,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
