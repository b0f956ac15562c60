"""The reference preprocessing (SPADE / pix2pixHD `get_params` + `get_transform`) in TensorFlow.

A sample is a dict of tensors. Spatial members are shaped (..., H, W, C): (H, W, C) for an
image, (T, H, W, C) for a clip. Members named in `NEAREST_KEYS` (label and instance maps) are
resized with nearest neighbour, other float members bicubic (antialiased, like PIL) and
clipped to [-1, 1]. `boxes` (N, 4) float (x1, y1, x2, y2 in pixels, pixel i spans [i, i+1))
with `classes` (N,) int32 (-1 = padding) follow the same geometry. Other members pass through.

The transform runs in two stages so that the first can be cached: `resize` is deterministic,
`crop_and_flip` draws one crop position and one flip per sample, shared by all its members.
"""

import dataclasses

import tensorflow as tf

MODES = (
    "resize_and_crop",
    "crop",
    "scale_width",
    "scale_width_and_crop",
    "scale_shortside",
    "scale_shortside_and_crop",
    "fixed",
    "none",
)
NEAREST_KEYS = frozenset({"label", "instance"})


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """One of the reference preprocessing modes.

    Modes (SPADE `--preprocess_mode`): `resize_and_crop` resizes to load_size x load_size;
    `scale_width` makes the width load_size; `scale_shortside` makes the shorter side load_size;
    with `_and_crop` (or `crop` alone) a crop_size x crop_size square is then cropped (padded
    with black / label 0 where the image is smaller, as PIL's crop does); `fixed` resizes to
    crop_size x round(crop_size / aspect_ratio) (W x H); `none` rounds each side to the nearest
    multiple of `size_multiple` (what the network's downsampling needs, at least one multiple).

    Args:
        flip: random horizontal flip (training).
        random: random crop position; otherwise the centre crop (evaluation).
    """

    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    aspect_ratio: float = 1.0
    size_multiple: int = 32
    flip: bool = True
    random: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"preprocess mode {self.mode!r} is not one of {', '.join(MODES)}")

    @property
    def output_size(self):
        """Static (height, width) of every output, or (None, None) when it depends on the input."""
        if "crop" in self.mode:
            return self.crop_size, self.crop_size
        if self.mode == "fixed":
            return round(self.crop_size / self.aspect_ratio), self.crop_size
        return None, None

    def resized_size(self, height, width):
        """(height, width) int32 after the deterministic resize of a height x width input."""
        load = self.load_size
        if self.mode.startswith("resize"):
            return tf.constant(load), tf.constant(load)
        if self.mode.startswith("scale_width"):
            return load * height // width, tf.constant(load)
        if self.mode.startswith("scale_shortside"):
            longer = load * tf.maximum(height, width) // tf.minimum(height, width)
            width_shorter = width <= height
            return tf.where(width_shorter, longer, load), tf.where(width_shorter, load, longer)
        if self.mode == "fixed":
            height, width = self.output_size
            return tf.constant(height), tf.constant(width)
        if self.mode == "none":
            return self._round_to_multiple(height), self._round_to_multiple(width)
        return height, width

    def _round_to_multiple(self, size):
        base = self.size_multiple
        multiples = tf.cast(tf.round(tf.cast(size, tf.float32) / base), tf.int32)
        return tf.maximum(multiples, 1) * base

    def resize(self, sample):
        """Deterministic stage: every spatial member to `resized_size`; boxes scaled alike."""
        height, width = spatial_size(sample)
        new_height, new_width = self.resized_size(height, width)
        out = dict(sample)
        for key, value in sample.items():
            if _is_spatial(value):
                out[key] = _resize(value, new_height, new_width, nearest=key in NEAREST_KEYS)
        if "boxes" in sample:
            scale = tf.cast(tf.stack([new_width, new_height] * 2), tf.float32) / tf.cast(
                tf.stack([width, height] * 2), tf.float32
            )
            out["boxes"] = sample["boxes"] * scale
        return out

    def crop_and_flip(self, sample, seed):
        """Random stage: one crop position and flip (from `seed`, shape (2,)) for all members."""
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        out = dict(sample)
        if "crop" in self.mode:
            out = self._crop(out, crop_seed)
        if self.flip:
            flipped = tf.random.stateless_uniform([], flip_seed) < 0.5
            out = tf.cond(flipped, lambda: _flip(out), lambda: out)
        return _set_size(out, *self.output_size)

    def __call__(self, sample, seed):
        return self.crop_and_flip(self.resize(sample), seed)

    def _crop(self, sample, seed):
        height, width = spatial_size(sample)
        size = self.crop_size
        room = tf.stack([tf.maximum(height - size, 0), tf.maximum(width - size, 0)])
        draw = tf.random.stateless_uniform([2], seed, maxval=2**30, dtype=tf.int32)
        top_left = draw % (room + 1) if self.random else room // 2
        top, left = top_left[0], top_left[1]
        out = dict(sample)
        for key, value in sample.items():
            if _is_spatial(value):
                window = value[..., top : top + size, left : left + size, :]
                pad = 0 if key in NEAREST_KEYS else -1
                out[key] = _pad_bottom_right(window, size, pad)
        if "boxes" in sample:
            offset = tf.cast(tf.stack([left, top, left, top]), tf.float32)
            out["boxes"], out["classes"] = clip_boxes(
                sample["boxes"] - offset, sample["classes"], size, size
            )
        return out


