"""Bad input: each error names the file and what was expected; on_error="skip" counts the skips."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.data import boxes, paired_labels, synthetic, unpaired, video_clips
from tests.data.conftest import batches, save_image


def load(root, **options):
    return batches(
        paired_labels(root, label_nc=3, instance=True, batch_size=None, shuffle=False, **options)
    )


def expect_error(root, message, **options):
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        load(root, **options)


def test_label_id_at_or_above_label_nc(label_folder):
    save_image(label_folder / "train_label" / "1.png", np.full((8, 12), 40, np.uint8))
    expect_error(
        label_folder, f"{label_folder / 'train_label' / '1.png'}: label id 40 >= label_nc 3"
    )


def test_ade20k_style_ids_name_their_offset(tmp_path):
    save_image(tmp_path / "labels" / "x.png", np.full((4, 4), 151, np.uint8))
    save_image(tmp_path / "images" / "x.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label id 151 >= label_nc 150 \\+ 1"):
        batches(paired_labels(tmp_path, "ade20k", batch_size=None))


def test_instance_map_of_another_size(label_folder):
    save_image(label_folder / "train_inst" / "2.png", np.zeros((4, 4), np.uint16))
    expect_error(
        label_folder,
        f"{label_folder / 'train_inst' / '2.png'}: instance map is 4x4, expected the size of",
    )


def test_image_of_another_size(label_folder):
    save_image(label_folder / "train_img" / "0.png", np.zeros((8, 10, 3), np.uint8))
    expect_error(
        label_folder, f"{label_folder / 'train_img' / '0.png'}: image is 10x8, expected the size of"
    )


def test_corrupt_and_truncated_files(label_folder):
    (label_folder / "train_img" / "0.png").write_bytes(b"not an image")
    expect_error(
        label_folder, f"{label_folder / 'train_img' / '0.png'}: cannot be read as an image"
    )
    data = (label_folder / "train_label" / "0.png").read_bytes()
    save_image(label_folder / "train_img" / "0.png", np.zeros((8, 12, 3), np.uint8))
    (label_folder / "train_label" / "0.png").write_bytes(data[: len(data) // 2])
    expect_error(
        label_folder, f"{label_folder / 'train_label' / '0.png'}: cannot be read as an image"
    )


def test_palette_label_maps_are_refused(label_folder):
    from PIL import Image

    Image.fromarray(np.zeros((8, 12), np.uint8)).convert("P").save(
        label_folder / "train_label" / "0.png"
    )
    expect_error(label_folder, "expected the label map as a single-channel 8- or 16-bit PNG")


def test_missing_partners_fail_when_listing(label_folder):
    os.remove(label_folder / "train_img" / "1.png")
    with pytest.raises(
        ValueError,
        match=re.escape(f"{label_folder / 'train_label' / '1.png'}: this label map has no image"),
    ):
        load(label_folder)
    save_image(label_folder / "train_img" / "extra.png", np.zeros((8, 12, 3), np.uint8))
    os.remove(label_folder / "train_label" / "1.png")
    os.remove(label_folder / "train_inst" / "1.png")
    with pytest.raises(
        ValueError,
        match=re.escape(f"{label_folder / 'train_img' / 'extra.png'}: this image has no label map"),
    ):
        load(label_folder)


def test_skip_drops_bad_samples_and_counts_them(label_folder):
    save_image(label_folder / "train_label" / "1.png", np.full((8, 12), 9, np.uint8))
    (label_folder / "train_img" / "2.png").write_bytes(b"garbage")
    save_image(
        label_folder / "train_label" / "3.png", np.zeros((8, 12), np.uint8)
    )  # no image, no instance
    dataset = paired_labels(
        label_folder, label_nc=3, instance=True, batch_size=None, on_error="skip"
    )
    assert len(batches(dataset)) == 1
    assert dataset.skipped.count == 3
    assert any("label id 9 >= label_nc 3" in reason for reason in dataset.skipped.reasons)
    assert len(batches(dataset)) == 1 and dataset.skipped.count == 3  # a second epoch adds nothing


def test_unpaired_list_entries_must_exist(tmp_path):
    synthetic.write_unpaired(tmp_path, 2, size=16)
    (tmp_path / "list_trainA.txt").write_text("./00000.png\n./missing.png\n")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'list_trainA.txt'}, line 2:")):
        unpaired(tmp_path)


def test_video_sequences_need_equal_and_sufficient_frames(tmp_path):
    synthetic.write_videos(tmp_path, 2, frames=4, size=16)
    with pytest.raises(ValueError, match="seq000: 4 frames, expected at least 6"):
        video_clips(tmp_path, "synthetic", frames=6)
    os.remove(tmp_path / "train_B" / "seq001" / "00003.png")
    with pytest.raises(
        ValueError, match="seq001: the members of this sequence differ in frame count"
    ):
        video_clips(tmp_path, "synthetic", frames=2)


def test_boxes_annotations_are_checked(tmp_path):
    synthetic.write_boxes(tmp_path, 2, size=16)
    (tmp_path / "bad.json").write_text('{"00000.png": [[2, 5, 1, 3, 4]], "00001.png": []}')
    with pytest.raises(
        ValueError, match=re.escape(f"{tmp_path / 'bad.json'}: box [2, 5, 1, 3, 4] of 00000.png")
    ):
        boxes(tmp_path, "bad.json")
    (tmp_path / "short.json").write_text('{"00000.png": []}')
    with pytest.raises(
        ValueError, match=re.escape(f"{tmp_path / '00001.png'}: this image has no entry")
    ):
        boxes(tmp_path, "short.json")
