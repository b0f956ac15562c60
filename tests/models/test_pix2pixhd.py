"""pix2pixHD: the reference vector through the converter, the networks' contracts, the model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.convert import pix2pixhd as convert
from keras_i2i.losses import feature_matching_loss
from keras_i2i.models.pix2pixhd import (
    CoarseToFineGenerator,
    FeatureEncoder,
    GlobalGenerator,
    LocalEnhancer,
    Pix2PixHD,
)
from tests.testing import run_layer_test, run_model_saving_test

TOLERANCE = 1e-4
REFERENCE = "pix2pixhd_small_local.npz"
# The configuration of the reference vector (its config_json).
REFERENCE_CONFIG = dict(
    label_nc=6,
    instance_feat=True,
    feat_num=3,
    nef=4,
    n_downsample_E=2,
    ngf=8,
    n_downsample_global=3,
    n_blocks_global=2,
    n_local_enhancers=1,
    n_blocks_local=1,
    ndf=8,
    n_layers_D=3,
    num_D=2,
    lambda_vgg=0.0,
)
# A tiny model for everything else: G1 at ngf 8 under one enhancer (ngf 4), 16 x 16 inputs.
TINY = dict(
    label_nc=3,
    instance_feat=True,
    feat_num=2,
    nef=4,
    n_downsample_E=1,
    ngf=4,
    n_downsample_global=2,
    n_blocks_global=1,
    n_local_enhancers=1,
    n_blocks_local=1,
    ndf=4,
    n_layers_D=2,
    num_D=2,
    lambda_vgg=0.0,
)


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _reference_model(ref):
    model = Pix2PixHD(**REFERENCE_CONFIG)
    convert.load_generator(model.generator, ref, prefix="generator/")
    convert.load_encoder(model.encoder, ref, prefix="encoder/")
    convert.load_discriminator(model.discriminator, ref, prefix="discriminator/")
    inputs = {
        "label": _nhwc(ref["input/label"]),
        "instance": _nhwc(ref["input/instance"]),
        "image": _nhwc(ref["input/real_image"]),
    }
    return model, inputs


def _max_difference(actual, expected):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    return float(np.max(np.abs(actual - expected)))


def test_reference_local_enhancer_encoder_and_discriminator(reference):
    ref = reference(REFERENCE)
    model, inputs = _reference_model(ref)
    features = model.encode_features(inputs["image"], inputs["instance"])
    assert _max_difference(features, _nhwc(ref["output/instance_features"])) <= TOLERANCE
    generator_input = _nhwc(ref["input/generator_input"])
    condition = model.encode_input(inputs)
    np.testing.assert_array_equal(condition, generator_input[..., :7])
    # The stored generator input is exactly what the model builds: labels, edges, features.
    assert _max_difference(
        np.concatenate([condition, features], -1), generator_input
    ) <= TOLERANCE
    image = _nhwc(ref["output/image"])
    assert _max_difference(model.generator(generator_input), image) <= TOLERANCE
    assert _max_difference(model(inputs), image) <= TOLERANCE
    outputs = model.discriminator(np.concatenate([condition, image], -1))
    compared = 0
    for k, scale in enumerate(outputs):
        for i, feature in enumerate(scale):
            key = f"output/discriminator/{k}/{i}"
            assert _max_difference(feature, _nhwc(ref[key])) <= TOLERANCE, key
            compared += 1
    assert compared == sum(key.startswith("output/discriminator/") for key in ref)


def test_reference_state_dict_mismatches_are_listed(reference):
    ref = reference(REFERENCE)
    wider = CoarseToFineGenerator(ngf=8, n_downsample_global=3, n_blocks_global=3,
                                  n_local_enhancers=1, n_blocks_local=1)
    with pytest.raises(ValueError) as error:
        convert.load_generator(wider, ref, prefix="generator/")
    message = str(error.value)
    assert "missing keys (10):\n  model.15.conv_block.1.weight (for " in message
    assert "global_generator/residual_block_2/conv_0/conv/kernel" in message
    assert "unexpected keys (6):\n  model.15.bias" in message
    narrower = CoarseToFineGenerator(ngf=4, n_downsample_global=3, n_blocks_global=2,
                                     n_local_enhancers=1, n_blocks_local=1)
    with pytest.raises(ValueError, match=r"shape mismatches \(33\):\n  model.1.weight: found "
                       r"shape \(16, 10, 7, 7\), \(7, 7, 10, 16\) once converted; expected "
                       r"\(7, 7, 10, 8\)"):
        convert.load_generator(narrower, ref, prefix="generator/")
    with pytest.raises(ValueError, match=r"missing keys \(2\):\n  model.11.weight"):
        convert.load_encoder(FeatureEncoder(feat_num=3, nef=4, n_downsampling=1), ref,
                             prefix="encoder/")


def test_convert_checkpoint_reads_the_reference_files(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference(REFERENCE)
    for network, name in (("generator", "G"), ("discriminator", "D"), ("encoder", "E")):
        state = {key.split("/", 1)[1]: torch.from_numpy(value) for key, value in ref.items()
                 if key.startswith(f"{network}/")}
        torch.save(state, tmp_path / f"latest_net_{name}.pth")
    model = convert.convert_checkpoint(tmp_path, tmp_path / "preset", "synthetic",
                                       **REFERENCE_CONFIG)
    expected, inputs = _reference_model(ref)
    np.testing.assert_allclose(model(inputs), expected(inputs), atol=1e-6)
    restored = Pix2PixHD.from_preset(tmp_path / "preset")
    np.testing.assert_allclose(restored(inputs), expected(inputs), atol=1e-6)
    with pytest.raises(ValueError, match="needs the preset of its architecture"):
        convert.convert_checkpoint(tmp_path, None, None)
    (tmp_path / "latest_net_E.pth").unlink()
    with pytest.raises(FileNotFoundError, match="no latest_net_E.pth, which a model with"):
        convert.convert_checkpoint(tmp_path / "latest_net_G.pth", None, "synthetic",
                                   **REFERENCE_CONFIG)


def _labels(size=16, batch=2, seed=0):
    """Random blocky label and instance maps and images: a dict like the data loaders'."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 3, (batch, size // 4, size // 4, 1))
    label = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2).astype("int32")
    instance = (label * 1000 + (np.arange(size)[None, None, :, None] >= size // 2)).astype("int32")
    image = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    return {"label": label, "instance": instance, "image": image}


def test_global_generator_contract():
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 5)).astype("float32")
    init = dict(ngf=4, n_downsampling=2, n_blocks=1, output_nc=3)
    generator, outputs = run_layer_test(
        GlobalGenerator, init, x, expected_output_shape=(2, 16, 16, 3)
    )
    assert np.abs(outputs).max() <= 1.0
    # front-end 3 convs, 1 block of 2 convs, back-end 2 transposed + output: kernel and bias each
    assert len(generator.trainable_weights) == 2 * (3 + 2 + 3)
    features = GlobalGenerator(**init, include_output=False)
    assert features(x).shape == (2, 16, 16, 4)


