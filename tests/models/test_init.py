"""INIT: boxes in and out of images, the local effect of each style, training, inference, export."""

import inspect
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.data import synthetic
from keras_i2i.models.init import INIT, instances
from keras_i2i.models.init.presets import INIT_PRESETS
from keras_i2i.models.munit import StyleEncoder
from tests.testing import assert_signatures_shown, saved_model_cli_run

TINY = dict(dim=4, style_dim=3, mlp_dim=8, n_res=1, dis_dim=4, dis_n_layer=2, dis_num_scales=2,
            object_size=16, max_boxes=3, num_classes=5)
# Two objects apart from each other in a 32 x 32 image (class, x1, y1, x2, y2).
BOXES = [[[2, 2, 3, 12, 15], [3, 18, 16, 30, 30]], [[4, 4, 4, 20, 14]]]
# Boxes reaching past the image's border (x1, y1, x2, y2), padded to 2 per image.
PAST_BORDER = np.array([[[2, 3, 12, 15], [18, 16, 40, 36]], [[-4, 4, 20, 14], [0, 0, 0, 0]]],
                       "float32")


def _images(batch=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(
        "float32"
    )


def _mask(box, size=32, margin=0):
    """Pixels whose centres lie inside `box` (x1, y1, x2, y2), shrunk by `margin` pixels."""
    centres = np.arange(size) + 0.5
    x1, y1, x2, y2 = box
    inside_x = (centres > x1 + margin) & (centres < x2 - margin)
    inside_y = (centres > y1 + margin) & (centres < y2 - margin)
    return inside_y[:, None] & inside_x[None, :]


# ------------------------------------------------------------------ instances


def test_cropping_a_box_at_its_own_size_copies_its_pixels_and_pasting_puts_them_back():
    images = _images(batch=1)
    boxes = np.array([[[4, 8, 20, 24], [0, 0, 0, 0]]], "float32")
    crops = instances.crop_objects(images, boxes, 16).numpy()
    assert crops.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(crops[0], images[0, 8:24, 4:20], atol=1e-6)
    placed = instances.paste_objects(crops, boxes, 32, 32).numpy()
    assert placed.shape == (1, 2, 32, 32, 3)
    np.testing.assert_allclose(placed[0, 0, 8:24, 4:20], images[0, 8:24, 4:20], atol=1e-6)


def test_crops_resize_boxes_of_any_size_bilinearly():
    ramp = np.tile(np.arange(32, dtype="float32")[None, :, None], (32, 1, 3))[None]
    crops = instances.crop_objects(ramp, np.array([[[0, 0, 32, 32]]], "float32"), 16).numpy()
    # Crop pixel j samples the image at x = 2 j + 0.5: the mean of columns 2j and 2j + 1.
    np.testing.assert_allclose(crops[0, 0, :, 0], 2 * np.arange(16) + 0.5, atol=1e-5)


def test_box_weights_are_exact_masks_without_border_and_ramp_with_one():
    boxes = np.array([[[4, 8, 20, 24]]], "float32")
    hard = instances.box_weights(boxes, np.ones((1, 1)), 32, 32, border=0.0).numpy()[0, 0]
    np.testing.assert_array_equal(hard, _mask([4, 8, 20, 24]))
    soft = instances.box_weights(boxes, np.ones((1, 1)), 32, 32, border=0.25).numpy()[0, 0]
    assert soft[16, 12] == 1.0 and soft[16, 4] == pytest.approx(0.5 + 0.5 / 4)
    assert soft[16, 1] == 0.0 and 0 < soft[16, 2] < soft[16, 3] < 0.5  # past the edge
    padding = instances.box_weights(boxes, np.zeros((1, 1)), 32, 32).numpy()
    assert not padding.any()


def test_compose_keeps_the_background_outside_the_boxes_and_blends_overlaps():
    background = np.zeros((1, 32, 32, 3), "float32")
    objects = np.stack([np.ones((16, 16, 3)), -np.ones((16, 16, 3))]).astype("float32")
    boxes = np.array([[[0, 0, 16, 16], [8, 0, 24, 16]]], "float32")
    composed = instances.compose(background, objects, boxes, np.ones((1, 2)), 0.0).numpy()[0]
    np.testing.assert_array_equal(composed[20:], 0.0)
    np.testing.assert_array_equal(composed[:16, :8], 1.0)
    np.testing.assert_array_equal(composed[:16, 8:16], 0.0)  # the two objects' mean
    np.testing.assert_array_equal(composed[:16, 16:24], -1.0)
    alone = instances.compose(background, objects, boxes, np.array([[True, False]]), 0.0)
    np.testing.assert_array_equal(alone.numpy()[0, :16, 8:16], 1.0)


def test_background_mask_is_outside_every_valid_box():
    boxes = np.array([[[0, 0, 16, 16], [16, 16, 32, 32]]], "float32")
    mask = instances.background_mask(boxes, np.array([[True, False]]), 32, 32).numpy()[0, ..., 0]
    assert mask[:16, :16].sum() == 0 and mask[16:].all() and mask[:16, 16:].all()


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[5, 5, 5, 9]], r"boxes\[0\] box 0 \[5.0, 5.0, 5.0, 9.0\]: expected x1 < x2"),
        ([[0, 40, 2, 50, 9]], r"boxes\[0\] box 0 .*: entirely outside the 32x32 image"),
        ([[7, 1, 1, 9, 9]], r"boxes\[0\] box 0 .*: class 7 out of range, expected 0 <= class < 5"),
        ([[1.5, 1, 1, 9, 9]], "class 1.5 out of range"),
        ([[0, 0, 4, 4]] * 4, r"boxes\[0\]: 4 boxes, more than the model's max_boxes=3"),
        ([[0, 0, 4]], r"expected rows of \(x1, y1, x2, y2\) or \(class"),
    ],
)
def test_bad_boxes_get_a_one_line_error_naming_the_image_and_the_box(rows, message):
    with pytest.raises(ValueError, match=message):
        instances.check_boxes([rows], 32, 32, num_classes=5, max_boxes=3)


