"""FID and KID: the FID Inception network against pytorch-fid's, its weight conversion, the
streamed statistics and their `.npz` files, and the distances against closed forms."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_i2i.metrics.fid import (
    FeatureStatistics,
    FIDInceptionFeatures,
    KerasInceptionFeatures,
    _mmd2_unbiased,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kernel_inception_distance,
    load_statistics,
    reference_statistics,
    save_statistics,
)
from keras_i2i.metrics.inception import (
    _bilinear_matrix,
    convert_fid_inception,
    fid_inception_v3,
    fid_preprocess,
    load_torch_weights,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _random_bn(rng, channels):
    return {"weight": rng.uniform(0.5, 1.5, channels), "bias": rng.normal(0, 0.1, channels),
            "running_mean": rng.normal(0, 0.1, channels),
            "running_var": rng.uniform(0.5, 1.5, channels)}


@pytest.fixture(scope="module")
def network():
    """A randomly initialized FID Inception network, shared by the tests that only load into it;
    built under the mixed_float16 policy, which it must not follow."""
    keras.config.set_dtype_policy("mixed_float16")
    try:
        return fid_inception_v3()
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="module")
def state_dict(network):
    """A random state dict in pytorch-fid's layout for `network`'s layers, with the classifier
    pytorch-fid's file carries: He-scaled kernels and batch norms near the identity, so the
    features neither vanish nor overflow (a few units, the largest about 50)."""
    rng = np.random.default_rng(0)
    state = {"fc.weight": rng.normal(0, 0.01, (1008, 2048)), "fc.bias": np.zeros(1008)}
    for layer in network.layers:
        name = layer.name
        if name.endswith(".conv"):
            kh, kw, c_in, c_out = layer.kernel.shape
            state[f"{name}.weight"] = rng.normal(0, np.sqrt(2 / (kh * kw * c_in)),
                                                 (c_out, c_in, kh, kw))
        elif name.endswith(".bn"):
            state.update({f"{name}.{key}": value
                          for key, value in _random_bn(rng, layer.gamma.shape[0]).items()})
            state[f"{name}.num_batches_tracked"] = np.array(0)
    return {key: value.astype("float32") if value.dtype.kind == "f" else value
            for key, value in state.items()}


def _images(shape, seed=0):
    """Random 8-bit images as the package's [-1, 1] floats."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype("float32") / 127.5 - 1.0


# --- the network, its input path and its weights -------------------------------------------

@pytest.mark.parametrize("size", [(40, 330), (299, 299), (17, 299), (500, 64)])
def test_preprocess_resizes_as_half_pixel_bilinear_without_antialiasing(size):
    images = np.random.default_rng(1).uniform(-1, 1, (2, *size, 3)).astype("float32")
    unit = tf.image.resize((images + 1) / 2, (299, 299), "bilinear", antialias=False)
    # TensorFlow rounds the source index to float32 twice, PyTorch (and the package) once:
    # the blend weights differ by up to 2e-6 (PyTorch's exact matrix: the torch test below).
    np.testing.assert_allclose(np.asarray(fid_preprocess(images, quantize=False)),
                               2 * unit.numpy() - 1, rtol=0, atol=1e-5)


def test_bilinear_matrix_rows_are_two_tap_blends_and_the_same_size_is_the_identity():
    np.testing.assert_array_equal(_bilinear_matrix(299, 299), np.eye(299, dtype="float32"))
    matrix = _bilinear_matrix(4, 8)
    np.testing.assert_allclose(matrix.sum(1), 1.0, rtol=1e-6)
    # Output 0 samples source -0.25, clamped to pixel 0; output 1 samples 0.25.
    np.testing.assert_allclose(matrix[:2], [[1, 0, 0, 0], [0.75, 0.25, 0, 0]])


