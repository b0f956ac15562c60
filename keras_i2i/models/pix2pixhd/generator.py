"""pix2pixHD's coarse-to-fine generator (Wang et al. 2018, section 3.2).

`GlobalGenerator` is G1: a convolutional front-end, residual blocks and a transposed
convolutional back-end. A `LocalEnhancer` is G2: its own front-end at twice G1's resolution,
whose output is summed with the last feature map of G1's back-end before its residual blocks
and back-end. `CoarseToFineGenerator` is G = {G1, G2, ...}: G1 alone (`n_local_enhancers=0`,
the reference's `netG='global'`) or G1 at the coarsest level of an input pyramid under one
enhancer per level (`netG='local'`).
"""

import keras

from keras_i2i.layers import (
    AvgPool2D,
    ResidualBlock,
    build_sequence,
    generator_block,
    run_sequence,
)

NORMS = ("instance", "batch")
# The reference's `weights_init`: conv weights N(0, 0.02).
DEFAULT_INITIALIZER = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}


def check_size(inputs, multiple, network):
    """Raises a `ValueError` when the static H or W of `inputs` is not a multiple of `multiple`.

    Every stride-2 convolution rounds odd sizes up and every transposed one doubles, so other
    sizes would not come back to the input size (or not add up in a local enhancer).
    """
    height, width = inputs.shape[1], inputs.shape[2]
    bad = [n for n in (height, width) if n is not None and n % multiple]
    if bad:
        raise ValueError(
            f"{network} takes inputs whose height and width are multiples of {multiple} (its "
            f"total downsampling), got {height}x{width}; crop or pad them (Pix2PixHD pads when "
            "built with pad_inputs=True)."
        )


