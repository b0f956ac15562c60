"""Fréchet and kernel Inception distances (FID, KID) between two sets of images.

Features are InceptionV3's 2048-d average-pooled activations (`keras.applications`), from
images in [-1, 1] resized bilinearly to `input_size`. The Keras ImageNet weights are not the
2015 TF graph that published FIDs use, so values rank models consistently but are not
comparable to numbers from papers.
"""

import keras
import numpy as np


class InceptionFeatures:
    """Maps images `(N, H, W, 3)` in [-1, 1] to InceptionV3 pool features `(N, 2048)`.

    Args:
        weights: `"imagenet"` (downloads once), `None` (random; for tests) or a local file.
        input_size: side the images are resized to (299 as trained; at least 75).
        batch_size: images per forward pass.
    """

    def __init__(self, weights="imagenet", input_size=299, batch_size=32):
        self.input_size = input_size
        self.batch_size = batch_size
        self.network = keras.applications.InceptionV3(
            include_top=False, weights=weights, pooling="avg",
            input_shape=(input_size, input_size, 3))

    def __call__(self, images):
        features = []
        for start in range(0, len(images), self.batch_size):
            batch = keras.ops.convert_to_tensor(images[start:start + self.batch_size], "float32")
            batch = keras.ops.image.resize(batch, (self.input_size, self.input_size),
                                           interpolation="bilinear")
            features.append(keras.ops.convert_to_numpy(self.network(batch, training=False)))
        return np.concatenate(features).astype(np.float64)


def frechet_distance(features_a, features_b):
    """FID between the Gaussians fitted to two feature sets `(N, D)` and `(M, D)`.

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, the trace of the matrix square root
    taken from the eigenvalues of the symmetric `S_a^(1/2) S_b S_a^(1/2)`.
    """
    mu_a, sigma_a = _gaussian(features_a)
    mu_b, sigma_b = _gaussian(features_b)
    sqrt_a = _sqrtm_psd(sigma_a)
    cross = np.linalg.eigvalsh(sqrt_a @ sigma_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b)
                 - 2.0 * trace_sqrt)


def kernel_inception_distance(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
    """KID: unbiased MMD² with the kernel `(x·y / D + 1)^3`, averaged over random subsets.

    Returns `(mean, std)` over `num_subsets` subsets of `min(subset_size, N, M)` samples each.
    """
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(features_a)} and "
                         f"{len(features_b)}.")
    values = [
        _mmd2_unbiased(features_a[rng.choice(len(features_a), size, replace=False)],
                       features_b[rng.choice(len(features_b), size, replace=False)])
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _gaussian(features):
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Expected features of shape (N >= 2, D), got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrtm_psd(matrix):
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def _mmd2_unbiased(x, y):
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    n = len(x)
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return off_diagonal - 2.0 * k_xy.mean()
