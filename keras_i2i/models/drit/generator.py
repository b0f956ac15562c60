"""DRIT's generators: `G_concat` (the attribute concatenated to the features, `--concat 1`)
and DRIT++'s `G` (the attribute through an MLP into every residual block, `--concat 0`);
with `num_domains > 0` MDMM's `MD_G_multi_concat` and `MD_G_multi`.

    content (B, h, w, 4 width) --+-- residual blocks --+-- 2 x [transposed conv x2, layer norm,
    attribute (B, 8) ------------+---------------------+--      ReLU] -- 1 x 1 transposed conv,
                                                                 tanh --> image (B, 4h, 4w, C)
"""

import keras
from keras import ops

from keras_i2i.layers import ConvBlock, ResidualBlock
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER
from keras_i2i.models.drit.encoders import LINEAR_INITIALIZER, BranchedNetwork, with_code


def _upsample_block(filters, name, common):
    """`ReLUINSConvTranspose2d`: ConvTranspose2d 3 x 3 stride 2 (padding 1, output padding 1)
    doubling H and W, layer norm over C, H, W (`F.layer_norm`, per-channel affine), ReLU."""
    return ConvBlock(filters, 3, strides=2, padding=1, output_padding=1, transposed=True,
                     norm="layer_biased", name=name, **common)


def _output_block(channels, common):
    """A 1 x 1 ConvTranspose2d to the image channels, tanh."""
    return ConvBlock(channels, 1, transposed=True, activation="tanh", name="output", **common)


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class AttributeResidualBlock(keras.layers.Layer):
    """DRIT++'s `MisINSResBlock`: a residual block whose two 3 x 3 convs are each followed by
    a fusion with the attribute's slice `z`.

    `o1 = IN(conv3x3(x))`, `o2 = fuse_0([o1, z tiled])`, `o3 = IN(conv3x3(o2))`,
    `out = fuse_1([o3, z tiled]) + x`, each fusion a 1 x 1 conv (C + N -> C + N), ReLU, a
    1 x 1 conv (-> C), ReLU; reflect padding, instance norm without affine.

    Inputs `[x, z]`: x (B, H, W, C), z (B, N). Output (B, H, W, C).

    Sub-layers: `conv_0`, `conv_1` (3 x 3 `ConvBlock`s), `fuse_0`, `fuse_1` (pairs of 1 x 1
    `ConvBlock`s).
    """

    def __init__(self, kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        x_shape, z_shape = input_shape
        channels, joint = x_shape[-1], x_shape[-1] + z_shape[-1]
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        joint_shape = (*x_shape[:-1], joint)
        self.conv_0, self.conv_1 = (
            ConvBlock(channels, 3, padding=1, pad_type="reflect", norm="instance",
                      activation="none", name=f"conv_{i}", **common) for i in (0, 1))
        self.fuse_0, self.fuse_1 = (
            [ConvBlock(joint, 1, name=f"fuse_{i}_0", **common),
             ConvBlock(channels, 1, name=f"fuse_{i}_1", **common)] for i in (0, 1))
        for conv, (widen, narrow) in ((self.conv_0, self.fuse_0), (self.conv_1, self.fuse_1)):
            conv.build(x_shape)
            widen.build(joint_shape)
            narrow.build(joint_shape)

    def call(self, inputs):
        x, z = inputs
        y = x
        for conv, (widen, narrow) in ((self.conv_0, self.fuse_0), (self.conv_1, self.fuse_1)):
            y = narrow(widen(with_code(conv(y), z)))
        return y + x

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


class _ConcatDecoder(keras.layers.Layer):
    """One branch of `G_concat` (`decA1`..`decA4`; MDMM `dec1`..`dec4`): three residual
    blocks on `[features, (code,) z]`, then `[x, z]` before each up-sampling block and the
    output block."""

    def __init__(self, channels, width, attribute_dim, num_domains, kernel_initializer,
                 **kwargs):
        super().__init__(**kwargs)
        common = dict(kernel_initializer=kernel_initializer, dtype=self.dtype_policy)
        self.attribute_dim = attribute_dim
        self.num_domains = num_domains
        self.residual_blocks = [
            ResidualBlock(norm="instance", pad_type="reflect", name=f"residual_{i}", **common)
            for i in range(3)]
        filters = 4 * width + attribute_dim + num_domains
        self.upsample_blocks = []
        for i in range(2):
            filters = (filters + attribute_dim) // 2
            self.upsample_blocks.append(_upsample_block(filters, f"upsample_{i}", common))
        self.output_block = _output_block(channels, common)
        self.input_channels = 4 * width

    def build(self, input_shape=None):
        shape = (None, None, None, self.input_channels + self.attribute_dim + self.num_domains)
        for block in self.residual_blocks:
            block.build(shape)
        for block in [*self.upsample_blocks, self.output_block]:
            shape = (*shape[:-1], shape[-1] + self.attribute_dim)
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, x, z, domain_code):
        if self.num_domains:
            x = with_code(x, domain_code)
        x = with_code(x, z)
        for block in self.residual_blocks:
            x = block(x)
        features = []
        for block in self.upsample_blocks:
            features.append(x)
            x = block(with_code(x, z))
        return features, self.output_block(with_code(x, z))


