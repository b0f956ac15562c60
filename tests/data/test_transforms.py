"""The reference preprocessing modes, and one transform shared by every member of a sample."""

import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.data.transforms import Preprocess


@pytest.mark.parametrize(
    "mode, input_size, expected",
    [
        ("resize_and_crop", (1024, 2048), (286, 286)),
        ("scale_width", (1024, 2048), (143, 286)),  # int(286 * 1024 / 2048)
        ("scale_width_and_crop", (480, 640), (214, 286)),
        ("scale_shortside", (480, 640), (286, 381)),  # int(286 * 640 / 480)
        ("scale_shortside", (640, 480), (381, 286)),
        ("crop", (480, 640), (480, 640)),
        ("fixed", (1024, 2048), (128, 256)),  # crop 256, aspect 2
        ("none", (80, 112), (64, 128)),  # rounds half to even, like Python's round
        ("none", (10, 100), (32, 96)),  # at least one multiple
    ],
)
def test_resized_size_follows_the_reference_formulas(mode, input_size, expected):
    preprocess = Preprocess(mode, load_size=286, crop_size=256, aspect_ratio=2.0)
    height, width = preprocess.resized_size(tf.constant(input_size[0]), tf.constant(input_size[1]))
    assert (int(height), int(width)) == expected


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="resize_and_crop"):
        Preprocess("resize_crop")


def _coded_sample(height=20, width=30, seed=0):
    """A label map, an instance map and an image that encode each other, plus the box of a block."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 5, (height, width, 1)).astype(np.int32)
    label[4:9, 6:17] = 7
    return {
        "label": tf.constant(label),
        "instance": tf.constant(label * 1000 + 3),
        "image": tf.constant(np.repeat(label / 10.0, 3, -1).astype(np.float32)),
        "boxes": tf.constant([[6.0, 4.0, 17.0, 9.0], [0.0, 0.0, 0.0, 0.0]]),
        "classes": tf.constant([7, -1]),
    }


def _bounding_box(mask):
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


@pytest.mark.parametrize("seed", range(6))
def test_crop_and_flip_move_every_member_alike(seed):
    preprocess = Preprocess("crop", crop_size=16)
    out = {k: v.numpy() for k, v in preprocess(_coded_sample(), tf.constant([seed, 1])).items()}
    assert out["label"].shape == (16, 16, 1) and out["image"].shape == (16, 16, 3)
    np.testing.assert_array_equal(out["instance"], out["label"] * 1000 + 3)
    np.testing.assert_allclose(out["image"][..., :1], out["label"] / 10.0)
    block = out["label"][..., 0] == 7
    if block.any():
        assert out["classes"][0] == 7
        np.testing.assert_allclose(out["boxes"][0], _bounding_box(block))
    else:
        assert out["classes"][0] == -1 and not out["boxes"][0].any()
    assert out["classes"][1] == -1


def test_flips_and_crop_positions_vary_with_the_seed():
    preprocess = Preprocess("crop", crop_size=16)
    labels = {
        preprocess(_coded_sample(), tf.constant([s, 0]))["label"].numpy().tobytes()
        for s in range(12)
    }
    assert len(labels) > 4


def test_evaluation_takes_the_centre_crop_without_flip():
    preprocess = Preprocess("crop", crop_size=16, flip=False, random=False)
    sample = _coded_sample()
    for seed in range(3):
        out = preprocess(sample, tf.constant([seed, 0]))
        np.testing.assert_array_equal(out["label"], sample["label"][2:18, 7:23])


def test_resize_keeps_label_ids_and_scales_boxes():
    out = Preprocess("fixed", crop_size=60, aspect_ratio=1.5, flip=False)(
        _coded_sample(), tf.constant([0, 0])
    )
    assert out["label"].shape == (40, 60, 1) and out["image"].shape == (40, 60, 3)
    assert set(np.unique(out["label"])) <= set(range(5)) | {7}
    np.testing.assert_allclose(out["boxes"][0], [12.0, 8.0, 34.0, 18.0])
    np.testing.assert_array_equal(out["instance"], out["label"] * 1000 + 3)


def test_a_crop_larger_than_the_image_pads_like_pil():
    out = Preprocess("crop", crop_size=24, flip=False)(
        _coded_sample(height=20), tf.constant([0, 0])
    )
    assert out["label"].shape == (24, 24, 1)
    assert (out["label"].numpy()[20:] == 0).all() and (out["image"].numpy()[20:] == -1).all()


def test_clips_share_one_transform_across_frames():
    frames = np.stack([_coded_sample()["label"].numpy()] * 3)
    frames[1] += 10
    out = Preprocess("crop", crop_size=16)({"label": tf.constant(frames)}, tf.constant([5, 0]))[
        "label"
    ].numpy()
    np.testing.assert_array_equal(out[1], out[0] + 10)
    np.testing.assert_array_equal(out[2], out[0])