def test_preprocess_quantizes_to_8_bit_levels_by_rounding():
    levels = np.arange(256)
    # 299 values (the width is not resized): levels, and just below and above the middle
    # between two levels (rounded down, up); the ends out of range (clipped).
    values = np.concatenate([levels[::3], levels[:-1:2] + 0.49, levels[:-1:3] + 0.51])
    expected = np.concatenate([levels[::3], levels[:-1:2], levels[:-1:3] + 1])
    values[0], values[-1], expected[-1] = -20.0, 300.0, 255
    images = np.tile((values / 127.5 - 1).reshape(1, 1, 299, 1), (2, 5, 1, 3)).astype("float32")
    got = np.asarray(fid_preprocess(images))
    assert got.shape == (2, 299, 299, 3)
    np.testing.assert_allclose((got[0, 0, :, 0] + 1) * 127.5, expected, rtol=0, atol=1e-4)
    unrounded = np.asarray(fid_preprocess(images, quantize=False))
    np.testing.assert_allclose(unrounded[0, 0, :, 0], images[0, 0, :, 0], rtol=0, atol=1e-6)


def test_network_is_pytorch_fids_up_to_pool3_in_float32(network):
    assert network.input_shape == (None, 299, 299, 3) and network.output_shape == (None, 2048)
    assert {layer.dtype_policy.name for layer in network.layers[1:]} == {"float32"}
    assert network.outputs[0].dtype == "float32"
    # torchvision's BasicConv2d count: stem 5, 3 x InceptionA 7, InceptionB 4,
    # 4 x InceptionC 10, InceptionD 6, 2 x InceptionE 9.
    assert len([layer for layer in network.layers if layer.name.endswith(".conv")]) == 94


def test_torch_state_dict_loads_converts_and_reloads_without_torch(network, state_dict, tmp_path):
    load_torch_weights(network, state_dict)
    kernel = network.get_layer("Mixed_6b.branch7x7dbl_2.conv").kernel.numpy()
    np.testing.assert_array_equal(
        kernel, state_dict["Mixed_6b.branch7x7dbl_2.conv.weight"].transpose(2, 3, 1, 0))
    assert kernel.shape == (7, 1, 128, 128)
    bn = network.get_layer("Mixed_7c.branch_pool.bn")
    np.testing.assert_array_equal(bn.moving_variance.numpy(),
                                  state_dict["Mixed_7c.branch_pool.bn.running_var"])
    images = fid_preprocess(_images((1, 64, 48, 3)))
    expected = network(images, training=False).numpy()
    assert 1e-2 < np.abs(expected).mean() < 10  # neither vanished nor overflowed

    target = convert_fid_inception(state_dict, tmp_path / "fid.weights.h5")
    for variable in network.weights:
        variable.assign(np.zeros(variable.shape))
    network.load_weights(target)
    np.testing.assert_array_equal(network(images, training=False).numpy(), expected)


def test_weight_errors_name_the_file_key_and_shape(network, state_dict, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.pth: no such file"):
        FIDInceptionFeatures(tmp_path / "missing.pth")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"expected a \.weights\.h5 .* or \.pth"):
        fid_inception_v3(tmp_path / "weights.bin")
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        convert_fid_inception(state_dict, tmp_path / "fid.h5")

    missing = {k: v for k, v in state_dict.items() if k != "Mixed_7c.branch_pool.bn.running_var"}
    with pytest.raises(ValueError, match=r"not pytorch-fid's FID Inception: missing "
                                         r"Mixed_7c\.branch_pool\.bn\.running_var .*\(192,\)"):
        load_torch_weights(network, missing)
    extra = {**state_dict, "AuxLogits.fc.weight": np.zeros((1008, 768), "float32")}
    with pytest.raises(ValueError, match=r"unexpected AuxLogits\.fc\.weight$"):
        load_torch_weights(network, extra)
    wrong = {**state_dict, "Conv2d_1a_3x3.conv.weight": np.zeros((32, 1, 3, 3), "float32")}
    with pytest.raises(ValueError, match=r"Conv2d_1a_3x3\.conv\.weight: found shape \(32, 1, 3, "
                                         r"3\).*expected \(3, 3, 3, 32\)"):
        load_torch_weights(network, wrong)
    other = {"0.weight": np.zeros((8, 3, 3, 3), "float32")}
    # All 470 variables missing and 0.weight unexpected.
    with pytest.raises(ValueError, match=r"missing Conv2d_1a_3x3\.conv\.weight .*"
                                         r"\(and 470 more problems\)"):
        load_torch_weights(network, other)
    with pytest.raises(ValueError, match=r"Expected images of shape \(N, H, W, 3\)"):
        fid_preprocess(np.zeros((2, 32, 32, 1), "float32"))


