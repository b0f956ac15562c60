import numpy as np
import tensorflow as tf

from keras_i2i.layers import FlowWarp
from tests.testing import run_layer_test

rng = np.random.default_rng(3)


def _warp(image, flow):
    """Bilinear sampling at (x + dx, y + dy), coordinates clamped to the image."""
    b, h, w, _ = image.shape
    out = np.zeros(image.shape)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                sx = min(max(x + flow[n, y, x, 0], 0), w - 1)
                sy = min(max(y + flow[n, y, x, 1], 0), h - 1)
                x0, y0 = int(np.floor(sx)), int(np.floor(sy))
                x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
                ax, ay = sx - x0, sy - y0
                top = image[n, y0, x0] * (1 - ax) + image[n, y0, x1] * ax
                bottom = image[n, y1, x0] * (1 - ax) + image[n, y1, x1] * ax
                out[n, y, x] = top * (1 - ay) + bottom * ay
    return out


def test_flow_warp_matches_bilinear_border_sampling():
    image = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    flow = (rng.normal(size=(2, 8, 12, 2)) * 4).astype("float32")
    _, out = run_layer_test(FlowWarp, {}, [image, flow], expected_output_shape=image.shape)
    np.testing.assert_allclose(out, _warp(image, flow), atol=1e-5)


def test_flow_warp_integer_shift_and_zero_flow():
    image = rng.normal(size=(1, 5, 6, 2)).astype("float32")
    np.testing.assert_allclose(
        FlowWarp()([image, np.zeros((1, 5, 6, 2), "float32")]), image, atol=1e-6
    )
    shift = np.zeros((1, 5, 6, 2), "float32")
    shift[..., 0] = 1.0
    warped = np.asarray(FlowWarp()([image, shift]))
    np.testing.assert_allclose(warped[:, :, :-1], image[:, :, 1:], atol=1e-6)
    np.testing.assert_allclose(warped[:, :, -1], image[:, :, -1], atol=1e-6)


def test_flow_warp_gradients_match_finite_differences():
    image = tf.constant(rng.normal(size=(1, 6, 7, 2)).astype("float32"))
    flow = tf.constant((rng.uniform(-2, 2, size=(1, 6, 7, 2))).astype("float32") + 0.25)
    weights = rng.normal(size=(1, 6, 7, 2)).astype("float32")

    def loss(image, flow):
        return tf.reduce_sum(FlowWarp()([image, flow]) * weights)

    with tf.GradientTape() as tape:
        tape.watch([image, flow])
        value = loss(image, flow)
    grad_image, grad_flow = tape.gradient(value, [image, flow])
    assert np.abs(grad_image).sum() > 0
    step = np.zeros(flow.shape, "float32")
    step[0, 2, 3, 0] = 1e-2
    numeric = (loss(image, flow + step) - loss(image, flow - step)) / 2e-2
    np.testing.assert_allclose(grad_flow[0, 2, 3, 0], numeric, rtol=1e-2, atol=1e-3)