def test_boxes_past_the_image_are_clipped_and_lists_are_padded():
    boxes, valid = instances.check_boxes([[[-4, 2, 40, 9]], []], 32, 32, 5, 3)
    np.testing.assert_array_equal(boxes[0, 0], [0, 2, 32, 9])
    np.testing.assert_array_equal(valid, [[True], [False]])


def test_style_encoder_pools_regions_and_falls_back_to_the_whole_image():
    encoder = StyleEncoder(4, 3)
    images = _images()
    regions = np.zeros((2, 32, 32, 3), "float32")
    regions[..., 0] = 1.0
    regions[:, :16, :, 1] = 1.0
    styles = encoder(images, regions=regions).numpy()
    whole = encoder(images).numpy()
    assert styles.shape == (2, 3, 3)
    np.testing.assert_allclose(styles[:, 0], whole, atol=1e-5)
    np.testing.assert_allclose(styles[:, 2], whole, atol=1e-5)  # an empty region
    assert np.abs(styles[:, 1] - whole).max() > 1e-3


# ------------------------------------------------------------------ the model


def _batch(batch=2, seed=0):
    return next(iter(synthetic.unpaired_boxes(batch, size=32, max_objects=3, batch_size=batch,
                                              seed=seed, shuffle=False)))


@pytest.mark.parametrize("instance_branch", ["shared", "separate"])
def test_one_step_trains_every_network(instance_branch):
    model = INIT(**TINY, instance_branch=instance_branch, seed=1)
    model.compile(run_eagerly=True)
    before = {group: [v.numpy().copy() for v in variables]
              for group, variables in model.optimizer_groups().items()}
    logs = model.train_on_batch(_batch(), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "g_gan", "o_gan", "x_recon", "o_recon",
                         "composed_recon", "s_recon", "c_recon"}
    assert all(np.isfinite(value) for value in logs.values())
    for group, variables in model.optimizer_groups().items():
        unchanged = [v.path for b, v in zip(before[group], variables) if np.allclose(b, v.numpy())]
        assert not unchanged, f"{group} variables not trained: {unchanged}"
    networks = {v.path.split("/")[1] for v in model.optimizer_groups()["discriminator"]}
    assert {"object_discriminator_a", "object_discriminator_b"} <= networks
    separate = any("object_generator" in v.path for v in model.optimizer_groups()["generator"])
    assert separate == (instance_branch == "separate")