def test_keras_inception_features_shape_without_downloading():
    images = np.random.default_rng(3).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    features = KerasInceptionFeatures(weights=None, input_size=75, batch_size=2)(images)
    assert features.shape == (3, 2048) and features.dtype == np.float64
    assert np.isfinite(features).all()


# --- pytorch-fid parity ---------------------------------------------------------------------

@pytest.fixture
def torch(monkeypatch):
    """torch (skips without it), with triton hidden: torchvision imports it through
    torch._dynamo where it is installed, and its native library crashes a process that has
    loaded TensorFlow."""
    monkeypatch.setitem(sys.modules, "triton", None)
    return pytest.importorskip("torch", reason="compares with torch (the torch extra)")


def _pytorch_fid_network(state):
    """pytorch-fid's `InceptionV3([3])` (resize to 299, [0, 1] -> [-1, 1], pool3) with the
    weights `state` instead of the downloaded ones."""
    inception = pytest.importorskip("pytorch_fid.inception",
                                    reason="the parity test needs `pip install pytorch-fid`")
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        return inception.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    finally:
        inception.load_state_dict_from_url = original


@pytest.mark.slow  # 40 to 90 s on the shared 2-core CPU (about 15 s on an idle one)
def test_features_match_pytorch_fid(torch, state_dict, tmp_path):
    state = {key: torch.from_numpy(value) for key, value in state_dict.items()}
    reference = _pytorch_fid_network(state)
    pth = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, pth)
    features = FIDInceptionFeatures(convert_fid_inception(pth, tmp_path / "fid.weights.h5"))
    # Upsampled in height, downsampled in width: both resize regimes.
    levels = np.random.default_rng(4).integers(0, 256, (3, 40, 330, 3)).astype("uint8")
    with torch.no_grad():
        pixels = torch.from_numpy(levels).permute(0, 3, 1, 2).float() / 255  # ToTensor()
        expected = reference(pixels)[0][:, :, 0, 0].double().numpy()
    got = features(levels.astype("float32") / 127.5 - 1.0)
    assert got.shape == (3, 2048) and got.dtype == np.float64
    # float32 rounding: 1.0e-6 of the largest feature (52) seen. Counting the zero padding in
    # Mixed_5b's average pool alone changes them by 5e-3 of it.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_bilinear_matrix_is_pytorchs_interpolate(torch):
    for size in (40, 330, 17, 500, 64, 1, 2, 299):
        # Resizing unit impulses gives PyTorch's matrix, column by column.
        impulses = torch.eye(size).reshape(size, 1, size, 1)
        expected = torch.nn.functional.interpolate(impulses, size=(299, 1), mode="bilinear",
                                                   align_corners=False)[:, 0, :, 0].T.numpy()
        # Identical here; rounding the source index twice (float32 product, then - 0.5)
        # instead of once would move weights by up to 2e-6.
        np.testing.assert_allclose(_bilinear_matrix(size, 299), expected, rtol=0, atol=1e-7)


