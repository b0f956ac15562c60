"""Synthetic datasets, the embedded default: deterministic by seed, no download.

Scenes of sky, ground and objects (`CLASS_NAMES`, `NUM_CLASSES` = 5 label ids, Cityscapes-style
instance ids) rendered as "day" or "night" photos or "edges", generated on the fly as
`tf.data` datasets with the keys of the real loaders, or written to disk in the real layouts.

>>> ds = scenes(64, batch_size=8)                 # {"label", "instance", "image"}
>>> labels = segment(images)                      # the exact oracle segmenter  # doctest: +SKIP
"""

import importlib

from keras_i2i.data.synthetic.procedural import (
    CLASS_NAMES,
    DOMAINS,
    NUM_CLASSES,
    THING_CLASSES,
    backward_flow,
    object_boxes,
    random_scene,
    rasterize,
    render,
    segment,
)

# The `tf.data` datasets and the writers (which use them) are imported when first used: the
# scenes themselves are NumPy, and need no TensorFlow.
_NAMES = {**dict.fromkeys(["boxes", "multi_domain", "scenes", "unpaired", "videos"], "datasets"),
          **dict.fromkeys(["write_boxes", "write_paired", "write_unpaired", "write_videos"],
                          "writers")}


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f"keras_i2i.data.synthetic.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'keras_i2i.data.synthetic' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NAMES])
