"""vid2vid's sequential generator (Wang et al. 2018, "Video-to-Video Synthesis", section 3).

Frame t is generated from the semantic maps of frames t - n_frames_G + 1 .. t (`label`) and
the n_frames_G - 1 frames generated before it (`prev_images`), both oldest first:

    label --------- model_down_seg --+       +-- image head --------> image_raw
                                     +- sum -+
    prev_images --- model_down_img --+       +-- flow head --+-----> flow (x 20)
                                                             +-----> weight (sigmoid)
    image = image_raw * weight + warp(last previous frame, flow) * (1 - weight)

With `fg` a foreground generator (`indv_*`) sees the labels alone, and its output replaces
`image` and `image_raw` where the current frame's label is one of `fg_labels`.

`CompositeGenerator` is the reference's G0; `CompositeLocalGenerator` a finer scale that adds
the coarser scale's features; `Vid2VidGenerator` runs them coarse to fine on input pyramids.
"""

import keras
from keras import ops

from keras_i2i.layers import (
    AvgPool2D,
    FlowWarp,
    ResidualBlock,
    build_sequence,
    generator_block,
    run_sequence,
)
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER

# The reference's `--norm`: `BatchNorm2d(affine=True)`, or
# `InstanceNorm2d(affine=False, track_running_stats=True)`.
NORMS = {"batch": "batch", "instance": "instance_running"}
# The flow head's output is scaled by FLOW_SCALE * 2^s at spatial scale s (pixels).
FLOW_SCALE = 20
OUTPUTS = ("image", "image_raw", "flow", "weight")


