"""Fréchet and kernel Inception distances (FID, KID) between two sets of images.

`FIDInceptionFeatures` gives the pool3 features published FIDs use (pytorch-fid's network,
weights and input path; see `keras_i2i.metrics.inception`); `KerasInceptionFeatures` gives
`keras.applications` InceptionV3 features, whose values rank models but are not comparable to
papers. Image sets of any size stream through `feature_statistics` into a `FeatureStatistics`
(running mean and covariance); `reference_statistics` caches a dataset's statistics as the
`.npz` (`mu`, `sigma`) that pytorch-fid's `--save-stats` writes and reads.

    convert_fid_inception("pt_inception-2015-12-05-6726825d.pth", "fid.weights.h5")  # once
    features = FIDInceptionFeatures("fid.weights.h5")
    mu, sigma = reference_statistics("data/val_img", "val_stats.npz", features)
    generated = feature_statistics(dataset_of_generated_batches, features)
    fid = frechet_distance_from_statistics(generated.mu, generated.sigma, mu, sigma)
"""

import os
import pathlib

import keras
import numpy as np
from PIL import Image

from keras_i2i.applications import with_imagenet_weights
from keras_i2i.metrics.inception import fid_inception_v3, fid_preprocess

# pytorch-fid's IMAGE_EXTENSIONS.
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")


class FIDInceptionFeatures:
    """Maps images (N, H, W, 3) in [-1, 1] to FID Inception pool3 features (N, 2048) float64,
    as pytorch-fid computes them from the same images saved as 8-bit files.

    Args:
        weights: the converted `.weights.h5` (see `convert_fid_inception`) or pytorch-fid's
            `pt_inception-2015-12-05-6726825d.pth` (needs torch); `None` for random weights
            (tests only).
        batch_size: images per forward pass (pytorch-fid's default 50).
        quantize: round the images to 8-bit levels first (see `fid_preprocess`): the default,
            for parity with FIDs computed from image files.
    """

    def __init__(self, weights, batch_size=50, quantize=True):
        self.network = fid_inception_v3(weights)
        self.batch_size = batch_size
        self.quantize = quantize

    def __call__(self, images):
        # predict_on_batch compiles the network once per batch shape (under JAX eager
        # execution is 25x slower).
        return _in_batches(images, self.batch_size, lambda batch: self.network.predict_on_batch(
            fid_preprocess(batch, self.quantize)))


_KERAS_INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


class KerasInceptionFeatures:
    """Maps images (N, H, W, 3) in [-1, 1] to `keras.applications.InceptionV3` pool features
    (N, 2048) float64, resized bilinearly to `input_size`. Not the network published FIDs
    use: its values rank models consistently but are not comparable to papers.

    Args:
        weights: `"imagenet"` (downloads once), `None` (random; for tests) or a local file.
        input_size: side the images are resized to (299 as trained; at least 75).
        batch_size: images per forward pass.
    """

    def __init__(self, weights="imagenet", input_size=299, batch_size=32):
        self.input_size = input_size
        self.batch_size = batch_size
        self.network = with_imagenet_weights(
            lambda: keras.applications.InceptionV3(
                include_top=False, weights=weights, pooling="avg",
                input_shape=(input_size, input_size, 3)),
            weights, "Keras's InceptionV3", _KERAS_INCEPTION_FILE, "inception_v3",
            "give the FID network's weights instead (pytorch-fid's "
            "pt_inception-2015-12-05-6726825d.pth, what published FIDs use; `keras-i2i "
            "evaluate --fid-weights FILE`)")

    def __call__(self, images):
        def forward(batch):
            batch = keras.ops.image.resize(keras.ops.convert_to_tensor(batch, "float32"),
                                           (self.input_size, self.input_size),
                                           interpolation="bilinear")
            return self.network(batch, training=False)

        return _in_batches(images, self.batch_size, forward)


def _in_batches(images, batch_size, forward):
    features = [keras.ops.convert_to_numpy(forward(images[start:start + batch_size]))
                for start in range(0, len(images), batch_size)]
    return np.concatenate(features).astype(np.float64)


