"""MDMM (multi-domain DRIT++): training, inference, presets, export."""

import inspect
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.models.drit import MDMM
from keras_i2i.models.drit.presets import MDMM_PRESETS
from tests.testing import assert_signatures_shown, saved_model_cli_run

# 64 x 64 images: the discriminators' six stride-2 layers reach 1 x 1, content codes of 16 x 16
# suit two 3 x 3 strided layers of the content discriminator.
TINY = dict(crop_size=64, width=2, content_dis_kernel_size=3, content_dis_layers=2, seed=5)


def _images(batch=2, size=64, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32")


def _mixed(batch=6, steps=1, num_domains=3):
    data = {"image": _images(batch * steps, seed=1),
            "domain": (np.arange(batch * steps) % num_domains).astype("int32")}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)


def _iterations(model):
    return {group: int(optimizer.iterations.numpy())
            for group, optimizer in model.optimizers.items()}


@pytest.mark.parametrize("concat", [True, False])
def test_a_step_is_the_reference_rhythm_and_trains_every_network(concat):
    model = MDMM(**TINY, concat=concat)
    model.compile(run_eagerly=True)
    before = {name: [v.numpy().copy() for v in variables]
              for name, variables in model.optimizer_groups().items()}
    history = model.fit(_mixed(), epochs=1, verbose=0)
    assert set(history.history) == set(model.loss_names())
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    # update_D_content on two parts, then update_D and update_EG (two steps for E_c and G).
    assert _iterations(model) == {"content_discriminator": 2, "discriminator": 1,
                                  "attribute_encoder": 1, "content_encoder": 2, "generator": 2}
    for name, variables in model.optimizer_groups().items():
        unchanged = [v.path for b, v in zip(before[name], variables)
                     if np.array_equal(b, v.numpy()) and not _cancelled(v.path)]
        assert not unchanged, f"{name} variables not trained: {unchanged}"


def _cancelled(path):
    """Biases whose gradient is exactly 0 by construction: convolutions feeding an instance
    norm (the MLP generator's `MisINSResBlock`)."""
    return "/residual_" in path and path.endswith("conv_0/conv/bias")


def test_without_the_content_discriminator_every_iteration_updates_everything():
    model = MDMM(**TINY, content_discriminator=False)
    assert model.default_batch_size == 2 and "content_discriminator" not in model.optimizer_groups()
    model.compile(run_eagerly=True)
    history = model.fit(_mixed(batch=2, steps=2), epochs=1, verbose=0)
    assert "g_gan_content" not in history.history
    assert _iterations(model) == {"discriminator": 2, "attribute_encoder": 2,
                                  "content_encoder": 4, "generator": 4}


def test_training_images_must_have_the_crop_size():
    model = MDMM(**TINY)
    model.compile(run_eagerly=True)
    data = {"image": _images(6, size=32), "domain": np.zeros(6, "int32")}
    with pytest.raises(ValueError, match=r"crop_size x crop_size images \(64: .*got 32x32"):
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(6), epochs=1, verbose=0)


def test_translate_into_each_domain_with_random_and_example_attributes():
    model = MDMM(**TINY)
    images = _images()
    several = model.translate(images, 2, num_attributes=3, seed=1)
    assert several.shape == (2, 3, 64, 64, 3)
    assert np.abs(several[:, 0] - several[:, 1]).mean() > 1e-5
    per_image = model.translate(images, [0, 1], attributes=np.zeros((1, 8)))
    np.testing.assert_allclose(per_image[1], model.translate(images, 1, attributes=np.zeros(
        (1, 8)))[1], atol=1e-6)
    examples = _images(batch=1, seed=3)
    guided = model.translate(images, 1, attribute_images=examples)
    content, _ = model.encode(images, 0)
    _, attribute = model.encode(examples, 1)
    np.testing.assert_allclose(guided, model.decode(content, np.repeat(attribute, 2, 0), 1),
                               atol=1e-5)
    assert model({"image": images, "domain": np.array([0, 2])}).shape == (2, 64, 64, 3)
    assert list(model.sample_columns({"image": images})) == ["input", "to 0", "to 1", "to 2"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(target_domain=3), r"domains must be ints in 0..2, one or one per image \(2\), got 3"),
    (dict(target_domain=[0, 1, 2]), r"got \[0, 1, 2\]"),
    (dict(images=_images(channels=1)), r"images must be \(B, H, W, 3\)"),
    (dict(num_attributes=2, attributes=np.zeros((1, 8))), "at most one of"),
])
def test_translate_names_bad_input(kwargs, message):
    model = MDMM(**TINY)
    with pytest.raises(ValueError, match=message):
        model.translate(**{"images": _images(), "target_domain": 0, **kwargs})


def test_presets_hold_the_reference_configs():
    assert set(MDMM.presets()) == {"mdmm", "synthetic"}
    arguments = set(inspect.signature(MDMM.__init__).parameters)
    assert all(set(p["config"]) <= arguments for p in MDMM_PRESETS.values())
    model = MDMM.from_preset("synthetic")
    assert (model.num_domains, model.crop_size, model.content_discriminator) == (3, 64, True)


@pytest.mark.parametrize("cli", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "and-saved_model_cli"])
def test_export_serves_sampling_translation_and_attributes_in_a_fresh_process(tmp_path, cli):
    model = MDMM(**TINY)
    images, domains = _images(), np.array([2, 0], "int32")
    attributes = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    expected = model.translate(images, domains, attributes=attributes)
    expected_attribute = model.encode(images, domains)[1].numpy()
    model.export(tmp_path / "served", verbose=False)
    np.savez(tmp_path / "in.npz", images=images, domains=domains, attributes=attributes)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "served")!r})
        x = np.load({str(tmp_path / "in.npz")!r})
        out = loaded.signatures["translate"](image=x["images"], attribute=x["attributes"],
                                             domain=x["domains"])["image"]
        attribute = loaded.signatures["encode_attribute"](image=x["images"],
                                                          domain=x["domains"])["attribute"]
        sampled = loaded.signatures["serving_default"](image=x["images"], domain=x["domains"])
        try:
            loaded.signatures["sample"](image=x["images"], domain=np.array([0, 3], "int32"))
            error = ""
        except tf.errors.InvalidArgumentError as e:
            error = e.message
        np.savez({str(tmp_path / "out.npz")!r}, image=out, attribute=attribute,
                 sampled=sampled["image"], error=error)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    served = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(served["image"], expected, atol=1e-5)
    np.testing.assert_allclose(served["attribute"], expected_attribute, atol=1e-5)
    assert served["sampled"].shape == (2, 64, 64, 3)
    assert "domain: ids must be in 0..2 (num_domains 3)" in str(served["error"])
    if cli:
        assert_signatures_shown(tmp_path / "served", model)
        out = saved_model_cli_run(tmp_path / "served", "translate", {
            "image": images, "attribute": attributes, "domain": domains}, tmp_path)
        np.testing.assert_allclose(out["image"], expected, atol=1e-5)
