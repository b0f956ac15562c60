"""Pairwise diversity and the warping error against closed forms (FID and KID: test_fid.py)."""

import numpy as np
import pytest

from keras_i2i.data import synthetic
from keras_i2i.metrics.diversity import mean_pairwise_distance
from keras_i2i.metrics.temporal import same_instance_mask, warping_error


def test_mean_pairwise_distance_is_the_mean_l1_over_pairs():
    images = np.stack([np.full((2, 2, 3), v) for v in (0.0, 0.5, -1.0)])
    assert mean_pairwise_distance(images) == pytest.approx((0.5 + 1.0 + 1.5) / 3)
    with pytest.raises(ValueError, match="at least two images"):
        mean_pairwise_distance(images[:1])


def _integer_motion_video(frames=4, seed=3):
    """A synthetic video whose objects move by whole pixels per frame: frames, instance maps
    and the exact flow (the texture moves with the objects, so warping is exact)."""
    scene = synthetic.random_scene(seed, 32, max_objects=4, max_speed=2.0)
    scene.velocities = np.round(scene.velocities)
    assert np.abs(scene.velocities).sum(1).min() >= 1  # every object moves
    clip = [synthetic.rasterize(scene, t) for t in range(frames)]
    return (np.stack([synthetic.render(scene, frame) for frame in clip]),
            np.stack([frame.instance for frame in clip]),
            np.stack([synthetic.backward_flow(scene, frame) for frame in clip[1:]]))


def test_warping_error_is_zero_for_a_video_moving_as_its_flow():
    video, instances, flows = _integer_motion_video()
    mask = same_instance_mask(instances, flows)
    assert mask.shape == (3, 32, 32) and 0.5 < mask.mean() < 1.0  # occlusions left out
    assert warping_error(video, flows, mask) == pytest.approx(0.0, abs=1e-6)
    assert warping_error(video, flows) > 1e-3  # the occluded and uncovered pixels
    # Batched videos (leading axes) and a (..., 1) mask give the same.
    assert warping_error(video[None], flows[None], mask[None, ..., None]) == pytest.approx(
        0.0, abs=1e-6)


def test_warping_error_of_a_whole_pixel_shift_with_edge_padding_is_zero():
    first = np.random.default_rng(0).uniform(-1, 1, (8, 10, 3)).astype("float32")
    # frame_t(x, y) = frame_(t-1)(x + 1, y), the last column repeated: FlowWarp's border.
    second = np.concatenate([first[:, 1:], first[:, -1:]], axis=1)
    flows = np.zeros((1, 8, 10, 2), "float32")
    flows[..., 0] = 1.0
    assert warping_error(np.stack([first, second]), flows) == pytest.approx(0.0, abs=1e-7)
    assert warping_error(np.stack([first, second]), np.zeros_like(flows)) > 0.1


def test_same_instance_mask_leaves_out_sources_outside_the_image_and_other_instances():
    instances = np.zeros((2, 4, 5), int)
    instances[:, :, 2:] = 7  # a static boundary between instances 0 and 7
    flows = np.zeros((1, 4, 5, 2), "float32")
    flows[..., 0] = 0.5  # half a pixel to the right: column 1 mixes 0 and 7, column 4 leaves
    mask = same_instance_mask(instances[..., None], flows)
    np.testing.assert_array_equal(mask[0, 0], [True, False, True, True, False])


def test_warping_error_of_a_flickering_video_is_the_flicker():
    still = np.random.default_rng(1).uniform(-0.5, 0.5, (6, 6, 3)).astype("float32")
    video = np.stack([still + (0.1 if t % 2 else 0.0) for t in range(5)])
    assert warping_error(video, np.zeros((4, 6, 6, 2))) == pytest.approx(0.1, abs=1e-6)


def test_warping_error_averages_over_the_masked_pixels_only():
    video = np.zeros((3, 4, 4, 2), "float32")
    video[1, 0, 0] = 1.0  # frame 1 differs from frame 0 at one pixel, frame 2 from 1 there too
    flows = np.zeros((2, 4, 4, 2), "float32")
    mask = np.ones((2, 4, 4), bool)
    mask[:, 0, 0] = False
    assert warping_error(video, flows, mask) == 0.0
    assert warping_error(video, flows) == pytest.approx(2 * 2 / (2 * 16 * 2))
    only = ~mask
    assert warping_error(video, flows, only) == pytest.approx(1.0)


def test_warping_error_checks_shapes():
    video = np.zeros((3, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=r"flows must be \(\.\.\., T - 1, H, W, 2\)"):
        warping_error(video, np.zeros((3, 4, 4, 2)))
    with pytest.raises(ValueError, match="T >= 2"):
        warping_error(video[:1], np.zeros((0, 4, 4, 2)))
    with pytest.raises(ValueError, match="mask must be"):
        warping_error(video, np.zeros((2, 4, 4, 2)), np.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="scores no pixel"):
        warping_error(video, np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="disagree"):
        same_instance_mask(np.zeros((3, 4, 4), int), np.zeros((3, 4, 4, 2)))
