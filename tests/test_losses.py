import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i import losses

rng = np.random.default_rng(5)


def _outputs(scales=((2, 9, 9), (2, 5, 5)), channels=(4, 8), dtype="float32"):
    """A fake multi-scale discriminator output: per scale, features then a 1-channel prediction."""
    return [
        [rng.normal(size=(*shape, c)).astype(dtype) for c in channels]
        + [rng.normal(size=(*shape, 1)).astype(dtype)]
        for shape in scales
    ]


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


@pytest.mark.parametrize(
    "gan_mode, real_term, fake_term, generator_term",
    [
        (
            "lsgan",
            lambda p: ((p - 1) ** 2).mean(),
            lambda p: (p**2).mean(),
            lambda p: ((p - 1) ** 2).mean(),
        ),
        (
            "hinge",
            lambda p: np.maximum(1 - p, 0).mean(),
            lambda p: np.maximum(1 + p, 0).mean(),
            lambda p: -p.mean(),
        ),
        (
            "nsgan",
            lambda p: _softplus(-p).mean(),
            lambda p: _softplus(p).mean(),
            lambda p: _softplus(-p).mean(),
        ),
    ],
)
@pytest.mark.parametrize("scale_reduction", ["mean", "sum"])
def test_adversarial_losses(gan_mode, real_term, fake_term, generator_term, scale_reduction):
    real, fake = _outputs(), _outputs(dtype="float16")
    reduce = np.mean if scale_reduction == "mean" else np.sum
    real_loss, fake_loss = losses.discriminator_adversarial_loss(
        real, fake, gan_mode, scale_reduction
    )
    generator_loss = losses.generator_adversarial_loss(fake, gan_mode, scale_reduction)
    fake32 = [np.float32(f[-1]) for f in fake]
    np.testing.assert_allclose(real_loss, reduce([real_term(r[-1]) for r in real]), rtol=1e-5)
    np.testing.assert_allclose(fake_loss, reduce([fake_term(f) for f in fake32]), rtol=1e-5)
    np.testing.assert_allclose(
        generator_loss, reduce([generator_term(f) for f in fake32]), rtol=1e-5
    )
    assert generator_loss.dtype == "float32"


def test_adversarial_loss_accepts_per_scale_predictions():
    predictions = [rng.normal(size=(2, 4, 4, 1)).astype("float32") for _ in range(2)]
    expected = sum(((p - 1) ** 2).mean() for p in predictions)
    np.testing.assert_allclose(
        losses.generator_adversarial_loss(predictions, "lsgan", "sum"), expected, rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.generator_adversarial_loss(predictions[0], "lsgan"),
        ((predictions[0] - 1) ** 2).mean(),
        rtol=1e-6,
    )


@pytest.mark.parametrize("weighting", ["spade", "pix2pixhd"])
def test_feature_matching_loss(weighting):
    real, fake = _outputs(), _outputs()
    expected = 0.0
    for r, f in zip(real, fake):
        weight = 1 / len(fake) * (4 / (len(f) - 1) if weighting == "pix2pixhd" else 1)
        expected += sum(weight * np.abs(a - b).mean() for a, b in zip(r[:-1], f[:-1]))
    np.testing.assert_allclose(
        losses.feature_matching_loss(real, fake, weighting), expected, rtol=1e-5
    )


def test_feature_matching_takes_real_features_as_constants():
    real = [[tf.constant(x) for x in scale] for scale in _outputs()]
    fake = [[tf.constant(x) for x in scale] for scale in _outputs()]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(real + fake)
        loss = losses.feature_matching_loss(real, fake)
    assert tape.gradient(loss, real[0][0]) is None
    assert tape.gradient(loss, fake[0][0]) is not None


def test_kl_divergence_sums_over_batch_and_dimensions():
    mu, logvar = rng.normal(size=(3, 16)).astype("float32"), rng.normal(size=(3, 16)).astype(
        "float32"
    )
    expected = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))
    np.testing.assert_allclose(losses.kl_divergence_loss(mu, logvar), expected, rtol=1e-5)


def test_latent_regression_and_mode_seeking():
    z1, z2 = rng.normal(size=(2, 8)).astype("float32"), rng.normal(size=(2, 8)).astype("float32")
    g1, g2 = rng.normal(size=(2, 8, 8, 3)).astype("float32"), rng.normal(size=(2, 8, 8, 3)).astype(
        "float32"
    )
    np.testing.assert_allclose(
        losses.latent_regression_loss(z1, z2), np.abs(z2 - z1).mean(), rtol=1e-6
    )
    ratio = np.abs(g2 - g1).mean() / np.abs(z2 - z1).mean()
    np.testing.assert_allclose(
        losses.mode_seeking_loss(g1, g2, z1, z2), 1 / (ratio + 1e-5), rtol=1e-5
    )


@pytest.fixture(scope="module")
def vgg_loss():
    return losses.VGGPerceptualLoss(weights=None)


