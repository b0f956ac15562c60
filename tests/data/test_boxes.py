"""Images with object boxes: the JSON and INIT annotation layouts, and two unpaired domains."""

import numpy as np
import pytest

from keras_i2i.data import boxes, synthetic, unpaired_boxes
from keras_i2i.data.synthetic.datasets import boxes_sample
from tests.data.conftest import batches


@pytest.mark.parametrize("layout, annotations", [("json", "boxes.json"), ("init", "boxes.txt")])
def test_boxes_are_read_as_written(tmp_path, layout, annotations):
    synthetic.write_boxes(tmp_path, 3, layout=layout, size=32, seed=1)
    dataset = boxes(
        tmp_path, annotations, batch_size=None, training=False, preprocess="none", size_multiple=32
    )
    expected = [boxes_sample(index, seed=1, size=32) for index in range(3)]
    most = max((e["classes"] >= 0).sum() for e in expected)
    for sample, truth in zip(batches(dataset), expected):
        count = (truth["classes"] >= 0).sum()
        assert sample["boxes"].shape == (most, 4)  # max_boxes defaults to the most boxes
        np.testing.assert_array_equal(sample["classes"], truth["classes"][:most])
        np.testing.assert_allclose(sample["boxes"][:count], truth["boxes"][:count])
        np.testing.assert_allclose(sample["image"], truth["image"], atol=1 / 127)


def test_boxes_follow_the_crop_and_flip(tmp_path):
    synthetic.write_boxes(tmp_path, 2, size=32, seed=0)
    batch = next(
        iter(boxes(tmp_path, batch_size=2, max_boxes=8, crop_size=24, load_size=32, seed=3))
    )
    assert batch["image"].shape == (2, 24, 24, 3) and batch["boxes"].shape == (2, 8, 4)
    kept = batch["classes"].numpy() >= 0
    coordinates = batch["boxes"].numpy()[kept]
    assert (coordinates >= 0).all() and (coordinates <= 24).all()
    assert (coordinates[:, 2] > coordinates[:, 0]).all() and (
        coordinates[:, 3] > coordinates[:, 1]
    ).all()
    assert not batch["boxes"].numpy()[~kept].any()


def test_two_domains_with_boxes(tmp_path):
    for domain, folder in [("day", "trainA"), ("night", "trainB")]:
        synthetic.write_boxes(tmp_path / folder, 3, size=16, domain=domain)
    batch = next(iter(unpaired_boxes(tmp_path, batch_size=2, crop_size=16, load_size=16)))
    assert sorted(batch) == ["boxes_a", "boxes_b", "classes_a", "classes_b", "image_a", "image_b"]
