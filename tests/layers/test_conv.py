import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.convert.common import conv_kernel, conv_transpose_kernel, spectral_v
from keras_i2i.layers import Conv2D, Conv2DTranspose, ReflectionPadding2D, pad2d
from keras_i2i.layers.conv_routes import one_hot_conv, one_hot_lookup
from keras_i2i.layers.padding import upsample_nearest
from tests.layers import numpy_ops
from tests.testing import run_layer_test, run_on_two_replicas

rng = np.random.default_rng(0)


@pytest.fixture
def routes_on(monkeypatch):
    """The layers take the convolution routes (`conv_routes`), which the tests' unmeasured
    machine would not."""
    monkeypatch.setenv("KERAS_I2I_CONV_ROUTES", "on")


def _loaded_conv(weight, bias, **kwargs):
    layer = Conv2D(weight.shape[0], weight.shape[2], use_bias=bias is not None, **kwargs)
    layer.build((None, None, None, weight.shape[1]))
    layer.kernel.assign(conv_kernel(weight))
    if bias is not None:
        layer.bias.assign(bias)
    return layer


@pytest.mark.parametrize("pad_type", ["zeros", "reflect", "replicate"])
def test_pad2d_matches_numpy(pad_type):
    x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    np.testing.assert_array_equal(pad2d(x, 2, pad_type), numpy_ops.pad(x, 2, pad_type))


@pytest.mark.parametrize(
    "kernel_size, strides, padding, pad_type, dilation_rate, use_bias",
    [
        (4, 2, 2, "zeros", 1, True),  # PatchGAN: symmetric zero padding with stride 2
        (4, 2, 1, "reflect", 1, True),  # MUNIT downsampling
        (3, 1, 1, "replicate", 1, False),
        (3, 1, 2, "zeros", 2, True),
        (7, 1, 3, "reflect", 1, True),
    ],
)
def test_conv2d_matches_pytorch_semantics(
    kernel_size, strides, padding, pad_type, dilation_rate, use_bias
):
    x = rng.normal(size=(2, 11, 10, 5)).astype("float32")
    weight = rng.normal(size=(6, 5, kernel_size, kernel_size)).astype("float32")
    bias = rng.normal(size=(6,)).astype("float32") if use_bias else None
    layer = _loaded_conv(
        weight,
        bias,
        strides=strides,
        padding=padding,
        pad_type=pad_type,
        dilation_rate=dilation_rate,
    )
    expected = numpy_ops.conv2d(x, weight, bias, strides, padding, pad_type, dilation_rate)
    np.testing.assert_allclose(layer(x), expected, atol=1e-4, rtol=1e-4)


