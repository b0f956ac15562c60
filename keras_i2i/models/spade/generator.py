"""SPADE's generator: a stack of SPADE residual blocks, upsampled nearest x2 between them,
every block modulated by the semantic map (Park et al. 2019, Fig. 4 and appendix A).

Semantic map (B, H, W, semantic_nc) -> fc (downsampled map through a 3 x 3 conv, or a
dense layer of the style code z) -> head_0 -> up -> G_middle_0 -> [up] -> G_middle_1 ->
(up -> up_k) for k = 0..3 [..4] -> LeakyReLU -> conv_img -> tanh -> image (B, H, W, 3).
"""

import re

import keras
from keras import ops

from keras_i2i.layers import Conv2D, SpatiallyAdaptiveNorm, resize_nearest

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}
_SPADE_NORM = re.compile(r"(spectral)?spade(instance|syncbatch|batch)(\d+)x\d+")


def parse_spade_norm(norm):
    """SPADE's `norm_G` string -> `(spectral_norm, param_free_norm, synchronized, kernel_size)`.

    `"spectralspadesyncbatch3x3"` -> `(True, "batch", True, 3)`;
    `"spadeinstance5x5"` -> `(False, "instance", False, 5)`.
    """
    match = _SPADE_NORM.fullmatch(norm)
    if match is None:
        raise ValueError(
            f"norm must look like 'spectralspadesyncbatch3x3' ([spectral]spade + instance, "
            f"batch or syncbatch + k x k), got {norm!r}"
        )
    spectral, kind, kernel_size = match.groups()
    param_free_norm = "instance" if kind == "instance" else "batch"
    return bool(spectral), param_free_norm, kind == "syncbatch", int(kernel_size)


def _leaky_relu(x):
    return ops.leaky_relu(x, negative_slope=0.2)


