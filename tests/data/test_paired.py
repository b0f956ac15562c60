"""Paired loaders on the real samples (Cityscapes, COCO-Stuff) and on fixtures of other layouts."""

import numpy as np
import pytest
from PIL import Image

from keras_i2i.data import paired_images, paired_labels, synthetic
from keras_i2i.data.registry import dataset_settings
from tests.data.conftest import batches, save_image


def test_cityscapes_sample_at_512x256(shared_dir):
    root = shared_dir / "data" / "cityscapes_sample"
    dataset = paired_labels(root, dataset="cityscapes", batch_size=2, seed=0)
    batch = next(iter(dataset))
    assert batch["label"].shape == (2, 256, 512, 1) and batch["label"].dtype == "int32"
    assert batch["instance"].shape == (2, 256, 512, 1) and batch["instance"].dtype == "int32"
    assert batch["image"].shape == (2, 256, 512, 3) and batch["image"].dtype == "float32"
    label, instance = batch["label"].numpy(), batch["instance"].numpy()
    assert 0 <= label.min() and label.max() < 35
    # 16-bit instance ids class * 1000 + k sit on pixels of their class.
    things = instance >= 1000
    assert things.any() and (instance[things] // 1000 == label[things]).all()
    assert -1.0 <= batch["image"].numpy().min() and batch["image"].numpy().max() <= 1.0
    assert dataset.skipped.count == 0


def test_cityscapes_test_split_has_labels_without_images(shared_dir):
    root = shared_dir / "data" / "cityscapes_sample"
    batch = next(iter(paired_labels(root, dataset="cityscapes", phase="test", batch_size=3)))
    assert sorted(batch) == ["instance", "label"]
    assert batch["label"].shape == (3, 256, 512, 1)


def test_coco_stuff_maps_unlabeled_to_the_dontcare_class(shared_dir):
    root = shared_dir / "data" / "coco_stuff_sample"
    samples = batches(
        paired_labels(
            root, "coco_stuff", phase="val", batch_size=None, preprocess="none", size_multiple=1
        )
    )
    first = sorted((root / "val_label").iterdir())[0]
    raw = np.asarray(Image.open(first)).astype(np.int32)
    np.testing.assert_array_equal(samples[0]["label"][..., 0], np.where(raw == 255, 182, raw))
    assert len(samples) == 8 and dataset_settings("coco_stuff").num_classes == 183
    assert samples[0]["instance"].max() <= 255


def test_coco_stuff_training_crops_256(shared_dir):
    dataset = paired_labels(
        shared_dir / "data" / "coco_stuff_sample", "coco_stuff", batch_size=4, seed=1
    )
    shapes = [tuple(batch["image"].shape) for batch in dataset]
    assert shapes == [(4, 256, 256, 3)] * 3  # 13 samples, the last partial batch dropped


def test_official_cityscapes_tree(tmp_path):
    for split, city in [("train", "aachen"), ("train", "bochum"), ("val", "lindau")]:
        stem = f"{city}_000000_000019"
        gt = tmp_path / "gtFine" / split / city
        save_image(gt / f"{stem}_gtFine_labelIds.png", np.full((8, 16), 26, np.uint8))
        save_image(gt / f"{stem}_gtFine_instanceIds.png", np.full((8, 16), 26001, np.uint16))
        save_image(gt / f"{stem}_gtFine_color.png", np.zeros((8, 16, 3), np.uint8))
        save_image(
            tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
            np.zeros((8, 16, 3), np.uint8),
        )
    samples = batches(paired_labels(tmp_path, "cityscapes", batch_size=None, crop_size=16))
    assert len(samples) == 2
    assert samples[0]["label"].shape == (8, 16, 1) and (samples[0]["instance"] == 26001).all()
    assert len(batches(paired_labels(tmp_path, "cityscapes", phase="val", batch_size=None))) == 1


def test_ade20k_shifts_ids_and_maps_unlabeled_to_150(tmp_path):
    label = np.array([[0, 1, 150, 7]], np.uint8).repeat(4, 0)
    save_image(tmp_path / "annotations" / "training" / "ADE_train_00000001.png", label)
    save_image(
        tmp_path / "images" / "training" / "ADE_train_00000001.png", np.zeros((4, 4, 3), np.uint8)
    )
    dataset = paired_labels(
        tmp_path, "ade20k", batch_size=None, training=False, preprocess="none", size_multiple=1
    )
    np.testing.assert_array_equal(batches(dataset)[0]["label"][0, :, 0], [150, 0, 149, 6])


def test_generic_folders_pair_by_stem(tmp_path):
    for index, name in enumerate(["b", "a", "c"]):
        label = ord(name) - ord("a")
        save_image(tmp_path / "labels" / f"{name}.png", np.full((4, 4), label, np.uint8))
        save_image(tmp_path / "images" / f"{name}.jpg", np.full((4, 4, 3), 80 * label, np.uint8))
    dataset = paired_labels(
        tmp_path, label_nc=3, batch_size=None, training=False, preprocess="none", size_multiple=4
    )
    samples = batches(dataset)
    assert [int(s["label"][0, 0, 0]) for s in samples] == [0, 1, 2]
    for sample in samples:
        assert abs(sample["image"][0, 0, 0] - (80 * sample["label"][0, 0, 0] / 127.5 - 1)) < 0.05


def test_synthetic_folder_through_the_pix2pixhd_layout(tmp_path):
    synthetic.write_paired(tmp_path, 4, seed=3)
    samples = batches(paired_labels(tmp_path, "synthetic", batch_size=None, training=False))
    expected = synthetic.datasets.scene_sample(0, seed=3)
    np.testing.assert_array_equal(samples[0]["label"], expected["label"])
    np.testing.assert_array_equal(samples[0]["instance"], expected["instance"])
    np.testing.assert_allclose(samples[0]["image"], expected["image"], atol=1 / 127)


def test_same_seed_same_batches_and_cache_keeps_the_samples(label_folder):
    def run(**options):
        return batches(
            paired_labels(
                label_folder, label_nc=3, instance=True, batch_size=None, crop_size=6, **options
            )
        )

    first, again = run(seed=4), run(seed=4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["label"], b["label"])
    dataset = paired_labels(
        label_folder, label_nc=3, batch_size=None, preprocess="none", cache=True, seed=0
    )
    epochs = [sorted(s["label"].tobytes() for s in batches(dataset)) for _ in range(2)]
    assert len(epochs[0]) == 3 and epochs[0] == epochs[1]


def test_pix2pixhd_rgb_input_folders(tmp_path):
    for name in ["0", "1"]:
        save_image(tmp_path / "train_A" / f"{name}.png", np.full((8, 8, 3), 0, np.uint8))
        save_image(tmp_path / "train_B" / f"{name}.png", np.full((8, 8, 3), 255, np.uint8))
    batch = next(iter(paired_images(tmp_path, batch_size=2, preprocess="none", size_multiple=8)))
    assert sorted(batch) == ["image", "input"]
    assert (batch["input"].numpy() == -1).all() and (batch["image"].numpy() == 1).all()


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_pix2pix_side_by_side_ab_images(tmp_path, direction):
    scene = synthetic.random_scene(0, size=16)
    frame = synthetic.rasterize(scene)
    edges, photo = synthetic.render(scene, frame, "edges"), synthetic.render(scene, frame, "day")
    for name in ["x", "y"]:
        save_image(
            tmp_path / "train" / f"{name}.png",
            np.round((np.concatenate([edges, photo], 1) + 1) * 127.5).astype(np.uint8),
        )
    dataset = paired_images(
        tmp_path,
        batch_size=None,
        direction=direction,
        training=False,
        preprocess="none",
        size_multiple=16,
    )
    sample = batches(dataset)[0]
    source, target = (edges, photo) if direction == "AtoB" else (photo, edges)
    np.testing.assert_allclose(sample["input"], source, atol=1 / 127)
    np.testing.assert_allclose(sample["image"], target, atol=1 / 127)


def test_length_is_known_unless_samples_may_be_skipped(label_folder):
    # 3 samples: training drops the incomplete last batch, evaluation keeps it.
    assert int(paired_labels(label_folder, label_nc=3, batch_size=2).cardinality()) == 1
    assert int(paired_labels(label_folder, label_nc=3, batch_size=2,
                             training=False).cardinality()) == 2
    skipping = paired_labels(label_folder, label_nc=3, batch_size=2, on_error="skip")
    assert int(skipping.cardinality()) < 0
