"""Diversity of multimodal outputs: mean pairwise distance between translations of one input."""

import itertools

import numpy as np
from keras import ops


def _translations(images):
    """`images` as an array (K, H, W, C), K >= 2."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"Expected at least two images (K >= 2, H, W, C), got {images.shape}.")
    return images


def mean_pairwise_distance(images, distance=None):
    """Mean distance over all unordered pairs of `images` `(K, H, W, C)`, K >= 2.

    Args:
        images: several outputs for the same input (e.g. K random styles), in [-1, 1].
        distance: `f(a, b) -> float`; default the mean absolute pixel difference (L1), the
            measure MUNIT and DRIT report next to LPIPS. A feature-space distance (e.g. on
            VGG features) can be passed instead; for LPIPS, `mean_pairwise_lpips` is faster.
    """
    images = _translations(images).astype(np.float64)
    distance = distance or (lambda a, b: float(np.mean(np.abs(a - b))))
    return float(np.mean([distance(a, b) for a, b in itertools.combinations(images, 2)]))


def mean_pairwise_lpips(images, lpips, batch_size=32):
    """Mean LPIPS over all unordered pairs of `images` `(K, H, W, 3)`, K >= 2, in [-1, 1]: the
    diversity score of MUNIT and DRIT (LPIPS between outputs of one input, averaged over pairs).

    Each image goes through the backbone once, in batches of `batch_size`; the K (K - 1) / 2
    pairs are compared on the features, `batch_size` pairs at a time.

    Args:
        images: several outputs for the same input (e.g. K random styles).
        lpips: a `keras_i2i.metrics.lpips.LPIPS`.
        batch_size: images, then pairs, per step.
    """
    images = _translations(images)
    batches = [lpips.features(images[start:start + batch_size])
               for start in range(0, len(images), batch_size)]
    features = [ops.concatenate(layer, axis=0) for layer in zip(*batches)]
    first, second = np.triu_indices(len(images), 1)
    distances = []
    for start in range(0, len(first), batch_size):
        pairs = slice(start, start + batch_size)
        features_0 = [ops.take(f, first[pairs], axis=0) for f in features]
        features_1 = [ops.take(f, second[pairs], axis=0) for f in features]
        distances.append(ops.convert_to_numpy(lpips.distance(features_0, features_1)))
    return float(np.mean(np.concatenate(distances), dtype=np.float64))
