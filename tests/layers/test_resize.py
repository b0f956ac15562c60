import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.layers import resize_nearest
from tests.layers import numpy_ops


@pytest.mark.parametrize("size", [(4, 6), (16, 24), (5, 7), (12, 18), (3, 40)])
def test_resize_nearest_picks_pytorch_pixels(size):
    x = np.arange(2 * 8 * 12 * 3).reshape(2, 8, 12, 3)
    np.testing.assert_array_equal(resize_nearest(x, size), numpy_ops.resize_nearest(x, *size))


def test_resize_nearest_downsample_takes_top_left_pixel():
    x = np.arange(16).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(
        np.asarray(resize_nearest(x, (2, 2)))[0, ..., 0], [[0, 2], [8, 10]]
    )


def test_resize_nearest_dynamic_shapes_and_xla():
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 3)).astype("float32")
    target = np.zeros((2, 4, 10, 1), "float32")
    expected = numpy_ops.resize_nearest(x, 4, 10)

    def fn(x, target):
        return resize_nearest(x, tf.shape(target)[1:3])

    spec = [tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None, 1))]
    np.testing.assert_array_equal(tf.function(fn, input_signature=spec)(x, target), expected)
    np.testing.assert_array_equal(tf.function(fn, jit_compile=True)(x, target), expected)
