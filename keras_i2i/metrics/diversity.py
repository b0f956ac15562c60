"""Diversity of multimodal outputs: mean pairwise distance between translations of one input."""

import itertools

import numpy as np


def mean_pairwise_distance(images, distance=None):
    """Mean distance over all unordered pairs of `images` `(K, H, W, C)`, K >= 2.

    Args:
        images: several outputs for the same input (e.g. K random styles), in [-1, 1].
        distance: `f(a, b) -> float`; default the mean absolute pixel difference (L1), the
            measure MUNIT and DRIT report next to LPIPS. A feature-space distance (e.g. on
            VGG features) can be passed instead.
    """
    images = np.asarray(images, np.float64)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"Expected at least two images (K >= 2, H, W, C), got {images.shape}.")
    distance = distance or (lambda a, b: float(np.mean(np.abs(a - b))))
    return float(np.mean([distance(a, b) for a, b in itertools.combinations(images, 2)]))