def test_padding_boxes_do_not_reach_the_losses():
    """Moving a padding row's coordinates (class -1) changes no loss."""
    model = INIT(**TINY, seed=1)
    batch = {key: value.numpy() for key, value in _batch().items()}
    batch["classes_a"][:, -1] = -1
    moved = {**batch, "boxes_a": batch["boxes_a"].copy()}
    moved["boxes_a"][:, -1] = [3, 5, 20, 29]

    seed_state = model.seed_generator.state.numpy()

    def losses(data):
        model.seed_generator.state.assign(seed_state)  # the same random styles
        domains = {d: model._domain_batch(data, d) for d in "ab"}
        codes = {d: model._encode_batch(*domains[d], d) for d in "ab"}
        decoded = {d: model._decode_batch(codes, domains, d) for d in "ab"}
        terms = model._generator_terms(domains, codes, decoded, "b", "a")
        terms.update(model._generator_terms(domains, codes, decoded, "a", "b"))
        terms["d_loss"] = model._discriminator_losses(domains, codes, decoded)["d_loss"]
        return {name: float(value) for name, value in terms.items()}

    np.testing.assert_allclose(list(losses(moved).values()), list(losses(batch).values()),
                               rtol=1e-6)


def test_an_object_style_changes_its_box_and_the_background_style_the_rest():
    model = INIT(**TINY, border=0.0, seed=2)
    images = _images(batch=1)
    boxes = [BOXES[0]]
    background = np.random.default_rng(0).standard_normal((1, 3)).astype("float32")
    objects = np.random.default_rng(1).standard_normal((1, 2, 3)).astype("float32")
    base = model.translate(images, boxes, background_style=background, object_styles=objects)[0]

    changed = objects.copy()
    changed[0, 1] += 2.0
    moved = model.translate(images, boxes, background_style=background, object_styles=changed)[0]
    difference = np.abs(moved - base).mean(axis=-1)
    second, first = _mask(BOXES[0][1][1:]), _mask(BOXES[0][0][1:])
    outside = ~(first | second)
    print(f"object style: mean change {difference[second].mean():.4f} in its box, "
          f"{difference[first].max():.2g} in the other, {difference[outside].max():.2g} outside")
    assert difference[second].mean() > 1e-2
    assert difference[first].max() == 0.0 and difference[outside].max() == 0.0

    moved = model.translate(images, boxes, background_style=background + 2.0,
                            object_styles=objects)[0]
    difference = np.abs(moved - base).mean(axis=-1)
    print(f"background style: mean change {difference[outside].mean():.4f} outside the boxes, "
          f"{difference[first | second].max():.2g} inside")
    assert difference[outside].mean() > 1e-2
    assert difference[first | second].max() == 0.0


def test_a_soft_border_blends_the_object_into_the_background():
    model = INIT(**TINY, border=0.3, seed=2)
    images = _images(batch=1)
    background = np.zeros((1, 3), "float32")
    objects = np.random.default_rng(1).standard_normal((1, 2, 3)).astype("float32")
    base = model.translate(images, [BOXES[0]], background_style=background, object_styles=objects)
    changed = objects.copy()
    changed[0, 1] += 2.0
    moved = model.translate(images, [BOXES[0]], background_style=background,
                            object_styles=changed)
    difference = np.abs(moved - base)[0].mean(axis=-1)
    box = BOXES[0][1][1:]
    core, ring = _mask(box, margin=2), _mask(box) & ~_mask(box, margin=1)
    # Near the edge the object weighs less than in the core.
    assert 0 < difference[ring].mean() < difference[core].mean()


def test_translate_draws_styles_and_takes_them_from_examples():
    model = INIT(**TINY, seed=3)
    images = _images()
    several = model.translate(images, BOXES, num_styles=3, seed=7)
    assert several.shape == (2, 3, 32, 32, 3) and several.dtype == np.float32
    np.testing.assert_array_equal(several, model.translate(images, BOXES, num_styles=3, seed=7))
    assert np.abs(several[:, 0] - several[:, 1]).mean() > 1e-3

    examples = _images(batch=1, seed=5)
    example_boxes = [[[0, 0, 16, 16]]]
    guided = model.translate(images, BOXES, "b2a", style_images=examples,
                             style_boxes=example_boxes, seed=1)
    styles = model.encode_styles(examples, example_boxes, "a")
    assert styles["objects"].shape == (1, 1, 3) and styles["valid"].all()
    # Object 0 of every image takes the example's object; object 1 (no counterpart) a draw.
    drawn = np.random.default_rng(1).standard_normal((1, 2, 3)).astype("float32")
    drawn[:, 0] = styles["objects"][:, 0]
    expected = model.translate(images, BOXES, "b2a", background_style=styles["background"],
                               object_styles=drawn)
    np.testing.assert_allclose(guided, expected, atol=1e-5)


