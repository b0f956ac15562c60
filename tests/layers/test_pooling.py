import numpy as np
import pytest

from keras_i2i.layers import AvgPool2D
from tests.testing import run_layer_test


def _avg_pool_exclude_pad(x, k=3, s=2, p=1):
    """`AvgPool2d(k, s, p, count_include_pad=False)` by explicit windows."""
    b, h, w, c = x.shape
    out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.zeros((b, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(max(i * s - p, 0), min(i * s - p + k, h))
            cols = slice(max(j * s - p, 0), min(j * s - p + k, w))
            y[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("size", [(16, 16), (9, 14)])
def test_avg_pool_excludes_padding(size):
    x = np.random.default_rng(0).normal(size=(2, *size, 4)).astype("float32")
    out_shape = (2, (size[0] + 1) // 2, (size[1] + 1) // 2, 4)
    _, out = run_layer_test(AvgPool2D, {}, x, expected_output_shape=out_shape)
    np.testing.assert_allclose(out, _avg_pool_exclude_pad(x), atol=1e-5)


def test_avg_pool_count_include_pad():
    x = np.ones((1, 4, 4, 1), "float32")
    out = np.asarray(AvgPool2D(count_include_pad=True)(x))[0, ..., 0]
    np.testing.assert_allclose(out, [[4 / 9, 6 / 9], [6 / 9, 1.0]], atol=1e-6)
