"""MUNIT: the reference vectors through the converter, the layers, training, inference, export."""

import inspect
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.convert import munit as convert
from keras_i2i.models.munit import (
    MLP,
    MUNIT,
    AdaINGenerator,
    ContentEncoder,
    Decoder,
    StyleEncoder,
)
from keras_i2i.models.munit.presets import MUNIT_PRESETS
from tests.testing import assert_signatures_shown, run_layer_test, saved_model_cli_run

rng = np.random.default_rng(6)
TOLERANCE = 1e-4
TINY = dict(dim=4, style_dim=3, mlp_dim=8, n_res=1, dis_dim=4, dis_n_layer=2, dis_num_scales=2)


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _checkpoints(ref):
    """The reference vector as MUNIT's `gen_*.pt` / `dis_*.pt` contents (both domains alike)."""
    parts = {}
    for part in ("generator", "discriminator"):
        state = {k[len(part) + 1 :]: v for k, v in ref.items() if k.startswith(part + "/")}
        parts[part] = {"a": state, "b": state}
    return parts["generator"], parts["discriminator"]


def _images(batch=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32"
    )


def _assert_close(actual, expected, what):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, what
    np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0, err_msg=what)


def test_reference_vectors_through_the_converter(reference):
    ref = reference("munit_small.npz")
    config = json.loads(str(ref["config_json"]))
    gen, dis = _checkpoints(ref)
    model = convert.convert_checkpoint(gen, dis, pad_type=config["gen"]["pad_type"])
    assert {k: getattr(model, k) for k in ("dim", "style_dim", "mlp_dim", "n_res")} == {
        "dim": 8, "style_dim": 4, "mlp_dim": 32, "n_res": 2
    }
    assert (model.dis_dim, model.dis_n_layer, model.dis_num_scales) == (8, 3, 2)
    image, style = _nhwc(ref["input/image"]), ref["input/style"][:, :, 0, 0]
    for domain in ("a", "b"):
        content, encoded_style = model.encode(image, domain)
        _assert_close(content, _nhwc(ref["output/content"]), f"content {domain}")
        _assert_close(encoded_style, ref["output/style"][:, :, 0, 0], f"style {domain}")
        decoded = model.decode(_nhwc(ref["output/content"]), style, domain)
        _assert_close(decoded, _nhwc(ref["output/image"]), f"image {domain}")
    _assert_close(model.translate(image, "a2b", styles=style), _nhwc(ref["output/image"]),
                  "translate")
    for k, prediction in enumerate(model.discriminator_b(_nhwc(ref["output/image"]))):
        _assert_close(prediction, _nhwc(ref[f"output/discriminator/{k}"]), f"scale {k}")


def test_converter_reports_mismatches_and_skips_pytorch_0_3_buffers(reference):
    gen, _ = _checkpoints(reference("munit_small.npz"))
    state = dict(gen["a"])
    state["enc_content.model.0.norm.running_mean"] = np.zeros(8, "float32")
    state["enc_content.model.0.norm.running_var"] = np.ones(8, "float32")
    generator = AdaINGenerator(dim=8, style_dim=4, mlp_dim=32, n_res=2)
    convert.load_adain_generator(generator, state)
    with pytest.raises(ValueError) as error:
        convert.load_adain_generator(AdaINGenerator(dim=8, style_dim=4, mlp_dim=32, n_res=1),
                                     state)
    message = str(error.value)
    assert "unexpected keys (12):\n  dec.model.0.model.1.model.0.conv.bias" in message
    assert "mlp.model.2.fc.weight: found shape (256, 32)" in message
    with pytest.raises(ValueError, match="not a MUNIT generator checkpoint"):
        convert.architecture(gen["a"])


