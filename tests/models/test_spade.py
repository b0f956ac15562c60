"""SPADE: the reference vectors through the converter, the layers, training, inference, export."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.convert.common import load_state_dict
from keras_i2i.convert.spade import convert_checkpoint, load_spade_generator, load_spade_weights
from keras_i2i.data import dataset_settings, synthetic
from keras_i2i.layers import SpatiallyAdaptiveNorm
from keras_i2i.models.spade import SPADE, SPADEGenerator, SPADEResBlock, SPADEStyleEncoder
from keras_i2i.models.spade import presets as spade_presets
from tests.testing import (
    assert_saved_model_cli_rejects,
    assert_signatures_shown,
    run_layer_test,
    run_model_saving_test,
    saved_model_cli_run,
)

rng = np.random.default_rng(4)

REFERENCES = {
    "spade_small_syncbatch.npz": dict(image_size=(64, 128), norm_G="spectralspadesyncbatch3x3"),
    "spade_small_instance_vae.npz": dict(
        image_size=(128, 256), norm_G="spectralspadeinstance3x3", use_vae=True
    ),
}
TINY = dict(label_nc=3, image_size=(32, 32), ngf=4, ndf=4, spade_hidden=8, lambda_vgg=0.0)


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _reference_model(ref, name):
    config = json.loads(str(ref["config_json"]))
    return SPADE(
        label_nc=config["label_nc"],
        contain_dontcare_label=config["contain_dontcare_label"],
        use_instance=not config["no_instance"],
        ngf=config["ngf"],
        ndf=config["ndf"],
        num_upsampling_layers=config["num_upsampling_layers"],
        n_layers_D=config["n_layers_D"],
        num_D=config["num_D"],
        norm_D=config["norm_D"],
        norm_E=config["norm_E"],
        z_dim=config["z_dim"],
        lambda_vgg=0.0,
        **REFERENCES[name],
    )


def _maps(batch=2, size=(32, 32), classes=3):
    label = rng.integers(0, classes, size=(batch, *size, 1)).astype("int32")
    instance = rng.integers(0, 3, size=(batch, *size, 1)).astype("int32")
    return label, instance


def _batches(model, batch=2, count=2):
    size = model.image_size
    label, instance = _maps(batch * count, size, model.num_classes)
    image = rng.uniform(-1, 1, (batch * count, *size, 3)).astype("float32")
    data = {"label": label, "instance": instance, "image": image}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)


# ------------------------------------------------------------------ the reference vectors


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_converted_reference_reproduces_every_output(reference, name):
    ref = reference(name)
    model = _reference_model(ref, name)
    load_spade_weights(
        model,
        load_state_dict(ref, "generator/"),
        load_state_dict(ref, "discriminator/"),
        load_state_dict(ref, "encoder/") if model.use_vae else None,
    )
    label, instance = _nhwc(ref["input/label"]), _nhwc(ref["input/instance"])
    semantics = model.semantics(label, instance)
    np.testing.assert_array_equal(semantics, _nhwc(ref["input/semantics"]))

    inputs = {"label": label, "instance": instance}
    if model.use_vae:
        inputs["z"] = ref["input/z"]
    image = model(inputs)
    np.testing.assert_allclose(image, _nhwc(ref["output/image"]), atol=1e-4, rtol=0)

    pairs = np.concatenate([semantics, _nhwc(ref["output/image"])], axis=-1)
    features = model.discriminator(pairs)
    for k, scale in enumerate(features):
        assert len(scale) == model.n_layers_D + 1
        for i, feature in enumerate(scale):
            expected = _nhwc(ref[f"output/discriminator/{k}/{i}"])
            np.testing.assert_allclose(feature, expected, atol=1e-4, rtol=0, err_msg=f"D {k}/{i}")

    if model.use_vae:
        mu, logvar = model.encode(_nhwc(ref["input/real_image"]))
        np.testing.assert_allclose(mu, ref["output/mu"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(logvar, ref["output/logvar"], atol=1e-4, rtol=0)


def test_converter_names_every_mismatch(reference):
    ref = reference("spade_small_syncbatch.npz")
    generator = SPADEGenerator(ngf=4, num_upsampling_layers="more")
    generator.build((None, None, None, 7))
    state = load_state_dict(ref, "generator/")
    state["extra.weight"] = np.zeros(3, "float32")
    del state["conv_img.bias"]
    with pytest.raises(ValueError) as error:
        load_spade_generator(generator, state)
    message = str(error.value)
    assert "missing keys (1):\n  conv_img.bias" in message
    assert "unexpected keys (1):\n  extra.weight" in message
    assert "head_0.conv_0.weight_orig: found shape (128, 128, 3, 3)" in message


def test_convert_checkpoint_reads_pth_files(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference("spade_small_syncbatch.npz")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    for net, prefix in (("G", "generator/"), ("D", "discriminator/")):
        state = {k: torch.from_numpy(v) for k, v in load_state_dict(ref, prefix).items()}
        torch.save(state, checkpoint / f"latest_net_{net}.pth")
    overrides = dict(label_nc=6, image_size=(64, 128), ngf=8, ndf=8, lambda_vgg=0.0)
    convert_checkpoint(checkpoint / "latest_net_G.pth", tmp_path / "preset", "cityscapes",
                       **overrides)
    model = SPADE.from_preset(tmp_path / "preset")
    assert not model.use_vae and model.num_upsampling_layers == "more"
    image = model.translate(_nhwc(ref["input/label"]), _nhwc(ref["input/instance"]))
    np.testing.assert_allclose(image, _nhwc(ref["output/image"]), atol=1e-4, rtol=0)


# ------------------------------------------------------------------ layers and networks


@pytest.mark.parametrize("filters", [6, 4])
def test_spade_res_block(filters):
    """The layer contract, without spectral norm: before any power iteration its random u, v
    can put sigma near 0 (0.007 seen), and the outputs then grow so large (5000) that the
    static- and dynamic-shape kernels' rounding exceeds the tolerance. Spectral norm has its
    own tests (`Conv2D`) and the reference vectors."""
    x = rng.normal(size=(2, 8, 8, 6)).astype("float32")
    segmap = np.eye(3, dtype="float32")[rng.integers(0, 3, (2, 16, 16))]
    layer, _ = run_layer_test(
        SPADEResBlock,
        {"filters": filters, "norm": "spadeinstance3x3", "hidden_channels": 8},
        [x, segmap],
        expected_output_shape=(2, 8, 8, filters),
    )
    assert layer.learned_shortcut == (filters != 6)
    assert hasattr(layer, "conv_s") == (filters != 6)
    if layer.learned_shortcut:
        assert not layer.conv_s.use_bias and layer.conv_s.kernel_size == 1


def test_spade_res_block_with_batch_statistics_updates_them_in_training():
    block = SPADEResBlock(4, norm="spadesyncbatch3x3", hidden_channels=8)
    x = rng.normal(2.0, 1.0, size=(2, 8, 8, 4)).astype("float32")
    segmap = np.ones((2, 8, 8, 3), "float32")
    block([x, segmap])
    moving = block.norm_0.normalization.moving_mean
    np.testing.assert_array_equal(moving, 0.0)
    block([x, segmap], training=True)
    np.testing.assert_allclose(moving, 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    assert not block.conv_0.spectral_norm


@pytest.mark.slow
def test_generator_layer_checks():
    semantics = np.eye(4, dtype="float32")[rng.integers(0, 4, (1, 32, 64))]
    run_layer_test(
        SPADEGenerator,
        {"ngf": 4, "spade_hidden": 8, "norm": "spadebatch3x3"},
        semantics,
        expected_output_shape=(1, 32, 64, 3),
    )


@pytest.mark.parametrize("mode, size", [("normal", (32, 96)), ("more", (128, 64))])
def test_generator_output_has_the_input_size(mode, size):
    generator = SPADEGenerator(ngf=2, num_upsampling_layers=mode, spade_hidden=4)
    semantics = np.eye(4, dtype="float32")[rng.integers(0, 4, (2, *size))]
    assert generator(semantics).shape == (2, *size, 3)
    assert generator.fc.kernel.shape == (3, 3, 4, 32)


def test_generator_most_and_vae_start_from_z():
    generator = SPADEGenerator(
        ngf=4, num_upsampling_layers="most", spade_hidden=8, use_vae=True, z_dim=16,
        image_size=(128, 256),
    )
    semantics = np.zeros((2, 128, 256, 3), "float32")
    z = rng.normal(size=(2, 16)).astype("float32")
    assert generator([semantics, z]).shape == (2, 128, 256, 3)
    assert generator.latent_size == (1, 2) and generator.up_blocks[-1].filters == 2
    assert generator.fc.kernel.shape == (16, 64 * 2)
    with pytest.raises(ValueError, match=r"image_size \(100, 256\) must be multiples of 128"):
        SPADEGenerator(num_upsampling_layers="most", use_vae=True, image_size=(100, 256))
    with pytest.raises(ValueError, match="norm must look like"):
        SPADEGenerator(norm="spectralinstance")


def test_style_encoder_resizes_to_256_and_returns_float32_codes():
    images = rng.uniform(-1, 1, (2, 32, 48, 3)).astype("float32")
    encoder, (mu, logvar) = run_layer_test(
        SPADEStyleEncoder,
        {"ngf": 2, "z_dim": 8},
        images,
        expected_output_shape=((2, 8), (2, 8)),
        expected_mixed_output_dtype="float32",
        run_dynamic_shape_check=False,
    )
    assert [block.filters for block in encoder.blocks] == [2, 4, 8, 16, 16, 16]
    assert all(not block.use_bias and block.spectral_norm for block in encoder.blocks)
    assert encoder.fc_mu.kernel.shape == (16 * 16, 8)
    assert not np.array_equal(encoder.fc_mu.kernel.numpy(), encoder.fc_var.kernel.numpy())


# ------------------------------------------------------------------ the model


def test_presets_follow_the_dataset_settings():
    names = {"cityscapes": "cityscapes", "ade20k": "ade20k", "coco": "coco_stuff"}
    for preset, dataset in names.items():
        config = spade_presets.SPADE_PRESETS[preset]["config"]
        settings = dataset_settings(dataset)
        assert config["label_nc"] == settings.label_nc
        assert config["contain_dontcare_label"] == settings.contain_dontcare_label
        assert config["use_instance"] == settings.instance
        assert config["image_size"] == (
            round(settings.crop_size / settings.aspect_ratio), settings.crop_size)
    assert spade_presets.SPADE_PRESETS["cityscapes"]["config"]["num_upsampling_layers"] == "more"
    assert set(SPADE.presets()) == {"cityscapes", "ade20k", "coco", "facades", "synthetic"}
    model = SPADE.from_preset("synthetic")
    assert model.semantic_nc == synthetic.NUM_CLASSES + 1 and model.lambda_vgg == 0


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["cityscapes", "ade20k", "coco", "facades"])
def test_reference_presets_build_with_the_reference_widths(preset):
    model = SPADE.from_preset(preset)
    assert model.generator.head_0.conv_0.kernel.shape[-1] == 16 * 64
    assert model.discriminator.scales[0][0].conv.kernel.shape[2] == model.semantic_nc + 3
    assert model.generator.fc.kernel.shape[2] == model.semantic_nc


def test_default_optimizers_are_ttur_adam():
    model = SPADE(**TINY)
    optimizers = model.default_optimizers()
    assert float(optimizers["generator"].learning_rate) == pytest.approx(1e-4)
    assert float(optimizers["discriminator"].learning_rate) == pytest.approx(4e-4)
    assert (optimizers["generator"].beta_1, optimizers["generator"].beta_2) == (0.0, 0.9)
    plain = SPADE(**TINY, ttur=False, beta_1=0.5, beta_2=0.999).default_optimizers()
    assert float(plain["generator"].learning_rate) == float(plain["discriminator"].learning_rate)


def test_fit_trains_every_group_and_logs_every_loss():
    model = SPADE(**TINY, use_vae=True, z_dim=8)
    model.compile(run_eagerly=True)  # tracing the step takes longer than one eager step
    groups = model.optimizer_groups()
    before = {g: [v.numpy().copy() for v in variables] for g, variables in groups.items()}
    u_before = model.generator.head_0.conv_0.u.numpy().copy()
    history = model.fit(_batches(model, count=1), epochs=1, verbose=0)
    expected = {"g_gan", "g_feat", "g_kld", "d_real", "d_fake"}
    assert set(history.history) == expected
    assert all(np.isfinite(values[0]) for values in history.history.values())
    for group, variables in groups.items():
        # With every hinge term active, the prediction layers' biases get +1 from the fake
        # half and -1 from the real half of the batch: a zero gradient.
        trained = [
            not np.allclose(b, v.numpy())
            for b, v in zip(before[group], variables)
            if not v.path.endswith(f"layer{model.n_layers_D}/conv/bias")
        ]
        assert all(trained), f"{group}: {trained.count(False)} variables did not train"
    assert not np.allclose(u_before, model.generator.head_0.conv_0.u.numpy())
    encoder_variables = {id(v) for v in model.style_encoder.trainable_variables}
    assert encoder_variables <= {id(v) for v in groups["generator"]}


def test_training_losses_match_a_direct_computation():
    """The logged losses are the reference's terms, computed here from the networks."""
    from keras_i2i import losses

    # Without spectral norm and batch statistics, a step with a zero learning rate changes
    # nothing, so the networks give the step's values again.
    model = SPADE(**TINY, norm_G="spadeinstance3x3", norm_D="instance")
    model.compile(optimizers={g: keras.optimizers.SGD(0.0) for g in ("generator",
                                                                      "discriminator")})
    batch = next(iter(_batches(model, count=1)))
    logs = model.train_step(batch)
    semantics = model.semantics(batch["label"], batch["instance"])
    fake = model._generate(semantics, None)
    d_fake, d_real = model._discriminate(semantics, fake, batch["image"])
    expected_gan = losses.generator_adversarial_loss(d_fake, "hinge")
    expected_feat = 10.0 * losses.feature_matching_loss(d_real, d_fake)
    expected_d = losses.discriminator_adversarial_loss(d_real, d_fake, "hinge")
    np.testing.assert_allclose(logs["g_gan"], expected_gan, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logs["g_feat"], expected_feat, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([logs["d_real"], logs["d_fake"]], expected_d, rtol=1e-5, atol=1e-6)
    assert float(logs["g_feat"]) > 0


@pytest.mark.slow  # 1-2 minutes; pix2pixHD's XLA fit is in the default run
def test_jit_compile_trains_with_finite_losses():
    model = SPADE(**TINY)
    model.compile(jit_compile=True)
    history = model.fit(_batches(model), epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert int(model.steps_trained.numpy()) == 2


def test_xla_inference_looks_up_the_one_hot_labels(monkeypatch, tmp_path):
    """Compiled with XLA, inference runs every SPADE's `mlp_shared` on the one-hot labels by
    lookup (`one_hot_conv`): the same images. Eager calls and the served graph convolve."""
    from keras_i2i.layers import conv_routes as conv_module

    model = SPADE(**TINY)
    batch = next(iter(_batches(model, count=1)))
    inputs = {"label": batch["label"], "instance": batch["instance"]}
    expected = model(inputs)
    calls = []
    original = conv_module.one_hot_conv
    monkeypatch.setattr(conv_module, "one_hot_conv", lambda *a: calls.append(a) or original(*a))
    model.compile(jit_compile=True)
    model(inputs)
    model.export(tmp_path / "served", verbose=False)
    assert not calls, "looked up eagerly or in the served graph"
    got = tf.function(lambda x: model(x), jit_compile=True)(inputs)
    spades = [layer for layer in model.generator._flatten_layers()
              if isinstance(layer, SpatiallyAdaptiveNorm)]
    assert len(calls) == len(spades) == 18
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mixed_precision_trains_with_finite_losses():
    keras.config.set_dtype_policy("mixed_float16")
    model = SPADE(**TINY, use_vae=True, z_dim=8)
    assert model.generator.compute_dtype == "float16"
    assert model.generator.head_0.conv_0.kernel.dtype == "float32"
    model.compile(run_eagerly=True)
    history = model.fit(_batches(model, count=1), epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert model.translate(*_maps()).dtype == np.float32


def test_vgg_loss_is_built_by_compile_when_weighted():
    model = SPADE(**{**TINY, "lambda_vgg": 10.0}, vgg_weights=None)
    assert model.vgg_loss is None
    model.compile(run_eagerly=True)
    assert model.vgg_loss is not None and "g_vgg" in model.loss_names()
    history = model.fit(_batches(model, count=1), epochs=1, verbose=0)
    assert np.isfinite(history.history["g_vgg"][0]) and history.history["g_vgg"][0] > 0


def test_translate_random_styles_and_example_guided_style():
    model = SPADE(**TINY, use_vae=True, z_dim=8)
    label, instance = _maps()
    first = model.translate(label, instance, seed=1)
    assert first.shape == (2, 32, 32, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, model.translate(label, instance, seed=1))
    assert not np.allclose(first, model.translate(label, instance, seed=2))

    z = rng.normal(size=(2, 8)).astype("float32")
    direct = model({"label": label, "instance": instance, "z": z})
    np.testing.assert_allclose(model.translate(label[..., 0], instance, z=z), direct, atol=1e-6)

    style = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    mu, logvar = model.encode(style)
    expected = model({"label": label, "instance": instance,
                      "z": model.reparameterize(mu, logvar, seed=3)})
    np.testing.assert_allclose(
        model.translate(label, instance, style_images=style, seed=3), expected, atol=1e-6
    )

    several = model.translate(label, instance, num_styles=3, seed=4)
    assert several.shape == (2, 3, 32, 32, 3)
    assert not np.allclose(several[:, 0], several[:, 1])  # each style its own z
    guided = model.translate(label, instance, style_images=style[:1], num_styles=2, seed=5)
    # The posterior of the one image as translate encodes it (alone: encoded in a batch of 2,
    # its mu differs by rounding, which this untrained generator once amplified to a pixel).
    mu, logvar = model.encode(style[:1])
    z = model.reparameterize(*(np.repeat(np.repeat(x, 2, 0), 2, 0) for x in (mu, logvar)),
                             seed=5)
    expected = model({"label": np.repeat(label, 2, 0), "instance": np.repeat(instance, 2, 0),
                      "z": z})
    np.testing.assert_allclose(guided.reshape(4, 32, 32, 3), expected, atol=1e-6)


def test_training_names_a_size_the_generator_cannot_make():
    """A training batch (or a model call) whose maps are not multiples of the generator's
    upsampling fails naming the size, not with a shape clash deep in the discriminator."""
    model = SPADE(**TINY)
    model.compile()
    label, instance = _maps(size=(32, 40))
    image = np.zeros((*label.shape[:3], 3), "float32")
    with pytest.raises(ValueError, match=r"multiples of 32 .* got \(32, 40\)"):
        model.train_on_batch({"label": label, "instance": instance, "image": image})
    with pytest.raises(ValueError, match=r"multiples of 32 .* got \(32, 40\)"):
        model({"label": label, "instance": instance})


def test_translate_names_bad_input():
    model = SPADE(**TINY)
    label, instance = _maps()
    bad_ids = r"labels must be ids in 0\.\.2 \(label_nc 3\), got ids 1\.\.3"
    with pytest.raises(ValueError, match=bad_ids):
        model.translate(label + 1, instance)
    with pytest.raises(ValueError, match="uses instance maps"):
        model.translate(label)
    with pytest.raises(ValueError, match=r"multiples of 32 .* got \(32, 40\)"):
        model.translate(*_maps(size=(32, 40)))
    with pytest.raises(ValueError, match="integer maps"):
        model.translate(label.astype("float32"), instance)
    with pytest.raises(ValueError, match="instances have shape"):
        model.translate(label, instance[:1])
    with pytest.raises(ValueError, match="need a model with the VAE"):
        model.translate(label, instance, z=np.zeros((2, 8)))
    with pytest.raises(ValueError, match="num_styles need a model with the VAE"):
        model.translate(label, instance, num_styles=2)
    vae = SPADE(**TINY, use_vae=True, z_dim=8)
    with pytest.raises(ValueError, match=r"z must be \(2, 8\)"):
        vae.translate(label, instance, z=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"must be \(32, 32\) \(image_size"):
        vae.translate(*_maps(size=(64, 64)))
    with pytest.raises(ValueError, match="SPADE trains on"):
        model.train_step({"input": label})


def test_sample_columns_and_call_take_label_batches():
    model = SPADE(**TINY)
    batch = next(iter(_batches(model, count=1)))
    columns = model.sample_columns(batch)
    assert list(columns) == ["input", "output", "target"]
    assert columns["output"].shape == (2, 32, 32, 3)
    no_instance = SPADE(**{**TINY, "use_instance": False})
    assert no_instance(batch["label"]).shape == (2, 32, 32, 3)


def test_preset_folder_and_keras_file_round_trips(tmp_path):
    model = SPADE(**TINY, use_vae=True, z_dim=8)
    label, instance = _maps()
    z = rng.normal(size=(2, 8)).astype("float32")
    expected = model.translate(label, instance, z=z)
    model.save_to_preset(tmp_path / "preset")
    restored = SPADE.from_preset(tmp_path / "preset")
    np.testing.assert_allclose(restored.translate(label, instance, z=z), expected, atol=1e-6)
    run_model_saving_test(model, {"label": label, "instance": instance, "z": z}, tmp_path)


def _serve_in_fresh_process(tmp_path, calls, **inputs):
    """Runs `calls` ({name: "signatures[...](...)"}) on SavedModels in a new Python process,
    with `inputs` as numpy arrays in `x`, and returns the results' numpy arrays."""
    np.savez(tmp_path / "inputs.npz", **inputs)
    lines = "\n".join(f"out[{name!r}] = {call}.numpy()" for name, call in calls.items())
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        load = lambda name: tf.saved_model.load(str({str(tmp_path)!r}) + "/" + name).signatures
        x = {{k: tf.constant(v) for k, v in np.load({str(tmp_path / "inputs.npz")!r}).items()}}
        out = {{}}
    """) + lines + f"\nnp.savez({str(tmp_path / 'outputs.npz')!r}, **out)\n"
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return np.load(tmp_path / "outputs.npz")


def test_export_serves_label_maps_of_any_accepted_size_in_a_fresh_process(tmp_path):
    model = SPADE(**TINY)
    label, instance = _maps(size=(64, 96))
    expected = model.translate(label, instance)
    model.export(tmp_path / "plain", verbose=False)
    out = _serve_in_fresh_process(
        tmp_path,
        {"image": 'load("plain")["serving_default"](label=x["label"], '
                  'instance=x["instance"])["image"]'},
        label=label,
        instance=instance,
    )
    np.testing.assert_allclose(out["image"], expected, atol=1e-5)
    maps = {"label": label, "instance": instance}
    cli = saved_model_cli_run(tmp_path / "plain", "translate", maps, tmp_path)
    np.testing.assert_allclose(cli["image"], expected, atol=1e-5)
    assert_saved_model_cli_rejects(tmp_path / "plain", "serving_default",
                                   {**maps, "label": label + 1}, tmp_path,
                                   r"label: ids must be in 0\.\.2 \(label_nc 3\), got ids 1\.\.3")


@pytest.mark.slow
def test_export_with_the_vae_serves_styles_in_a_fresh_process(tmp_path):
    model = SPADE(**TINY, use_vae=True, z_dim=8)
    label, instance = _maps()
    z = rng.normal(size=(2, 8)).astype("float32")
    style = rng.uniform(-1, 1, (2, 48, 40, 3)).astype("float32")
    expected = model.translate(label, instance, z=z)
    mu, _ = model.encode(style)
    model.export(tmp_path / "vae", verbose=False)
    maps = 'label=x["label"], instance=x["instance"]'
    out = _serve_in_fresh_process(
        tmp_path,
        {
            "styled": f'load("vae")["translate_with_style"]({maps}, z=x["z"])["image"]',
            "random": f'load("vae")["serving_default"]({maps})["image"]',
            "mu": 'load("vae")["encode_style"](image=x["style"])["mu"]',
        },
        label=label,
        instance=instance,
        z=z,
        style=style,
    )
    np.testing.assert_allclose(out["styled"], expected, atol=1e-5)
    np.testing.assert_allclose(out["mu"], mu, atol=1e-5)
    assert out["random"].shape == (2, 32, 32, 3) and not np.allclose(out["random"], expected)
    assert_signatures_shown(tmp_path / "vae", model)
    cli = saved_model_cli_run(tmp_path / "vae", "translate_with_style",
                              {"label": label, "instance": instance, "z": z}, tmp_path)
    np.testing.assert_allclose(cli["image"], expected, atol=1e-5)
