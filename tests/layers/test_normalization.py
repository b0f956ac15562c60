import keras
import numpy as np
import pytest

from keras_i2i.layers import (
    AdaptiveInstanceNorm,
    BatchNorm,
    InstanceNormalization,
    LayerNorm,
    SpatiallyAdaptiveNorm,
)
from tests.layers import numpy_ops
from tests.testing import run_layer_test, run_on_two_replicas

rng = np.random.default_rng(1)


def _x(shape=(2, 8, 10, 6)):
    return (rng.normal(size=shape) * 3 + 1).astype("float32")


def test_instance_normalization_matches_numpy():
    x = _x()
    gamma, beta = rng.normal(size=6).astype("float32"), rng.normal(size=6).astype("float32")
    layer = InstanceNormalization(affine=True)
    layer.build(x.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    np.testing.assert_allclose(layer(x), numpy_ops.instance_norm(x) * gamma + beta, atol=1e-4)
    _, out = run_layer_test(
        InstanceNormalization,
        {},
        x,
        expected_output_shape=x.shape,
        expected_num_trainable_weights=0,
    )
    np.testing.assert_allclose(out, numpy_ops.instance_norm(x), atol=1e-4)


def test_instance_normalization_with_running_statistics():
    """`InstanceNorm2d(track_running_stats=True)`: per-sample statistics in training, whose
    batch averages update the running ones (variance unbiased); running ones otherwise."""
    x = _x()
    layer, _ = run_layer_test(
        InstanceNormalization,
        {"track_running_stats": True},
        x,
        expected_output_shape=x.shape,
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=2,
    )
    layer.moving_mean.assign(np.full(6, 0.5, "float32"))
    layer.moving_variance.assign(np.full(6, 2.0, "float32"))
    np.testing.assert_allclose(layer(x), (x - 0.5) / np.sqrt(2.0 + 1e-5), atol=1e-5)
    np.testing.assert_allclose(layer(x, training=True), numpy_ops.instance_norm(x), atol=1e-4)
    flat = x.reshape(2, -1, 6).astype("float64")
    np.testing.assert_allclose(layer.moving_mean, 0.45 + 0.1 * flat.mean(1).mean(0), atol=1e-5)
    np.testing.assert_allclose(
        layer.moving_variance, 1.8 + 0.1 * flat.var(1, ddof=1).mean(0), atol=1e-4
    )


def test_layer_norm_uses_unbiased_std_plus_eps():
    x = _x()
    layer, out = run_layer_test(
        LayerNorm, {}, x, expected_output_shape=x.shape, expected_num_trainable_weights=2
    )
    flat = x.reshape(2, -1).astype("float64")
    mean = flat.mean(1)[:, None, None, None]
    std = flat.std(1, ddof=1)[:, None, None, None]
    gamma = keras.ops.convert_to_numpy(layer.gamma)
    assert np.all((gamma >= 0) & (gamma < 1))
    np.testing.assert_allclose(out, (x - mean) / (std + 1e-5) * gamma, atol=1e-4)


def test_layer_norm_of_a_constant_input_has_finite_gradients():
    """A constant sample (INIT's padding crops) has std 0, where sqrt's gradient is infinite."""
    import tensorflow as tf

    layer = LayerNorm()
    x = tf.Variable(np.full((2, 4, 4, 3), 0.7, "float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x)))
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    assert all(np.isfinite(g.numpy()).all() for g in gradients)


def test_biased_layer_norm_is_torch_layer_norm_with_channel_affine():
    x = _x()
    layer, out = run_layer_test(
        LayerNorm, {"unbiased": False}, x, expected_output_shape=x.shape,
        expected_num_trainable_weights=2,
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.gamma), np.ones(6))
    gamma, beta = rng.normal(size=6).astype("float32"), rng.normal(size=6).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    flat = x.reshape(2, -1).astype("float64")
    mean = flat.mean(1)[:, None, None, None]
    variance = flat.var(1)[:, None, None, None]
    np.testing.assert_allclose(layer(x), (x - mean) / np.sqrt(variance + 1e-5) * gamma + beta,
                               atol=1e-4)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-5), atol=1e-4)


