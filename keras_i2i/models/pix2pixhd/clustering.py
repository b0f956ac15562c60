"""Per-class k-means of instance features (the reference's `encode_features.py`), in numpy.

After training, every instance of a dataset gives one feature vector (its encoder output,
which is constant over the instance) and its class; the vectors of each class are clustered,
and at inference an instance takes one of its class's cluster centres as its features. The
reference keeps only the instances covering more than about 1/64 of the image and fits
scikit-learn's `KMeans(n_clusters=min(count, 10), random_state=0)`; `kmeans` here is the same
algorithm (k-means++ seeding, Lloyd iterations, best of `n_init` runs) without the dependency.
"""

import numpy as np

# The reference keeps instances with `pixels / (H * W // 32) > 0.5`.
MIN_AREA = 1.0 / 64


def _squared_distances(points, centers):
    return (
        np.sum(points**2, axis=1)[:, None]
        - 2.0 * points @ centers.T
        + np.sum(centers**2, axis=1)[None, :]
    ).clip(min=0.0)


def _kmeans_plus_plus(points, n_clusters, rng):
    """k-means++ seeding: each next centre drawn with probability proportional to the squared
    distance to the nearest centre chosen so far."""
    centers = [points[rng.integers(len(points))]]
    closest = _squared_distances(points, np.asarray(centers))[:, 0]
    for _ in range(1, n_clusters):
        total = closest.sum()
        if total > 0:
            index = rng.choice(len(points), p=closest / total)
        else:  # every point is a centre already
            index = rng.integers(len(points))
        centers.append(points[index])
        closest = np.minimum(closest, _squared_distances(points, points[index : index + 1])[:, 0])
    return np.asarray(centers)


def _lloyd(points, centers, max_iter, tolerance):
    """Lloyd iterations until the centres move less than `tolerance` (squared); an emptied
    cluster keeps its centre. Returns the centres and the inertia."""
    for _ in range(max_iter):
        assignment = np.argmin(_squared_distances(points, centers), axis=1)
        sums = np.zeros_like(centers)
        np.add.at(sums, assignment, points)
        counts = np.bincount(assignment, minlength=len(centers))[:, None]
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
        shift = np.sum((updated - centers) ** 2)
        centers = updated
        if shift <= tolerance:
            break
    inertia = np.sum(np.min(_squared_distances(points, centers), axis=1))
    return centers, inertia


def kmeans(points, n_clusters, seed=0, n_init=10, max_iter=300, tol=1e-4):
    """k-means clustering of `points` (N, D) into `min(n_clusters, N)` clusters.

    Args:
        points: float array (N, D), N >= 1.
        n_clusters: wanted number of clusters.
        seed: seed of the k-means++ seeding (the runs differ, the result is reproducible).
        n_init: runs from different seedings; the one with the lowest inertia is kept.
        max_iter: Lloyd iterations per run.
        tol: stop when the centres move less than `tol` times the mean per-dimension
            variance of the points (squared distance), scikit-learn's criterion.

    Returns:
        float64 centres (min(n_clusters, N), D).
    """
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"kmeans needs a non-empty (N, D) array of points, got {points.shape}")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}")
    n_clusters = min(n_clusters, len(points))
    rng = np.random.default_rng(seed)
    tolerance = tol * np.mean(np.var(points, axis=0))
    runs = [
        _lloyd(points, _kmeans_plus_plus(points, n_clusters, rng), max_iter, tolerance)
        for _ in range(n_init)
    ]
    return min(runs, key=lambda run: run[1])[0]


def instance_segments(instance):
    """The instances of one id map, and the pixel the reference reads each one at.

    Args:
        instance: int array (H, W) or (H, W, 1).

    Returns:
        `(ids, middle, areas)`: the distinct ids (N,), for each the flat index of its middle
        pixel in raster order (the reference's `idx[num // 2]`), and its area as a fraction
        of the image.
    """
    ids = np.asarray(instance).reshape(-1)
    order = np.argsort(ids, kind="stable")
    unique, starts, counts = np.unique(ids[order], return_index=True, return_counts=True)
    return unique, order[starts + counts // 2], counts / ids.size


def instance_features(features, label, instance, min_area=MIN_AREA):
    """One feature vector and class per instance large enough, over a batch.

    Args:
        features: (B, H, W, F) instance-pooled encoder features.
        label: (B, H, W, 1) class ids; an instance's class is the label at its middle pixel.
        instance: (B, H, W, 1) instance ids.
        min_area: smallest kept instance, as a fraction of the image.

    Returns:
        `(vectors (N, F) float32, classes (N,) int)`.
    """
    features, label, instance = (np.asarray(a) for a in (features, label, instance))
    vectors, classes = [], []
    for b in range(len(features)):
        _, middle, areas = instance_segments(instance[b])
        kept = middle[areas > min_area]
        vectors.append(features[b].reshape(-1, features.shape[-1])[kept])
        classes.append(label[b].reshape(-1)[kept])
    return np.concatenate(vectors).astype(np.float32), np.concatenate(classes)


def cluster_by_class(vectors, classes, num_classes, n_clusters, seed=0):
    """k-means of each class's feature vectors.

    Returns:
        `(centers, counts)`: float32 (num_classes, n_clusters, F), each class's centres first
        and zeros after them, and int32 (num_classes,) the number of centres of each class
        (0 for a class without instances).
    """
    centers = np.zeros((num_classes, n_clusters, vectors.shape[-1]), np.float32)
    counts = np.zeros((num_classes,), np.int32)
    for c in range(num_classes):
        members = vectors[classes == c]
        if len(members):
            found = kmeans(members, n_clusters, seed=seed)
            centers[c, : len(found)] = found
            counts[c] = len(found)
    return centers, counts
