"""The tf.data pipeline shared by the loaders.

files (one path per member and sample) -> shuffle -> load in parallel (decode, validate,
deterministic resize) -> optional cache -> one random crop/flip per sample -> batch -> prefetch.

Loading never fails silently: a sample whose TensorFlow decoding or validation fails is
re-read by a `check` function (Pillow) that raises the ValueError naming the file. With
`on_error="raise"` that error stops the pipeline (it reaches the caller as a
`tf.errors.InvalidArgumentError` carrying the message); with `on_error="skip"` the sample is
dropped, a warning is logged, and it is counted in the `SkippedSamples` that the returned
dataset carries as `dataset.skipped`.
"""

import logging

import numpy as np
import tensorflow as tf

logger = logging.getLogger("keras_i2i.data")
ON_ERROR = ("raise", "skip")


class SkippedSamples:
    """What `on_error="skip"` left out: `count` and `reasons` (messages naming the files)."""

    def __init__(self):
        self.reasons = []

    @property
    def count(self):
        return len(self.reasons)

    def add(self, reason):
        if reason not in self.reasons:
            self.reasons.append(reason)
            logger.warning("skipped a sample (%d so far): %s", self.count, reason)

    def __repr__(self):
        return f"SkippedSamples(count={self.count})"


class ErrorPolicy:
    """`on_error` of one loader call: raise a bad sample's ValueError, or record it and go on."""

    def __init__(self, on_error):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.skip = on_error == "skip"
        self.skipped = SkippedSamples()

    def bad(self, error):
        if not self.skip:
            raise error
        self.skipped.add(str(error))


def prepare(settings, phase, training, flip, size_multiple, on_error):
    """(training, preprocess, policy) from the arguments every loader takes; `training`
    defaults to `phase == "train"`."""
    training = phase == "train" if training is None else training
    return training, settings.preprocessing(training, flip, size_multiple), ErrorPolicy(on_error)


def load_robustly(paths, load, check, policy):
    """Dataset of path dicts -> dataset of `load(paths)`, in order, loaded in parallel.

    Args:
        paths: a `tf.data.Dataset` of dicts of string tensors.
        load: path dict -> sample dict, in TensorFlow ops; may fail on bad data.
        check: dict of numpy arrays of paths (str) -> raises the ValueError that explains a
            failure; called only for samples whose `load` failed.
        policy: the `ErrorPolicy`.
    """
    keys = sorted(paths.element_spec)
    spec = paths.map(load).element_spec

    def explain(*arrays):
        files = {key: np.asarray(a).reshape(-1).tolist() for key, a in zip(keys, arrays)}
        files = {
            key: [v.decode() if isinstance(v, bytes) else v for v in values]
            for key, values in files.items()
        }
        try:
            check(files)
            names = ", ".join(str(path) for group in files.values() for path in group)
            raise ValueError(
                f"{names}: TensorFlow could not load this sample although Pillow reads it"
            )
        except ValueError as error:
            policy.bad(error)
        return False

    def fallback(element):
        kept = tf.numpy_function(explain, [element[key] for key in keys], tf.bool, stateful=True)
        dummy = tf.nest.map_structure(lambda s: tf.zeros([d or 1 for d in s.shape], s.dtype), spec)
        return dummy, kept

    def one(element):
        single = tf.data.Dataset.from_tensors(element)
        loaded = single.map(lambda e: (load(e), True)).ignore_errors()
        return loaded.concatenate(single.map(fallback)).take(1)

    loaded = paths.interleave(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return loaded.filter(_is_kept).map(_drop_flag)


def _is_kept(sample, kept):
    return kept


def _drop_flag(sample, kept):
    return sample


def with_seeds(dataset, seed, stream=0):
    """Pairs each element with a stateless seed (shape (2,)), drawn anew every epoch.

    Calls with the same `seed` and different `stream`s give independent draws.
    """
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(
        dataset, seeds.map(lambda s: tf.stack([s, tf.constant(stream, tf.int64)]))
    )


def build(files, load, check, preprocess, policy, *, shuffle, seed, cache=False, choose=None):
    """The unbatched pipeline of one loader (see the module docstring).

    Args:
        files: dict member -> paths (or other per-sample values), one row per sample.
        load, check: see `load_robustly`; `load` gives the decoded, validated sample.
        preprocess: the `transforms.Preprocess`.
        cache: keep decoded, resized samples in memory after the first epoch.
        choose: optional `(row, seed) -> path dict` picking what to load from a row
            (a clip of a sequence), drawn anew every epoch; incompatible with `cache`.
    """
    count = len(next(iter(files.values())))
    if count == 0:
        raise ValueError("no samples found")
    paths = tf.data.Dataset.from_tensor_slices(
        {key: np.asarray(value) for key, value in files.items()}
    )
    if shuffle and not cache:
        paths = paths.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if choose is not None:
        paths = with_seeds(paths, seed).map(choose)
    samples = load_robustly(paths, lambda p: preprocess.resize(load(p)), check, policy)
    if not policy.skip:
        # Every row gives a sample or stops the pipeline, so the length is known (Keras's
        # fit and the command line then need no counting pass).
        samples = samples.apply(tf.data.experimental.assert_cardinality(count))
    if cache:
        samples = samples.cache()
        if shuffle:
            samples = samples.shuffle(min(count, 1024), seed=seed, reshuffle_each_iteration=True)
    return with_seeds(samples, seed, stream=1).map(
        preprocess.crop_and_flip, num_parallel_calls=tf.data.AUTOTUNE
    )


def finish(dataset, policy, batch_size, drop_remainder):
    """Batches (unless `batch_size` is None), prefetches and attaches `dataset.skipped` (for a
    `policy`)."""
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    if policy is not None:
        dataset.skipped = policy.skipped
    return dataset