def test_images_without_boxes_are_translated_globally():
    model = INIT(**TINY, seed=3)
    images = _images()
    style = np.ones((1, 3), "float32")
    translated = model.translate(images, None, background_style=style)
    content = model.generator_a.content_encoder(images)
    expected = model.generator_b.decode(content, np.repeat(style, 2, axis=0)).numpy()
    np.testing.assert_allclose(translated, expected, atol=1e-5)
    styles = model.encode_styles(images)
    np.testing.assert_allclose(styles["background"], styles["global"], atol=1e-5)
    assert not styles["valid"].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(direction="a2c"), "direction must be one of"),
        (dict(images=_images(size=24)), r"multiples of 16, got shape \(2, 24, 24, 3\)"),
        (dict(boxes=BOXES[:1]), "one box list per image expected, got 1 for 2 images"),
        (dict(boxes=[[[9, 0, 0, 4, 4]], []]), r"boxes\[0\] box 0 .*: class 9 out of range"),
        (dict(background_style=np.zeros((2, 4))), r"background_style must be \(2 or 1, 3\)"),
        (dict(object_styles=np.zeros((2, 3, 3))), r"object_styles must be \(2 or 1, 2, 3\)"),
        (dict(style_images=_images(1), background_style=np.zeros((1, 3))), "not both"),
        (dict(style_images=_images(3)), "style_images: expected 2 or 1 images, got 3"),
        (dict(num_styles=0), "num_styles must be a positive int"),
    ],
)
def test_translate_names_bad_input(kwargs, message):
    model = INIT(**TINY)
    kwargs = {"images": _images(), "boxes": BOXES, **kwargs}
    with pytest.raises(ValueError, match=message):
        model.translate(**kwargs)


def test_constructor_refuses_bad_options():
    with pytest.raises(ValueError, match="instance_branch must be one of"):
        INIT(**{**TINY, "instance_branch": "per_class"})
    with pytest.raises(ValueError, match="object_size must be a positive multiple of 16"):
        INIT(**{**TINY, "object_size": 20})
    with pytest.raises(ValueError, match="object_size 16 is smaller than 64"):
        INIT(**{**TINY, "dis_num_scales": 3, "dis_n_layer": 4})


def test_a_batch_with_more_boxes_than_the_maximum_is_refused():
    model = INIT(**{**TINY, "max_boxes": 2})
    model.compile(run_eagerly=True)
    with pytest.raises(ValueError, match="boxes_a has 3 boxes per image, more than max_boxes=2"):
        model.train_on_batch(_batch())


def test_sample_columns_feed_a_progress_grid():
    from keras_i2i import visualize

    model = INIT(**TINY)
    columns = model.sample_columns(_batch())
    assert list(columns) == ["a", "a2b", "a recon", "b", "b2a", "b recon"]
    assert visualize.sample_grid(columns).shape[1] == 6 * 96


def test_presets_and_the_preset_folder_round_trip(tmp_path):
    assert set(INIT.presets()) == {"sunny2night", "sunny2rainy", "sunny2cloudy", "synthetic"}
    arguments = set(inspect.signature(INIT.__init__).parameters) | set(
        inspect.signature(INIT.__mro__[1].__init__).parameters)
    assert all(set(p["config"]) <= arguments for p in INIT_PRESETS.values())
    street = INIT.from_preset("sunny2night")
    assert (street.object_size, street.max_boxes, street.recon_x_cyc_weight) == (64, 16, 10.0)
    model = INIT(**TINY, instance_branch="separate")
    model.save_to_preset(tmp_path / "init")
    restored = INIT.from_preset(tmp_path / "init")
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored.translate(_images(), BOXES, num_styles=2, seed=1),
                               model.translate(_images(), BOXES, num_styles=2, seed=1),
                               atol=1e-6)


