import keras
import numpy as np
import pytest

from keras_i2i.layers import ConvBlock, ResidualBlock
from tests.layers import numpy_ops
from tests.testing import run_layer_test

rng = np.random.default_rng(4)


def _torch_weights(conv):
    """A `Conv2D`'s kernel in PyTorch layout (out, in, k, k) and its bias."""
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in conv.weights)
    return np.transpose(kernel, (3, 2, 0, 1)), bias


@pytest.mark.parametrize(
    "init, output_shape",
    [
        (
            dict(
                filters=8,
                kernel_size=4,
                strides=2,
                padding=1,
                pad_type="reflect",
                activation="lrelu",
            ),
            (2, 8, 8, 8),
        ),
        (
            dict(
                filters=8,
                kernel_size=4,
                strides=2,
                padding=2,
                norm="instance",
                spectral_norm=True,
                use_bias=False,
                activation="lrelu",
            ),
            (2, 9, 9, 8),
        ),
        (
            dict(filters=8, kernel_size=5, padding=2, pad_type="reflect", norm="layer"),
            (2, 16, 16, 8),
        ),
        (
            dict(
                filters=8,
                kernel_size=3,
                strides=2,
                padding=1,
                output_padding=1,
                transposed=True,
                norm="batch",
            ),
            (2, 32, 32, 8),
        ),
        (
            dict(filters=3, kernel_size=7, padding=3, pad_type="reflect", activation="tanh"),
            (2, 16, 16, 3),
        ),
        (
            dict(filters=4, kernel_size=5, padding=2, pad_type="reflect", norm="layer", upsample=2),
            (2, 32, 32, 4),
        ),
    ],
)
def test_conv_block_contract(init, output_shape):
    x = rng.normal(size=(2, 16, 16, 8)).astype("float32")
    run_layer_test(ConvBlock, init, x, expected_output_shape=output_shape)


def test_conv_block_adain_contract():
    x = rng.normal(size=(2, 16, 16, 8)).astype("float32")
    params = rng.normal(size=(2, 16)).astype("float32")
    init = dict(filters=8, kernel_size=3, padding=1, norm="adain")
    run_layer_test(ConvBlock, init, [x, params], expected_output_shape=(2, 16, 16, 8))


def test_conv_block_refuses_upsampling_a_transposed_conv():
    with pytest.raises(ValueError, match="no upsampling"):
        ConvBlock(4, 3, transposed=True, upsample=2)


def test_conv_block_matches_numpy():
    x = rng.normal(size=(2, 12, 12, 4)).astype("float32")
    block = ConvBlock(
        6, 4, strides=2, padding=1, pad_type="reflect", norm="instance", activation="lrelu"
    )
    out = np.asarray(block(x))
    y = numpy_ops.instance_norm(numpy_ops.conv2d(x, *_torch_weights(block.conv), 2, 1, "reflect"))
    np.testing.assert_allclose(out, np.where(y > 0, y, 0.2 * y), atol=1e-4)


def test_residual_block_matches_numpy():
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    block, out = run_layer_test(ResidualBlock, {}, x, expected_output_shape=x.shape)
    h = np.maximum(
        numpy_ops.instance_norm(
            numpy_ops.conv2d(x, *_torch_weights(block.conv_0.conv), 1, 1, "reflect")
        ),
        0,
    )
    h = numpy_ops.instance_norm(
        numpy_ops.conv2d(h, *_torch_weights(block.conv_1.conv), 1, 1, "reflect")
    )
    np.testing.assert_allclose(out, x + h, atol=1e-4)


def test_residual_block_adain_splits_parameters_in_module_order():
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    params = rng.normal(size=(2, 16)).astype("float32")
    block, out = run_layer_test(
        ResidualBlock, {"norm": "adain"}, [x, params], expected_output_shape=x.shape
    )

    def adain(y, p):
        bias, scale = np.split(p, 2, axis=-1)
        return numpy_ops.instance_norm(y) * scale[:, None, None] + bias[:, None, None]

    h = np.maximum(
        adain(
            numpy_ops.conv2d(x, *_torch_weights(block.conv_0.conv), 1, 1, "reflect"), params[:, :8]
        ),
        0,
    )
    h = adain(
        numpy_ops.conv2d(h, *_torch_weights(block.conv_1.conv), 1, 1, "reflect"), params[:, 8:]
    )
    np.testing.assert_allclose(out, x + h, atol=1e-4)
