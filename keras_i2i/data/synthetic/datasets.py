"""The synthetic scenes as `tf.data` datasets, generated on the fly (the embedded default).

Sample i of a dataset is a pure function of (seed, i): the numpy generator runs per index in
parallel through `tf.numpy_function`, so order, shuffling and parallelism never change it.
Keys and shapes follow the real loaders (see `keras_i2i.data`).
"""

import functools

import numpy as np
import tensorflow as tf

from keras_i2i.data.pipeline import finish
from keras_i2i.data.synthetic import procedural


def scene_sample(index, seed=0, size=64, domain="day", max_objects=5, stream=0):
    """Sample `index`: {"label", "instance": int32 (H,W,1), "image": float32 (H,W,3)}.

    Scene `index` of a seed is the same in every dataset (stream 0); other streams give
    other procedural.
    """
    scene = procedural.random_scene((seed, stream, index), size, max_objects)
    frame = procedural.rasterize(scene)
    return {
        "label": frame.label[..., None],
        "instance": frame.instance[..., None],
        "image": procedural.render(scene, frame, domain),
    }


def unpaired_sample(index, seed=0, size=64, domains=("day", "night"), max_objects=5):
    """{"image_a", "image_b"}: two *different* scenes, rendered in the two domains."""
    return {
        key: scene_sample(index, seed, size, domain, max_objects, stream)["image"]
        for stream, (key, domain) in enumerate(zip(("image_a", "image_b"), domains))
    }


def multi_domain_sample(index, seed=0, size=64, domains=procedural.DOMAINS, max_objects=5):
    """{"image", "domain": int32 ()}: a scene in a domain drawn uniformly from `domains`."""
    domain = int(np.random.default_rng((seed, index)).integers(len(domains)))
    image = scene_sample(index, seed, size, domains[domain], max_objects)["image"]
    return {"image": image, "domain": np.int32(domain)}


def video_sample(index, seed=0, size=64, frames=8, domain="day", max_objects=5, max_speed=1.5):
    """A clip: {"label", "instance": (T,H,W,1), "image": (T,H,W,3), "flow": (T-1,H,W,2)}, the
    backward flow of frame t against frame t-1 (`procedural.backward_flow`)."""
    scene = procedural.random_scene((seed, 0, index), size, max_objects, max_speed)
    clip = [procedural.rasterize(scene, time) for time in range(frames)]
    return {
        "label": np.stack([frame.label for frame in clip])[..., None],
        "instance": np.stack([frame.instance for frame in clip])[..., None],
        "image": np.stack([procedural.render(scene, frame, domain) for frame in clip]),
        "flow": np.stack([procedural.backward_flow(scene, frame) for frame in clip[1:]]),
    }


def boxes_sample(index, seed=0, size=64, domain="day", max_objects=5, stream=0):
    """{"image", "boxes": float32 (max_objects, 4), "classes": int32 (max_objects,)}, padded
    with class -1; classes are the scene's label ids (`procedural.THING_CLASSES`); streams as
    in `scene_sample`."""
    scene = procedural.random_scene((seed, stream, index), size, max_objects)
    frame = procedural.rasterize(scene)
    classes, boxes = procedural.object_boxes(frame)
    padding = max_objects - len(classes)
    return {
        "image": procedural.render(scene, frame, domain),
        "boxes": np.pad(boxes, [(0, padding), (0, 0)]),
        "classes": np.pad(classes, (0, padding), constant_values=-1),
    }


def unpaired_boxes_sample(index, seed=0, size=64, domains=("day", "night"), max_objects=5):
    """{"image_a", "boxes_a", "classes_a", "image_b", ...}: two *different* scenes with their
    boxes, rendered in the two domains."""
    return {
        f"{key}_{suffix}": value
        for stream, (suffix, domain) in enumerate(zip("ab", domains))
        for key, value in boxes_sample(index, seed, size, domain, max_objects, stream).items()
    }


def scenes(num_samples=1000, *, size=64, domain="day", max_objects=5, **options):
    """Label map + instance map + rendering: `{"label", "instance", "image"}` like
    `paired_labels` (label_nc = `procedural.NUM_CLASSES`, no dontcare)."""
    height, width = procedural.image_size(size)
    signature = {
        "label": tf.TensorSpec([height, width, 1], tf.int32),
        "instance": tf.TensorSpec([height, width, 1], tf.int32),
        "image": tf.TensorSpec([height, width, 3], tf.float32),
    }
    make = functools.partial(scene_sample, size=size, domain=domain, max_objects=max_objects)
    return _dataset(make, signature, num_samples, **options)