@keras.saving.register_keras_serializable(package="keras_i2i")
class SPADEResBlock(keras.layers.Layer):
    """SPADE residual block: `shortcut(x) + conv_1(act(norm_1(conv_0(act(norm_0(x))))))`.

    Inputs `[x, segmap]`: `x` (B, H, W, C_in), `segmap` (B, H_s, W_s, semantic_nc) resized
    inside each `SpatiallyAdaptiveNorm`. Output (B, H, W, filters).

    `act` is LeakyReLU 0.2, the convolutions are 3 x 3 (zero padding 1), `conv_0` to
    `min(C_in, filters)` channels. When `C_in != filters` the shortcut is learned:
    `conv_s(norm_s(x))`, a 1 x 1 convolution without bias and without activation; otherwise
    the identity.

    Args:
        filters: output channels.
        norm: SPADE's `norm_G`, e.g. `"spectralspadesyncbatch3x3"` (see `parse_spade_norm`):
            spectral norm on every convolution, the parameter-free norm and the SPADE kernel.
        hidden_channels: channels of each SPADE's shared MLP (128 in SPADE).
        kernel_initializer: initializer of every convolution.
        one_hot_channels: the segmap's leading one-hot channels (see `SpatiallyAdaptiveNorm`).

    Sub-layers: `norm_0`, `conv_0`, `norm_1`, `conv_1` and, with a learned shortcut,
    `norm_s`, `conv_s` (the reference's names).
    """

    def __init__(
        self,
        filters,
        norm="spectralspadesyncbatch3x3",
        hidden_channels=128,
        kernel_initializer="glorot_uniform",
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.one_hot_channels = one_hot_channels
        self.spectral_norm, self.param_free_norm, self.synchronized, self.norm_kernel_size = (
            parse_spade_norm(norm)
        )
        self.filters = filters
        self.norm = norm
        self.hidden_channels = hidden_channels
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _spade(self, name):
        return SpatiallyAdaptiveNorm(
            param_free_norm=self.param_free_norm,
            synchronized=self.synchronized,
            hidden_channels=self.hidden_channels,
            kernel_size=self.norm_kernel_size,
            kernel_initializer=self.kernel_initializer,
            one_hot_channels=self.one_hot_channels,
            dtype=self.dtype_policy,
            name=name,
        )

    def _conv(self, filters, kernel_size, name, use_bias=True):
        return Conv2D(
            filters,
            kernel_size,
            padding=kernel_size // 2,
            use_bias=use_bias,
            spectral_norm=self.spectral_norm,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        x_shape, segmap_shape = input_shape
        channels = x_shape[-1]
        middle = min(channels, self.filters)
        self.learned_shortcut = channels != self.filters
        self.norm_0 = self._spade("norm_0")
        self.conv_0 = self._conv(middle, 3, "conv_0")
        self.norm_1 = self._spade("norm_1")
        self.conv_1 = self._conv(self.filters, 3, "conv_1")
        middle_shape = (*x_shape[:-1], middle)
        self.norm_0.build([x_shape, segmap_shape])
        self.conv_0.build(x_shape)
        self.norm_1.build([middle_shape, segmap_shape])
        self.conv_1.build(middle_shape)
        if self.learned_shortcut:
            self.norm_s = self._spade("norm_s")
            self.conv_s = self._conv(self.filters, 1, "conv_s", use_bias=False)
            self.norm_s.build([x_shape, segmap_shape])
            self.conv_s.build(x_shape)

    def call(self, inputs):
        x, segmap = inputs
        shortcut = self.conv_s(self.norm_s([x, segmap])) if self.learned_shortcut else x
        dx = self.conv_0(_leaky_relu(self.norm_0([x, segmap])))
        dx = self.conv_1(_leaky_relu(self.norm_1([dx, segmap])))
        return shortcut + dx

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "norm": self.norm,
            "hidden_channels": self.hidden_channels,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "one_hot_channels": self.one_hot_channels,
        }


@keras.saving.register_keras_serializable(package="keras_i2i")
class SPADEGenerator(keras.Model):
    """SPADE's `SPADEGenerator`.

    Input: the semantic map (B, H, W, semantic_nc), float (one-hot labels [+ dontcare]
    [+ instance edges]); with `use_vae=True`, `[semantic map, z]`, z (B, z_dim).
    Output: images (B, H, W, 3) in [-1, 1], in the compute dtype.

    With `n` = 5, 6 or 7 upsamplings (`num_upsampling_layers` `"normal"`, `"more"`,
    `"most"`), the network starts at (H / 2^n, W / 2^n) and 16 * ngf channels, from the
    semantic map resized there (PyTorch's nearest pixel, `resize_nearest`) through the 3 x 3
    conv `fc`, or, with the VAE, from `fc` = Dense(z) reshaped. Without the VAE any H, W
    that are multiples of 2^n work; the VAE's dense layer fixes the output to `image_size`.

    The channels of the SPADE residual blocks: head_0, G_middle_0, G_middle_1 at 16 * ngf,
    then up_0..up_3 at 8, 4, 2, 1 * ngf (and up_4 at ngf / 2 for `"most"`).

    Args:
        ngf: base width.
        num_upsampling_layers: `"normal"`, `"more"` or `"most"`.
        norm: SPADE's `norm_G` (see `SPADEResBlock`).
        spade_hidden: channels of the SPADE MLPs (128 in SPADE).
        use_vae: start from a style code z instead of the semantic map.
        z_dim: length of z.
        image_size: `(H, W)` of the output with the VAE (ignored without it).
        kernel_initializer: initializer of every convolution and the dense layer.
        one_hot_channels: the semantic map's leading one-hot channels (see
            `SpatiallyAdaptiveNorm`).

    Sub-layers: `fc`, `head_0`, `G_middle_0`, `G_middle_1`, `up_0`..`up_3` (`up_4`),
    `conv_img` (the reference's names).
    """

    def __init__(
        self,
        ngf=64,
        num_upsampling_layers="normal",
        norm="spectralspadesyncbatch3x3",
        spade_hidden=128,
        use_vae=False,
        z_dim=256,
        image_size=(256, 256),
        kernel_initializer="glorot_uniform",
        one_hot_channels=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(
                f"num_upsampling_layers must be one of {tuple(UPSAMPLING_LAYERS)}, "
                f"got {num_upsampling_layers!r}"
            )
        parse_spade_norm(norm)
        self.ngf = ngf
        self.num_upsampling_layers = num_upsampling_layers
        self.norm = norm
        self.spade_hidden = spade_hidden
        self.use_vae = use_vae
        self.z_dim = z_dim
        self.image_size = tuple(image_size)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.one_hot_channels = one_hot_channels
        self.scale = 2 ** UPSAMPLING_LAYERS[num_upsampling_layers]
        if use_vae and any(n % self.scale for n in self.image_size):
            raise ValueError(
                f"image_size {self.image_size} must be multiples of {self.scale} with "
                f"num_upsampling_layers={num_upsampling_layers!r}"
            )
        self.latent_size = tuple(n // self.scale for n in self.image_size)

        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        top = 16 * ngf
        if use_vae:
            self.fc = keras.layers.Dense(top * self.latent_size[0] * self.latent_size[1],
                                         name="fc", **common)
        else:
            self.fc = Conv2D(top, 3, padding=1, name="fc", **common)
        block = dict(norm=norm, hidden_channels=spade_hidden, one_hot_channels=one_hot_channels,
                     **common)
        self.head_0 = SPADEResBlock(top, name="head_0", **block)
        self.G_middle_0 = SPADEResBlock(top, name="G_middle_0", **block)
        self.G_middle_1 = SPADEResBlock(top, name="G_middle_1", **block)
        widths = [8 * ngf, 4 * ngf, 2 * ngf, ngf]
        if num_upsampling_layers == "most":
            widths.append(ngf // 2)
        self.up_blocks = [
            SPADEResBlock(width, name=f"up_{i}", **block) for i, width in enumerate(widths)
        ]
        self.conv_img = Conv2D(3, 3, padding=1, name="conv_img", **common)

    def build(self, input_shape):
        semantics_shape = input_shape[0] if self.use_vae else input_shape
        self.fc.build(input_shape[1] if self.use_vae else semantics_shape)
        x_shape = (None, None, None, 16 * self.ngf)
        for block in [self.head_0, self.G_middle_0, self.G_middle_1, *self.up_blocks]:
            block.build([x_shape, semantics_shape])
            x_shape = block.compute_output_shape([x_shape, semantics_shape])
        self.conv_img.build(x_shape)

    def _start(self, semantics, z):
        """The (B, H / 2^n, W / 2^n, 16 * ngf) tensor the first block takes."""
        if self.use_vae:
            x = self.fc(z)
            return ops.reshape(x, (-1, *self.latent_size, 16 * self.ngf))
        shape = ops.shape(semantics)
        size = (shape[1] // self.scale, shape[2] // self.scale)
        return self.fc(resize_nearest(semantics, size))

    def call(self, inputs):
        semantics, z = inputs if self.use_vae else (inputs, None)
        semantics = ops.cast(semantics, self.compute_dtype)
        x = self.head_0([self._start(semantics, z), semantics])
        x = self.G_middle_0([_upsample(x), semantics])
        if self.num_upsampling_layers != "normal":
            x = _upsample(x)
        x = self.G_middle_1([x, semantics])
        for block in self.up_blocks:
            x = block([_upsample(x), semantics])
        return ops.tanh(self.conv_img(_leaky_relu(x)))

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "num_upsampling_layers": self.num_upsampling_layers,
            "norm": self.norm,
            "spade_hidden": self.spade_hidden,
            "use_vae": self.use_vae,
            "z_dim": self.z_dim,
            "image_size": self.image_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "one_hot_channels": self.one_hot_channels,
        }


def _upsample(x):
    """`nn.Upsample(scale_factor=2)`: nearest x2."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)