class _TransformDecoder(keras.layers.Layer):
    """One branch of `G` (`decA1`..`decA5`, `mlpA`; MDMM `dec1`..`dec4`, `decA5`, `mlp`): an
    MLP (N -> 4 width -> 4 width -> 4 x 4 width, ReLU between) whose output, cut in four,
    feeds four `AttributeResidualBlock`s; then two up-sampling blocks and the output block."""

    def __init__(self, channels, width, attribute_dim, num_domains, kernel_initializer,
                 **kwargs):
        super().__init__(**kwargs)
        common = dict(kernel_initializer=kernel_initializer, dtype=self.dtype_policy)
        self.width = width
        self.num_domains = num_domains
        self.mlp_input = attribute_dim + num_domains
        self.mlp = [
            keras.layers.Dense(units, kernel_initializer=LINEAR_INITIALIZER,
                               dtype=self.dtype_policy, name=f"mlp_{i}")
            for i, units in enumerate((4 * width, 4 * width, 16 * width))]
        self.residual_blocks = [
            AttributeResidualBlock(name=f"residual_{i}", **common) for i in range(4)]
        self.upsample_blocks = [
            _upsample_block(width * 2 ** (1 - i), f"upsample_{i}", common) for i in range(2)]
        self.output_block = _output_block(channels, common)

    def build(self, input_shape=None):
        shape = (None, self.mlp_input)
        for dense in self.mlp:
            dense.build(shape)
            shape = (None, dense.units)
        shape = (None, None, None, 4 * self.width)
        for block in self.residual_blocks:
            block.build([shape, (None, 4 * self.width)])
        for block in [*self.upsample_blocks, self.output_block]:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, x, z, domain_code):
        if self.num_domains:
            z = ops.concatenate([ops.cast(domain_code, z.dtype), z], axis=-1)
        for dense in self.mlp[:-1]:
            z = ops.relu(dense(z))
        for block, z_slice in zip(self.residual_blocks, ops.split(self.mlp[-1](z), 4, axis=-1)):
            x = block([x, z_slice])
        features = []
        for block in self.upsample_blocks:
            features.append(x)
            x = block(x)
        return features, self.output_block(x)


@keras.saving.register_keras_serializable(package="keras_i2i.drit")
class Generator(BranchedNetwork):
    """DRIT's generator with one branch per domain (MDMM: one branch and domain codes).

    `concat=True` (`G_concat`; MDMM `MD_G_multi_concat`): a residual block shared by the
    branches (`dec_share`), then per branch the attribute z tiled over H x W and
    concatenated after the features, `[features, z]` (MDMM: `[features, code, z]`), before
    three residual blocks, and `[x, z]` before each of two up-sampling blocks [3 x 3
    ConvTranspose2d stride 2, layer norm over C, H, W, ReLU] and before the 1 x 1
    ConvTranspose2d to the image, tanh. Widths: 4 width + 8 (+ code) -> ... halved after
    adding z, e.g. 264 -> 136 -> 72 -> 3 at width 64.

    `concat=False` (DRIT++'s `G`; MDMM `MD_G_multi`): no shared block; per branch an MLP
    (z, MDMM `[code, z]`, -> 4 width -> 4 width -> 16 width, ReLU between) cut into four
    4 width slices for four `AttributeResidualBlock`s, then the two up-sampling blocks (to
    2 width and width) and the output block, with no attribute concatenated.

    `call(content, attribute, branch=0, domain_code=None, return_features=False)`: content
    (B, h, w, 4 width), attribute (B, attribute_dim), domain_code one-hot (B, num_domains)
    (MDMM only) -> images (B, 4h, 4w, channels[branch]) in [-1, 1]. With
    `return_features=True`: `[features_h, features_2h, images]`, the feature maps entering
    each up-sampling block (without the concatenated attribute: (B, h, w, C0) and
    (B, 2h, 2w, C1)) then the images; no extra computation.

    Args:
        channels: image channels per branch (`input_dim_a`, `input_dim_b`; one entry with
            `num_domains`).
        width: base width (64 in the reference; content codes have 4 width channels).
        attribute_dim: attribute size (`nz`, 8).
        concat: the concatenating generator (`--concat 1`) or the MLP one (`--concat 0`).
        num_domains: MDMM's number of domains (`c_dim`), 0 for DRIT.
        kernel_initializer: of every convolution (the reference's N(0, 0.02)); the MLP's
            linear layers keep PyTorch's `nn.Linear` default.

    Sub-layers: `shared` (`ResidualBlock`, `concat=True` only) and `branches[i]`, whose
    variables are `generator.branches[i].trainable_variables`.
    """

    def __init__(self, channels=(3, 3), width=64, attribute_dim=8, concat=True, num_domains=0,
                 kernel_initializer=GAUSSIAN_INITIALIZER, **kwargs):
        super().__init__(channels, width, num_domains, kernel_initializer, **kwargs)
        self.attribute_dim = attribute_dim
        self.concat = concat
        common = self.block_args
        if concat:
            self.shared = ResidualBlock(norm="instance", pad_type="reflect", name="shared",
                                        **common)
        decoder = _ConcatDecoder if concat else _TransformDecoder
        self.branches = [
            decoder(c, width, attribute_dim, num_domains, name=f"branch_{i}", **common)
            for i, c in enumerate(self.channels)]

    def build(self, input_shape=None):
        """Builds every branch from the configuration (the input shape adds nothing)."""
        if self.concat:
            self.shared.build((None, None, None, 4 * self.width))
        for branch in self.branches:
            branch.build()

    def call(self, content, attribute, branch=0, domain_code=None, return_features=False):
        self._check_domain_code(domain_code)
        x = self.shared(content) if self.concat else content
        z = ops.cast(attribute, self.compute_dtype)
        features, images = self.branches[branch](x, z, domain_code)
        return [*features, images] if return_features else images

    def get_config(self):
        return {
            **super().get_config(),
            "attribute_dim": self.attribute_dim,
            "concat": self.concat,
        }