def test_pytorch_checkpoints_of_a_reference_run(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference("munit_small.npz")
    gen, dis = _checkpoints(ref)
    for name, parts in (("gen_00000001.pt", gen), ("dis_00000001.pt", dis)):
        torch.save({d: {k: torch.from_numpy(v) for k, v in s.items()} for d, s in parts.items()},
                   tmp_path / name)
    convert.convert_reference_run(tmp_path, tmp_path / "preset", None)
    model = MUNIT.from_preset(tmp_path / "preset")
    image = _nhwc(ref["input/image"])
    _assert_close(model.encode(image, "b")[1], ref["output/style"][:, :, 0, 0], "style")
    _assert_close(model.discriminator_a(_nhwc(ref["output/image"]))[1],
                  _nhwc(ref["output/discriminator/1"]), "discriminator")


@pytest.mark.parametrize(
    "layer_cls, init, inputs, output_shape",
    [
        (ContentEncoder, dict(dim=4, n_downsample=2, n_res=1), _images(), (2, 8, 8, 16)),
        (StyleEncoder, dict(dim=4, style_dim=3, activation="lrelu"), _images(), (2, 3)),
        (MLP, dict(output_dim=10, dim=6), _images()[:, 0, 0], (2, 10)),
        (Decoder, dict(dim=8, output_channels=1, n_upsample=1, n_res=2, pad_type="zeros"),
         [_images(size=8, channels=8), _images(size=8, channels=1).reshape(2, 64)], (2, 16, 16, 1)),
        (AdaINGenerator, dict(channels=2, dim=2, style_dim=3, mlp_dim=4, n_res=1),
         _images(size=16, channels=2), [(2, 4, 4, 8), (2, 3)]),
    ],
)
def test_layer_contract(layer_cls, init, inputs, output_shape):
    run_layer_test(layer_cls, init, inputs, expected_output_shape=output_shape)


def test_generator_decodes_what_it_encodes_and_initializes_like_the_reference():
    generator = AdaINGenerator(channels=3, **{k: TINY[k] for k in ("dim", "style_dim", "mlp_dim")})
    images = _images()
    content, style = generator.encode(images)
    np.testing.assert_array_equal(generator.reconstruct(images), generator.decode(content, style))
    assert generator.mlp.output_dim == 4 * 16 * 4  # n_res 4 blocks, two AdaINs of 16 channels
    kernel = generator.decoder.residual_blocks[0].conv_0.conv.kernel.numpy()
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / (3 * 3 * 16)), rtol=0.1)  # kaiming
    discriminator = MUNIT(**TINY).discriminator_a.scales[0][0].conv.kernel.numpy()
    np.testing.assert_allclose(discriminator.std(), 0.02, rtol=0.3)  # N(0, 0.02)
    square = MLP(output_dim=6, dim=6, kernel_initializer=keras.initializers.HeNormal())
    square.build((None, 6))
    first, second, _ = (layer.kernel.numpy() for layer in square.dense_layers)
    assert not np.array_equal(first, second)  # each layer draws its own weights
    with pytest.raises(ValueError, match="init must be one of"):
        AdaINGenerator(init="uniform")


def _unpaired(batch=2, size=32, steps=1):
    data = {"image_a": _images(batch * steps, size, seed=1),
            "image_b": _images(batch * steps, size, seed=2)}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch)


def test_fit_trains_both_auto_encoders_and_discriminators():
    model = MUNIT(**TINY)
    model.compile()
    before = {name: [v.numpy().copy() for v in variables]
              for name, variables in model.optimizer_groups().items()}
    history = model.fit(_unpaired(steps=2), epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "g_gan", "x_recon", "s_recon", "c_recon"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    for name, variables in model.optimizer_groups().items():
        unchanged = [v.path for b, v in zip(before[name], variables) if np.allclose(b, v.numpy())]
        assert not unchanged, f"{name} variables not trained: {unchanged}"
    assert int(model.steps_trained.numpy()) == 2


def test_weight_decay_is_pytorch_adams_coupled_l2():
    """With every loss weight 0 the gradient is `weight_decay * w` alone, so Adam's first step
    moves each weight by `lr * sign(w)` (AdamW's decoupled decay would move it by
    `lr * weight_decay * w`)."""
    zero = dict(gan_weight=0.0, recon_x_weight=0.0, recon_s_weight=0.0, recon_c_weight=0.0)
    model = MUNIT(**TINY, **zero, learning_rate=1e-3, weight_decay=1e-2)
    model.compile(run_eagerly=True)
    before = [v.numpy().copy() for v in model.generator_a.trainable_variables]
    model.fit(_unpaired(), epochs=1, verbose=0)
    for old, variable in zip(before, model.generator_a.trainable_variables):
        moved = old - variable.numpy()
        large = np.abs(old) > 0.05  # the gradient 1e-2 * |w| dwarfs Adam's epsilon
        np.testing.assert_allclose(moved[large], 1e-3 * np.sign(old[large]), rtol=0.05)


def test_random_styles_differ_and_translate_takes_styles_from_examples():
    model = MUNIT(**TINY)
    images = _images(batch=2)
    several = model.translate(images, num_styles=3, seed=7)
    assert several.shape == (2, 3, 32, 32, 3)
    np.testing.assert_array_equal(several, model.translate(images, num_styles=3, seed=7))
    assert np.abs(several[:, 0] - several[:, 1]).mean() > 1e-3
    examples = _images(batch=1, seed=3)
    guided = model.translate(images, "b2a", style_images=examples)
    expected = model.decode(model.encode(images, "b")[0], model.encode(examples, "a")[1].numpy()
                            .repeat(2, axis=0), "a")
    np.testing.assert_allclose(guided, expected, atol=1e-5)
    assert model(images).shape == (2, 32, 32, 3)
    assert set(model({"image_a": images, "image_b": images})) == {"image_ab", "image_ba"}


def test_sample_columns_feed_a_progress_grid():
    from keras_i2i import visualize

    model = MUNIT(**TINY)
    columns = model.sample_columns({"image_a": _images(), "image_b": _images(seed=4)})
    assert list(columns) == ["a", "a2b", "a recon", "b", "b2a", "b recon"]
    assert visualize.sample_grid(columns).shape == (18 + 2 * 96, 6 * 96, 3)  # titled, 3x cells


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(direction="a2c"), "direction must be one of"),
        (dict(images=_images(size=24)), r"multiples of 16, got shape \(2, 24, 24, 3\)"),
        (dict(images=_images(channels=1)), r"must be \(B, H, W, 3\)"),
        (dict(num_styles=2, styles=np.zeros((2, 3))), "at most one of"),
        (dict(styles=np.zeros((2, 4))), r"styles must be \(2 or 1, 3\)"),
        (dict(style_images=_images(size=8)), "style_images must be"),
    ],
)
def test_translate_names_bad_input(kwargs, message):
    model = MUNIT(**TINY)
    kwargs = {"images": _images(), **kwargs}
    with pytest.raises(ValueError, match=message):
        model.translate(**kwargs)