def test_statistics_files_and_distance_agree_with_pytorch_fid(torch, tmp_path):
    fid_score = pytest.importorskip("pytorch_fid.fid_score",
                                    reason="compares with `pip install pytorch-fid`")
    rng = np.random.default_rng(6)
    a = FeatureStatistics()
    a.update(rng.normal(size=(300, 64)))
    b = FeatureStatistics()
    b.update(rng.normal(size=(200, 64)) * rng.uniform(0.5, 2, 64) + 0.3)
    save_statistics(tmp_path / "a.npz", a.mu, a.sigma)
    save_statistics(tmp_path / "b.npz", b.mu, b.sigma)
    read = [fid_score.compute_statistics_of_path(str(tmp_path / name), None, 50, 64, "cpu")
            for name in ("a.npz", "b.npz")]
    np.testing.assert_array_equal(read[0][0], a.mu)
    np.testing.assert_array_equal(read[1][1], b.sigma)
    expected = fid_score.calculate_frechet_distance(*read[0], *read[1])
    got = frechet_distance_from_statistics(*load_statistics(tmp_path / "a.npz"),
                                           *load_statistics(tmp_path / "b.npz"))
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow  # JAX compiles the network: a minute of CPU
def test_features_under_jax_equal_those_under_tensorflow(network, state_dict, tmp_path):
    pytest.importorskip("jax", reason="the JAX backend needs `pip install jax` (the dev extra)")
    load_torch_weights(network, state_dict)
    weights, images, features = (tmp_path / name for name in ("fid.weights.h5", "images.npy",
                                                              "features.npy"))
    network.save_weights(weights)
    np.save(images, _images((2, 40, 330, 3), seed=13))
    script = ("import sys, numpy as np; from keras_i2i.metrics import FIDInceptionFeatures; "
              "np.save(sys.argv[3], FIDInceptionFeatures(sys.argv[1])(np.load(sys.argv[2])))")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script, weights, images, features], env=env,
                   check=True, timeout=600)
    expected = network.predict_on_batch(fid_preprocess(np.load(images)))
    np.testing.assert_allclose(np.load(features), expected, rtol=0,
                               atol=1e-5 * np.abs(expected).max())


# --- streamed statistics and their files ----------------------------------------------------

def _colour_moments(batch):
    """A cheap feature extractor: per-image channel means and standard deviations (B, 6)."""
    batch = np.asarray(batch, np.float64)
    return np.concatenate([batch.mean(axis=(1, 2)), batch.std(axis=(1, 2))], axis=1)


