"""DRIT: training (the reference's update rhythm), inference, presets, export."""

import inspect
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.models.drit import DRIT
from keras_i2i.models.drit.presets import DRIT_PRESETS
from tests.testing import assert_signatures_shown, saved_model_cli_run

# 32 x 32 images: content codes of 8 x 8, one 3 x 3 strided layer in the content discriminator.
TINY = dict(width=4, dis_scale=2, content_dis_kernel_size=3, content_dis_layers=1, seed=3)


def _images(batch=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32")


def _unpaired(batch=6, size=32, steps=1):
    data = {"image_a": _images(batch * steps, size, seed=1),
            "image_b": _images(batch * steps, size, seed=2)}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)


@pytest.fixture(autouse=True)
def seeded_initializers():
    """The same initial weights in every process and test order. The initializers take
    their seeds from Python's unseeded `random` (`TINY`'s `seed` is the attributes' and the
    noise's), and for rare draws a discriminator's last bias gets an exactly-zero first
    gradient: its logits at initialization are 1e-7 to 1e-5 (zero biases, N(0, 0.02)
    kernels), so the float32 sigmoids of the real and fake patches are 0.5 within a few ulps
    and the gradient, their sum, can cancel exactly."""
    keras.utils.set_random_seed(0)


def _iterations(model):
    return {group: int(optimizer.iterations.numpy())
            for group, optimizer in model.optimizers.items()}


@pytest.mark.parametrize("concat, mode_seeking", [(True, True), (False, False)])
def test_a_step_is_the_reference_rhythm_and_trains_every_network(concat, mode_seeking):
    """One step of d_iter = 3: the content discriminator alone twice, then `update_D` (every
    discriminator once, the content discriminator a third time) and `update_EG` (the
    attribute encoder once, the content encoder and generator twice)."""
    model = DRIT(**TINY, concat=concat, mode_seeking=mode_seeking)
    model.compile(run_eagerly=True)  # the same step as traced, without minutes of graph building
    before = {name: [v.numpy().copy() for v in variables]
              for name, variables in model.optimizer_groups().items()}
    history = model.fit(_unpaired(), epochs=1, verbose=0)
    assert set(history.history) == set(model.loss_names())
    assert ("mode_seeking" in history.history) == mode_seeking
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert _iterations(model) == {"content_discriminator": 3, "discriminator": 1,
                                  "attribute_encoder": 1, "content_encoder": 2, "generator": 2}
    for name, variables in model.optimizer_groups().items():
        unchanged = [v.path for b, v in zip(before[name], variables)
                     if np.array_equal(b, v.numpy()) and not _before_instance_norm(v.path)]
        assert not unchanged, f"{name} variables not trained: {unchanged}"
    assert int(model.steps_trained.numpy()) == 1


def _before_instance_norm(path):
    """The MLP generator's `MisINSResBlock` convolutions feed an instance norm, which cancels
    their bias: its gradient is exactly 0 (in the reference too)."""
    return "/residual_" in path and path.endswith("conv_0/conv/bias")


def test_the_multi_scale_generator_discriminator_option():
    """DRIT++'s low-resolution outputs: images at 1/4 and 1/2 resolution from the generator's
    features, judged against pooled real images; its heads train with the generator, its
    discriminators with the others, and inference is unchanged."""
    model = DRIT(**TINY, low_resolution=True)
    plain = DRIT(**TINY)
    groups, plain_groups = model.optimizer_groups(), plain.optimizer_groups()
    def within(variables):  # paths inside the model (the second model is "drit_1")
        return {v.path.split("/", 1)[1] for v in variables}

    heads = within(groups["generator"]) - within(plain_groups["generator"])
    assert heads == {f"image_head_{d}{k}/{w}" for d in "ab" for k in "01"
                     for w in ("kernel", "bias")}
    assert len(groups["discriminator"]) > len(plain_groups["discriminator"])
    model.compile(run_eagerly=True)
    before = [v.numpy().copy() for v in groups["generator"] + groups["discriminator"]]
    history = model.fit(_unpaired(), epochs=1, verbose=0)
    assert np.isfinite(history.history["g_gan_low"][-1])
    after = groups["generator"] + groups["discriminator"]
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, after)
               if "low_resolution" in v.path or "image_head" in v.path)
    assert model.translate(_images(), seed=0).shape == (2, 32, 32, 3)


def test_content_codes_get_the_reference_noise_in_training():
    model = DRIT(**TINY)
    images = _images()
    clean = np.asarray(model.encode(images, "a")[0])
    noisy = np.asarray(model._contents(images, images)[0])
    assert 0.8 < (noisy - clean).std() < 1.2
    assert not np.array_equal(noisy, np.asarray(model._contents(images, images)[0]))


def test_d_iter_one_updates_everything_every_step():
    model = DRIT(**TINY, d_iter=1)
    assert model.default_batch_size == 2
    model.compile(run_eagerly=True)
    model.fit(_unpaired(batch=2, steps=2), epochs=1, verbose=0)
    assert _iterations(model) == {"content_discriminator": 2, "discriminator": 2,
                                  "attribute_encoder": 2, "content_encoder": 4, "generator": 4}


