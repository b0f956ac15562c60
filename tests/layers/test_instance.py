import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.layers import InstanceWiseAvgPool, instance_boundary_map, semantic_map
from tests.testing import run_layer_test

rng = np.random.default_rng(2)


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _instance_means(features, instance):
    """pix2pixHD's Encoder loop: per sample, per id, per channel mean."""
    out = np.zeros_like(features, dtype="float64")
    for b in range(features.shape[0]):
        for i in np.unique(instance[b]):
            mask = instance[b, ..., 0] == i
            out[b][mask] = features[b][mask].mean(axis=0)
    return out


def _edges(t):
    """pix2pixHD's `get_edges` (NHWC)."""
    edge = np.zeros(t.shape, bool)
    edge[:, :, 1:] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, :, :-1] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, 1:] |= t[:, 1:] != t[:, :-1]
    edge[:, :-1] |= t[:, 1:] != t[:, :-1]
    return edge.astype("float32")


def test_instance_wise_avg_pool_matches_the_reference_loop():
    features = rng.normal(size=(2, 12, 16, 8)).astype("float32")
    instance = rng.choice([0, 7, 26001, 26002, 33000], size=(2, 12, 16, 1)).astype("int32")
    instance[1] = np.where(instance[1] == 7, 123456789, instance[1])
    _, out = run_layer_test(
        InstanceWiseAvgPool, {}, [features, instance], expected_output_shape=features.shape
    )
    np.testing.assert_allclose(out, _instance_means(features, instance), atol=1e-5)


def test_instance_wise_avg_pool_gradient_spreads_over_each_instance():
    features = tf.constant(rng.normal(size=(1, 4, 4, 2)).astype("float32"))
    instance = np.repeat([3, 9], 8).reshape(1, 4, 4, 1).astype("int32")
    weights = rng.normal(size=(1, 4, 4, 2)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_sum(InstanceWiseAvgPool()([features, instance]) * weights)
    expected = _instance_means(weights, instance)
    np.testing.assert_allclose(tape.gradient(loss, features), expected, atol=1e-6)


def test_instance_wise_avg_pool_reproduces_reference_features(reference):
    ref = reference("pix2pixhd_small_local.npz")
    features, instance = _nhwc(ref["output/instance_features"]), _nhwc(ref["input/instance"])
    np.testing.assert_allclose(InstanceWiseAvgPool()([features, instance]), features, atol=1e-5)


def test_instance_boundary_map_matches_get_edges():
    instance = rng.integers(0, 3, size=(2, 9, 11, 1)).astype("int32")
    out = instance_boundary_map(instance)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out, _edges(instance))
    jitted = tf.function(instance_boundary_map, jit_compile=True)
    np.testing.assert_array_equal(jitted(instance), _edges(instance))


def test_instance_boundary_map_matches_reference_generator_input(reference):
    ref = reference("pix2pixhd_small_local.npz")
    edges = instance_boundary_map(_nhwc(ref["input/instance"]))
    np.testing.assert_array_equal(edges, _nhwc(ref["input/generator_input"])[..., 6:7])


@pytest.mark.parametrize("name", ["spade_small_syncbatch.npz", "spade_small_instance_vae.npz"])
def test_semantic_map_reproduces_the_spade_reference_input(reference, name):
    ref = reference(name)
    label, instance = _nhwc(ref["input/label"]), _nhwc(ref["input/instance"])
    semantics = semantic_map(label, 6, instance)
    assert semantics.dtype == "float32"
    np.testing.assert_array_equal(semantics, _nhwc(ref["input/semantics"]))


def test_semantic_map_is_one_hot_without_instances():
    label = rng.integers(0, 4, size=(2, 5, 7, 1)).astype("int32")
    semantics = np.asarray(semantic_map(label, 4))
    assert semantics.shape == (2, 5, 7, 4)
    np.testing.assert_array_equal(np.argmax(semantics, -1), label[..., 0])
    np.testing.assert_array_equal(semantics.sum(-1), 1.0)