def test_spectral_norm_inference_uses_stored_vectors():
    x = rng.normal(size=(2, 9, 9, 4)).astype("float32")
    weight = rng.normal(size=(6, 4, 3, 3)).astype("float32")
    bias = rng.normal(size=(6,)).astype("float32")
    u = numpy_ops.normalize(rng.normal(size=6))
    v = numpy_ops.normalize(rng.normal(size=4 * 9))
    layer = _loaded_conv(weight, bias, padding=1, spectral_norm=True)
    layer.u.assign(u)
    layer.v.assign(spectral_v(v, 3, 4))
    sigma = u @ (weight.reshape(6, -1) @ v)
    expected = numpy_ops.conv2d(x, weight / sigma, bias, padding=1)
    np.testing.assert_allclose(layer(x), expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(layer(x, training=False), expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(layer.u, u, atol=1e-7)


def test_spectral_norm_training_runs_one_power_iteration():
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    weight = rng.normal(size=(5, 3, 4, 4)).astype("float32")
    u = numpy_ops.normalize(rng.normal(size=5))
    v = numpy_ops.normalize(rng.normal(size=3 * 16))
    layer = _loaded_conv(weight, None, strides=2, padding=1, spectral_norm=True)
    layer.u.assign(u)
    layer.v.assign(spectral_v(v, 4, 3))
    w = weight.reshape(5, -1).astype("float64")
    v = numpy_ops.normalize(w.T @ u)
    u = numpy_ops.normalize(w @ v)
    expected = numpy_ops.conv2d(x, weight / (u @ (w @ v)), stride=2, padding=1)
    np.testing.assert_allclose(layer(x, training=True), expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(layer.u, u, atol=1e-5)
    np.testing.assert_allclose(layer.v, spectral_v(v, 4, 3), atol=1e-5)
    assert len(layer.trainable_weights) == 1 and len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize(
    "kernel_size, strides, padding, output_padding",
    [(3, 2, 1, 1), (4, 2, 1, 0), (1, 2, 0, 1), (3, 2, 0, 1), (3, 1, 1, 0), (5, 3, 2, 2),
     (2, 2, 0, 1), (1, 3, 0, 2)],
)
@pytest.mark.parametrize("training", [False, True])  # output phases / transposed convolution
def test_conv2d_transpose_matches_pytorch_semantics(kernel_size, strides, padding, output_padding,
                                                    training, routes_on):
    x = rng.normal(size=(2, 5, 7, 4)).astype("float32")
    weight = rng.normal(size=(4, 6, kernel_size, kernel_size)).astype("float32")
    bias = rng.normal(size=(6,)).astype("float32")
    layer = Conv2DTranspose(
        6, kernel_size, strides=strides, padding=padding, output_padding=output_padding
    )
    layer.build(x.shape)
    layer.kernel.assign(conv_transpose_kernel(weight))
    layer.bias.assign(bias)
    expected = numpy_ops.conv_transpose2d(x, weight, bias, strides, padding, output_padding)
    np.testing.assert_allclose(layer(x, training=training), expected, atol=1e-4, rtol=1e-4)


def test_conv2d_layer_contract():
    x = rng.normal(size=(2, 16, 16, 8)).astype("float32")
    init = dict(
        filters=8, kernel_size=4, strides=2, padding=2, pad_type="reflect", spectral_norm=True
    )
    run_layer_test(
        Conv2D,
        init,
        x,
        expected_output_shape=(2, 9, 9, 8),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    )


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("pad_type", ["zeros", "reflect", "replicate"])
def test_upsampled_conv_is_nearest_upsampling_then_conv(kernel_size, pad_type, routes_on):
    x = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    weight = rng.normal(size=(4, 3, kernel_size, kernel_size)).astype("float32")
    bias = rng.normal(size=(4,)).astype("float32")
    padding = kernel_size // 2
    layer = _loaded_conv(weight, bias, padding=padding, pad_type=pad_type, upsample=2)
    upsampled = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    expected = numpy_ops.conv2d(upsampled, weight, bias, 1, padding, pad_type)
    np.testing.assert_allclose(layer(x), expected, atol=1e-4, rtol=1e-4)
    plain = _loaded_conv(weight, bias, padding=padding, pad_type=pad_type)
    x = tf.constant(x)
    weights = tf.constant(rng.normal(size=(2, 10, 12, 4)), "float32")
    grads = []
    for conv, inputs in ((layer, lambda: x), (plain, lambda: upsample_nearest(x))):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(conv(inputs()) * weights)
        grads.append(tape.gradient(loss, [x, conv.kernel, conv.bias]))
    for upsampled_grad, plain_grad in zip(*grads):
        np.testing.assert_allclose(upsampled_grad, plain_grad, atol=1e-3, rtol=1e-4)


def test_layers_sharing_an_unseeded_initializer_get_different_weights():
    import keras

    from keras_i2i.models.discriminators import MultiscaleDiscriminator

    shared = keras.initializers.RandomNormal(stddev=0.02)
    first, second = Conv2D(4, 3, kernel_initializer=shared), Conv2D(4, 3, kernel_initializer=shared)
    x = np.zeros((1, 5, 5, 2), "float32")
    first(x), second(x)
    assert not np.array_equal(first.kernel.numpy(), second.kernel.numpy())
    assert first.get_config()["kernel_initializer"]["config"]["seed"] is None
    seeded = keras.initializers.RandomNormal(stddev=0.02, seed=3)
    again = Conv2D(4, 3, kernel_initializer=seeded), Conv2D(4, 3, kernel_initializer=seeded)
    for layer in again:
        layer(x)
    np.testing.assert_array_equal(again[0].kernel.numpy(), again[1].kernel.numpy())
    discriminator = MultiscaleDiscriminator(num_D=2, n_layers=2, ndf=4, norm="instance")
    discriminator.build((None, 16, 16, 3))
    scale_0, scale_1 = (blocks[1].conv.kernel.numpy() for blocks in discriminator.scales)
    assert not np.array_equal(scale_0, scale_1)


def _record_calls(monkeypatch, module, name):
    """Replaces `module.name` by a wrapper that records its calls; returns the record."""
    calls, function = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args: calls.append(args) or function(*args))
    return calls


@pytest.mark.parametrize("kernel_size, pad_type", [(3, "reflect"), (4, "zeros"), (1, "zeros")])
@pytest.mark.parametrize("jit", [False, True])
def test_matmul_gradients_equal_the_convolution_gradients(monkeypatch, kernel_size, pad_type,
                                                           jit, routes_on):
    """Stride-1 convolutions of small static inputs take their gradients as matrix products
    (`conv_with_matmul_gradients`); the values are those of the plain convolution's."""
    from keras_i2i.layers import conv_routes as conv_module

    x = tf.constant(rng.normal(size=(2, 7, 9, 5)), "float32")
    layer = Conv2D(6, kernel_size, padding=kernel_size // 2, pad_type=pad_type)
    layer(x)
    weights = tf.constant(rng.normal(size=layer.compute_output_shape(x.shape)), "float32")

    @tf.function(jit_compile=jit)
    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) ** 2 * weights)
        return tape.gradient(loss, [x, layer.kernel, layer.bias])

    calls = _record_calls(monkeypatch, conv_module, "conv_with_matmul_gradients")
    fast = gradients(x)
    assert calls, "the small convolution did not take the matrix-product gradients"
    monkeypatch.setattr(conv_module, "MATMUL_GRADIENT_MAX_ELEMENTS", 0)
    gradients = tf.function(gradients.python_function, jit_compile=jit)
    for got, expected in zip(fast, gradients(x)):
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)