def test_batch_norm_training_and_inference():
    x = _x()
    layer = BatchNorm(momentum=0.9, affine=False)
    layer.build(x.shape)
    layer.moving_mean.assign(np.full(6, 0.5, "float32"))
    flat = x.reshape(-1, 6).astype("float64")
    mean, var = flat.mean(0), flat.var(0)
    np.testing.assert_allclose(layer(x, training=True), (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean, 0.9 * 0.5 + 0.1 * mean, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * flat.var(0, ddof=1), atol=1e-5)
    moving_mean, moving_var = keras.ops.convert_to_numpy(
        layer.moving_mean
    ), keras.ops.convert_to_numpy(layer.moving_variance)
    np.testing.assert_allclose(layer(x), (x - moving_mean) / np.sqrt(moving_var + 1e-5), atol=1e-4)


def test_batch_norm_layer_contract():
    run_layer_test(
        BatchNorm,
        {"synchronized": True},
        _x(),
        expected_output_shape=(2, 8, 10, 6),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    )


@pytest.mark.parametrize("form", ["packed", "separate"])
def test_adaptive_instance_norm_external_parameters(form):
    x = _x()
    bias, scale = rng.normal(size=(2, 6)).astype("float32"), rng.normal(size=(2, 6)).astype(
        "float32"
    )
    inputs = [x, np.concatenate([bias, scale], -1)] if form == "packed" else [x, scale, bias]
    _, out = run_layer_test(AdaptiveInstanceNorm, {}, inputs, expected_output_shape=x.shape)
    expected = numpy_ops.instance_norm(x) * scale[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_adaptive_instance_norm_projects_style():
    x, style = _x(), rng.normal(size=(2, 4)).astype("float32")
    layer, out = run_layer_test(
        AdaptiveInstanceNorm, {"project_style": True}, [x, style], expected_output_shape=x.shape
    )
    kernel, dense_bias = (keras.ops.convert_to_numpy(w) for w in layer.style_projection.weights)
    np.testing.assert_array_equal(dense_bias, [0] * 6 + [1] * 6)
    bias, scale = np.split(style @ kernel + dense_bias, 2, axis=-1)
    expected = numpy_ops.instance_norm(x) * scale[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("param_free_norm", ["instance", "batch"])
def test_spatially_adaptive_norm_matches_numpy(param_free_norm):
    x = _x((2, 8, 12, 6))
    segmap = rng.normal(size=(2, 16, 24, 3)).astype("float32")
    init = {"param_free_norm": param_free_norm, "hidden_channels": 8}
    layer, out = run_layer_test(
        SpatiallyAdaptiveNorm, init, [x, segmap], expected_output_shape=x.shape
    )
    weights = {}
    for name in ("mlp_shared", "mlp_gamma", "mlp_beta"):
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in getattr(layer, name).weights)
        weights[name] = (np.transpose(kernel, (3, 2, 0, 1)), bias)
    seg = numpy_ops.resize_nearest(segmap, 8, 12)
    actv = np.maximum(numpy_ops.conv2d(seg, *weights["mlp_shared"], padding=1), 0)
    gamma = numpy_ops.conv2d(actv, *weights["mlp_gamma"], padding=1)
    beta = numpy_ops.conv2d(actv, *weights["mlp_beta"], padding=1)
    normalized = (
        numpy_ops.instance_norm(x) if param_free_norm == "instance" else x / np.sqrt(1 + 1e-5)
    )
    np.testing.assert_allclose(out, normalized * (1 + gamma) + beta, atol=1e-4)


def test_synchronized_batch_norm_uses_global_statistics():
    x = _x((4, 4, 4, 3))
    layer = BatchNorm(affine=False, synchronized=True)
    out = run_on_two_replicas(layer, x)
    flat = x.reshape(-1, 3).astype("float64")
    np.testing.assert_allclose(out, (x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5), atol=1e-4)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * flat.var(0, ddof=1), atol=1e-5)


def test_state_updates_under_a_strategy_with_xla():
    x = _x((4, 4, 4, 3))
    layer = BatchNorm(affine=False)
    out = run_on_two_replicas(layer, x, jit_compile=True)
    first = x[:2].reshape(-1, 3).astype("float64")
    np.testing.assert_allclose(
        out[:2], (x[:2] - first.mean(0)) / np.sqrt(first.var(0) + 1e-5), atol=1e-4
    )
    np.testing.assert_allclose(layer.moving_mean, 0.1 * first.mean(0), atol=1e-5)
