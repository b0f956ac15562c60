"""Paired datasets: semantic label map -> photo (pix2pixHD, SPADE) and RGB input -> photo."""

import functools

import tensorflow as tf

from keras_i2i.data import io, layouts, pipeline
from keras_i2i.data.registry import dataset_settings


def paired_labels(
    root,
    dataset=None,
    phase="train",
    *,
    batch_size=1,
    layout="auto",
    training=None,
    shuffle=None,
    flip=None,
    size_multiple=32,
    cache=False,
    seed=None,
    on_error="raise",
    **settings,
):
    """Label map (+ instance map) -> photo samples from a folder in a reference layout.

    Args:
        root: dataset folder (layouts: `layouts.paired_label_members`).
        dataset: a name from `DATASETS` (label conventions and default preprocessing), or None.
        phase: split, e.g. "train", "val", "test"; a split without images (the Cityscapes
            sample's test split) yields label and instance maps only.
        batch_size: samples per batch, or None for unbatched samples.
        training: random crop/flip, shuffling and dropping the last partial batch; default
            `phase == "train"`.
        shuffle, flip: override what `training` implies.
        size_multiple: the size multiple of preprocess mode `none`.
        cache: keep decoded, resized samples in memory after the first epoch.
        seed: makes shuffling and augmentation reproducible.
        on_error: "raise" or "skip" (see `pipeline`); skips are counted in `dataset.skipped`.
        **settings: `DatasetSettings` overrides (label_nc, instance, preprocess, load_size, ...).

    Returns:
        `tf.data.Dataset` of `{"label": int32 (B,H,W,1), "instance": int32 (B,H,W,1) if the
        dataset has instances, "image": float32 (B,H,W,3) in [-1, 1]}`; label ids are mapped to
        0..label_nc-1, unlabeled pixels to `label_nc` when the dataset has a dontcare class.

    >>> ds = paired_labels("datasets/cityscapes", dataset="cityscapes")  # doctest: +SKIP
    """
    settings = dataset_settings(dataset, **settings)
    if settings.label_nc == 0:
        raise ValueError("label_nc=0 means RGB input: use paired_images")
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    members = layouts.paired_label_members(root, phase, layout, settings.instance)
    files = layouts.pair_files(members, policy)
    samples = pipeline.build(
        files,
        functools.partial(io.load_sample, settings=settings),
        functools.partial(io.check_sample, settings=settings),
        preprocess,
        policy,
        shuffle=training if shuffle is None else shuffle,
        seed=seed,
        cache=cache,
    )
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def paired_images(
    root,
    dataset=None,
    phase="train",
    *,
    batch_size=1,
    layout="auto",
    direction="AtoB",
    training=None,
    shuffle=None,
    flip=None,
    size_multiple=32,
    cache=False,
    seed=None,
    on_error="raise",
    **settings,
):
    """RGB input -> photo samples (`label_nc = 0`): pix2pixHD `<phase>_A/`, `<phase>_B/`
    folders, or pix2pix side-by-side AB images in `<phase>/` (facades, edges2shoes).

    Args:
        direction: "AtoB" (input = A, the left half) or "BtoA".
        Others: as `paired_labels`.

    Returns:
        `tf.data.Dataset` of `{"input": float32 (B,H,W,3), "image": float32 (B,H,W,3)}` in [-1, 1].
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    files = layouts.pair_files(layouts.paired_rgb_members(root, phase, layout), policy)
    samples = pipeline.build(
        files,
        functools.partial(_load_rgb_pair, swap=direction == "BtoA"),
        functools.partial(io.check_sample, reference="ab" if "ab" in files else "input"),
        preprocess,
        policy,
        shuffle=training if shuffle is None else shuffle,
        seed=seed,
        cache=cache,
    )
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def _load_rgb_pair(paths, swap):
    if "ab" in paths:
        ab = io.read_image(paths["ab"])
        half = tf.shape(ab)[1] // 2
        pair = {"input": ab[:, :half], "image": ab[:, half : 2 * half]}
    else:
        pair = io.load_sample(paths, reference="input")
    return {"input": pair["image"], "image": pair["input"]} if swap else pair