def _check_fast_path(monkeypatch, layer, x, name, plain, jit):
    """`layer(x)` runs `keras_i2i.layers.conv_routes.<name>` and gives the values and the gradients
    (input and kernel) of `plain(x) + bias`."""
    from keras_i2i.layers import conv_routes as conv_module

    layer(x)

    def outputs_and_gradients(x, convolve):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = convolve(x)
            loss = tf.reduce_sum(y**2)
        return [y, *tape.gradient(loss, [x, layer.kernel])]

    calls = _record_calls(monkeypatch, conv_module, name)
    got = tf.function(lambda x: outputs_and_gradients(x, layer), jit_compile=jit)(x)
    assert calls, f"{name} did not run"
    expected = outputs_and_gradients(x, lambda x: plain(x) + layer.bias)
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("size", [(8, 10), (9, 11)])
@pytest.mark.parametrize("jit", [False, True])
def test_stride_2_even_kernels_run_as_block_convolutions(monkeypatch, size, jit, routes_on):
    """A 4 x 4 stride-2 convolution of a static input runs as a stride-1 convolution of its
    2 x 2 blocks (`space_to_depth_conv`): the values and gradients of the plain one."""
    x = tf.constant(rng.normal(size=(2, *size, 5)), "float32")
    layer = Conv2D(6, 4, strides=2, padding=1)
    _check_fast_path(monkeypatch, layer, x, "space_to_depth_conv",
                     lambda x: tf.nn.conv2d(pad2d(x, 1), layer.kernel, 2, "VALID"), jit)


def test_upsampled_conv_layer_contract():
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    init = dict(filters=6, kernel_size=5, padding=2, pad_type="reflect", upsample=2)
    run_layer_test(Conv2D, init, x, expected_output_shape=(2, 16, 16, 6))
    with pytest.raises(ValueError, match="upsample=2 needs strides=1"):
        Conv2D(4, 4, strides=2, padding=1, upsample=2)
    with pytest.raises(ValueError, match="upsample must be 1 or 2"):
        Conv2D(4, 3, upsample=3)


def test_conv2d_transpose_layer_contract():
    x = rng.normal(size=(2, 8, 8, 8)).astype("float32")
    init = dict(filters=8, kernel_size=3, strides=2, padding=1, output_padding=1)
    run_layer_test(Conv2DTranspose, init, x, expected_output_shape=(2, 16, 16, 8))