def test_local_enhancer_contract():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 16, 16, 5)).astype("float32")
    coarser = rng.normal(size=(2, 8, 8, 8)).astype("float32")
    run_layer_test(LocalEnhancer, dict(ngf=4, n_blocks=1), [x, coarser],
                   expected_output_shape=(2, 16, 16, 3))


def test_coarse_to_fine_generator_contract(tmp_path):
    x = np.random.default_rng(2).normal(size=(1, 32, 32, 5)).astype("float32")
    init = dict(ngf=2, n_downsample_global=2, n_blocks_global=1, n_local_enhancers=2,
                n_blocks_local=1)
    generator, _ = run_layer_test(CoarseToFineGenerator, init, x,
                                  expected_output_shape=(1, 32, 32, 3))
    assert generator.size_multiple == 16
    assert [e.ngf for e in generator.local_enhancers] == [4, 2]
    assert generator.global_generator.ngf == 8 and not generator.global_generator.include_output
    run_model_saving_test(generator, x, tmp_path)


def test_feature_encoder_pools_per_instance():
    data = _labels()
    encoder, features = run_layer_test(
        FeatureEncoder, dict(feat_num=2, nef=4, n_downsampling=1),
        [data["image"], data["instance"]], expected_output_shape=(2, 16, 16, 2),
        run_mixed_precision_check=False)
    for b in range(2):
        for instance_id in np.unique(data["instance"][b]):
            pixels = features[b][data["instance"][b, ..., 0] == instance_id]
            np.testing.assert_allclose(pixels, np.broadcast_to(pixels[0], pixels.shape), atol=1e-6)