def unpaired(num_samples=1000, *, size=64, domains=("day", "night"), max_objects=5, **options):
    """Two unpaired domains: `{"image_a", "image_b"}` like `unpaired`."""
    height, width = procedural.image_size(size)
    image = tf.TensorSpec([height, width, 3], tf.float32)
    make = functools.partial(unpaired_sample, size=size, domains=domains, max_objects=max_objects)
    return _dataset(make, {"image_a": image, "image_b": image}, num_samples, **options)


def multi_domain(
    num_samples=1000, *, size=64, domains=procedural.DOMAINS, max_objects=5, **options
):
    """N domains mixed: `{"image", "domain"}` like `multi_domain`."""
    height, width = procedural.image_size(size)
    signature = {
        "image": tf.TensorSpec([height, width, 3], tf.float32),
        "domain": tf.TensorSpec([], tf.int32),
    }
    make = functools.partial(
        multi_domain_sample, size=size, domains=domains, max_objects=max_objects
    )
    return _dataset(make, signature, num_samples, **options)


def videos(
    num_samples=100, *, size=64, frames=8, domain="day", max_objects=5, max_speed=1.5, **options
):
    """Moving shapes: `{"label", "instance", "image", "flow"}` like `video_clips`, plus the
    exact backward flow (T-1, H, W, 2)."""
    height, width = procedural.image_size(size)
    signature = {
        "label": tf.TensorSpec([frames, height, width, 1], tf.int32),
        "instance": tf.TensorSpec([frames, height, width, 1], tf.int32),
        "image": tf.TensorSpec([frames, height, width, 3], tf.float32),
        "flow": tf.TensorSpec([frames - 1, height, width, 2], tf.float32),
    }
    make = functools.partial(
        video_sample,
        size=size,
        frames=frames,
        domain=domain,
        max_objects=max_objects,
        max_speed=max_speed,
    )
    return _dataset(make, signature, num_samples, **options)


def boxes(num_samples=1000, *, size=64, domain="day", max_objects=5, **options):
    """Scenes with object boxes: `{"image", "boxes", "classes"}` like `boxes`."""
    height, width = procedural.image_size(size)
    signature = {
        "image": tf.TensorSpec([height, width, 3], tf.float32),
        "boxes": tf.TensorSpec([max_objects, 4], tf.float32),
        "classes": tf.TensorSpec([max_objects], tf.int32),
    }
    make = functools.partial(boxes_sample, size=size, domain=domain, max_objects=max_objects)
    return _dataset(make, signature, num_samples, **options)


def _dataset(
    make, signature, num_samples, *, batch_size=1, shuffle=True, seed=0, drop_remainder=True
):
    """Sample i = make(i, seed=seed), in parallel, optionally shuffled, batched, prefetched."""
    keys = list(signature)

    def generate(index):
        sample = make(int(index), seed=seed)
        return [np.asarray(sample[key], signature[key].dtype.as_numpy_dtype) for key in keys]

    def load(index):
        values = tf.numpy_function(
            generate, [index], [signature[key].dtype for key in keys], stateful=False
        )
        return {
            key: tf.ensure_shape(value, signature[key].shape) for key, value in zip(keys, values)
        }

    indices = tf.data.Dataset.range(num_samples)
    if shuffle:
        indices = indices.shuffle(num_samples, seed=seed, reshuffle_each_iteration=True)
    samples = indices.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return finish(samples, None, batch_size, drop_remainder)


def unpaired_boxes(num_samples=1000, *, size=64, domains=("day", "night"), max_objects=5,
                   **options):
    """Two unpaired domains with object boxes: `{"image_a", "boxes_a", "classes_a", "image_b",
    "boxes_b", "classes_b"}` like `unpaired_boxes` (INIT)."""
    height, width = procedural.image_size(size)
    signature = {}
    for suffix in "ab":
        signature[f"image_{suffix}"] = tf.TensorSpec([height, width, 3], tf.float32)
        signature[f"boxes_{suffix}"] = tf.TensorSpec([max_objects, 4], tf.float32)
        signature[f"classes_{suffix}"] = tf.TensorSpec([max_objects], tf.int32)
    make = functools.partial(
        unpaired_boxes_sample, size=size, domains=domains, max_objects=max_objects
    )
    return _dataset(make, signature, num_samples, **options)
