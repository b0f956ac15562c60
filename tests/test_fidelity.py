"""Label fidelity (pixel accuracy, mIoU over present classes) against hand-computed values."""

import numpy as np
import pytest

from keras_i2i.data import synthetic
from keras_i2i.metrics.fidelity import label_fidelity


def fixed(prediction):
    """A segmenter that ignores the images and returns `prediction`."""
    return lambda images: np.asarray(prediction)


def test_hand_computed_confusion():
    labels = np.array([[[0, 0, 1, 1]]])
    predicted = np.array([[[0, 1, 1, 1]]])
    scores = label_fidelity(np.zeros((1, 1, 4, 3)), labels, 3, fixed(predicted))
    # class 0: 1 hit, union 2; class 1: 2 hits, union 3; class 2 is absent from the labels
    assert scores["pixel_accuracy"] == pytest.approx(3 / 4)
    assert scores["mean_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_dontcare_pixels_are_ignored_and_unknown_predictions_are_wrong():
    labels = np.array([[[0, 3, 1, 1]]])[..., None]  # 3 = dontcare with num_classes 3
    predicted = np.array([[[7, 2, 1, 1]]])
    scores = label_fidelity(np.zeros((1, 1, 4, 3)), labels, 3, fixed(predicted))
    assert scores["pixel_accuracy"] == pytest.approx(2 / 3)
    assert scores["mean_iou"] == pytest.approx((0 + 1) / 2)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="expected the labels"):
        label_fidelity(np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4)), 2, fixed(np.zeros((1, 2, 2))))


def test_the_synthetic_oracle_scores_clean_and_shuffled_images():
    scenes = [synthetic.random_scene(index) for index in range(4)]
    frames = [synthetic.rasterize(scene) for scene in scenes]
    images = np.stack([synthetic.render(s, f) for s, f in zip(scenes, frames)])
    labels = np.stack([frame.label for frame in frames])
    clean = label_fidelity(images, labels, synthetic.NUM_CLASSES, synthetic.segment)
    mismatched = label_fidelity(images[::-1], labels, synthetic.NUM_CLASSES, synthetic.segment)
    assert clean == {"pixel_accuracy": 1.0, "mean_iou": 1.0}
    assert mismatched["mean_iou"] < 0.8