@pytest.mark.parametrize("cli", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "and-saved_model_cli"])
def test_export_serves_padded_boxes_with_a_count_in_a_fresh_process(tmp_path, cli):
    model = INIT(**TINY, seed=4)
    images = _images()
    boxes, valid = instances.check_boxes(BOXES, 32, 32, 5, 3)
    background = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")
    objects = np.random.default_rng(1).standard_normal((2, 2, 3)).astype("float32")
    expected = model.translate(images, BOXES, "b2a", background_style=background,
                               object_styles=objects)
    past_border = [PAST_BORDER[0], PAST_BORDER[1, :1]]
    clipped = model.translate(images, past_border, "b2a", background_style=background,
                              object_styles=objects)
    styles = model.encode_styles(images, BOXES, "b")
    model.export(tmp_path / "served", verbose=False)
    np.savez(tmp_path / "inputs.npz", image=images, boxes=boxes,
             num_boxes=valid.sum(1).astype("int32"), background=background, objects=objects,
             past_border=PAST_BORDER, inverted=PAST_BORDER[:, :, [2, 1, 0, 3]])
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "served")!r})
        x = {{k: tf.constant(v) for k, v in np.load({str(tmp_path / "inputs.npz")!r}).items()}}
        common = dict(image=x["image"], boxes=x["boxes"], num_boxes=x["num_boxes"])
        out = loaded.signatures["translate_b2a"](**common, background_style=x["background"],
                                                 object_styles=x["objects"])["image"]
        styles = loaded.signatures["encode_styles_b"](**common)
        sampled = [loaded.signatures["serving_default"](**common)["image"] for _ in "12"]
        clipped = loaded.signatures["translate_b2a"](
            image=x["image"], boxes=x["past_border"], num_boxes=x["num_boxes"],
            background_style=x["background"], object_styles=x["objects"])["image"]
        refused = []
        for boxes, count in ((x["boxes"], [3, 0]), (x["inverted"], [2, 1]),
                             (x["past_border"] + 40, [2, 1])):
            try:
                loaded.signatures["serving_default"](image=x["image"], boxes=boxes,
                                                     num_boxes=tf.constant(count))
                refused.append("")
            except tf.errors.InvalidArgumentError as error:
                refused.append(error.message)
        np.savez({str(tmp_path / "out.npz")!r}, image=out, sampled=sampled, refused=refused,
                 clipped=clipped, background=styles["background_style"],
                 objects=styles["object_styles"])
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    served = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(served["image"], expected, atol=1e-5)
    np.testing.assert_allclose(served["background"], styles["background"], atol=1e-5)
    np.testing.assert_allclose(served["objects"], styles["objects"], atol=1e-5)
    first, second = served["sampled"]
    assert first.shape == (2, 32, 32, 3) and np.abs(first - second).mean() > 1e-4
    np.testing.assert_allclose(served["clipped"], clipped, atol=1e-5)
    too_many, inverted, outside = served["refused"]
    assert "num_boxes must be at most" in too_many
    message = ("boxes: each of the first num_boxes boxes must have x1 < x2 and y1 < y2 and "
               "overlap the 32x32 image; {} do not, the first ([image, box] {}): {}")
    assert message.format(3, "[[0 0]]", "[[12 3 2 15]]") in inverted
    assert message.format(3, "[[0 0]]", "[[42 43 52 55]]") in outside
    if cli:
        assert_signatures_shown(tmp_path / "served", model)
        out = saved_model_cli_run(tmp_path / "served", "translate_b2a", {
            "image": images, "boxes": boxes, "num_boxes": valid.sum(1).astype("int32"),
            "background_style": background, "object_styles": objects}, tmp_path)
        np.testing.assert_allclose(out["image"], expected, atol=1e-5)


@pytest.mark.slow  # XLA takes about 3 minutes to compile INIT's step on a CPU
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_jit_compiled_training(policy):
    keras.config.set_dtype_policy(policy)
    model = INIT(**TINY, recon_x_cyc_weight=1.0)
    model.compile(jit_compile=True)
    data = synthetic.unpaired_boxes(4, size=32, max_objects=3, batch_size=2)
    history = model.fit(data, epochs=1, verbose=0)
    assert "x_cycle" in history.history
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert model.translate(_images(), BOXES, seed=0).dtype == np.float32


def test_mixed_precision_training():
    keras.config.set_dtype_policy("mixed_float16")
    model = INIT(**TINY, instance_branch="separate", recon_x_cyc_weight=1.0)
    model.compile(run_eagerly=True)
    logs = model.train_on_batch(_batch(), return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())
    assert all(w.dtype == "float32" for w in model.weights if "float" in str(w.dtype))
    assert model.translate(_images(), BOXES, seed=0).dtype == np.float32


def test_synthetic_unpaired_boxes_are_two_scenes_with_their_boxes():
    batch = _batch()
    assert batch["boxes_a"].shape == (2, 3, 4) and batch["classes_b"].shape == (2, 3)
    assert not np.array_equal(batch["image_a"], batch["image_b"])
    valid = batch["classes_a"].numpy() >= 0
    assert valid.any() and (batch["boxes_a"].numpy()[~valid] == 0).all()
    assert tf.reduce_all(batch["boxes_a"][..., 2] >= batch["boxes_a"][..., 0])
