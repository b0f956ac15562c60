"""Images with object boxes, for instance-level translation (INIT).

Two annotation layouts, each naming images relative to the annotation file's folder, boxes as
`(class, x1, y1, x2, y2)` in pixels of the original image:

- JSON (`*.json`): `{"<image>": [[class, x1, y1, x2, y2], ...], ...}`; every image of the
  folder must be listed (with `[]` when it has no box).
- INIT text (`*.txt`), one block per image:

      # <index>
      <image>
      <height> <width> <channels>
      0
      <number of boxes>
      <class> <x1> <y1> <x2> <y2>
      ...

  The lines between the image and the box lines are free, except that the last of them is
  the number of boxes; box lines are the lines of five numbers.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_i2i.data import io, pipeline, transforms
from keras_i2i.data.registry import dataset_settings
from keras_i2i.data.unpaired import zip_domains


def boxes(
    folder,
    annotations="boxes.json",
    *,
    dataset=None,
    max_boxes=None,
    batch_size=1,
    training=None,
    flip=None,
    size_multiple=32,
    seed=None,
    on_error="raise",
    **settings,
):
    """Images with their boxes, transformed together.

    Args:
        folder: the folder of images.
        annotations: the annotation file, relative to `folder` or absolute (layout by suffix).
        max_boxes: rows of the padded box arrays; default the most boxes of any image.
        training: random crop/flip and shuffling (default True).
        Others: as `paired.paired_labels`; preprocessing defaults to resize_and_crop 286 -> 256.

    Returns:
        `tf.data.Dataset` of `{"image": float32 (B,H,W,3) in [-1, 1], "boxes": float32
        (B,N,4) x1, y1, x2, y2 in output pixels, "classes": int32 (B,N)}`; rows with class -1
        are padding or boxes the crop removed (their coordinates are 0).
    """
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    training, preprocess, policy = pipeline.prepare(
        settings, "train", training, flip, size_multiple, on_error
    )
    samples, _ = boxes_dataset(folder, annotations, max_boxes, preprocess, policy, training, seed)
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def unpaired_boxes(
    root,
    dataset=None,
    phase="train",
    *,
    domains=("A", "B"),
    annotations="boxes.json",
    max_boxes=None,
    batch_size=1,
    training=None,
    flip=None,
    size_multiple=32,
    seed=None,
    on_error="raise",
    **settings,
):
    """Two unpaired domains with boxes (INIT): `<phase>A/`, `<phase>B/` folders, each with
    its annotation file; independently shuffled, the smaller domain repeating.

    Returns:
        `tf.data.Dataset` of `{"image_a", "boxes_a", "classes_a", "image_b", "boxes_b",
        "classes_b"}`, each as in `boxes`.
    """
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    per_domain = [
        boxes_dataset(
            os.path.join(root, f"{phase}{domain}"),
            annotations,
            max_boxes,
            preprocess,
            policy,
            training,
            None if seed is None else seed + index,
        )
        for index, domain in enumerate(domains)
    ]
    samples = zip_domains(per_domain, [f"_{domain.lower()}" for domain in domains])
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def boxes_dataset(folder, annotations, max_boxes, preprocess, policy, shuffle, seed):
    """(unbatched dataset, sample count) of one folder of images with boxes."""
    path = os.path.join(folder, annotations)
    entries = read_annotations(path, policy)
    for image in _unlisted(folder, path, entries):
        policy.bad(ValueError(f"{image}: this image has no entry in {path}"))
    files = padded_boxes(entries, max_boxes, path)
    samples = pipeline.build(
        files,
        _load,
        _check,
        preprocess,
        policy,
        shuffle=shuffle,
        seed=seed,
    )
    return samples, len(files["image"])


def read_annotations(path, policy):
    """{image path: [(class, x1, y1, x2, y2), ...]} from a JSON or INIT annotation file."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: expected an annotation file (.json or INIT .txt)")
    parse = _parse_json if path.endswith(".json") else _parse_init
    base = os.path.dirname(path)
    entries = {}
    for name, rows in parse(path):
        image = os.path.normpath(os.path.join(base, name))
        try:
            if not os.path.isfile(image):
                raise ValueError(f"{path}: {image} does not exist")
            entries[image] = [_box(row, path, name) for row in rows]
        except ValueError as error:
            policy.bad(error)
    return entries


def _parse_json(path):
    with open(path) as file:
        try:
            listing = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(listing, dict):
        raise ValueError(f"{path}: expected an object mapping image names to box lists")
    return listing.items()


def _parse_init(path):
    with open(path) as file:
        blocks = file.read().split("#")[1:]
    for block in blocks:
        lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
        if not lines:
            raise ValueError(f"{path}: an annotation block without an image")
        name, rest = lines[0], lines[1:]
        rows = [line.split() for line in rest if len(line.split()) == 5]
        header = [line for line in rest if len(line.split()) != 5]
        if not header or not header[-1].isdigit() or int(header[-1]) != len(rows):
            raise ValueError(
                f"{path}: the block of {name} declares another number of boxes than it lists"
            )
        yield name, rows


def _box(row, path, name):
    try:
        label, x1, y1, x2, y2 = (float(value) for value in row)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: box {row} of {name} is not (class, x1, y1, x2, y2)") from None
    if label != int(label) or label < 0 or not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise ValueError(
            f"{path}: box {row} of {name}: expected class >= 0, 0 <= x1 < x2, 0 <= y1 < y2"
        )
    return int(label), x1, y1, x2, y2


def _unlisted(folder, path, entries):
    """Images of the folder missing from a JSON listing (INIT listings may select images)."""
    if not path.endswith(".json"):
        return []
    return [image for image in io.list_files(folder) if image not in entries]


def padded_boxes(entries, max_boxes, path):
    """{"image": (S,), "classes": (S, N) int32 padded with -1, "boxes": (S, N, 4) float32}."""
    most = max([len(rows) for rows in entries.values()] + [1])
    max_boxes = most if max_boxes is None else max_boxes
    for image, rows in entries.items():
        if len(rows) > max_boxes:
            raise ValueError(f"{path}: {image} has {len(rows)} boxes, more than "
                             f"max_boxes={max_boxes} (the model's; a model with a larger "
                             "max_boxes takes them)")
    images = sorted(entries)
    classes = np.full((len(images), max_boxes), -1, np.int32)
    coordinates = np.zeros((len(images), max_boxes, 4), np.float32)
    for row, image in enumerate(images):
        for column, (label, *box) in enumerate(entries[image]):
            classes[row, column], coordinates[row, column] = label, box
    return {"image": np.array(images, dtype=str), "classes": classes, "boxes": coordinates}


def _check(files):
    io.check_sample({"image": files["image"]}, reference="image")


def _load(row):
    sample = io.load_sample({"image": row["image"]}, reference="image")
    shape = tf.shape(sample["image"])
    sample["boxes"], sample["classes"] = transforms.clip_boxes(
        row["boxes"], row["classes"], shape[0], shape[1]
    )
    return sample