def spatial_size(sample):
    """(height, width) int32 of the spatial members of a sample (they all share it)."""
    shape = tf.shape(next(value for value in sample.values() if _is_spatial(value)))
    return shape[-3], shape[-2]


def _is_spatial(value):
    return value.shape.rank is not None and value.shape.rank >= 3


def _resize(value, height, width, nearest):
    size = tf.stack([height, width])
    if nearest:
        return tf.image.resize(value, size, "nearest")

    def bicubic():
        return tf.clip_by_value(tf.image.resize(value, size, "bicubic", antialias=True), -1.0, 1.0)

    same = tf.reduce_all(tf.equal(tf.shape(value)[-3:-1], size))
    return tf.cond(same, lambda: value, bicubic)


def _pad_bottom_right(value, size, constant):
    shape = tf.shape(value)
    rank = value.shape.rank
    paddings = [[0, 0]] * (rank - 3) + [[0, size - shape[-3]], [0, size - shape[-2]], [0, 0]]
    return tf.pad(value, paddings, constant_values=tf.cast(constant, value.dtype))


def _flip(sample):
    _, width = spatial_size(sample)
    out = {
        key: tf.reverse(value, [-2]) if _is_spatial(value) else value
        for key, value in sample.items()
    }
    if "boxes" in sample:
        x1, y1, x2, y2 = tf.unstack(sample["boxes"], axis=-1)
        width = tf.cast(width, tf.float32)
        flipped = tf.stack([width - x2, y1, width - x1, y2], axis=-1)
        out["boxes"] = tf.where(sample["classes"][:, None] >= 0, flipped, 0.0)
    return out


def clip_boxes(boxes, classes, height, width):
    """Clips boxes to the image; boxes left empty become padding (class -1, zeros)."""
    limit = tf.cast(tf.stack([width, height, width, height]), tf.float32)
    boxes = tf.clip_by_value(boxes, 0.0, limit)
    keep = (classes >= 0) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return tf.where(keep[:, None], boxes, 0.0), tf.where(keep, classes, -1)


def _set_size(sample, height, width):
    if height is None:
        return sample
    return {
        key: (
            tf.ensure_shape(value, value.shape[:-3] + (height, width) + value.shape[-1:])
            if _is_spatial(value)
            else value
        )
        for key, value in sample.items()
    }