def test_inputs_of_a_wrong_size_are_refused_or_padded():
    generator = CoarseToFineGenerator(ngf=2, n_downsample_global=2, n_blocks_global=1,
                                      n_local_enhancers=1, n_blocks_local=1)
    with pytest.raises(ValueError, match="multiples of 8 .* got 12x16"):
        generator(np.zeros((1, 12, 16, 4), "float32"))
    data = {key: value[:, :12, :10] for key, value in _labels().items()}
    with pytest.raises(ValueError, match=r"multiples of 8, got 12x10; .*pad_inputs=True"):
        Pix2PixHD(**TINY)(data)
    padded = Pix2PixHD(**TINY, pad_inputs=True)
    assert padded(data).shape == (2, 12, 10, 3)
    assert np.isfinite(padded.compute_losses(data)["generator"])
    # With unknown sizes (as served) the padding and the check happen in the graph.
    dynamic = {key: tf.TensorSpec([None, None, None, value.shape[-1]], value.dtype)
               for key, value in data.items()}
    traced = tf.function(lambda x: padded(x), input_signature=[dynamic])
    np.testing.assert_allclose(traced(data), padded(data), atol=1e-5)
    refusing = Pix2PixHD(**TINY)
    traced = tf.function(lambda x: refusing(x), input_signature=[dynamic])
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be multiples of 8"):
        traced(data)


def test_model_inputs_rgb_mode_and_config():
    model = Pix2PixHD(**{**TINY, "label_nc": 0, "use_instance": False, "instance_feat": False})
    assert model.condition_channels == 3
    x = np.random.default_rng(3).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    assert model({"input": x}).shape == (2, 16, 16, 3)
    config = model.get_config()
    assert Pix2PixHD.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="instance_feat=True needs label maps"):
        Pix2PixHD(**{**TINY, "use_instance": False})
    with pytest.raises(ValueError, match="gan_mode must be one of"):
        Pix2PixHD(**TINY, gan_mode="hinge")
    with pytest.raises(ValueError, match="No clusters for these label maps: cluster the training"):
        Pix2PixHD(**TINY)({key: value for key, value in _labels().items() if key != "image"})


def test_losses_are_the_reference_losses():
    """`compute_losses` and the two-tape step against the reference's three discriminator
    passes: D(fake.detach()), D(real), D(fake), each loss written out."""
    model = Pix2PixHD(**TINY)
    data = _labels()
    with tf.GradientTape(persistent=True) as tape:
        losses = model.compute_losses(data)
        condition = model.encode_input(data)
        features = model.encoder([data["image"], data["instance"]])
        fake = model.generator(tf.concat([condition, features], -1))
        d_fake = model.discriminator(tf.concat([condition, tf.stop_gradient(fake)], -1))
        d_real = model.discriminator(tf.concat([condition, data["image"]], -1))
        g_fake = model.discriminator(tf.concat([condition, fake], -1))
        expected = {
            "g_gan": sum(tf.reduce_mean((scale[-1] - 1) ** 2) for scale in g_fake),
            "d_real": sum(tf.reduce_mean((scale[-1] - 1) ** 2) for scale in d_real),
            "d_fake": sum(tf.reduce_mean(scale[-1] ** 2) for scale in d_fake),
        }
        # weights 1 / num_D * 4 / (n_layers_D + 1), times lambda_feat 10
        expected["g_feat"] = 10 * sum(
            1 / 2 * 4 / 3 * tf.reduce_mean(tf.abs(f - tf.stop_gradient(r)))
            for fs, rs in zip(g_fake, d_real) for f, r in zip(fs[:-1], rs[:-1]))
        g_total = expected["g_gan"] + expected["g_feat"]
        d_total = 0.5 * (expected["d_real"] + expected["d_fake"])
    for name, value in expected.items():
        np.testing.assert_allclose(losses[name], value, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(
        feature_matching_loss(d_real, g_fake, "pix2pixhd") * 10, expected["g_feat"], rtol=1e-5)
    groups = model.optimizer_groups()
    for group, ours, theirs in (("generator", losses["generator"], g_total),
                                ("discriminator", losses["discriminator"], d_total)):
        expected_gradients = tape.gradient(theirs, groups[group])
        # Biases before an instance norm have zero gradient up to float noise: compare every
        # gradient to the group's scale.
        scale = max(float(np.abs(g).max()) for g in expected_gradients)
        for a, b in zip(tape.gradient(ours, groups[group]), expected_gradients):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale, err_msg=group)


def test_vgg_loss_is_built_only_when_weighted():
    assert Pix2PixHD(**TINY).vgg_loss is None
    model = Pix2PixHD(**{**TINY, "lambda_vgg": 2.0, "vgg_weights": None})
    assert model.loss_names() == ["g_gan", "g_feat", "g_vgg", "d_real", "d_fake"]
    data = _labels(size=32)
    losses = model.compute_losses(data)
    np.testing.assert_allclose(
        losses["g_vgg"], 2.0 * model.vgg_loss(data["image"], model(data)), rtol=1e-5)
    np.testing.assert_allclose(
        losses["generator"], losses["g_gan"] + losses["g_feat"] + losses["g_vgg"], rtol=1e-6)


