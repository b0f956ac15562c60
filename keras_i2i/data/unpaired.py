"""Unpaired domains (MUNIT, DRIT, CycleGAN layouts): `<phase>A/`, `<phase>B/`, ... folders of
images, or MUNIT's list files `list_<phase>A.txt` (one path per line, relative to the domain's
folder)."""

import functools
import os

import tensorflow as tf

from keras_i2i.data import io, layouts, pipeline
from keras_i2i.data.registry import dataset_settings


def unpaired(
    root,
    dataset=None,
    phase="train",
    *,
    domains=("A", "B"),
    lists="auto",
    batch_size=1,
    training=None,
    flip=None,
    size_multiple=32,
    seed=None,
    on_error="raise",
    **settings,
):
    """Two unpaired domains, each shuffled and augmented independently (MUNIT style).

    Args:
        root: folder holding `<phase><domain>/` folders (and optional list files).
        domains: the two domain suffixes.
        lists: read `list_<phase><domain>.txt` files: True, False, or "auto" (when present).
        Others: as `paired.paired_labels`; `dataset` names the preprocessing (e.g.
            "edges2handbags"), by default SPADE's resize_and_crop 286 -> 256.

    Returns:
        `tf.data.Dataset` of `{"image_a": float32 (B,H,W,3), "image_b": float32 (B,H,W,3)}` in
        [-1, 1]; an epoch has as many samples as the larger domain (the smaller one repeats).
    """
    if len(domains) != 2:
        raise ValueError(f"unpaired takes two domains, got {domains}; use multi_domain for N")
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    per_domain = [
        domain_dataset(root, phase, domain, lists, preprocess, policy, training, seed, index)
        for index, domain in enumerate(domains)
    ]
    samples = zip_domains(per_domain, ("_a", "_b"))
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def multi_domain(
    root,
    dataset=None,
    phase="train",
    *,
    domains=None,
    lists="auto",
    batch_size=1,
    training=None,
    flip=None,
    size_multiple=32,
    seed=None,
    on_error="raise",
    **settings,
):
    """N domains (DRIT++ multi-domain): images of every domain, mixed uniformly at random
    when training; otherwise each image once, in order, the domains taking turns (an image of
    each, then the next of each, ...: the first samples of an evaluation cover every domain).

    Args:
        domains: domain suffixes; default every `<phase>*` folder of `root`, sorted
            (`trainA`, `trainB`, `trainC`, ...: `domain_folders`).
        Others: as `unpaired`.

    Returns:
        `tf.data.Dataset` of `{"image": float32 (B,H,W,3) in [-1, 1], "domain": int32 (B,)}`,
        the domain being the index in `domains`; an epoch has as many samples as all domains.
    """
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    tagged, counts = [], []
    for index, domain in enumerate(domains or domain_folders(root, phase)):
        ds, count = domain_dataset(
            root, phase, domain, lists, preprocess, policy, training, seed, index
        )
        tagged.append(ds.map(functools.partial(_with_domain, domain=index)))
        counts.append(count)
    if training:
        repeated = [ds.repeat() for ds in tagged]
        samples = tf.data.Dataset.sample_from_datasets(repeated, seed=seed).take(sum(counts))
    else:  # round-robin; a domain that has run out is skipped
        turns = tf.data.Dataset.range(len(tagged)).repeat(max(counts, default=0))
        samples = tf.data.Dataset.choose_from_datasets(tagged, turns, stop_on_empty_dataset=False)
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def zip_domains(per_domain, suffixes):
    """Zips per-domain datasets ((dataset, count) pairs) with key suffixes; an epoch is as long
    as the largest domain, the others repeating."""
    renamed = [
        ds.map(functools.partial(_suffixed, suffix=suffix)).repeat()
        for (ds, _), suffix in zip(per_domain, suffixes)
    ]
    merged = tf.data.Dataset.zip(tuple(renamed)).map(_merge)
    return merged.take(max(count for _, count in per_domain))


def domain_dataset(root, phase, domain, lists, preprocess, policy, shuffle, seed, index):
    """(unbatched dataset of {"image"}, sample count) of one domain; domains draw their
    shuffling and augmentation from `seed + index`."""
    folder = os.path.join(root, f"{phase}{domain}")
    paths = domain_files(folder, os.path.join(root, f"list_{phase}{domain}.txt"), lists, policy)
    files = layouts.pair_files({"image": (folder, paths)}, policy)
    samples = pipeline.build(
        files,
        functools.partial(io.load_sample, reference="image"),
        functools.partial(io.check_sample, reference="image"),
        preprocess,
        policy,
        shuffle=shuffle,
        seed=None if seed is None else seed + index,
    )
    return samples, len(files["image"])


def domain_files(folder, list_path, lists, policy):
    """Image paths of one domain: its folder, or its MUNIT list file (`lists`: True, False or
    "auto", i.e. when the file exists)."""
    if lists == "auto":
        lists = os.path.isfile(list_path)
    if not lists:
        return io.list_files(folder)
    paths = []
    with open(list_path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            path = os.path.normpath(os.path.join(folder, line.strip()))
            if os.path.isfile(path):
                paths.append(path)
            else:
                policy.bad(ValueError(f"{list_path}, line {number}: {path} does not exist"))
    return paths


def domain_folders(root, phase):
    """The suffixes of `root`'s `<phase>*` folders, sorted: `multi_domain`'s domains (a
    domain's id is its index here)."""
    names = [name for name in sorted(os.listdir(root)) if name.startswith(phase)]
    return [n[len(phase) :] for n in names if n != phase and os.path.isdir(os.path.join(root, n))]


def _suffixed(sample, suffix):
    return {key + suffix: value for key, value in sample.items()}


def _merge(*parts):
    return {key: value for part in parts for key, value in part.items()}


def _with_domain(sample, domain):
    return {**sample, "domain": tf.constant(domain, tf.int32)}
