"""Synthetic datasets: determinism, the oracle segmenter, exact flow, boxes, tf.data wrappers."""

import numpy as np
import pytest

from keras_i2i.data import synthetic
from keras_i2i.data.synthetic import datasets
from keras_i2i.metrics.fidelity import label_fidelity


def test_scenes_are_deterministic_by_seed():
    first, again, other = (datasets.scene_sample(3, seed=s) for s in (7, 7, 8))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["label"], other["label"])


def test_instances_follow_the_cityscapes_encoding():
    frame = synthetic.rasterize(synthetic.random_scene(1))
    things = frame.instance >= 1000
    assert things.any()
    np.testing.assert_array_equal(frame.instance[things] // 1000, frame.label[things])
    np.testing.assert_array_equal(frame.instance[~things], frame.label[~things])
    assert set(np.unique(frame.label)) <= set(range(synthetic.NUM_CLASSES))


@pytest.mark.parametrize("domain", ["day", "night"])
def test_the_oracle_recovers_clean_renderings(domain):
    images, labels = [], []
    for index in range(16):
        scene = synthetic.random_scene(index)
        frame = synthetic.rasterize(scene)
        image = synthetic.render(scene, frame, domain)
        assert -1.0 <= image.min() and image.max() <= 1.0
        images.append(np.round((image + 1) * 127.5) / 127.5 - 1)  # as saved to 8-bit files
        labels.append(frame.label)
    segmenter = lambda batch: synthetic.segment(batch, domain)  # noqa: E731
    scores = label_fidelity(np.stack(images), np.stack(labels), synthetic.NUM_CLASSES, segmenter)
    assert scores["mean_iou"] >= 0.95 and scores["pixel_accuracy"] >= 0.99


def test_the_oracle_degrades_gracefully_on_imperfect_images():
    scene = synthetic.random_scene(0)
    frame = synthetic.rasterize(scene)
    noisy = synthetic.render(scene, frame) + np.random.default_rng(0).normal(0, 0.25, (64, 64, 3))
    accuracy = np.mean(synthetic.segment(noisy) == frame.label)
    assert 1 / synthetic.NUM_CLASSES < accuracy < 1.0


def test_backward_flow_warps_the_previous_frame_onto_the_next():
    sample = datasets.video_sample(0, frames=4, max_speed=2.0)
    height, width = 64, 64
    rows, cols = np.mgrid[0:height, 0:width]
    for t in range(1, 4):
        flow, previous, current = sample["flow"][t - 1], sample["image"][t - 1], sample["image"][t]
        x, y = cols + flow[..., 0], rows + flow[..., 1]
        x0, y0 = np.clip(np.floor(x).astype(int), 0, width - 2), np.clip(
            np.floor(y).astype(int), 0, height - 2
        )
        ax, ay = (x - x0)[..., None], (y - y0)[..., None]
        warped = (
            previous[y0, x0] * (1 - ax) * (1 - ay)
            + previous[y0, x0 + 1] * ax * (1 - ay)
            + previous[y0 + 1, x0] * (1 - ax) * ay
            + previous[y0 + 1, x0 + 1] * ax * ay
        )
        error = np.abs(warped - current).max(-1)
        assert np.median(error) < 1e-3 and np.mean(error > 0.1) < 0.1
        moving = np.abs(flow).sum(-1) > 0
        assert moving.any() and (sample["label"][t][moving] >= 2).all()


def test_object_boxes_bound_their_instances():
    frame = synthetic.rasterize(synthetic.random_scene(5))
    classes, boxes = synthetic.object_boxes(frame)
    for label, (x1, y1, x2, y2) in zip(classes, boxes):
        inside = frame.label[int(y1) : int(y2), int(x1) : int(x2)]
        assert label in synthetic.THING_CLASSES and (inside == label).any()


def test_unpaired_domains_render_different_scenes():
    sample = datasets.unpaired_sample(0)
    segmented = synthetic.segment(sample["image_a"]), synthetic.segment(sample["image_b"], "night")
    assert not np.array_equal(*segmented)


@pytest.mark.parametrize(
    "make, shapes",
    [
        (
            lambda: synthetic.scenes(8, size=32, batch_size=4),
            {"label": (4, 32, 32, 1), "instance": (4, 32, 32, 1), "image": (4, 32, 32, 3)},
        ),
        (
            lambda: synthetic.unpaired(8, size=32, batch_size=4),
            {"image_a": (4, 32, 32, 3), "image_b": (4, 32, 32, 3)},
        ),
        (
            lambda: synthetic.multi_domain(8, size=32, batch_size=4),
            {"image": (4, 32, 32, 3), "domain": (4,)},
        ),
        (
            lambda: synthetic.videos(4, size=32, frames=3, batch_size=2),
            {
                "label": (2, 3, 32, 32, 1),
                "instance": (2, 3, 32, 32, 1),
                "image": (2, 3, 32, 32, 3),
                "flow": (2, 2, 32, 32, 2),
            },
        ),
        (
            lambda: synthetic.boxes(8, size=32, batch_size=4),
            {"image": (4, 32, 32, 3), "boxes": (4, 5, 4), "classes": (4, 5)},
        ),
    ],
)
def test_datasets_have_the_loader_keys_and_static_shapes(make, shapes):
    dataset = make()
    assert {key: tuple(spec.shape) for key, spec in dataset.element_spec.items()} == shapes
    batch = next(iter(dataset))
    assert {key: tuple(value.shape) for key, value in batch.items()} == shapes


def test_dataset_order_does_not_change_the_samples():
    shuffled = {
        s["label"].numpy().tobytes() for s in synthetic.scenes(6, size=16, batch_size=None, seed=2)
    }
    ordered = {
        s["label"].numpy().tobytes()
        for s in synthetic.scenes(6, size=16, batch_size=None, seed=2, shuffle=False)
    }
    assert shuffled == ordered and len(ordered) == 6
