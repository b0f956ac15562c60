"""Helpers for the data tests: tiny files in the reference layouts."""

import os

import numpy as np
import pytest
from PIL import Image


def save_image(path, array):
    """Writes an array (uint8 RGB, uint8/uint16 ids) in the format its suffix names."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)
    return str(path)


def batches(dataset):
    """All elements of a dataset as dicts of numpy arrays."""
    return [{key: value.numpy() for key, value in element.items()} for element in dataset]


@pytest.fixture
def label_folder(tmp_path):
    """pix2pixHD layout, 3 samples of 8x12: label ids 0..2, instances, images coloured by label."""
    rng = np.random.default_rng(0)
    for index in range(3):
        label = rng.integers(0, 3, (8, 12)).astype(np.uint8)
        save_image(tmp_path / "train_label" / f"{index}.png", label)
        save_image(
            tmp_path / "train_inst" / f"{index}.png", (label.astype(np.uint16) * 1000 + index)
        )
        save_image(
            tmp_path / "train_img" / f"{index}.png", np.repeat(label[..., None] * 100, 3, -1)
        )
    return tmp_path
