"""vid2vid (Wang et al., NeurIPS 2018, "Video-to-Video Synthesis"): the model, its losses and
its training step (NVIDIA/vid2vid's `Vid2VidModelG`, `Vid2VidModelD` and `train.py`).

Frame t is generated from the label maps of frames t - n_frames_G + 1 .. t and the
n_frames_G - 1 frames generated before it (`Vid2VidGenerator`): a hallucinated frame, the flow
to the previous frame and a soft occlusion mask, `image = mask * hallucinated + (1 - mask) *
warp(previous, flow)`. Training sees clips of consecutive frames whose first n_frames_G - 1
frames are real; the generated frames are fed back. Losses (`Vid2VidModelD.forward`):

- image discriminator D_I on `[labels, frame]`, for the frame and for the hallucinated
  frame: least-squares GAN, feature matching (`lambda_feat`), VGG (`lambda_vgg`);
- flow: `lambda_F / 2^(n_scales_spatial - 1) * L1(flow, reference flow)`, and the real
  previous frame warped by the flow against the real frame (`lambda_T`);
- warping: the frame against the previous generated frame warped by the reference flow
  (`lambda_T`); with `no_first_img` also the mask (weight) against 0, weighted 1;
- temporal discriminators D_V^s, one per temporal scale s: `n_frames_D` frames `n_frames_D^s`
  apart with the reference flows between them, least-squares GAN and feature matching.

Every flow and warping loss is an L1 masked by the confidence of the reference flow: 1 where
the real previous frame warped by the reference flow is within 0.02 (squared distance summed
over RGB, in [-1, 1] units) of the real frame, else 0.
"""

import collections
import functools

import keras
import numpy as np
from keras import ops

