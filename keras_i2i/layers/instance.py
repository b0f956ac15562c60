"""Operations on label and instance-id maps: the semantic input map, pix2pixHD's instance-wise
pooling and boundary map."""

import keras
from keras import ops


def instance_boundary_map(instance):
    """pix2pixHD's `get_edges`: 1 where the id differs from a left, right, upper or lower neighbour.

    Args:
        instance: (B, H, W, 1) integer instance ids.

    Returns:
        (B, H, W, 1) float32 map of 0s and 1s.
    """
    vertical = ops.cast(ops.not_equal(instance[:, 1:], instance[:, :-1]), "float32")
    horizontal = ops.cast(ops.not_equal(instance[:, :, 1:], instance[:, :, :-1]), "float32")
    no_pad = [0, 0]
    edges = [
        ops.pad(vertical, [no_pad, [1, 0], no_pad, no_pad]),
        ops.pad(vertical, [no_pad, [0, 1], no_pad, no_pad]),
        ops.pad(horizontal, [no_pad, no_pad, [1, 0], no_pad]),
        ops.pad(horizontal, [no_pad, no_pad, [0, 1], no_pad]),
    ]
    return ops.maximum(ops.maximum(edges[0], edges[1]), ops.maximum(edges[2], edges[3]))


def semantic_map(label, num_classes, instance=None):
    """The generator input of SPADE and pix2pixHD (their `preprocess_input`): one-hot labels,
    then the instance boundary map as one more channel when `instance` is given.

    Args:
        label: (B, H, W, 1) integer ids in 0..num_classes-1 (a dontcare class included).
        num_classes: one-hot channels.
        instance: optional (B, H, W, 1) integer instance ids.

    Returns:
        (B, H, W, num_classes [+ 1]) float32.
    """
    semantics = ops.one_hot(ops.cast(label[..., 0], "int32"), num_classes, dtype="float32")
    if instance is None:
        return semantics
    return ops.concatenate([semantics, instance_boundary_map(instance)], axis=-1)


def _dense_instance_index(instance):
    """Maps the ids of each sample to 0..n-1 (n distinct ids), offset by sample * H * W.

    Sorting each sample's ids and counting where the sorted value changes gives every id its
    rank among the distinct ids, so the segment count is bounded by the static B * H * W,
    as XLA needs, whatever the id values. Returns (B * H * W,) int32 and B * H * W.
    """
    shape = ops.shape(instance)
    pixels = shape[1] * shape[2]
    ids = ops.reshape(instance, (shape[0], pixels))
    order = ops.argsort(ids, axis=-1)
    sorted_ids = ops.take_along_axis(ids, order, axis=-1)
    changes = ops.cast(ops.not_equal(sorted_ids[:, 1:], sorted_ids[:, :-1]), "int32")
    rank_sorted = ops.pad(ops.cumsum(changes, axis=-1), [[0, 0], [1, 0]])
    rank = ops.take_along_axis(rank_sorted, ops.argsort(order, axis=-1), axis=-1)
    offsets = ops.arange(shape[0], dtype="int32")[:, None] * pixels
    return ops.reshape(rank + offsets, (-1,)), shape[0] * pixels


@keras.saving.register_keras_serializable(package="keras_i2i")
class InstanceWiseAvgPool(keras.layers.Layer):
    """Instance-wise average pooling (pix2pixHD's feature `Encoder` output).

    Inputs `[features, instance]`: features (B, H, W, C), instance ids (B, H, W, 1) int.
    Output (B, H, W, C): every pixel holds the mean of its sample's features over all pixels
    with its id, per channel. Vectorized segment means (no loop over ids), any number and
    range of ids, XLA-compilable; the means are computed in float32.
    """

    def call(self, inputs):
        features, instance = inputs
        shape = ops.shape(features)
        segments, num_segments = _dense_instance_index(instance)
        flat = ops.reshape(ops.cast(features, "float32"), (-1, shape[3]))
        sums = ops.segment_sum(flat, segments, num_segments=num_segments)
        counts = ops.segment_sum(ops.ones_like(flat[:, :1]), segments, num_segments=num_segments)
        means = sums / ops.maximum(counts, 1.0)
        pooled = ops.reshape(ops.take(means, segments, axis=0), shape)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