def test_presets_hold_the_reference_configs():
    assert set(MUNIT.presets()) == {"edges2shoes", "edges2handbags", "summer2winter_yosemite256",
                                    "synthia2cityscape", "synthetic"}
    arguments = set(inspect.signature(MUNIT.__init__).parameters)
    assert all(set(p["config"]) <= arguments for p in MUNIT_PRESETS.values())
    cyc = {name: MUNIT_PRESETS[name]["config"].get("recon_x_cyc_weight", 0.0)
           for name in MUNIT_PRESETS}
    assert cyc["summer2winter_yosemite256"] == 10 and cyc["edges2shoes"] == 0
    model = MUNIT.from_preset("synthetic")
    assert (model.dim, model.style_dim, model.dis_num_scales) == (16, 8, 2)


def test_preset_folder_round_trip(tmp_path):
    model = MUNIT(**TINY)
    images = _images()
    model.save_to_preset(tmp_path / "munit")
    restored = MUNIT.from_preset(tmp_path / "munit")
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored.translate(images, num_styles=2, seed=1),
                               model.translate(images, num_styles=2, seed=1), atol=1e-6)


def test_export_serves_translation_and_style_encoding_in_a_fresh_process(tmp_path):
    model = MUNIT(**TINY)
    images, styles = _images(), rng.normal(size=(2, 3)).astype("float32")
    expected_image = model.translate(images, "b2a", styles=styles)
    expected_style = model.encode(images, "b")[1].numpy()
    model.export(tmp_path / "served", verbose=False)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "styles.npy", styles)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "served")!r})
        images = tf.constant(np.load({str(tmp_path / "images.npy")!r}))
        styles = tf.constant(np.load({str(tmp_path / "styles.npy")!r}))
        out = loaded.signatures["translate_b2a"](image=images, style=styles)["image"]
        style = loaded.signatures["encode_style_b"](image=images)["style"]
        sampled = [loaded.signatures["serving_default"](image=images)["image"] for _ in "12"]
        np.savez({str(tmp_path / "out.npz")!r}, image=out, style=style, sampled=sampled)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    served = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(served["image"], expected_image, atol=1e-5)
    np.testing.assert_allclose(served["style"], expected_style, atol=1e-5)
    first, second = served["sampled"]
    assert first.shape == (2, 32, 32, 3) and np.abs(first - second).mean() > 1e-4
    assert_signatures_shown(tmp_path / "served", model)
    cli = saved_model_cli_run(tmp_path / "served", "translate_b2a",
                              {"image": images, "style": styles}, tmp_path)
    np.testing.assert_allclose(cli["image"], expected_image, atol=1e-5)


@pytest.mark.parametrize(
    "policy", ["float32", pytest.param("mixed_float16", marks=pytest.mark.slow)]
)
def test_jit_compiled_training(policy):
    keras.config.set_dtype_policy(policy)
    model = MUNIT(**TINY, recon_x_cyc_weight=1.0)
    model.compile(jit_compile=True)
    history = model.fit(_unpaired(steps=2), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert model.translate(_images(), num_styles=2, seed=0).dtype == np.float32


def test_mixed_precision_training_with_cycle_and_perceptual_losses():
    keras.config.set_dtype_policy("mixed_float16")
    model = MUNIT(**TINY, recon_x_cyc_weight=10.0, vgg_weight=1.0, vgg_weights=None)
    model.compile(run_eagerly=True)
    history = model.fit(_unpaired(), epochs=1, verbose=0)
    assert {"x_cycle", "vgg"} <= set(history.history)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert all(w.dtype == "float32" for w in model.weights if "float" in str(w.dtype))
    assert model.translate(_images(), seed=0).dtype == np.float32


@pytest.mark.slow
def test_training_under_a_mirrored_strategy_draws_styles_per_replica():
    from tests.toy_gan import two_replicas

    strategy = two_replicas()
    with strategy.scope():
        model = MUNIT(**TINY)
        model.compile()
    styles = strategy.run(tf.function(lambda: model.random_styles(1)))
    first, second = (np.asarray(s) for s in strategy.experimental_local_results(styles))
    assert np.abs(first - second).min() > 0
    history = model.fit(_unpaired(batch=2, steps=2), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert int(model.steps_trained.numpy()) == 2