def test_streamed_statistics_equal_the_in_memory_mean_and_covariance():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(1000, 16)) @ rng.normal(size=(16, 16)) + 1e3  # far from 0
    statistics = FeatureStatistics(keep_features=True)
    for start, stop in [(0, 1), (1, 8), (8, 8), (8, 308), (308, 1000)]:
        statistics.update(features[start:stop])
    assert statistics.count == 1000
    np.testing.assert_allclose(statistics.mu, features.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(statistics.sigma, np.cov(features, rowvar=False), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_array_equal(statistics.features, features.astype("float32"))


def test_statistics_of_arrays_datasets_and_folders_agree(tmp_path):
    images = _images((7, 12, 10, 3), seed=8)
    levels = np.round((images + 1) * 127.5).astype("uint8")
    for i, image in enumerate(levels):
        Image.fromarray(image).save(tmp_path / f"{i:02d}.png")
    Image.fromarray(levels[0, :6]).save(tmp_path / "99.png")  # another size, last
    (tmp_path / "notes.txt").write_text("not an image")
    expected = np.concatenate([_colour_moments(images), _colour_moments(images[:1, :6])])
    dataset = tf.data.Dataset.from_tensor_slices({"image": images}).batch(3)
    for source in (images, dataset, iter([images[:4], images[4:]])):
        statistics = feature_statistics(source, _colour_moments, batch_size=3)
        np.testing.assert_allclose(statistics.mu, expected[:7].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(statistics.sigma, np.cov(expected[:7], rowvar=False),
                                   rtol=1e-9)
    batch_sizes = []
    folder = feature_statistics(tmp_path, lambda b: batch_sizes.append(len(b)) or
                                _colour_moments(b), batch_size=3)
    assert batch_sizes == [3, 3, 1, 1]  # 00-06 by three, then 99.png of its own size
    np.testing.assert_allclose(folder.mu, expected.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(folder.sigma, np.cov(expected, rowvar=False), rtol=1e-9)


def test_reference_statistics_are_computed_once_then_read_from_the_cache(tmp_path):
    images, cache = _images((6, 8, 8, 3), seed=9), tmp_path / "reference.npz"
    mu, sigma = reference_statistics(images, cache, _colour_moments, batch_size=4)
    with np.load(cache) as npz:
        assert sorted(npz.files) == ["mu", "sigma"]
        np.testing.assert_array_equal(npz["sigma"], sigma)
    np.testing.assert_allclose(mu, _colour_moments(images).mean(axis=0), rtol=1e-12)

    def fail(batch):
        raise AssertionError("recomputed despite the cache")

    cached_mu, cached_sigma = reference_statistics(images, cache, fail)
    np.testing.assert_array_equal(cached_mu, mu)
    np.testing.assert_array_equal(cached_sigma, sigma)


def test_statistics_errors(tmp_path):
    statistics = FeatureStatistics()
    with pytest.raises(ValueError, match="at least one"):
        statistics.mu
    statistics.update(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="at least 2 feature vectors, got 1"):
        statistics.sigma
    with pytest.raises(ValueError, match=r"Expected features of shape \(B, 4\), got \(2, 5\)"):
        statistics.update(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="keep_features=True"):
        statistics.features
    unbatched = tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"got \(8, 8, 3\) \(batch a tf\.data\.Dataset"):
        feature_statistics(unbatched, _colour_moments)
    with pytest.raises(FileNotFoundError, match="no such image folder"):
        feature_statistics(tmp_path / "absent", _colour_moments)
    with pytest.raises(ValueError, match="no bmp/jpg/.* images"):
        feature_statistics(tmp_path, _colour_moments)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"broken\.png: unreadable image"):
        feature_statistics(tmp_path, _colour_moments)
    with pytest.raises(ValueError, match=r"must end in \.npz"):
        save_statistics(tmp_path / "stats", np.zeros(2), np.eye(2))
    np.savez(tmp_path / "mu_only.npz", mu=np.zeros(2))
    with pytest.raises(ValueError, match=r"mu_only\.npz: no sigma .*\(keys: mu\)"):
        load_statistics(tmp_path / "mu_only.npz")
    with pytest.raises(ValueError, match=r"of one D, got \(2,\), \(2, 2\) and \(3,\), \(3, 3\)"):
        frechet_distance_from_statistics(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# --- the distances against closed forms -----------------------------------------------------

def test_frechet_distance_matches_the_closed_form_for_correlated_gaussians():
    rng = np.random.default_rng(10)
    mu_a, mu_b = np.array([0.0, 1.0]), np.array([1.5, -0.5])
    sigma_a = np.array([[2.0, 0.8], [0.8, 1.0]])
    sigma_b = np.array([[0.5, -0.3], [-0.3, 1.5]])
    # In 2-D, Tr (S_a S_b)^(1/2) = sqrt(Tr(S_a S_b) + 2 sqrt(det S_a det S_b)).
    trace_sqrt = np.sqrt(np.trace(sigma_a @ sigma_b)
                         + 2 * np.sqrt(np.linalg.det(sigma_a) * np.linalg.det(sigma_b)))
    expected = (np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b)
                - 2 * trace_sqrt)
    assert frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(
        expected, rel=1e-12)
    a = rng.multivariate_normal(mu_a, sigma_a, 100_000)
    b = rng.multivariate_normal(mu_b, sigma_b, 100_000)
    # Sampling noise: a standard deviation of 0.4% of the 5.54 expected over 30 seeds.
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_frechet_distance_of_a_set_to_itself_is_zero():
    features = np.random.default_rng(1).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def _cubic_kernel_expectation(mean_x, var_x, mean_y, var_y):
    """E[(x·y / D + 1)^3] for independent x ~ N(mean_x, diag(var_x)), y ~ N(mean_y,
    diag(var_y)) in D dimensions: x·y is a sum of independent products x_i y_i, whose
    cumulants add."""
    def raw_moments(mean, var):
        return mean, mean ** 2 + var, mean ** 3 + 3 * mean * var

    (x1, x2, x3), (y1, y2, y3) = raw_moments(mean_x, var_x), raw_moments(mean_y, var_y)
    m1, m2, m3 = x1 * y1, x2 * y2, x3 * y3  # moments of x_i y_i
    k1, k2, k3 = m1.sum(), (m2 - m1 ** 2).sum(), (m3 - 3 * m2 * m1 + 2 * m1 ** 3).sum()
    s1, s2, s3 = k1, k2 + k1 ** 2, k3 + 3 * k2 * k1 + k1 ** 3  # moments of x·y
    dim = len(mean_x)
    return 1 + 3 * s1 / dim + 3 * s2 / dim ** 2 + s3 / dim ** 3


def test_kid_matches_the_closed_form_mmd_of_the_cubic_kernel():
    rng = np.random.default_rng(11)
    mean_a, var_a = np.zeros(4), np.ones(4)
    mean_b, var_b = np.array([0.5, -0.5, 1.0, 0.0]), np.array([2.0, 1.0, 0.5, 1.5])
    expected = (_cubic_kernel_expectation(mean_a, var_a, mean_a, var_a)
                + _cubic_kernel_expectation(mean_b, var_b, mean_b, var_b)
                - 2 * _cubic_kernel_expectation(mean_a, var_a, mean_b, var_b))
    a = rng.normal(mean_a, np.sqrt(var_a), (10_000, 4))
    b = rng.normal(mean_b, np.sqrt(var_b), (10_000, 4))
    kid, std = kernel_inception_distance(a, b, num_subsets=10, subset_size=1000)
    # Over 30 seeds the estimate's standard deviation is 3.3% of the 2.63 expected (its mean
    # 0.3% off), the subsets' spread 4% to 12%.
    assert kid == pytest.approx(expected, rel=0.15)
    assert 0 < std < 0.2 * expected
    same, same_std = kernel_inception_distance(a, rng.normal(mean_a, np.sqrt(var_a), (10_000, 4)),
                                               num_subsets=5, subset_size=1000)
    # Over 30 seeds: |KID| up to 0.3% of that, its subsets' spread up to 0.45%.
    assert abs(same) < 0.01 * expected and same_std < 0.02 * expected


def test_unbiased_mmd_is_the_mean_over_distinct_pairs():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(5, 3)), rng.normal(1.0, 1.0, (5, 3))

    def kernel(u, v):
        return (u @ v / 3 + 1) ** 3

    within = [kernel(s[i], s[j]) for s in (x, y) for i in range(5) for j in range(5) if i != j]
    across = [kernel(u, v) for u in x for v in y]
    expected = sum(within) / 20 - 2 * np.mean(across)
    assert _mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-12)


def test_kid_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        kernel_inception_distance(np.zeros((1, 4)), np.zeros((5, 4)))


def test_keras_inception_offline_is_one_line_naming_the_fid_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing cached

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- "
                        "[Errno -2] Name or service not known")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    with pytest.raises(ValueError, match=r"inception_v3_weights_tf_dim_ordering_tf_kernels_notop"
                                         r".*could not be downloaded.*--fid-weights FILE") as raised:
        KerasInceptionFeatures()
    assert "\n" not in str(raised.value)
