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
    policy, per_domain = _domain_datasets(
        root,
        dataset,
        phase,
        domains,
        lists,
        training,
        flip,
        size_multiple,
        seed,
        on_error,
        settings,
    )
    samples = zip_domains(per_domain, ("_a", "_b"))
    return pipeline.finish(samples, policy, batch_size, drop_remainder=_training(phase, training))


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
    """N domains (DRIT++ multi-domain): images of every domain, mixed uniformly at random.

    Args:
        domains: domain suffixes; default every `<phase>*` folder of `root`, sorted
            (`trainA`, `trainB`, `trainC`, ...).
        Others: as `unpaired`.

    Returns:
        `tf.data.Dataset` of `{"image": float32 (B,H,W,3) in [-1, 1], "domain": int32 (B,)}`,
        the domain being the index in `domains`; an epoch has as many samples as all domains.
    """
    if domains is None:
        domains = sorted(
            name[len(phase) :]
            for name in os.listdir(root)
            if name.startswith(phase)
            and len(name) > len(phase)
            and os.path.isdir(os.path.join(root, name))
        )
    policy, per_domain = _domain_datasets(
        root,
        dataset,
        phase,
        domains,
        lists,
        training,
        flip,
        size_multiple,
        seed,
        on_error,
        settings,
    )
    tagged = [
        ds.map(functools.partial(_with_domain, domain=index)).repeat()
        for index, (ds, _) in enumerate(per_domain)
    ]
    mixed = tf.data.Dataset.sample_from_datasets(tagged, seed=seed)
    samples = mixed.take(sum(count for _, count in per_domain))
    return pipeline.finish(samples, policy, batch_size, drop_remainder=_training(phase, training))


def zip_domains(per_domain, suffixes):
    """Zips per-domain datasets ((dataset, count) pairs) with key suffixes; an epoch is as long
    as the largest domain, the others repeating."""
    renamed = [
        ds.map(functools.partial(_suffixed, suffix=suffix)).repeat()
        for (ds, _), suffix in zip(per_domain, suffixes)
    ]
    merged = tf.data.Dataset.zip(tuple(renamed)).map(
        lambda *parts: {k: v for p in parts for k, v in p.items()}
    )
    return merged.take(max(count for _, count in per_domain))


def domain_files(root, phase, domain, lists, policy):
    """Image paths of one domain: the folder `<phase><domain>/` or its MUNIT list file."""
    folder = os.path.join(root, f"{phase}{domain}")
    list_path = os.path.join(root, f"list_{phase}{domain}.txt")
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


def _domain_datasets(
    root, dataset, phase, domains, lists, training, flip, size_multiple, seed, on_error, settings
):
    """(policy, [(unbatched dataset of {"image"}, sample count) per domain])."""
    settings = dataset_settings(dataset, **{"label_nc": 0, **settings})
    policy = pipeline.ErrorPolicy(on_error)
    training = _training(phase, training)
    preprocess = settings.preprocessing(training, flip, size_multiple)
    per_domain = []
    for index, domain in enumerate(domains):
        paths = domain_files(root, phase, domain, lists, policy)
        files = layouts.pair_files(
            {"image": (os.path.join(root, f"{phase}{domain}"), paths)}, policy
        )
        domain_seed = None if seed is None else seed + index
        ds = pipeline.build(
            files, _load_image, _check_image, preprocess, policy, shuffle=training, seed=domain_seed
        )
        per_domain.append((ds, len(files["image"])))
    return policy, per_domain


def _training(phase, training):
    return phase == "train" if training is None else training


def _load_image(paths):
    return {"image": io.read_image(paths["image"])}


def _check_image(files):
    io.check_image(files["image"][0])


def _suffixed(sample, suffix):
    return {key + suffix: value for key, value in sample.items()}


def _with_domain(sample, domain):
    return {**sample, "domain": tf.constant(domain, tf.int32)}