class _GeneratorLevel(keras.Model):
    """What G1 and G2 share: `front_end`, `residual_blocks` and `back_end` lists of blocks
    (convolutions with bias, norm, ReLU), the optional output layers ending the back-end, and
    their arguments (`one_hot_channels`: leading one-hot input channels, see `Conv2D`)."""

    def __init__(
        self,
        ngf,
        n_blocks,
        output_nc,
        norm,
        include_output,
        kernel_initializer,
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.one_hot_channels = one_hot_channels
        self.ngf = ngf
        self.n_blocks = n_blocks
        self.output_nc = output_nc
        self.norm = norm
        self.include_output = include_output
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _block(self, filters, kernel_size=3, strides=1, **options):
        """A `generator_block` with this level's norm, ReLU and initializer (`options`
        override them)."""
        config = dict(
            norm=self.norm, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy
        )
        return generator_block(filters, kernel_size, strides, **{**config, **options})

    def _make_blocks(self, front_end_widths, back_end_widths):
        """Front-end: a 7 x 7 convolution to the first width, stride-2 convolutions to the
        others; residual blocks; back-end: stride-2 transposed convolutions to
        `back_end_widths`, then the output layers (reflection pad 3, 7 x 7 convolution to
        `output_nc`, tanh) with `include_output`."""
        first, *down = front_end_widths
        self.front_end = [
            self._block(first, 7, one_hot_channels=self.one_hot_channels, name="front_end_0")
        ] + [
            self._block(width, strides=2, name=f"front_end_{i + 1}") for i, width in enumerate(down)
        ]
        self.residual_blocks = [
            ResidualBlock(
                norm=self.norm,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=f"residual_block_{i}",
            )
            for i in range(self.n_blocks)
        ]
        self.back_end = [
            self._block(width, strides=2, transposed=True, name=f"back_end_{i}")
            for i, width in enumerate(back_end_widths)
        ]
        if self.include_output:
            self.back_end.append(
                self._block(self.output_nc, 7, norm="none", activation="tanh", name="output")
            )

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return (*x_shape[:-1], self.output_nc if self.include_output else self.ngf)

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "n_blocks": self.n_blocks,
            "output_nc": self.output_nc,
            "norm": self.norm,
            "include_output": self.include_output,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "one_hot_channels": self.one_hot_channels,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class GlobalGenerator(_GeneratorLevel):
    """G1, the reference's `GlobalGenerator`.

    Front-end: reflection pad 3, 7 x 7 convolution to `ngf` channels, norm, ReLU; then
    `n_downsampling` 3 x 3 stride-2 convolutions (zero padding 1) doubling the channels.
    `n_blocks` residual blocks (reflection pad, 3 x 3 conv, norm, ReLU, reflection pad,
    3 x 3 conv, norm, plus the input). Back-end: `n_downsampling` 3 x 3 stride-2 transposed
    convolutions halving the channels, then (with `include_output`) reflection pad 3, 7 x 7
    convolution to `output_nc`, tanh. Every convolution has a bias; norms are
    `InstanceNorm2d(affine=False)` (`"instance"`) or `BatchNorm2d` (`"batch"`).

    Input (B, H, W, C) with H and W multiples of `2 ** n_downsampling`. Output (B, H, W,
    output_nc) in [-1, 1], or without `include_output` the back-end's last feature map
    (B, H, W, ngf), which a local enhancer adds to its own features.

    Sub-layers: `front_end`, `residual_blocks`, `back_end` (lists of blocks, the output block
    last).
    """

    def __init__(
        self,
        ngf=64,
        n_downsampling=4,
        n_blocks=9,
        output_nc=3,
        norm="instance",
        include_output=True,
        kernel_initializer=DEFAULT_INITIALIZER,
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(ngf, n_blocks, output_nc, norm, include_output, kernel_initializer,
                         one_hot_channels, **kwargs)
        self.n_downsampling = n_downsampling

    @property
    def size_multiple(self):
        return 2**self.n_downsampling

    def build(self, input_shape):
        widths = [self.ngf * 2**i for i in range(self.n_downsampling + 1)]
        self._make_blocks(widths, widths[-2::-1])
        build_sequence(self.front_end + self.residual_blocks + self.back_end, input_shape)

    def call(self, inputs):
        check_size(inputs, self.size_multiple, "GlobalGenerator")
        return run_sequence(self.front_end + self.residual_blocks + self.back_end, inputs)

    def get_config(self):
        return {**super().get_config(), "n_downsampling": self.n_downsampling}


@keras.saving.register_keras_serializable(package="keras_i2i")
class LocalEnhancer(_GeneratorLevel):
    """G2, one local enhancer level of the reference's `LocalEnhancer`.

    Front-end: reflection pad 3, 7 x 7 convolution to `ngf`, norm, ReLU; a 3 x 3 stride-2
    convolution to `2 * ngf`, norm, ReLU. Its output plus the coarser level's last feature
    map goes through `n_blocks` residual blocks, and the back-end: a 3 x 3 stride-2 transposed
    convolution to `ngf`, norm, ReLU, then (with `include_output`, the finest level) the
    7 x 7 output convolution and tanh.

    Inputs `[x, coarser]`: x (B, H, W, C) the generator input at this level's resolution,
    `coarser` (B, H / 2, W / 2, 2 * ngf) the coarser level's features. Output (B, H, W,
    output_nc) in [-1, 1], or (B, H, W, ngf) without `include_output`.

    Sub-layers: `front_end`, `residual_blocks`, `back_end`.
    """

    def __init__(
        self,
        ngf=32,
        n_blocks=3,
        output_nc=3,
        norm="instance",
        include_output=True,
        kernel_initializer=DEFAULT_INITIALIZER,
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(ngf, n_blocks, output_nc, norm, include_output, kernel_initializer,
                         one_hot_channels, **kwargs)

    def build(self, input_shape):
        x_shape, _ = input_shape
        self._make_blocks([self.ngf, 2 * self.ngf], [self.ngf])
        shape = build_sequence(self.front_end, x_shape)
        build_sequence(self.residual_blocks + self.back_end, shape)

    def call(self, inputs):
        x, coarser = inputs
        features = run_sequence(self.front_end, x) + coarser
        return run_sequence(self.residual_blocks + self.back_end, features)


@keras.saving.register_keras_serializable(package="keras_i2i")
class CoarseToFineGenerator(keras.Model):
    """G = {G1, G2, ...}: the global generator under `n_local_enhancers` local enhancers.

    The input is downsampled `n_local_enhancers` times with
    `AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`; G1 (without its output
    layers, `ngf * 2 ** n_local_enhancers` channels) runs on the coarsest input, and enhancer
    n (`ngf * 2 ** (n_local_enhancers - n)` channels) on the input at its resolution, the
    finest one producing the image. With `n_local_enhancers=0` this is G1 alone, with its
    output layers. Arguments follow the reference's options; `ngf` is the finest level's.
    `one_hot_channels` (leading one-hot input channels, see `Conv2D`) reaches the finest
    level's first convolution, the only one that sees the one-hot input.

    Input (B, H, W, C), H and W multiples of `size_multiple` =
    `2 ** (n_downsample_global + n_local_enhancers)`. Output (B, H, W, output_nc) in [-1, 1].

    Sub-layers: `global_generator` (a `GlobalGenerator`), `local_enhancers` (a list, coarse to
    fine), `downsample`.
    """

    def __init__(
        self,
        ngf=64,
        n_downsample_global=4,
        n_blocks_global=9,
        n_local_enhancers=0,
        n_blocks_local=3,
        output_nc=3,
        norm="instance",
        kernel_initializer=DEFAULT_INITIALIZER,
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ngf = ngf
        self.n_downsample_global = n_downsample_global
        self.n_blocks_global = n_blocks_global
        self.n_local_enhancers = n_local_enhancers
        self.n_blocks_local = n_blocks_local
        self.output_nc = output_nc
        self.norm = norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.one_hot_channels = one_hot_channels
        finest = dict(one_hot_channels=one_hot_channels)
        common = dict(
            output_nc=output_nc,
            norm=norm,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        self.global_generator = GlobalGenerator(
            ngf * 2**n_local_enhancers,
            n_downsample_global,
            n_blocks_global,
            include_output=n_local_enhancers == 0,
            name="global_generator",
            **common,
            **(finest if n_local_enhancers == 0 else {}),
        )
        self.local_enhancers = [
            LocalEnhancer(
                ngf * 2 ** (n_local_enhancers - n),
                n_blocks_local,
                include_output=n == n_local_enhancers,
                name=f"local_enhancer_{n}",
                **common,
                **(finest if n == n_local_enhancers else {}),
            )
            for n in range(1, n_local_enhancers + 1)
        ]
        self.downsample = AvgPool2D(dtype=self.dtype_policy, name="downsample")

    @property
    def size_multiple(self):
        return 2 ** (self.n_downsample_global + self.n_local_enhancers)

    def build(self, input_shape):
        shapes = [tuple(input_shape)]
        for _ in self.local_enhancers:
            shapes.append(self.downsample.compute_output_shape(shapes[-1]))
        self.global_generator.build(shapes[-1])
        features = self.global_generator.compute_output_shape(shapes[-1])
        for enhancer, shape in zip(self.local_enhancers, reversed(shapes[:-1])):
            enhancer.build([shape, features])
            features = enhancer.compute_output_shape([shape, features])

    def call(self, inputs):
        check_size(inputs, self.size_multiple, "CoarseToFineGenerator")
        pyramid = [inputs]
        for _ in self.local_enhancers:
            pyramid.append(self.downsample(pyramid[-1]))
        output = self.global_generator(pyramid[-1])
        for enhancer, x in zip(self.local_enhancers, reversed(pyramid[:-1])):
            output = enhancer([x, output])
        return output

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_nc)

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "n_downsample_global": self.n_downsample_global,
            "n_blocks_global": self.n_blocks_global,
            "n_local_enhancers": self.n_local_enhancers,
            "n_blocks_local": self.n_blocks_local,
            "output_nc": self.output_nc,
            "norm": self.norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "one_hot_channels": self.one_hot_channels,
        }