def test_a_batch_the_rhythm_cannot_split_is_refused():
    model = DRIT(**TINY)
    model.compile(run_eagerly=True)
    with pytest.raises(ValueError, match=r"DRIT's batch must be a multiple of 6 .*got 4"):
        model.fit(_unpaired(batch=4), epochs=1, verbose=0)
    unknown = tf.data.Dataset.from_tensor_slices({"image_a": _images(6), "image_b": _images(6)})
    model.compile()  # traced: the batch size is unknown without drop_remainder
    with pytest.raises(ValueError, match=r"drop_remainder=True\), got None"):
        model.fit(unknown.batch(6), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"content discriminator \(content_dis_kernel_size 7, "
                       r"content_dis_layers 3\) needs training images of at least 212x212, "
                       r"got image_a of 32x32"):
        default = DRIT(width=2, dis_scale=1)
        default.compile(run_eagerly=True)
        default.fit(_unpaired(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="trains on {'image_a', 'image_b'} batches"):
        model.train_on_batch({"image": _images(6)})


def test_random_attributes_differ_and_translate_takes_attributes_from_examples():
    model = DRIT(**TINY)
    images = _images()
    several = model.translate(images, "b", num_attributes=3, seed=7)
    assert several.shape == (2, 3, 32, 32, 3)
    np.testing.assert_array_equal(several, model.translate(images, "b", num_attributes=3, seed=7))
    assert np.abs(several[:, 0] - several[:, 1]).mean() > 1e-4
    examples = _images(batch=1, seed=3)
    guided = model.translate(images, "a", attribute_images=examples)
    content, _ = model.encode(images, "b")
    _, attribute = model.encode(examples, "a")
    expected = model.decode(content, np.repeat(attribute, 2, axis=0), "a")
    np.testing.assert_allclose(guided, expected, atol=1e-5)
    assert model(images).shape == (2, 32, 32, 3)
    assert set(model({"image_a": images, "image_b": images})) == {"image_ab", "image_ba"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target_domain="c"), "domain must be 'a' or 'b', got 'c'"),
        (dict(images=_images(size=30)), r"multiples of 4, got shape \(2, 30, 30, 3\)"),
        (dict(images=_images(channels=1)), r"images of domain a must be \(B, H, W, 3\)"),
        (dict(num_attributes=2, attributes=np.zeros((2, 8))),
         "at most one of .*; got num_attributes, attributes"),
        (dict(attributes=np.zeros((2, 4))), r"attributes must be \(2 or 1, 8\)"),
        (dict(attribute_images=_images(size=6)), "attribute_images of domain b must be"),
    ],
)
def test_translate_names_bad_input(kwargs, message):
    model = DRIT(**TINY)
    kwargs = {"images": _images(), **kwargs}
    with pytest.raises(ValueError, match=message):
        model.translate(**kwargs)


def test_one_channel_domains():
    model = DRIT(**TINY, channels_a=1)
    assert model.translate(_images(channels=3), "a").shape == (2, 32, 32, 1)
    assert model.translate(_images(channels=1), "b").shape == (2, 32, 32, 3)


def test_presets_hold_the_reference_configs():
    assert set(DRIT.presets()) == {"cat2dog", "portrait", "yosemite", "synthetic"}
    arguments = set(inspect.signature(DRIT.__init__).parameters)
    assert all(set(p["config"]) <= arguments for p in DRIT_PRESETS.values())
    assert DRIT_PRESETS["portrait"]["config"]["concat"] is False
    assert "concat" not in DRIT_PRESETS["yosemite"]["config"]
    model = DRIT.from_preset("synthetic")
    assert (model.width, model.min_size, model.default_batch_size) == (16, 52, 6)


def test_preset_folder_round_trip(tmp_path):
    model = DRIT(**TINY)
    images = _images()
    model.save_to_preset(tmp_path / "drit")
    restored = DRIT.from_preset(tmp_path / "drit")
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored.translate(images, num_attributes=2, seed=1),
                               model.translate(images, num_attributes=2, seed=1), atol=1e-6)


@pytest.mark.parametrize("cli", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "and-saved_model_cli"])
def test_export_serves_translation_and_attribute_encoding_in_a_fresh_process(tmp_path, cli):
    model = DRIT(**TINY)
    images = _images()
    attributes = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    expected_image = model.translate(images, "a", attributes=attributes)
    expected_attribute = model.encode(images, "b")[1].numpy()
    model.export(tmp_path / "served", verbose=False)
    np.savez(tmp_path / "inputs.npz", images=images, attributes=attributes)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "served")!r})
        inputs = np.load({str(tmp_path / "inputs.npz")!r})
        images, attributes = tf.constant(inputs["images"]), tf.constant(inputs["attributes"])
        out = loaded.signatures["translate_b2a"](image=images, attribute=attributes)["image"]
        attribute = loaded.signatures["encode_attribute_b"](image=images)["attribute"]
        sampled = [loaded.signatures["serving_default"](image=images)["image"] for _ in "12"]
        np.savez({str(tmp_path / "out.npz")!r}, image=out, attribute=attribute, sampled=sampled)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    served = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(served["image"], expected_image, atol=1e-5)
    np.testing.assert_allclose(served["attribute"], expected_attribute, atol=1e-5)
    first, second = served["sampled"]
    assert first.shape == (2, 32, 32, 3) and np.abs(first - second).mean() > 1e-5
    if cli:
        assert_signatures_shown(tmp_path / "served", model)
        out = saved_model_cli_run(tmp_path / "served", "translate_b2a",
                                  {"image": images, "attribute": attributes}, tmp_path)
        np.testing.assert_allclose(out["image"], expected_image, atol=1e-5)


@pytest.mark.slow  # XLA compiles the whole step in about 2 minutes
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_jit_compiled_training(policy):
    keras.config.set_dtype_policy(policy)
    model = DRIT(**TINY)
    model.compile(jit_compile=True)
    history = model.fit(_unpaired(), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert model.translate(_images(), num_attributes=2, seed=0).dtype == np.float32


def test_mixed_precision_training():
    keras.config.set_dtype_policy("mixed_float16")
    model = DRIT(**TINY, concat=False)
    model.compile(run_eagerly=True)
    history = model.fit(_unpaired(), epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert all(w.dtype == "float32" for w in model.weights if "float" in str(w.dtype))