def test_vgg_loss_weights_l1_distances_of_relu_x_1(vgg_loss):
    real = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    fake = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    inputs = keras.applications.vgg19.preprocess_input((np.concatenate([fake, real]) + 1) * 127.5)
    features = [np.asarray(f) for f in vgg_loss.vgg(inputs)]
    assert [f.shape[1] for f in features] == [32, 16, 8, 4, 2]
    expected = sum(
        w * np.abs(f[:2] - f[2:]).mean()
        for w, f in zip([1 / 32, 1 / 16, 1 / 8, 1 / 4, 1], features)
    )
    np.testing.assert_allclose(vgg_loss(real, fake), expected, rtol=1e-4)
    np.testing.assert_allclose(vgg_loss(real, real), 0.0, atol=1e-6)


@pytest.mark.parametrize("network", ["vgg19", "vgg16"])
def test_vgg_loss_offline_says_how_to_proceed(network, tmp_path, monkeypatch):
    """Without network and cache, one line names the file, the cache and the ways out."""
    from keras.src.utils import file_utils

    def offline(fname, origin, **kwargs):  # what `get_file` raises when the fetch fails
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service "
                        "not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError) as raised:
        losses.VGGPerceptualLoss(weights="imagenet", network=network)
    message = str(raised.value)
    expected = [f"{network}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                f"not in {tmp_path / 'models'} ", "Name or service not known", "vgg_weights",
                "--vgg-weights PATH", "lambda_vgg=0", "vgg_weight=0", "--lambda-vgg 0"]
    assert [words for words in expected if words not in message] == []
    assert "\n" not in message and raised.value.__suppress_context__


def test_vgg_loss_names_a_missing_weights_file(tmp_path):
    missing = tmp_path / "vgg19_notop.h5"
    with pytest.raises(ValueError, match=f"VGG weights file {missing} does not exist") as raised:
        losses.VGGPerceptualLoss(weights=str(missing))
    assert "\n" not in str(raised.value)


def test_vgg_preprocessing_options():
    images = np.array([[[[-1.0, 0.0, 1.0]]]], "float32")
    np.testing.assert_allclose(
        losses.vgg_preprocess(images),
        keras.applications.vgg19.preprocess_input((images + 1) * 127.5),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.vgg_preprocess(images, "torch"),
        [[[[-0.485 / 0.229, (0.5 - 0.456) / 0.224, 0.594 / 0.225]]]],
        rtol=1e-5,
    )
    np.testing.assert_array_equal(losses.vgg_preprocess(images, "none"), images)


def test_vgg_loss_runs_in_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    loss = losses.VGGPerceptualLoss(weights=None)
    assert keras.config.dtype_policy().name == "mixed_float16"
    assert all(layer.dtype_policy.name == "float32" for layer in loss.vgg.layers)
    real = tf.constant(rng.uniform(-1, 1, size=(1, 16, 16, 3)), "float16")
    value = tf.function(lambda r, f: loss(r, f), jit_compile=True)(real, real * 0.5)
    assert value.dtype == "float32" and np.isfinite(value)


def test_munit_vgg16_loss_compares_instance_normalized_relu5_3_without_the_fourth_pool():
    loss = losses.VGGPerceptualLoss(
        weights=None,
        network="vgg16",
        layers=("block5_conv3",),
        layer_weights=(1.0,),
        distance="mse",
        instance_normalize=True,
        skip_layers=("block4_pool",),
    )
    real = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    fake = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    inputs = keras.applications.vgg16.preprocess_input((np.concatenate([fake, real]) + 1) * 127.5)
    x = inputs
    for layer in loss.vgg.layers[1:]:
        x = layer(x)
    features = np.asarray(x)
    assert features.shape == (4, 4, 4, 512)  # 32 / 8: pools after relu1_2, relu2_2, relu3_3 only
    mean = features.mean(axis=(1, 2), keepdims=True)
    normalized = (features - mean) / np.sqrt(features.var(axis=(1, 2), keepdims=True) + 1e-5)
    expected = ((normalized[:2] - normalized[2:]) ** 2).mean()
    np.testing.assert_allclose(loss(real, fake), expected, rtol=1e-4)
    np.testing.assert_allclose(loss(real, real), 0.0, atol=1e-6)


def test_vgg_loss_names_unknown_layers_and_options():
    with pytest.raises(ValueError, match=r"vgg16 has no layers \['block5_conv4'\]"):
        losses.VGGPerceptualLoss(weights=None, network="vgg16", layers=("block5_conv4",),
                                 layer_weights=(1.0,))
    with pytest.raises(ValueError, match="distance must be one of"):
        losses.VGGPerceptualLoss(weights=None, distance="l2")
    with pytest.raises(ValueError, match="one weight per layer: 5 layers, 1 weights"):
        losses.VGGPerceptualLoss(weights=None, layer_weights=(1.0,))
