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
    policy = pipeline.ErrorPolicy(on_error)
    members = layouts.paired_label_members(root, phase, layout, settings.instance)
    files = layouts.pair_files(members, policy)
    training = phase == "train" if training is None else training
    samples = pipeline.build(
        files,
        functools.partial(load_label_sample, settings=settings),
        functools.partial(check_label_sample, settings=settings),
        _preprocess(settings, training, flip, size_multiple),
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
    policy = pipeline.ErrorPolicy(on_error)
    files = layouts.pair_files(layouts.paired_rgb_members(root, phase, layout), policy)
    training = phase == "train" if training is None else training
    samples = pipeline.build(
        files,
        functools.partial(_load_rgb_pair, swap=direction == "BtoA"),
        _check_rgb_pair,
        _preprocess(settings, training, flip, size_multiple),
        policy,
        shuffle=training if shuffle is None else shuffle,
        seed=seed,
        cache=cache,
    )
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def _preprocess(settings, training, flip, size_multiple):
    overrides = {"size_multiple": size_multiple}
    if flip is not None:
        overrides["flip"] = flip
    return settings.preprocessing(training, **overrides)


def load_label_sample(paths, settings):
    """Path dict (label, instance?, image?) -> validated sample; ids mapped as in SPADE."""
    raw = io.read_label_map(paths["label"])
    tf.debugging.Assert(tf.reduce_all(settings.valid_ids(raw)), [paths["label"]])
    unlabeled = -1 if settings.unlabeled_id is None else settings.unlabeled_id
    sample = {"label": tf.where(raw == unlabeled, settings.label_nc, raw - settings.first_id)}
    if "instance" in paths:
        sample["instance"] = io.read_label_map(paths["instance"])
    if "image" in paths:
        sample["image"] = io.read_image(paths["image"])
    return _same_size(sample, like="label")


def check_label_sample(files, settings):
    """Pillow re-read of label samples (lists of paths per member): raises the ValueError."""
    for index, label_path in enumerate(files["label"]):
        ids = io.check_label_map(label_path)
        io.check_label_ids(label_path, ids, settings)
        if "instance" in files:
            path = files["instance"][index]
            io.check_same_size(path, io.check_label_map(path, "instance map"), label_path, ids, "instance map")
        if "image" in files:
            path = files["image"][index]
            io.check_same_size(path, io.check_image(path), label_path, ids, "image")


def _load_rgb_pair(paths, swap):
    if "ab" in paths:
        ab = io.read_image(paths["ab"])
        half = tf.shape(ab)[1] // 2
        pair = {"input": ab[:, :half], "image": ab[:, half : 2 * half]}
    else:
        pair = {"input": io.read_image(paths["input"]), "image": io.read_image(paths["image"])}
    if swap:
        pair = {"input": pair["image"], "image": pair["input"]}
    return _same_size(pair, like="input")


def _check_rgb_pair(files):
    images = {member: (paths[0], io.check_image(paths[0])) for member, paths in files.items()}
    if "image" in images:
        io.check_same_size(*images["image"], *images["input"], "image")


def _same_size(sample, like):
    """Asserts that every member has the height and width of `sample[like]`."""
    size = tf.shape(sample[like])[:2]
    checks = [tf.debugging.assert_equal(tf.shape(v)[:2], size) for k, v in sample.items() if k != like]
    with tf.control_dependencies(checks):
        return {key: tf.identity(value) for key, value in sample.items()}