class FeatureStatistics:
    """Running mean and covariance of features fed batch by batch, in float64.

    Batches merge by Chan et al.'s pairwise update (count, mean, centred scatter matrix), so
    50,000 images never need to be held at once and no large sums cancel.

    Args:
        keep_features: also keep every feature vector (float32), which
            `kernel_inception_distance` needs: 8 KB per image (50,000 images: 400 MB).

    Attributes: `count`, `mu` (D,), `sigma` (D, D) (unbiased, as `np.cov`), `features`
    (count, D) float32 with `keep_features=True`.
    """

    def __init__(self, keep_features=False):
        self.keep_features = keep_features
        self.count = 0
        self._mean = None
        self._scatter = None
        self._kept = []

    def update(self, features):
        """Adds a batch of features (B, D)."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or (self._mean is not None and features.shape[1] != len(self._mean)):
            expected = "(B, D)" if self._mean is None else f"(B, {len(self._mean)})"
            raise ValueError(f"Expected features of shape {expected}, got {features.shape}.")
        if len(features) == 0:
            return
        mean = features.mean(axis=0)
        centred = features - mean
        scatter = centred.T @ centred
        if self._mean is None:
            self.count, self._mean, self._scatter = len(features), mean, scatter
        else:
            total = self.count + len(features)
            delta = mean - self._mean
            self._scatter += scatter + np.outer(delta, delta) * (self.count * len(features) / total)
            self._mean += delta * (len(features) / total)
            self.count = total
        if self.keep_features:
            self._kept.append(features.astype(np.float32))

    @property
    def mu(self):
        if self.count == 0:
            raise ValueError("No features yet: the mean needs at least one.")
        return self._mean.copy()

    @property
    def sigma(self):
        if self.count < 2:
            raise ValueError(f"The covariance needs at least 2 feature vectors, got {self.count}.")
        return self._scatter / (self.count - 1)

    @property
    def features(self):
        if not self.keep_features:
            raise ValueError("Features were not kept: use FeatureStatistics(keep_features=True).")
        return np.concatenate(self._kept)


def feature_statistics(images, features, batch_size=50, keep_features=False):
    """Streams images through a feature extractor into a `FeatureStatistics`.

    Args:
        images: an array (N, H, W, 3) in [-1, 1]; an iterable of such batches (a batched
            `tf.data.Dataset`; dict elements give their `"image"`); or a folder of image files
            (pytorch-fid's extensions, read in sorted order as 8-bit RGB).
        features: a callable (B, H, W, 3) -> (B, D), e.g. `FIDInceptionFeatures`.
        batch_size: images per call of `features` for an array or folder.
        keep_features: as `FeatureStatistics` (for KID).
    """
    statistics = FeatureStatistics(keep_features)
    for batch in _batches(images, batch_size):
        statistics.update(features(batch))
    return statistics


def _batches(images, batch_size):
    if isinstance(images, (str, os.PathLike)):
        yield from _folder_batches(pathlib.Path(images), batch_size)
        return
    if isinstance(images, np.ndarray):
        images = np.array_split(images, range(batch_size, len(images), batch_size))
    for batch in images:
        batch = np.asarray(batch["image"] if isinstance(batch, dict) else batch)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"Expected batches of images (B, H, W, 3), got {batch.shape} "
                             "(batch a tf.data.Dataset with .batch(n)).")
        yield batch


def _folder_batches(folder, batch_size):
    """Batches of a folder's images as float32 in [-1, 1] (exactly the 8-bit levels), a new
    batch wherever the image size changes."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such image folder")
    files = sorted(file for extension in IMAGE_EXTENSIONS for file in folder.glob(f"*.{extension}"))
    if not files:
        raise ValueError(f"{folder}: no {'/'.join(IMAGE_EXTENSIONS)} images")
    batch = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1.0
        except OSError as error:
            raise ValueError(f"{file}: unreadable image ({error})") from error
        if batch and (len(batch) == batch_size or pixels.shape != batch[0].shape):
            yield np.stack(batch)
            batch = []
        batch.append(pixels)
    yield np.stack(batch)


def save_statistics(path, mu, sigma):
    """Writes `mu` (D,) and `sigma` (D, D) to an `.npz` as pytorch-fid's `--save-stats`."""
    if not os.fspath(path).endswith(".npz"):
        raise ValueError(f"{path}: the statistics file name must end in .npz")
    np.savez_compressed(path, mu=mu, sigma=sigma)


def load_statistics(path):
    """`(mu, sigma)` from an `.npz` with keys `mu` and `sigma` (pytorch-fid's layout)."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [key for key in ("mu", "sigma") if key not in npz.files]
        if missing:
            raise ValueError(f"{path}: no {' and '.join(missing)} in the statistics file "
                             f"(keys: {', '.join(npz.files) or 'none'})")
        return npz["mu"].astype(np.float64), npz["sigma"].astype(np.float64)


def reference_statistics(images, cache, features, batch_size=50):
    """A dataset's `(mu, sigma)`, computed once and then read from `cache`.

    When `cache` (an `.npz`) exists it is returned as is, without calling `features`; delete
    it when the images or the feature extractor change. Otherwise the statistics are computed
    with `feature_statistics(images, features, batch_size)` and written there.
    """
    if os.path.isfile(cache):
        return load_statistics(cache)
    statistics = feature_statistics(images, features, batch_size)
    mu, sigma = statistics.mu, statistics.sigma
    save_statistics(cache, mu, sigma)
    return mu, sigma


def frechet_distance(features_a, features_b):
    """FID between the Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance_from_statistics(*_gaussian(features_a), *_gaussian(features_b))


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b):
    """`|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))` for means (D,) and
    covariances (D, D).

    The trace of the matrix square root is taken from the eigenvalues of the symmetric
    `S_a^(1/2) S_b S_a^(1/2)` (the same eigenvalues as `S_a S_b`; negative rounding noise
    clipped), with no regularization.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    square = mu_a.shape[:1] * 2
    if (mu_a.ndim != 1 or mu_b.shape != mu_a.shape or sigma_a.shape != square
            or sigma_b.shape != square):
        raise ValueError(f"Expected means (D,) and covariances (D, D) of one D, got "
                         f"{mu_a.shape}, {sigma_a.shape} and {mu_b.shape}, {sigma_b.shape}.")
    sqrt_a = _sqrtm_psd(sigma_a)
    cross = np.linalg.eigvalsh(sqrt_a @ sigma_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0.0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b)
                 - 2.0 * trace_sqrt)


def kernel_inception_distance(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
    """KID: unbiased MMD² with the kernel `(x·y / D + 1)^3`, averaged over random subsets.

    Needs the features themselves (`FeatureStatistics(keep_features=True).features`).
    Returns `(mean, std)` over `num_subsets` subsets of `min(subset_size, N, M)` samples each.
    """
    rng = np.random.default_rng(seed)
    features_a, features_b = np.asarray(features_a), np.asarray(features_b)
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
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    n = len(x)
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return off_diagonal - 2.0 * k_xy.mean()