def test_fit_trains_every_network_and_logs_the_losses():
    model = Pix2PixHD(**TINY)
    model.compile(jit_compile=False)
    networks = (model.generator, model.discriminator, model.encoder)
    assert len(model.trainable_variables) == sum(len(n.trainable_variables) for n in networks)
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(tf.data.Dataset.from_tensors(_labels()), epochs=1, verbose=0)
    assert set(history.history) == set(model.loss_names())
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert all(not np.allclose(b, v.numpy()) for b, v in zip(before, model.trainable_variables))


def test_compile_defaults_to_xla():
    model = Pix2PixHD(**TINY)
    model.compile()
    assert model.jit_compile is True
    model.compile(jit_compile=False)
    assert model.jit_compile is False


def test_xla_inference_looks_up_the_one_hot_labels(monkeypatch, tmp_path):
    """Compiled with XLA, inference convolves the finest level's one-hot labels by lookup
    (`one_hot_conv`): the same images. Eager calls and the served graph convolve them."""
    from keras_i2i.layers import conv_routes as conv_module

    model = Pix2PixHD(**TINY)
    inputs = _labels()
    expected = model(inputs)
    generator = model.generator
    assert generator.local_enhancers[-1].front_end[0].conv.one_hot_channels == TINY["label_nc"]
    assert generator.global_generator.front_end[0].conv.one_hot_channels == 0
    calls = []
    original = conv_module.one_hot_conv
    monkeypatch.setattr(conv_module, "one_hot_conv", lambda *a: calls.append(a) or original(*a))
    model.compile()
    model(inputs)
    model.export(tmp_path / "served", verbose=False)
    assert not calls, "looked up eagerly or in the served graph"
    got = tf.function(lambda x: model(x), jit_compile=True)(inputs)
    assert calls
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mixed_precision_step():
    """One eager training step under mixed_float16: float16 networks, float32 weights and
    losses, loss-scaled optimizers."""
    keras.config.set_dtype_policy("mixed_float16")
    model = Pix2PixHD(**TINY)
    model.compile()
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer)
               for o in model.optimizers.values())
    assert model.generator.global_generator.front_end[0].conv.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    logs = model.train_step(_labels())
    assert all(np.isfinite(float(value)) for value in logs.values())
    assert model(_labels()).dtype == "float32"


@pytest.mark.parametrize(
    "policy", ["float32", pytest.param("mixed_float16", marks=pytest.mark.slow)]
)
def test_fit_with_xla(policy):
    keras.config.set_dtype_policy(policy)
    model = Pix2PixHD(**TINY)
    model.compile(jit_compile=True)
    history = model.fit(tf.data.Dataset.from_tensors(_labels()).repeat(5), epochs=2, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    generator, discriminator = model.optimizers["generator"], model.optimizers["discriminator"]
    assert int(discriminator.iterations.numpy()) == 10
    if policy == "float32":
        assert int(generator.iterations.numpy()) == 10
    else:  # the generator's first steps overflow in float16 until the loss scale is low enough
        assert 0 < int(generator.iterations.numpy()) < 10
        assert float(generator.dynamic_scale.numpy()) < 2.0**15


def test_keras_file_round_trip_keeps_the_clusters(tmp_path):
    model = Pix2PixHD(**TINY)
    data = _labels()
    model.cluster_centers.assign(np.random.default_rng(4).normal(size=(3, 10, 2)))
    model.cluster_counts.assign([10, 3, 0])
    restored = run_model_saving_test(model, data, tmp_path)
    np.testing.assert_array_equal(restored.cluster_counts.numpy(), [10, 3, 0])
    np.testing.assert_array_equal(restored.cluster_centers.numpy(), model.cluster_centers.numpy())


def test_presets():
    assert set(Pix2PixHD.presets()) == {
        "label2city_512p", "label2city_512p_feat", "label2city_1024p", "label2city_1024p_feat",
        "rgb_512p", "synthetic_global", "synthetic"}
    model = Pix2PixHD.from_preset("synthetic")
    assert model.generator.global_generator.ngf == Pix2PixHD.from_preset("synthetic_global").ngf
    assert model.size_multiple == 16 and model.discriminator.num_D == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["label2city_512p", "label2city_1024p_feat", "rgb_512p"])
def test_reference_presets_build(name):
    model = Pix2PixHD.from_preset(name, vgg_weights=None)
    assert model.generator.global_generator.ngf == 64
    assert model.generator.global_generator.n_downsampling == 4
    assert len(model.generator.global_generator.residual_blocks) == 9
    condition = 3 if name == "rgb_512p" else 36
    assert model.generator.global_generator.front_end[0].conv.kernel.shape[2] == (
        condition + 3 * model.instance_feat)