def test_reflection_padding_layer_contract():
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    _, out = run_layer_test(
        ReflectionPadding2D, {"padding": 3}, x, expected_output_shape=(2, 14, 14, 3)
    )
    np.testing.assert_array_equal(out, numpy_ops.pad(x, 3, "reflect"))


def test_spectral_norm_power_iteration_under_a_strategy_with_xla():
    x = rng.normal(size=(4, 6, 6, 3)).astype("float32")
    layer = Conv2D(4, 3, padding=1, spectral_norm=True)
    run_on_two_replicas(layer, x, jit_compile=True)
    w = np.reshape(np.asarray(layer.kernel), (-1, 4)).T
    u = numpy_ops.normalize(w @ np.asarray(layer.v))
    np.testing.assert_allclose(layer.u, u, atol=1e-5)


@pytest.mark.parametrize("pad_type", ["zeros", "reflect", "replicate"])
def test_one_hot_conv_is_the_convolution_of_the_one_hot_map(pad_type):
    labels = rng.integers(0, 5, (2, 9, 11))
    weight = rng.normal(size=(6, 5, 3, 3)).astype("float32")
    bias = rng.normal(size=(6,)).astype("float32")
    one_hot = np.eye(5, dtype="float32")[labels]
    expected = numpy_ops.conv2d(one_hot, weight, bias, 1, 2, pad_type, 1)
    got = one_hot_conv(labels, conv_kernel(weight), 2, pad_type, bias)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_one_hot_channels_are_looked_up_only_for_inference_in_the_context(monkeypatch, jit):
    from keras_i2i.layers import conv_routes as conv_module

    labels = rng.integers(0, 5, (2, 9, 11))
    x = np.concatenate([np.eye(5)[labels], rng.normal(size=(2, 9, 11, 2))], -1).astype("float32")
    layer = Conv2D(6, 7, padding=3, pad_type="reflect", one_hot_channels=5,
                   bias_initializer="random_normal")
    expected = layer(x)
    calls = _record_calls(monkeypatch, conv_module, "one_hot_conv")
    layer(x)
    assert not calls, "looked up outside one_hot_lookup()"
    with one_hot_lookup():
        np.testing.assert_allclose(layer(x, training=True), expected, atol=1e-5)
        assert not calls, "looked up in training"
        got = tf.function(lambda x: layer(x), jit_compile=jit)(x)
    assert calls
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="one_hot_channels needs strides=1"):
        Conv2D(6, 3, strides=2, one_hot_channels=5)


@pytest.mark.parametrize("jit", [False, True])
def test_few_filters_run_as_one_matrix_product_per_pixel(monkeypatch, jit, routes_on):
    """A convolution to <= 4 filters runs as `tap_matmul_conv`."""
    x = tf.constant(rng.normal(size=(2, 9, 11, 8)), "float32")
    layer = Conv2D(3, 7, padding=3, pad_type="reflect")
    _check_fast_path(monkeypatch, layer, x, "tap_matmul_conv",
                     lambda x: tf.nn.conv2d(pad2d(x, 3, "reflect"), layer.kernel, 1, "VALID"), jit)


@pytest.mark.parametrize("jit", [False, True])
def test_tiny_maps_run_as_one_window_matrix_product(monkeypatch, jit, routes_on):
    """A stride-1 convolution with <= 32 static output pixels runs as `windows_matmul_conv`."""
    x = tf.constant(rng.normal(size=(2, 2, 4, 8)), "float32")
    layer = Conv2D(6, 3, padding=1)
    _check_fast_path(monkeypatch, layer, x, "windows_matmul_conv",
                     lambda x: tf.nn.conv2d(pad2d(x, 1), layer.kernel, 1, "VALID"), jit)


@pytest.fixture
def unmeasured(monkeypatch, tmp_path):
    """`conv_routes` on a machine without a measurement of the routes (a fresh cache) and
    without the switch."""
    from keras_i2i.layers import conv_routes

    monkeypatch.setenv("KERAS_I2I_CACHE", str(tmp_path))
    monkeypatch.delenv(conv_routes.SWITCH, raising=False)
    conv_routes.measured_choice.cache_clear()
    yield conv_routes
    conv_routes.measured_choice.cache_clear()