class _CompositeLevel(keras.Model):
    """What `CompositeGenerator` and `CompositeLocalGenerator` share: their arguments, the
    block factories (convolutions with bias, `norm`, ReLU) and the heads.

    Sub-layers are lists of blocks named after the reference's `nn.Sequential` modules
    (`sequences` lists them); `warp` is a `FlowWarp`.
    """

    def __init__(
        self,
        ngf,
        n_downsample_G,
        output_nc,
        n_frames_G,
        fg,
        fg_labels,
        norm,
        kernel_initializer,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {tuple(NORMS)}, got {norm!r}")
        self.ngf = ngf
        self.n_downsample_G = n_downsample_G
        self.output_nc = output_nc
        self.n_frames_G = n_frames_G
        self.fg = fg
        self.fg_labels = tuple(fg_labels)
        self.norm = norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.warp = FlowWarp(dtype=self.dtype_policy, name="warp")

    @property
    def ngf_indv(self):
        """The foreground generator's width: `ngf / 2` when `n_downsample_G > 2`."""
        return self.ngf // 2 if self.n_downsample_G > 2 else self.ngf

    def _block(self, filters, kernel_size=3, strides=1, **options):
        """A `generator_block` with this level's norm, ReLU and initializer (`options`
        override them)."""
        config = dict(norm=NORMS[self.norm], kernel_initializer=self.kernel_initializer,
                      dtype=self.dtype_policy)
        return generator_block(filters, kernel_size, strides, **{**config, **options})

    def _residual_blocks(self, count, name, start=0):
        return [
            ResidualBlock(
                norm=NORMS[self.norm],
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=f"{name}_{start + i}",
            )
            for i in range(count)
        ]

    def _downsampling(self, width, n_downsampling, name):
        """7 x 7 convolution to `width`, then stride-2 convolutions doubling it."""
        return [self._block(width, 7, name=f"{name}_0")] + [
            self._block(width * 2 ** (i + 1), strides=2, name=f"{name}_{i + 1}")
            for i in range(n_downsampling)
        ]

    def _upsampling(self, width, n_upsampling, name, start=0):
        """Stride-2 transposed convolutions halving the channels down to `width`."""
        return [
            self._block(width * 2 ** (n_upsampling - 1 - i), strides=2, transposed=True,
                        name=f"{name}_{start + i}")
            for i in range(n_upsampling)
        ]

    def _output(self, channels, activation, name):
        return [self._block(channels, 7, norm="none", activation=activation, name=f"{name}_0")]

    def _build_encoders(self, input_shape):
        """Builds `model_down_seg`, `model_down_img`; returns their output shape."""
        build_sequence(self.model_down_img, input_shape["prev_images"])
        return build_sequence(self.model_down_seg, input_shape["label"])

    def _encode(self, inputs):
        """The sum of the label and previous-image encodings."""
        return (run_sequence(self.model_down_seg, inputs["label"])
                + run_sequence(self.model_down_img, inputs["prev_images"]))

    def _make_heads(self):
        self.model_final_img = self._output(self.output_nc, "tanh", "model_final_img")
        self.model_final_flow = self._output(2, "none", "model_final_flow")
        self.model_final_w = self._output(1, "sigmoid", "model_final_w")
        if self.fg:
            self.indv_final = self._output(self.output_nc, "tanh", "indv_final")

    @property
    def sequences(self):
        """`{reference module name: list of blocks}`, in the reference's module order."""
        return {name: getattr(self, name) for name in self.SEQUENCES if hasattr(self, name)}

    @property
    def flow_multiplier(self):
        return FLOW_SCALE

    def foreground_mask(self, label):
        """(B, H, W, 1): the current (last) frame's `fg_labels` channels of `label` (B, H, W,
        n_frames_G * C) summed and clipped to [0, 1] (the reference's `compute_mask`)."""
        frame_channels = label.shape[-1] // self.n_frames_G
        frame = label[..., -frame_channels:]
        mask = ops.sum(ops.take(frame, list(self.fg_labels), axis=-1), axis=-1, keepdims=True)
        return ops.clip(mask, 0.0, 1.0)

    def _outputs(self, inputs, image_features, flow_features, foreground_features,
                 use_raw_only=False):
        """The heads on the features: image_raw, flow, weight, the composed image (`image_raw`
        itself with `use_raw_only`), merged with the foreground; and the features, for a
        finer scale."""
        image_raw = run_sequence(self.model_final_img, image_features)
        flow = run_sequence(self.model_final_flow, flow_features) * self.flow_multiplier
        weight = run_sequence(self.model_final_w, flow_features)
        if use_raw_only:
            image = image_raw
        else:
            previous = inputs["prev_images"][..., -self.output_nc :]
            image = image_raw * weight + self.warp([previous, flow]) * (1.0 - weight)
        outputs = {"image_features": image_features, "flow_features": flow_features}
        if self.fg:
            foreground = run_sequence(self.indv_final, foreground_features)
            mask = ops.cast(self.foreground_mask(inputs["label"]), foreground.dtype)
            image = foreground * mask + image * (1.0 - mask)
            image_raw = foreground * mask + image_raw * (1.0 - mask)
            outputs["foreground_features"] = foreground_features
        return {"image": image, "image_raw": image_raw, "flow": flow, "weight": weight,
                **outputs}

    def _build_heads(self, image_shape, flow_shape, foreground_shape):
        build_sequence(self.model_final_img, image_shape)
        build_sequence(self.model_final_flow, flow_shape)
        build_sequence(self.model_final_w, flow_shape)
        if self.fg:
            build_sequence(self.indv_final, foreground_shape)

    def compute_output_shape(self, input_shape):
        size = tuple(input_shape["label"][:-1])
        channels = {"image": self.output_nc, "image_raw": self.output_nc, "flow": 2, "weight": 1,
                    "image_features": self.ngf, "flow_features": self.ngf}
        if self.fg:
            channels["foreground_features"] = self.ngf_indv
        return {key: (*size, n) for key, n in channels.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "n_downsample_G": self.n_downsample_G,
            "output_nc": self.output_nc,
            "n_frames_G": self.n_frames_G,
            "fg": self.fg,
            "fg_labels": list(self.fg_labels),
            "norm": self.norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="keras_i2i.vid2vid")
class CompositeGenerator(_CompositeLevel):
    """The reference's `CompositeGenerator` (G0, the coarsest spatial scale).

    `model_down_seg` (labels) and `model_down_img` (previous frames), each with its own
    weights: reflection pad 3, 7 x 7 conv to `ngf`, norm, ReLU; `n_downsample_G` 3 x 3
    stride-2 convs (zero padding 1) doubling the channels, norm, ReLU; `n_blocks -
    n_blocks // 2` residual blocks. Their outputs are summed. Image head: `model_res_img`
    (`n_blocks // 2` residual blocks), `model_up_img` (`n_downsample_G` 3 x 3 stride-2
    transposed convs halving the channels, norm, ReLU), `model_final_img` (reflection pad 3,
    7 x 7 conv, tanh). Flow head: `model_res_flow`, `model_up_flow` as the image head's,
    `model_final_flow` (7 x 7 conv to 2 channels, times 20) and `model_final_w` (7 x 7 conv to
    1 channel, sigmoid). With `fg`: `indv_down`, `indv_res` (`n_blocks` residual blocks),
    `indv_up` at `ngf_indv` channels, and `indv_final` (7 x 7 conv, tanh).

    Inputs: a dict with `label` (B, H, W, n_frames_G * C) (per frame, oldest first, C
    channels: one-hot labels and the instance edge map) and `prev_images` (B, H, W,
    (n_frames_G - 1) * output_nc) (oldest first); H and W multiples of `2 ** n_downsample_G`.

    Outputs: a dict with `image` (B, H, W, output_nc), `image_raw` (B, H, W, output_nc) (the
    hallucinated frame; both merged with the foreground with `fg`), `flow` (B, H, W, 2) (in
    pixels, (dx, dy), from this frame to the last previous one), `weight` (B, H, W, 1) (in
    [0, 1], the share of `image_raw`), and for a finer scale `image_features`,
    `flow_features` (B, H, W, ngf), and with `fg` `foreground_features` (B, H, W, ngf_indv).

    A call with `training=True` normalizes with the statistics of the batch (as the reference
    always does: it never calls `eval()`) and updates the running ones; otherwise the running
    statistics are used.
    With `use_raw_only=True` (the reference's first frame with `--no_first_img`, whose
    previous frames are blank) `image` is `image_raw`, no warped previous frame mixed in.

    Args:
        ngf: channels of the first convolutions.
        n_downsample_G: stride-2 convolutions.
        n_blocks: residual blocks (split between the encoders and the heads).
        output_nc: image channels.
        n_frames_G: frames in `label` (the previous frames are one fewer).
        fg: add the foreground generator.
        fg_labels: the foreground label channels of a frame (the reference's `--fg_labels`).
        norm: `"batch"` or `"instance"`, the reference's `--norm`.
        kernel_initializer: initializer of every convolution (the reference's N(0, 0.02)).
    """

    SEQUENCES = (
        "model_down_seg", "model_down_img", "model_res_img", "model_up_img", "model_final_img",
        "model_res_flow", "model_up_flow", "model_final_flow", "model_final_w",
        "indv_down", "indv_res", "indv_up", "indv_final",
    )

    def __init__(
        self,
        ngf=128,
        n_downsample_G=3,
        n_blocks=9,
        output_nc=3,
        n_frames_G=3,
        fg=False,
        fg_labels=(26,),
        norm="batch",
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    ):
        super().__init__(ngf, n_downsample_G, output_nc, n_frames_G, fg, fg_labels, norm,
                         kernel_initializer, **kwargs)
        self.n_blocks = n_blocks
        n_down, n_res_down = n_downsample_G, n_blocks - n_blocks // 2
        for name in ("model_down_seg", "model_down_img"):
            setattr(self, name, self._downsampling(ngf, n_down, name)
                    + self._residual_blocks(n_res_down, name, start=n_down + 1))
        for head in ("img", "flow"):
            setattr(self, f"model_res_{head}",
                    self._residual_blocks(n_blocks // 2, f"model_res_{head}"))
            setattr(self, f"model_up_{head}", self._upsampling(ngf, n_down, f"model_up_{head}"))
        if fg:
            self.indv_down = self._downsampling(self.ngf_indv, n_down, "indv_down")
            self.indv_res = self._residual_blocks(n_blocks, "indv_res")
            self.indv_up = self._upsampling(self.ngf_indv, n_down, "indv_up")
        self._make_heads()

    def build(self, input_shape):
        features = self._build_encoders(input_shape)
        image = build_sequence(self.model_up_img, build_sequence(self.model_res_img, features))
        flow = build_sequence(self.model_up_flow, build_sequence(self.model_res_flow, features))
        foreground = None
        if self.fg:
            foreground = build_sequence(self.indv_down, input_shape["label"])
            foreground = build_sequence(self.indv_up, build_sequence(self.indv_res, foreground))
        self._build_heads(image, flow, foreground)

    def call(self, inputs, training=None, use_raw_only=False):
        features = self._encode(inputs)
        image = run_sequence(self.model_up_img, run_sequence(self.model_res_img, features))
        flow = run_sequence(self.model_up_flow, run_sequence(self.model_res_flow, features))
        foreground = None
        if self.fg:
            foreground = run_sequence(self.indv_down, inputs["label"])
            foreground = run_sequence(self.indv_up, run_sequence(self.indv_res, foreground))
        return self._outputs(inputs, image, flow, foreground, use_raw_only)

    def get_config(self):
        return {**super().get_config(), "n_blocks": self.n_blocks}


@keras.saving.register_keras_serializable(package="keras_i2i.vid2vid")
class CompositeLocalGenerator(_CompositeLevel):
    """The reference's `CompositeLocalGenerator`: spatial scale `scale` >= 1 (G1, G2, ...), at
    twice the resolution of the scale before it.

    `model_down_seg`, `model_down_img`: reflection pad 3, 7 x 7 conv to `ngf`, norm, ReLU, one
    3 x 3 stride-2 conv to `2 ngf`, norm, ReLU; summed. `model_up_img` (`n_blocks_local`
    residual blocks and a stride-2 transposed conv to `ngf`) runs on that sum plus the
    coarser scale's `image_features`, `model_up_flow` (a copy) on the sum plus its
    `flow_features`; the heads are `CompositeGenerator`'s, the flow multiplied by
    `20 * 2^scale`. With `fg`: `indv_down` (to `2 ngf_indv`) plus the coarser
    `foreground_features`, `indv_up`, `indv_final`.

    Inputs: `CompositeGenerator`'s plus the coarser scale's `image_features`, `flow_features`
    (B, H / 2, W / 2, 2 ngf) and with `fg` `foreground_features` (B, H / 2, W / 2,
    2 ngf_indv). Outputs and `training`: as `CompositeGenerator`'s.

    Args:
        ngf: channels of the first convolutions (the reference's `ngf / 2^scale`).
        n_downsample_G: the reference's `--n_downsample_G` (sets `ngf_indv` only).
        n_blocks_local: residual blocks of each head.
        scale: the spatial scale (the flow multiplier's exponent).
        output_nc, n_frames_G, fg, fg_labels, norm, kernel_initializer: as
            `CompositeGenerator`.
    """

    SEQUENCES = (
        "model_down_seg", "model_down_img", "model_up_img", "model_final_img",
        "model_up_flow", "model_final_flow", "model_final_w", "indv_down", "indv_up",
        "indv_final",
    )

    def __init__(
        self,
        ngf=64,
        n_downsample_G=3,
        n_blocks_local=3,
        scale=1,
        output_nc=3,
        n_frames_G=3,
        fg=False,
        fg_labels=(26,),
        norm="batch",
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    ):
        super().__init__(ngf, n_downsample_G, output_nc, n_frames_G, fg, fg_labels, norm,
                         kernel_initializer, **kwargs)
        self.n_blocks_local = n_blocks_local
        self.scale = scale
        for name in ("model_down_seg", "model_down_img"):
            setattr(self, name, self._downsampling(ngf, 1, name))
        for name in ("model_up_img", "model_up_flow"):
            setattr(self, name, self._residual_blocks(n_blocks_local, name)
                    + self._upsampling(ngf, 1, name, start=n_blocks_local))
        if fg:
            self.indv_down = self._downsampling(self.ngf_indv, 1, "indv_down")
            self.indv_up = (self._residual_blocks(n_blocks_local, "indv_up")
                            + self._upsampling(self.ngf_indv, 1, "indv_up", start=n_blocks_local))
        self._make_heads()

    @property
    def flow_multiplier(self):
        return FLOW_SCALE * 2**self.scale

    def build(self, input_shape):
        features = self._build_encoders(input_shape)
        image = build_sequence(self.model_up_img, features)
        flow = build_sequence(self.model_up_flow, features)
        foreground = None
        if self.fg:
            foreground = build_sequence(
                self.indv_up, build_sequence(self.indv_down, input_shape["label"])
            )
        self._build_heads(image, flow, foreground)

    def call(self, inputs, training=None, use_raw_only=False):
        features = self._encode(inputs)
        image = run_sequence(self.model_up_img, features + inputs["image_features"])
        flow = run_sequence(self.model_up_flow, features + inputs["flow_features"])
        foreground = None
        if self.fg:
            foreground = run_sequence(self.indv_down, inputs["label"])
            foreground = run_sequence(self.indv_up, foreground + inputs["foreground_features"])
        return self._outputs(inputs, image, flow, foreground, use_raw_only)

    def get_config(self):
        return {**super().get_config(), "n_blocks_local": self.n_blocks_local,
                "scale": self.scale}


@keras.saving.register_keras_serializable(package="keras_i2i.vid2vid")
class Vid2VidGenerator(keras.Model):
    """The reference's coarse-to-fine generator: `CompositeGenerator` G0 at the coarsest
    scale, then `CompositeLocalGenerator`s G1 .. G(n_scales_spatial - 1), G_s with
    `ngf / 2^s` filters, each at twice the resolution of the one before, adding its features.

    The coarser scales see their inputs downsampled by `AvgPool2d(3, 2, 1,
    count_include_pad=False)` (labels and edges too, so blurred; the foreground mask is
    computed from them).

    Inputs: a dict with
        - `label` (B, H, W, n_frames_G * C): see `CompositeGenerator`;
        - `prev_images`: (B, H, W, (n_frames_G - 1) * output_nc), downsampled for the coarser
          scales (the reference does so with the real frames that start a sequence), or a
          list over scales, finest first, of the previous frames each scale generated (the
          reference's `fake_B_prev` pyramid), (B, H / 2^k, W / 2^k, ...) at index k.
        H and W multiples of `2 ** (n_downsample_G + n_scales_spatial - 1)`.

    Outputs: a dict with the finest scale's `image`, `image_raw`, `flow` (in its pixels),
    `weight` (see `CompositeGenerator`), and `image_pyramid`, every scale's `image`, finest
    first.
    `training` and `use_raw_only`: as `CompositeGenerator`'s, for every scale.

    Args:
        n_blocks: G0's residual blocks.
        n_blocks_local: residual blocks of each head of G1, G2, ...
        n_scales_spatial: number of spatial scales.
        ngf, n_downsample_G, output_nc, n_frames_G, fg, fg_labels, norm, kernel_initializer:
            as `CompositeGenerator`.

    Sub-layers: `levels` (G0 named `generator0`, G1 `generator1`, ...), `downsample`.
    """

    def __init__(
        self,
        ngf=128,
        n_downsample_G=3,
        n_blocks=9,
        n_blocks_local=3,
        n_scales_spatial=1,
        output_nc=3,
        n_frames_G=3,
        fg=False,
        fg_labels=(26,),
        norm="batch",
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ngf = ngf
        self.n_downsample_G = n_downsample_G
        self.n_blocks = n_blocks
        self.n_blocks_local = n_blocks_local
        self.n_scales_spatial = n_scales_spatial
        self.output_nc = output_nc
        self.n_frames_G = n_frames_G
        self.fg = fg
        self.fg_labels = tuple(fg_labels)
        self.norm = norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(
            n_downsample_G=n_downsample_G,
            output_nc=output_nc,
            n_frames_G=n_frames_G,
            fg=fg,
            fg_labels=fg_labels,
            norm=norm,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
        )
        self.levels = [CompositeGenerator(ngf, n_blocks=n_blocks, name="generator0", **common)]
        self.levels += [
            CompositeLocalGenerator(ngf // 2**s, n_blocks_local=n_blocks_local, scale=s,
                                    name=f"generator{s}", **common)
            for s in range(1, n_scales_spatial)
        ]
        self.downsample = AvgPool2D(dtype=self.dtype_policy, name="downsample")

    def _pyramid(self, x):
        """`[x, x downsampled once, ...]`, one per scale, finest first."""
        pyramid = [x]
        for _ in range(self.n_scales_spatial - 1):
            pyramid.append(self.downsample(pyramid[-1]))
        return pyramid

    def _shape_pyramid(self, shape):
        pyramid = [tuple(shape)]
        for _ in range(self.n_scales_spatial - 1):
            pyramid.append(self.downsample.compute_output_shape(pyramid[-1]))
        return pyramid

    def build(self, input_shape):
        labels = self._shape_pyramid(input_shape["label"])
        prev = input_shape["prev_images"]
        prevs = list(prev) if isinstance(prev[0], (list, tuple)) else self._shape_pyramid(prev)
        self.downsample.build(labels[0])
        coarser = {}
        for s, level in enumerate(self.levels):
            shapes = {"label": labels[-1 - s], "prev_images": prevs[-1 - s], **coarser}
            level.build(shapes)
            outputs = level.compute_output_shape(shapes)
            coarser = {key: value for key, value in outputs.items() if key.endswith("features")}

    def call(self, inputs, training=None, use_raw_only=False):
        labels = self._pyramid(inputs["label"])
        prev = inputs["prev_images"]
        prevs = list(prev) if isinstance(prev, (list, tuple)) else self._pyramid(prev)
        coarser, images = {}, []
        for s, level in enumerate(self.levels):
            outputs = level({"label": labels[-1 - s], "prev_images": prevs[-1 - s], **coarser},
                            training=training, use_raw_only=use_raw_only)
            coarser = {key: value for key, value in outputs.items() if key.endswith("features")}
            images.insert(0, outputs["image"])
        return {**{key: outputs[key] for key in OUTPUTS}, "image_pyramid": images}

    def compute_output_shape(self, input_shape):
        labels = self._shape_pyramid(input_shape["label"])
        images = [(*shape[:-1], self.output_nc) for shape in labels]
        return {"image": images[0], "image_raw": images[0], "flow": (*labels[0][:-1], 2),
                "weight": (*labels[0][:-1], 1), "image_pyramid": images}

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "n_downsample_G": self.n_downsample_G,
            "n_blocks": self.n_blocks,
            "n_blocks_local": self.n_blocks_local,
            "n_scales_spatial": self.n_scales_spatial,
            "output_nc": self.output_nc,
            "n_frames_G": self.n_frames_G,
            "fg": self.fg,
            "fg_labels": list(self.fg_labels),
            "norm": self.norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