from keras_i2i.layers import FlowWarp, instance_boundary_map, semantic_map
from keras_i2i.losses import (
    VGGPerceptualLoss,
    absolute,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from keras_i2i.models.base import GANModel, concrete
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER
from keras_i2i.models.pix2pixhd.schedule import EpochLinearDecay
from keras_i2i.models.vid2vid.discriminators import multiscale_discriminator, temporal_input
from keras_i2i.models.vid2vid.generator import NORMS, Vid2VidGenerator
from keras_i2i.models.vid2vid.schedule import FixCoarseScales, GrowingClips

# The reference's flow confidence (models/flownet.py): a reference flow is trusted where it
# warps the real previous frame to within this squared RGB distance of the real frame.
CONFIDENCE_THRESHOLD = 0.02
# The reference's VGG loss halves both images until they are at most this wide.
VGG_MAX_WIDTH = 1024
# The generator minimizes every loss named so (`Vid2VidModelD.get_losses`).
GENERATOR_LOSSES = ("g_", "f_", "w")


def masked_l1(x, y, mask):
    """The reference's `MaskedL1Loss`: `mean|x * mask - y * mask|` over every element, `mask`
    (..., 1) broadcast over the channels. float32 scalar."""
    mask = ops.cast(mask, "float32")
    return ops.mean(absolute((ops.cast(x, "float32") - ops.cast(y, "float32")) * mask))


def flow_confidence(current, previous, flow, warp):
    """FlowNet's `conf`: (B, H, W, 1) float32, 1 where `previous` warped by `flow` is within
    `CONFIDENCE_THRESHOLD` of `current` (squared distance summed over channels), else 0."""
    error = ops.sum(ops.square(current - warp([previous, flow])), axis=-1, keepdims=True)
    return ops.cast(error < CONFIDENCE_THRESHOLD, "float32")


def chain_flows(flows, warp):
    """The flow of a frame to the frame `len(flows)` before it, from the flows of consecutive
    frames (each (B, H, W, 2), oldest first, the last one the frame's own): `f = f_k +
    warp(f_(k-1 -> k-m), f_k)`, backward flows composed by bilinear sampling."""
    chained = flows[0]
    for flow in flows[1:]:
        chained = flow + warp([chained, flow])
    return chained


def temporal_groups(generated, chunk, n_frames_D, scale, n_scales_temporal):
    """The reference's `get_skipped_frames` for one temporal scale: the groups of `n_frames_D`
    generated frames `n_frames_D^scale` apart that a step shows the temporal discriminator.

    The step has generated `chunk` new frames, `generated` in all (counted from the first
    generated frame). The reference keeps the last `n_frames_D^(n_scales_temporal - 1) *
    (n_frames_D - 1)` frames of earlier steps; groups end at the last frame, then every
    `n_frames_D` frames back while they end among the new frames and fit in what is kept.

    Returns:
        A list of groups, each the generated-frame indices, oldest first.
    """
    spacing = n_frames_D**scale
    span = spacing * (n_frames_D - 1)
    kept = min(generated - chunk, n_frames_D ** (n_scales_temporal - 1) * (n_frames_D - 1))
    count = min(kept + chunk - span, chunk)
    return [list(range(generated - 1 - t - span, generated - t, spacing))
            for t in range(0, max(count, 0), n_frames_D)]


@keras.saving.register_keras_serializable(package="keras_i2i")
class Vid2Vid(GANModel):
    """vid2vid: sequential generator with flow warping, image and temporal discriminators.

    Data: clips `{"label": int (B, T, H, W, 1) ids in 0..label_nc-1 (or "input": float
    (B, T, H, W, input_nc) with label_nc=0), "instance": int (B, T, H, W, 1) (with
    `use_instance`), "image": float (B, T, H, W, output_nc) in [-1, 1], "flow": float
    (B, T - 1, H, W, 2)}`: the reference flow of each frame against the frame before it, in
    pixels, (dx, dy), the convention of `FlowWarp` (`keras_i2i.data.synthetic.videos` gives
    the exact flow; `keras_i2i.data.with_flow` adds OpenCV's DIS flow to real clips, where the
    reference runs FlowNet2). Training needs the flow: the flow and warping losses and the
    temporal discriminators' inputs are made of it, so a batch without one is refused. H and W
    are multiples of `size_multiple`.

    A training step (`train_batch`) takes one clip: frames n_frames_G - 1 .. T - 1 are
    generated one after the other, the first previous frames being the clip's real ones (with
    `no_first_img` blank, and the first frame the hallucinated one). As the reference, a step
    generates `clip_plan(T)` frames: `n_frames_total` at first, doubled every `niter_step`
    epochs (`GrowingClips` sets `clip_stage`; the clip's length caps it), in chunks of at most
    `max_frames_per_step` frames, each chunk one optimizer step of every network, its
    previous frames those generated before, taken as given. Previous frames fed to the
    generator never carry gradients (the reference's `max_frames_backpropagate` 1).

    Generation (`generate`, `call`, the served `next_frame`) normalizes with the statistics of
    the frames at hand, as the reference's test.py does (it never switches its networks to
    eval mode); this updates the running statistics, which nothing reads.

    Differences from the reference:
        - chunks: the reference generates a chunk on `n_gpus_gen` GPUs, `max_frames_per_gpu`
          frames each; here `max_frames_per_step` frames (their product) on one device, or
          split by the batch under a distribution strategy.
        - temporal flows: the reference runs FlowNet2 on frames `n_frames_D^s` apart; here
          the consecutive reference flows of the clip are chained (`chain_flows`), no flow
          network needed.
        - `no_first_img`: the reference takes the hallucinated frame without warping for the
          whole first chunk; here for the first generated frame, the only one with blank
          previous frames.
        - left out: `--add_face_disc` (pose's face discriminator on a crop of a
          data-dependent size), `--sparse_D`, `--TTUR`, `--max_t_step` (frame skipping, a
          data option); the reference's `--gan_mode` selects least squares whatever its value.

    Args (the reference's option names):
        label_nc: label classes; 0 for a float input (`input_nc` channels: the face edge
            maps, pose's DensePose and OpenPose renderings).
        input_nc, output_nc: input and image channels.
        use_instance: add the instance edge map as a label channel.
        n_frames_G: frames of labels the generator sees (n_frames_G - 1 previous frames).
        ngf, n_downsample_G, n_blocks, n_blocks_local, n_scales_spatial, fg, fg_labels, norm:
            the generator (`Vid2VidGenerator`).
        no_first_img: generate the first frame too (blank previous frames), with the weight
            loss; otherwise the first frames are given (the clip's real ones in training).
        ndf, n_layers_D, num_D: every discriminator (`multiscale_discriminator`).
        n_frames_D, n_scales_temporal: frames per temporal discriminator input, temporal
            discriminators (frames 1, n_frames_D, n_frames_D^2, ... apart).
        lambda_feat: feature matching weight (0: off, the reference's `--no_ganFeat`).
        lambda_vgg: VGG weight; the reference weighs VGG with `lambda_feat` (0: `--no_vgg`).
        lambda_F, lambda_T: flow and warping weights.
        vgg_weights, vgg_preprocessing: as `VGGPerceptualLoss` (None: random weights).
        lr, beta1: Adam's learning rate and beta_1 (beta_2 0.999) of every network.
        niter, niter_decay: epochs at `lr`, then epochs of linear decay of the generator's and
            the image discriminator's rates (the reference leaves the temporal ones as set).
        niter_fix_global: first epochs training only the finest spatial scale.
        n_frames_total: frames generated per clip at first (`clip_plan`).
        max_frames_per_step: most frames generated per optimizer step (the reference's
            `n_gpus_gen * max_frames_per_gpu`; `max_frames_per_gpu` with `batchSize` > 1).
        niter_step: epochs between doublings of the frames per clip and per step.
        kernel_initializer: initializer of every convolution (the reference's N(0, 0.02)).

    Networks: `generator` (`Vid2VidGenerator`), `discriminator` (D_I) and
    `temporal_discriminators` (D_V^0, D_V^1, ...), each a `multiscale_discriminator`.
    """

    def __init__(
        self,
        label_nc=0,
        input_nc=3,
        output_nc=3,
        use_instance=False,
        n_frames_G=3,
        ngf=128,
        n_downsample_G=3,
        n_blocks=9,
        n_blocks_local=3,
        n_scales_spatial=1,
        fg=False,
        fg_labels=(26,),
        norm="batch",
        no_first_img=False,
        ndf=64,
        n_layers_D=3,
        num_D=2,
        n_frames_D=3,
        n_scales_temporal=2,
        lambda_feat=10.0,
        lambda_vgg=10.0,
        lambda_F=10.0,
        lambda_T=10.0,
        vgg_weights="imagenet",
        vgg_preprocessing="caffe",
        lr=2e-4,
        beta1=0.5,
        niter=10,
        niter_decay=10,
        niter_fix_global=0,
        n_frames_total=30,
        max_frames_per_step=1,
        niter_step=5,
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if label_nc < 0:
            raise ValueError(f"label_nc must be >= 0 (0: float input), got {label_nc}")
        if n_frames_G < 2 or n_frames_D < 2:
            raise ValueError(f"n_frames_G and n_frames_D must be >= 2, got {n_frames_G} and "
                             f"{n_frames_D}")
        if fg and not label_nc:
            raise ValueError("fg=True needs label maps (label_nc > 0): its mask is made of the "
                             "fg_labels channels")
        if fg and not all(0 <= label < label_nc for label in fg_labels):
            raise ValueError(f"fg_labels must be ids in 0..{label_nc - 1}, got {tuple(fg_labels)}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {tuple(NORMS)}, got {norm!r}")
        if niter_fix_global and n_scales_spatial < 2:
            raise ValueError("niter_fix_global needs coarser scales (n_scales_spatial >= 2)")
        counts = dict(n_scales_spatial=n_scales_spatial, n_scales_temporal=n_scales_temporal,
                      n_frames_total=n_frames_total, max_frames_per_step=max_frames_per_step,
                      niter_step=niter_step)
        below = {name: value for name, value in counts.items() if value < 1}
        if below:
            raise ValueError(f"{', '.join(below)} must be >= 1, got {below}")
        self.label_nc = label_nc
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.use_instance = use_instance
        self.n_frames_G = n_frames_G
        self.ngf = ngf
        self.n_downsample_G = n_downsample_G
        self.n_blocks = n_blocks
        self.n_blocks_local = n_blocks_local
        self.n_scales_spatial = n_scales_spatial
        self.fg = fg
        self.fg_labels = tuple(fg_labels)
        self.norm = norm
        self.no_first_img = no_first_img
        self.ndf = ndf
        self.n_layers_D = n_layers_D
        self.num_D = num_D
        self.n_frames_D = n_frames_D
        self.n_scales_temporal = n_scales_temporal
        self.lambda_feat = lambda_feat
        self.lambda_vgg = lambda_vgg
        self.lambda_F = lambda_F
        self.lambda_T = lambda_T
        self.vgg_weights = vgg_weights
        self.vgg_preprocessing = vgg_preprocessing
        self.lr = lr
        self.beta1 = beta1
        self.niter = niter
        self.niter_decay = niter_decay
        self.niter_fix_global = niter_fix_global
        self.n_frames_total = n_frames_total
        self.max_frames_per_step = max_frames_per_step
        self.niter_step = niter_step
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # Doublings of the frames per clip and per step so far (`GrowingClips` sets it).
        self.clip_stage = 0

        self.generator = Vid2VidGenerator(
            ngf, n_downsample_G, n_blocks, n_blocks_local, n_scales_spatial, output_nc,
            n_frames_G, fg, self.fg_labels, norm, self.kernel_initializer, name="generator",
            dtype=self.dtype_policy,
        )
        discriminator = functools.partial(multiscale_discriminator, ndf, n_layers_D, num_D, norm,
                                           dtype=self.dtype_policy)
        self.discriminator = discriminator(name="discriminator")
        self.temporal_discriminators = [discriminator(name=f"temporal_discriminator{s}")
                                        for s in range(n_scales_temporal)]
        self.warp = FlowWarp(dtype="float32", name="warp")
        self.vgg_loss = None
        self.build()

    # ---------------------------------------------------------------- inputs

    @property
    def size_multiple(self):
        """What H and W must be multiples of: the coarsest scale's downsampling."""
        return 2 ** (self.n_downsample_G + self.n_scales_spatial - 1)

    @property
    def condition_channels(self):
        """Channels of a frame's labels: one-hot labels (or the input), the edge map."""
        return (self.label_nc or self.input_nc) + int(self.use_instance)

    @property
    def _source(self):
        return "label" if self.label_nc else "input"

    def encode_frames(self, source, instance=None):
        """A frame's labels as the networks see them: float32 (..., H, W,
        condition_channels), one-hot labels (or the input) then the instance edge map.

        Args:
            source: int (..., H, W, 1) label ids, or float (..., H, W, input_nc) with
                `label_nc=0`; any leading axes (frames, batch).
            instance: int (..., H, W, 1) instance ids (with `use_instance`).
        """
        shape = ops.shape(source)
        lead, spatial = shape[:-3], shape[-3:]
        flat = ops.reshape(source, (-1, *spatial))
        channels = [semantic_map(flat, self.label_nc) if self.label_nc
                    else ops.cast(flat, "float32")]
        if self.use_instance:
            channels.append(instance_boundary_map(ops.reshape(instance, (-1, *spatial[:2], 1))))
        encoded = ops.concatenate(channels, axis=-1)
        return ops.reshape(encoded, (*lead, *spatial[:2], self.condition_channels))

    def _pyramid(self, x):
        """`[x, x downsampled once, ...]` per spatial scale, finest first (the reference's
        `build_pyr`)."""
        pyramid = [x]
        for _ in range(self.n_scales_spatial - 1):
            pyramid.append(self.generator.downsample(pyramid[-1]))
        return pyramid

    # ---------------------------------------------------------------- networks

    def build_networks(self):
        size = 2 * self.size_multiple
        label = ops.zeros((1, size, size, self.n_frames_G * self.condition_channels))
        previous = ops.zeros((1, size, size, (self.n_frames_G - 1) * self.output_nc))
        self.generator({"label": label, "prev_images": previous})
        self.discriminator(ops.zeros((1, size, size, self.condition_channels + self.output_nc)))
        channels = self.n_frames_D * self.output_nc + 2 * (self.n_frames_D - 1)
        for discriminator in self.temporal_discriminators:
            discriminator(ops.zeros((1, size, size, channels)))

    def optimizer_groups(self):
        """`generator`, `discriminator` and one group per temporal discriminator
        (`temporal_discriminator0`, ...): the reference has an Adam for each, and steps a
        temporal discriminator only when the step showed it frames.

        The generator's group leaves out the output layers of its coarser scales: only their
        features reach the finer scales (their frames are fed back as given), so no loss
        depends on them, as in the reference (they keep what a coarser model learned).
        """
        unused = {id(v) for level in self.generator.levels[:-1]
                  for name in ("model_final_img", "model_final_flow", "model_final_w",
                               "indv_final") if hasattr(level, name)
                  for block in getattr(level, name) for v in block.trainable_variables}
        return {
            "generator": [v for v in self.generator.trainable_variables if id(v) not in unused],
            "discriminator": self.discriminator.trainable_variables,
            **{f"temporal_discriminator{s}": d.trainable_variables
               for s, d in enumerate(self.temporal_discriminators)},
        }

    def default_optimizers(self):
        return {group: keras.optimizers.Adam(self.lr, beta_1=self.beta1, beta_2=0.999,
                                             name=f"{group}_adam")
                for group in self.optimizer_groups()}

    def loss_names(self):
        names = ["g_gan"]
        if self.lambda_feat > 0:
            names.append("g_feat")
        if self.lambda_vgg > 0:
            names.append("g_vgg")
        names += ["d_real", "d_fake", "g_warp", "f_flow", "f_warp"]
        if self.no_first_img:
            names.append("w")
        for s in range(self.n_scales_temporal):
            names += [f"g_t_gan{s}"] + ([f"g_t_feat{s}"] if self.lambda_feat > 0 else [])
            names += [f"d_t_real{s}", f"d_t_fake{s}"]
        return names

    def compile(self, optimizers=None, **kwargs):
        """`GANModel.compile`; also builds the VGG19 of the perceptual loss (`lambda_vgg > 0`)
        from `vgg_weights`, so that generation never needs it."""
        if self.lambda_vgg > 0 and self.vgg_loss is None:
            self.vgg_loss = VGGPerceptualLoss(self.vgg_weights, self.vgg_preprocessing)
        super().compile(optimizers=optimizers, **kwargs)

    # ---------------------------------------------------------------- training

    def clip_plan(self, frames):
        """`(generated, per_step)`: how many frames a training step generates from a clip of
        `frames` frames, and how many per optimizer step (`generated` is a multiple of it).

        The reference's `get_video_params` with the lengths of stage `clip_stage`: `min(
        n_frames_total * 2^stage, frames - n_frames_G + 1)` frames, in chunks of `min(
        max_frames_per_step, n_frames_total * 2^stage)`, rounded down to whole chunks.
        """
        available = frames - (self.n_frames_G - 1)
        if available < 1:
            raise ValueError(f"Vid2Vid trains on clips of at least n_frames_G = "
                             f"{self.n_frames_G} frames, got {frames}")
        wanted = self.n_frames_total * 2**self.clip_stage
        total = min(wanted, available)
        per_step = min(self.max_frames_per_step, wanted, total)
        return total // per_step * per_step, per_step

    def clip_frames(self, epochs):
        """Frames per training clip for `epochs` epochs of `GrowingClips`: enough for the
        frames its last stage generates, `n_frames_G - 1 + n_frames_total * 2^stage`."""
        stage = (max(epochs, 1) - 1) // self.niter_step
        return self.n_frames_G - 1 + self.n_frames_total * 2**stage

    def train_batch(self, data):
        """One clip: the frames of `clip_plan`, chunk by chunk, each chunk an optimizer step of
        the generator, the image discriminator and the temporal discriminators shown frames
        (the reference's `loss_backward` of each, on one forward pass); logs the chunks'
        mean losses."""
        clip = self._training_clip(data)
        generated, per_step = self.clip_plan(clip["image"].shape[1])
        start = self.n_frames_G - 1
        pyramids = [self._pyramid(clip["image"][:, t]) for t in range(start)]
        previous = [[ops.zeros_like(x) if self.no_first_img else x for x in scale]
                    for scale in zip(*pyramids)]
        state = {"previous": previous, "fakes": {}}
        sums, counts = collections.defaultdict(float), collections.Counter()
        for begin in range(start, start + generated, per_step):
            times = list(range(begin, begin + per_step))
            active = [s for s in range(self.n_scales_temporal) if self._groups(times, s)]
            targets = {"generator": "g_total", "discriminator": "d_total",
                       **{f"temporal_discriminator{s}": f"d_t_total{s}" for s in active}}
            losses, state = self.minimize(
                targets, functools.partial(self.chunk_losses, clip, times, state))
            for name, value in losses.items():
                sums[name] += value
                counts[name] += 1
        return self.record_losses({name: sums[name] / counts[name] for name in sums})

    def _groups(self, times, scale):
        """`temporal_groups` of a chunk of clip frames `times`, as clip frame indices."""
        start = self.n_frames_G - 1
        groups = temporal_groups(times[-1] - start + 1, len(times), self.n_frames_D, scale,
                                 self.n_scales_temporal)
        return [[start + g for g in group] for group in groups]

    def _training_clip(self, data):
        """The clip's tensors, checked: `condition` float32 (B, T, H, W, condition_channels),
        `image` float32 (B, T, H, W, output_nc), `flow` float32 (B, T - 1, H, W, 2)."""
        required = [self._source, "image", "flow"] + (["instance"] if self.use_instance else [])
        missing = [key for key in required if key not in data]
        if "flow" in missing:
            raise ValueError(
                "Vid2Vid trains on clips with their reference flow 'flow' (B, T-1, H, W, 2): "
                "keras_i2i.data.synthetic.videos gives it, keras_i2i.data.with_flow(dataset) "
                "adds it to real clips")
        if missing:
            raise ValueError(f"Vid2Vid trains on clips with {required}, missing {missing}")
        image = ops.cast(data["image"], "float32")
        shape = tuple(image.shape)
        if len(shape) != 5 or shape[-1] != self.output_nc:
            raise ValueError(f"image must be (B, T, H, W, {self.output_nc}) frames, got shape "
                             f"{shape}")
        batch, frames, height, width = shape[:4]
        channels = 1 if self.label_nc else self.input_nc
        expected = {self._source: (batch, frames, height, width, channels),
                    "flow": (batch, frames - 1, height, width, 2)}
        if self.use_instance:
            expected["instance"] = (batch, frames, height, width, 1)
        for key, want in expected.items():
            got = tuple(data[key].shape)
            if got != want:
                raise ValueError(f"{key} has shape {got}, expected {want} (the image frames' "
                                 f"{shape[:4]})")
        self._check_size(height, width)
        if self.label_nc and concrete(data["label"]):
            self._check_ids(ops.convert_to_numpy(data["label"]))
        condition = self.encode_frames(data[self._source], data.get("instance"))
        return {"condition": condition, "image": image,
                "flow": ops.cast(data["flow"], "float32")}

    def _check_size(self, height, width):
        m = self.size_multiple
        if None not in (height, width) and (height % m or width % m):
            raise ValueError(f"Vid2Vid frames must have H and W multiples of {m} "
                             f"(size_multiple), got {height}x{width}")

    def _check_ids(self, labels):
        if labels.size and (labels.min() < 0 or labels.max() >= self.label_nc):
            raise ValueError(f"labels must be ids in 0..{self.label_nc - 1} (label_nc "
                             f"{self.label_nc}), got ids {labels.min()}..{labels.max()}")

    def chunk_losses(self, clip, times, state):
        """Every loss of one chunk of a training clip, and the state of the next chunk.

        Args:
            clip: `_training_clip`'s tensors.
            times: the clip frames generated in this chunk, consecutive.
            state: `{"previous": per spatial scale (finest first) the n_frames_G - 1 frames
                before `times[0]`, "fakes": {clip frame: generated frame} of earlier chunks}`.

        Returns:
            `(losses, state)`: the losses by name (`loss_names`) with the totals
            `g_total`, `d_total` and `d_t_total{s}` of the active temporal scales, float32
            scalars; the state after the chunk.
        """
        previous, fakes = state["previous"], dict(state["fakes"])
        frames = []
        for t in times:
            window = clip["condition"][:, t - self.n_frames_G + 1 : t + 1]
            outputs = self.generator(
                {"label": _frames_as_channels(window),
                 "prev_images": [ops.concatenate(scale, axis=-1) for scale in previous]},
                training=True, use_raw_only=self.no_first_img and t == self.n_frames_G - 1)
            frames.append({key: ops.cast(outputs[key], "float32")
                           for key in ("image", "image_raw", "flow", "weight")})
            previous = [scale[1:] + [ops.stop_gradient(ops.cast(image, "float32"))]
                        for scale, image in zip(previous, outputs["image_pyramid"])]
            fakes[t] = frames[-1]["image"]
        losses = {**self._frame_losses(clip, times, frames, fakes),
                  **self._temporal_losses(clip, times, fakes)}
        losses["g_total"] = sum(value for name, value in losses.items()
                                if name.startswith(GENERATOR_LOSSES))
        losses["d_total"] = 0.5 * (losses["d_real"] + losses["d_fake"])
        kept = self.n_frames_D ** (self.n_scales_temporal - 1) * (self.n_frames_D - 1)
        fakes = {t: ops.stop_gradient(fakes[t]) for t in sorted(fakes)[-kept:]}
        return losses, {"previous": previous, "fakes": fakes}

    def _frame_losses(self, clip, times, frames, fakes):
        """The per-frame losses of a chunk, its frames stacked along the batch axis
        (`Vid2VidModelD.forward` with scale_T 0)."""
        stacked = {key: ops.concatenate([f[key] for f in frames], axis=0) for key in frames[0]}
        fake, raw = stacked["image"], stacked["image_raw"]
        real = _at(clip["image"], times)
        real_prev = _at(clip["image"], [t - 1 for t in times])
        flow_ref = _at(clip["flow"], [t - 1 for t in times])
        condition = _at(clip["condition"], times)
        confidence = flow_confidence(real, real_prev, flow_ref, self.warp)
        fake_prev = ops.concatenate(
            [ops.stop_gradient(fakes[t - 1]) if t - 1 in fakes else clip["image"][:, t - 1]
             for t in times], axis=0)
        losses = {
            "f_flow": masked_l1(stacked["flow"], flow_ref, confidence) * self.lambda_F
            / 2 ** (self.n_scales_spatial - 1),
            "f_warp": masked_l1(self.warp([real_prev, stacked["flow"]]), real, confidence)
            * self.lambda_T,
            "g_warp": masked_l1(fake, ops.stop_gradient(self.warp([fake_prev, flow_ref])),
                                confidence) * self.lambda_T,
        }
        if self.no_first_img:
            losses["w"] = masked_l1(stacked["weight"], 0.0, confidence)
        if self.lambda_vgg > 0:
            losses["g_vgg"] = self.lambda_vgg * (self._vgg(real, fake) + self._vgg(real, raw))
        # The reference scores the frame and the hallucinated frame, each against the real one
        # (so the real frame's loss counts twice); D_I runs on real, frame and hallucinated
        # frame separately, its batch norm seeing each batch alone.
        real_outputs = self.discriminator(ops.concatenate([condition, real], -1), training=True)
        for generated in (fake, raw):
            outputs = self.discriminator(ops.concatenate([condition, generated], -1),
                                         training=True)
            for name, value in self._adversarial(real_outputs, outputs).items():
                losses[name] = losses.get(name, 0.0) + value
        return losses

    def _adversarial(self, real_outputs, fake_outputs):
        """`{"g_gan", "g_feat", "d_real", "d_fake"}` of one discriminator's outputs
        (least squares summed over the scales; feature matching as pix2pixHD's, times
        `lambda_feat`): the reference's `compute_loss_D` / `compute_loss_D_T`."""
        losses = {"g_gan": generator_adversarial_loss(fake_outputs, "lsgan", "sum")}
        losses["d_real"], losses["d_fake"] = discriminator_adversarial_loss(
            real_outputs, fake_outputs, "lsgan", "sum")
        if self.lambda_feat > 0:
            losses["g_feat"] = self.lambda_feat * feature_matching_loss(
                real_outputs, fake_outputs, weighting="pix2pixhd")
        return losses

    def _temporal_losses(self, clip, times, fakes):
        """The temporal discriminators' losses of a chunk: per active scale s, `g_t_gan{s}`,
        `g_t_feat{s}`, `d_t_real{s}`, `d_t_fake{s}` and `d_t_total{s}`."""
        losses = {}
        for s, discriminator in enumerate(self.temporal_discriminators):
            groups = self._groups(times, s)
            if not groups:
                continue
            spacing = self.n_frames_D**s
            flows = ops.concatenate([ops.concatenate(
                [chain_flows([clip["flow"][:, k - 1] for k in range(t - spacing + 1, t + 1)],
                             self.warp) for t in group[1:]], axis=-1) for group in groups], 0)
            real, fake = (ops.concatenate([ops.concatenate([frames(t) for t in group], -1)
                                           for group in groups], axis=0)
                          for frames in (lambda t: clip["image"][:, t], fakes.get))
            real_outputs = discriminator(temporal_input(real, flows), training=True)
            fake_outputs = discriminator(temporal_input(fake, flows), training=True)
            for name, value in self._adversarial(real_outputs, fake_outputs).items():
                losses[f"{name[0]}_t_{name[2:]}{s}"] = value
            losses[f"d_t_total{s}"] = 0.5 * (losses[f"d_t_real{s}"] + losses[f"d_t_fake{s}"])
        return losses

    def _vgg(self, real, fake):
        """The VGG loss, both images halved (2 x 2 means) until at most `VGG_MAX_WIDTH` wide."""
        while fake.shape[2] > VGG_MAX_WIDTH:
            real, fake = (ops.average_pool(x, 2, 2, padding="valid") for x in (real, fake))
        return self.vgg_loss(real, fake)

    def training_callbacks(self):
        """The reference's schedule for `fit(..., epochs=niter + niter_decay)`: `GrowingClips`
        every `niter_step` epochs, `EpochLinearDecay` of the generator's and the image
        discriminator's rates over the last `niter_decay` epochs (the reference's
        `update_learning_rate` leaves the temporal discriminators' as they are), and
        `FixCoarseScales` for the first `niter_fix_global` epochs (when set)."""
        callbacks = [GrowingClips(self.niter_step)]
        if self.niter_decay:
            rates = {"generator": self.lr, "discriminator": self.lr}
            callbacks.append(EpochLinearDecay(rates, self.niter, self.niter_decay))
        if self.niter_fix_global:
            callbacks.append(FixCoarseScales(self.niter_fix_global))
        return callbacks

    def load_coarse_model(self, coarse):
        """Loads a trained `Vid2Vid` with fewer spatial scales into this one, as the
        reference's `--load_pretrain` starts label2city_1024 from label2city_512.

        The coarse model's generator scales G0, G1, ... become this one's (they must have the
        same configuration). Each discriminator takes the coarse one's weights by the
        reference's module names, wherever the shapes agree: its `scale{i}` sees the input
        downsampled `num_D - 1 - i` times, so the coarse model's scales go to the scales
        `num_D` differences coarser here (in this package's order, coarse `scales[k]` to
        `scales[k + num_D - coarse.num_D]`); the rest stay new.

        Args:
            coarse: a `Vid2Vid` with fewer spatial scales and the same `ngf`.
        """
        if coarse.n_scales_spatial >= self.n_scales_spatial:
            raise ValueError(f"load_coarse_model needs a model with fewer spatial scales than "
                             f"this one ({self.n_scales_spatial}), got {coarse.n_scales_spatial}")
        for source, target in zip(coarse.generator.levels, self.generator.levels):
            shapes = [(tuple(a.shape), tuple(b.shape)) for a, b in zip(source.weights,
                                                                      target.weights)]
            if len(source.weights) != len(target.weights) or any(a != b for a, b in shapes):
                raise ValueError(f"The coarse model's {source.name} is not configured as "
                                 f"{target.name} here (ngf {coarse.ngf} vs {self.ngf}, or "
                                 "other options differ)")
            for a, b in zip(source.weights, target.weights):
                b.assign(a)
        pairs = [(coarse.discriminator, self.discriminator)]
        pairs += zip(coarse.temporal_discriminators, self.temporal_discriminators)
        for source, target in pairs:
            offset = target.num_D - source.num_D
            for k, blocks in enumerate(source.scales):
                for block, same in zip(blocks, target.scales[k + offset]):
                    for a, b in zip(block.weights, same.weights):
                        if tuple(a.shape) == tuple(b.shape):
                            b.assign(a)

    # ---------------------------------------------------------------- generation

    def next_frame(self, label, previous, use_raw_only=False):
        """One generated frame: the step a video is generated with, frame after frame.

        Args:
            label: float32 (B, H, W, n_frames_G * condition_channels): `encode_frames` of the
                n_frames_G label frames ending at this one, oldest first, frames as channels.
            previous: per spatial scale s, finest first, (B, H / 2^s, W / 2^s, (n_frames_G -
                1) * output_nc): the frames generated at that scale before this one, oldest
                first (the video's first frames downsampled, `_start`).
            use_raw_only: take the hallucinated frame (`no_first_img`'s first frame).

        Returns:
            `{"image", "image_raw", "flow", "weight"}` float32 (B, H, W, ·) (see
            `Vid2VidGenerator`), and "previous": `previous` for the next frame (the oldest
            frame out, this one's pyramid in).
        """
        outputs = self.generator({"label": label, "prev_images": list(previous)},
                                 training=True, use_raw_only=use_raw_only)
        shifted = [ops.concatenate([p[..., self.output_nc:], ops.cast(image, "float32")], -1)
                   for p, image in zip(previous, outputs["image_pyramid"])]
        frame = {key: ops.cast(outputs[key], "float32")
                 for key in ("image", "image_raw", "flow", "weight")}
        return {**frame, "previous": shifted}

    def _start(self, first_frames, like):
        """`previous` of the first generated frame: the pyramid of `first_frames` (B,
        n_frames_G - 1, H, W, output_nc), or of blank frames (`no_first_img`) the size of
        `like` (B, H, W, ·) when None."""
        if first_frames is None:
            shape = ops.shape(like)
            first_frames = ops.zeros(
                (shape[0], self.n_frames_G - 1, shape[1], shape[2], self.output_nc))
        return self._pyramid(_frames_as_channels(ops.cast(first_frames, "float32")))

    def call(self, inputs, training=False):
        """Generates the frames n_frames_G - 1 .. T - 1 of clips, each from the frames
        generated before it.

        Args:
            inputs: `{"label": int (B, T, H, W, 1)` (or "input" with label_nc=0), "instance"
                (with `use_instance`), "image": (B, T, H, W, output_nc) whose first
                n_frames_G - 1 frames start the clips (not needed with `no_first_img`)}.

        Returns:
            float32 (B, T - n_frames_G + 1, H, W, output_nc) in [-1, 1].
        """
        condition = self.encode_frames(inputs[self._source], inputs.get("instance"))
        first = None
        if not self.no_first_img:
            if "image" not in inputs:
                raise ValueError(f"Vid2Vid generates from the first n_frames_G - 1 = "
                                 f"{self.n_frames_G - 1} frames of 'image' (or no_first_img)")
            first = inputs["image"][:, : self.n_frames_G - 1]
        previous = self._start(first, condition[:, 0])
        frames = []
        for t in range(self.n_frames_G - 1, condition.shape[1]):
            window = _frames_as_channels(condition[:, t - self.n_frames_G + 1 : t + 1])
            step = self.next_frame(window, previous, self.no_first_img and not frames)
            previous = step["previous"]
            frames.append(step["image"])
        return ops.stack(frames, axis=1)

    def generate(self, label_video, first_frames=None, instance_video=None,
                 first_frame_model=None):
        """Generates a video of any length frame by frame, in bounded memory: only the last
        n_frames_G label frames and n_frames_G - 1 generated frames are kept.

        The first n_frames_G - 1 frames start the video: `first_frames` (the reference's
        `--use_real_img`), or the images `first_frame_model` makes of their labels (its
        `--use_single_G`); a model trained with `no_first_img` makes its first frame itself.

        Args:
            label_video: the label frames, int (H, W) or (H, W, 1) ids each (float (H, W,
                input_nc) with label_nc=0): an array (T, H, W[, C]) or any iterable of frames
                (read as they are needed); at least n_frames_G frames, H and W multiples of
                `size_multiple`.
            first_frames: (n_frames_G - 1, H, W, output_nc) frames in [-1, 1].
            instance_video: the instance frames, int like `label_video` (with `use_instance`).
            first_frame_model: a single-image model of this package (e.g. `Pix2PixHD`,
                `SPADE`) whose `translate(labels, instances)` makes the first frames.

        Returns:
            An iterator of float32 (H, W, output_nc) frames in [-1, 1]: the first n_frames_G -
            1 frames, then one generated frame per further label frame (with `no_first_img`
            the video starts at label frame n_frames_G - 1: the reference makes no frame of
            the labels before).
        """
        starts = sum(x is not None for x in (first_frames, first_frame_model))
        if self.no_first_img and starts:
            raise ValueError("This model generates its first frames (no_first_img=True): pass "
                             "no first_frames or first_frame_model")
        if not self.no_first_img and starts != 1:
            raise ValueError(f"generate needs the first n_frames_G - 1 = {self.n_frames_G - 1} "
                             "frames: pass first_frames or first_frame_model (one of them)")
        if first_frames is not None:
            first_frames = np.asarray(first_frames, "float32")
            want = (self.n_frames_G - 1, self.output_nc)
            if first_frames.ndim != 4 or (len(first_frames), first_frames.shape[-1]) != want:
                raise ValueError(f"first_frames must be ({want[0]}, H, W, {want[1]}) frames, "
                                 f"got shape {first_frames.shape}")
        if first_frame_model is not None and not hasattr(first_frame_model, "translate"):
            raise ValueError("first_frame_model must be a single-image model with "
                             f"translate(labels, instances), got {type(first_frame_model)}")
        if self.use_instance and instance_video is None:
            raise ValueError("This Vid2Vid model uses instance maps (use_instance=True): pass "
                             "instance_video")
        return self._stream(label_video, first_frames, instance_video, first_frame_model)

    def _stream(self, label_video, first_frames, instance_video, first_frame_model):
        """`generate`'s frames, once its arguments are checked."""
        instances = iter(instance_video) if self.use_instance else None
        window = collections.deque(maxlen=self.n_frames_G)
        size, starts, previous, count = None, [], None, 0
        for t, label in enumerate(label_video):
            count = t + 1
            label = self._video_frame(label, t, "label_video")
            size = size or label.shape[1:3]
            instance = None
            if instances is not None:
                instance = next(instances, None)
                if instance is None:
                    raise ValueError(f"instance_video has {t} frames, fewer than label_video")
                instance = self._video_frame(instance, t, "instance_video")
            for name, frame in (("label_video", label), ("instance_video", instance)):
                if frame is not None and frame.shape[1:3] != size:
                    raise ValueError(f"{name} frame {t} is {frame.shape[1]}x{frame.shape[2]}, "
                                     f"expected {size[0]}x{size[1]} as frame 0")
            window.append(self.encode_frames(label, instance))
            if t < self.n_frames_G - 1:
                if not self.no_first_img:
                    starts.append(self._first_frame(t, label, instance, first_frames,
                                                    first_frame_model, size))
                    yield starts[-1]
                continue
            if previous is None:
                previous = self._start(np.stack(starts)[None] if starts else None, window[0])
                starts = None
            step = self.next_frame(ops.concatenate(list(window), axis=-1), previous,
                                   self.no_first_img and t == self.n_frames_G - 1)
            previous = step["previous"]
            yield ops.convert_to_numpy(step["image"][0])
        if count < self.n_frames_G:
            raise ValueError(f"label_video has {count} frames, expected at least n_frames_G = "
                             f"{self.n_frames_G}")

    def _video_frame(self, frame, index, what):
        """A frame of `generate`'s input as a batch of one, checked: int32 (1, H, W, 1) ids,
        or float32 (1, H, W, input_nc) for the input of label_nc=0."""
        frame = np.asarray(frame)
        ids = self.label_nc or what == "instance_video"
        if ids and frame.ndim == 2:
            frame = frame[..., None]
        channels = 1 if ids else self.input_nc
        if frame.ndim != 3 or frame.shape[-1] != channels or (
                ids and not np.issubdtype(frame.dtype, np.integer)):
            kind = "int (H, W) or (H, W, 1)" if ids else f"float (H, W, {channels})"
            raise ValueError(f"{what} frame {index} must be {kind}, got {frame.dtype} with "
                             f"shape {frame.shape}")
        m = self.size_multiple
        if frame.shape[0] % m or frame.shape[1] % m:
            raise ValueError(f"{what} frame {index} is {frame.shape[0]}x{frame.shape[1]}: "
                             f"expected H and W multiples of {m} (size_multiple)")
        if what == "label_video" and self.label_nc:
            try:
                self._check_ids(frame)
            except ValueError as error:
                raise ValueError(f"label_video frame {index}: {error}") from None
        return frame[None].astype("int32" if ids else "float32")

    def _first_frame(self, t, label, instance, first_frames, first_frame_model, size):
        """Frame t (< n_frames_G - 1) of the video: given, or the single-image model's."""
        if first_frames is not None:
            if first_frames.shape[1:3] != size:
                raise ValueError(f"first_frames are {first_frames.shape[1]}x"
                                 f"{first_frames.shape[2]}, expected the labels' "
                                 f"{size[0]}x{size[1]}")
            return first_frames[t]
        if not getattr(first_frame_model, "use_instance", False):
            instance = None
        frame = first_frame_model.translate(label, instance)
        return np.asarray(frame, "float32")[0]

    def sample_columns(self, batch):
        """Progress grid: the labels of the clips' last frame, the first and the last
        generated frame, and the real last frame."""
        generated = self(batch)
        source = batch[self._source][:, -1]
        if not self.label_nc:  # the reference shows RGB inputs, or the first channel
            source = source[..., : 3 if self.input_nc == 3 else 1]
        last = batch[self._source].shape[1] - 1
        columns = {"labels": source, f"frame {self.n_frames_G - 1}": generated[:, 0],
                   f"frame {last}": generated[:, -1]}
        if "image" in batch:
            columns["target"] = batch["image"][:, -1]
        return columns

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`next_frame` (the default): one step of generation, which a server runs as a loop.

        Inputs: the label frames of the window, `label` int32 (B, n_frames_G, H, W, 1) (or
        `input` float32 (B, n_frames_G, H, W, input_nc)), oldest first, the last the frame to
        generate, and `instance` int32 alike (with `use_instance`); `prev_images` float32 (B,
        n_frames_G - 1, H, W, output_nc), the frames before it, and for each coarser spatial
        scale s `prev_images_{s}` (B, n_frames_G - 1, H / 2^s, W / 2^s, output_nc), that
        scale's own earlier frames (start a video with downsampled first frames: `AvgPool2D`
        3 x 3, stride 2, padding 1, padding not counted).
        Outputs: `image`, `image_raw` (B, H, W, output_nc), `flow` (B, H, W, 2), `weight`
        (B, H, W, 1), and `image_{s}` per coarser scale: shift each into its `prev_images`.
        With `no_first_img` also `first_frame`: the window's labels alone -> the first frame.
        The graph checks the shapes, the label ids and the size.
        """
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import ServingInput, check_ids, check_size_multiple

        frames, c = self.n_frames_G, self.output_nc
        window = [ServingInput(self._source, ("B", frames, "H", "W", 1 if self.label_nc
                                              else self.input_nc),
                               tf.int32 if self.label_nc else tf.float32)]
        if self.use_instance:
            window.append(ServingInput("instance", ("B", frames, "H", "W", 1), tf.int32))
        previous = [ServingInput("prev_images", ("B", frames - 1, "H", "W", c))]
        previous += [ServingInput(f"prev_images_{s}", ("B", frames - 1, None, None, c))
                     for s in range(1, self.n_scales_spatial)]

        def labels(source, instance=None):
            shape = tf.shape(source)
            flat = tf.reshape(source, tf.concat([[-1], shape[2:]], 0))
            reason = f"Vid2Vid size_multiple: {self.n_scales_spatial} spatial scales"
            flat = check_size_multiple(flat, self._source, self.size_multiple, reason)
            if self.label_nc:
                flat = check_ids(flat, "label", self.label_nc, f"label_nc {self.label_nc}")
            return _frames_as_channels(self.encode_frames(tf.reshape(flat, shape), instance))

        def scaled(tensors, height, width):
            checked = []
            for s, tensor in enumerate(tensors):
                expected = tf.stack([height // 2**s, width // 2**s])
                message = (f"prev_images_{s}: height and width must be those of label / {2**s}"
                           if s else "prev_images")
                with tf.control_dependencies([tf.debugging.assert_equal(
                        tf.shape(tensor)[2:4], expected, message=message)]):
                    checked.append(_frames_as_channels(tf.identity(tensor)))
            return checked

        def next_frame(*tensors):
            source = tensors[0]
            instance = tensors[1] if self.use_instance else None
            height, width = tf.shape(source)[2], tf.shape(source)[3]
            step = self.next_frame(labels(source, instance),
                                   scaled(tensors[len(window):], height, width))
            coarse = {f"image_{s}": step["previous"][s][..., -c:]
                      for s in range(1, self.n_scales_spatial)}
            return {key: step[key] for key in ("image", "image_raw", "flow", "weight")} | coarse

        endpoints = {"next_frame": (next_frame, window + previous)}
        if self.no_first_img:
            def first_frame(source, instance=None):
                label = labels(source, instance)
                step = self.next_frame(label, self._start(None, label), use_raw_only=True)
                return {key: step[key] for key in ("image", "image_raw", "flow", "weight")}

            endpoints["first_frame"] = (first_frame, window)
        return endpoints

    def get_config(self):
        return {
            **super().get_config(),
            "label_nc": self.label_nc,
            "input_nc": self.input_nc,
            "output_nc": self.output_nc,
            "use_instance": self.use_instance,
            "n_frames_G": self.n_frames_G,
            "ngf": self.ngf,
            "n_downsample_G": self.n_downsample_G,
            "n_blocks": self.n_blocks,
            "n_blocks_local": self.n_blocks_local,
            "n_scales_spatial": self.n_scales_spatial,
            "fg": self.fg,
            "fg_labels": list(self.fg_labels),
            "norm": self.norm,
            "no_first_img": self.no_first_img,
            "ndf": self.ndf,
            "n_layers_D": self.n_layers_D,
            "num_D": self.num_D,
            "n_frames_D": self.n_frames_D,
            "n_scales_temporal": self.n_scales_temporal,
            "lambda_feat": self.lambda_feat,
            "lambda_vgg": self.lambda_vgg,
            "lambda_F": self.lambda_F,
            "lambda_T": self.lambda_T,
            "vgg_weights": self.vgg_weights,
            "vgg_preprocessing": self.vgg_preprocessing,
            "lr": self.lr,
            "beta1": self.beta1,
            "niter": self.niter,
            "niter_decay": self.niter_decay,
            "niter_fix_global": self.niter_fix_global,
            "n_frames_total": self.n_frames_total,
            "max_frames_per_step": self.max_frames_per_step,
            "niter_step": self.niter_step,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def _frames_as_channels(frames):
    """(B, n, H, W, C) -> (B, H, W, n * C), the frames side by side along the channels, oldest
    first (the reference's `view(B, -1, H, W)` of (B, n, C, H, W))."""
    shape = ops.shape(frames)
    moved = ops.transpose(frames, (0, 2, 3, 1, 4))
    return ops.reshape(moved, (shape[0], shape[2], shape[3], shape[1] * shape[4]))


def _at(clip, times):
    """Frames `times` of a clip (B, T, ...) stacked along the batch axis: (len(times) B, ...)."""
    return ops.concatenate([clip[:, t] for t in times], axis=0)