def test_the_routes_follow_the_switch_else_the_measurement_else_none(monkeypatch, unmeasured):
    """`enabled(training)`: `KERAS_I2I_CONV_ROUTES` when set; else this machine's recorded
    measurement, per phase; else none (an unmeasured machine convolves plainly). A bad switch
    is refused, naming it; `forced` wins over both."""
    conv_routes = unmeasured
    assert not conv_routes.enabled(True) and not conv_routes.enabled(False)
    assert "not measured on this machine" in conv_routes.describe()
    conv_routes.save_choice({"train": True, "infer": False, "measured": "2026-11-29"})
    assert conv_routes.enabled(True) and not conv_routes.enabled(False)
    assert conv_routes.describe() == ("Convolution routes on for training, off for inference "
                                      "(measured by `keras-i2i tune-routes` on 2026-11-29).")
    with conv_routes.forced(False):
        assert not conv_routes.enabled(True)
    for value, expected in (("off", False), ("ON", True)):
        monkeypatch.setenv(conv_routes.SWITCH, value)
        assert conv_routes.enabled(True) is conv_routes.enabled(False) is expected
        assert conv_routes.describe() == (f"Convolution routes {value.lower()} "
                                          f"({conv_routes.SWITCH}).")
    monkeypatch.setenv(conv_routes.SWITCH, "fast")
    with pytest.raises(ValueError, match="KERAS_I2I_CONV_ROUTES must be 'on' or 'off'.*'fast'"):
        conv_routes.enabled()


def test_other_machines_measurements_are_kept_and_a_bad_file_is_named(unmeasured, tmp_path):
    import json

    conv_routes = unmeasured
    path = tmp_path / conv_routes.CHOICES_FILE
    other = {"Other CPU | tensorflow 2.0 | keras 3.0": {"train": False, "infer": True}}
    path.write_text(json.dumps(other))
    conv_routes.measured_choice.cache_clear()
    assert conv_routes.measured_choice() is None
    conv_routes.save_choice({"train": True, "infer": True})
    saved = json.loads(path.read_text())
    assert saved == {**other, conv_routes.machine_key(): {"train": True, "infer": True}}
    assert conv_routes.processor() in conv_routes.machine_key()
    for text, problem in (("{not json", "not JSON"), ('{"x": {"train": 1}}', "entries without true/false")):
        path.write_text(text)
        conv_routes.measured_choice.cache_clear()
        with pytest.raises(ValueError, match=f"{path}: {problem}.*keras-i2i tune-routes"):
            conv_routes.enabled(True)
        with pytest.raises(ValueError, match="delete the file"):
            conv_routes.save_choice({"train": True, "infer": True})
        assert path.read_text() == text  # nothing written over it


def test_training_calls_take_the_training_routes(monkeypatch, unmeasured):
    """With the routes measured faster for training only, a layer's training call takes them
    and its inference call convolves plainly; a transposed convolution takes its phase route
    only at inference, with the inference routes."""
    conv_routes = unmeasured
    x = tf.constant(rng.normal(size=(2, 6, 6, 4)), "float32")
    for train, infer in ((True, False), (False, True)):
        conv_routes.save_choice({"train": train, "infer": infer})
        convolve = _record_calls(monkeypatch, conv_routes, "convolve")
        phases = _record_calls(monkeypatch, conv_routes, "phase_conv_transpose")
        conv, transpose = Conv2D(3, 3, padding=1), Conv2DTranspose(3, 3, 2, 1, 1)
        conv(x, training=True)
        transpose(x, training=True)
        assert (len(convolve), len(phases)) == (int(train), 0)
        conv(x)
        transpose(x)
        assert (len(convolve), len(phases)) == (int(train) + int(infer), int(infer))


@pytest.mark.parametrize("routes", ["on", "off"])
def test_an_input_smaller_than_the_window_is_named(monkeypatch, routes):
    """The plain convolution failed deep in TensorFlow on it, a route returned an empty map."""
    monkeypatch.setenv("KERAS_I2I_CONV_ROUTES", routes)
    with pytest.raises(ValueError, match=r"classifier: a 3x3 window does not fit its 2x1 input "
                                         r"\(padded by 0\): the images are too small"):
        Conv2D(3, 3, name="classifier")(np.zeros((1, 2, 1, 4), "float32"))
    assert Conv2D(3, 3, padding=1)(np.zeros((1, 1, 1, 4), "float32")).shape == (1, 1, 1, 3)
