"""Synthetic datasets, the embedded default: deterministic by seed, no download.

Scenes of sky, ground and objects (`CLASS_NAMES`, `NUM_CLASSES` = 5 label ids, Cityscapes-style
instance ids) rendered as "day" or "night" photos or "edges", generated on the fly as
`tf.data` datasets with the keys of the real loaders, or written to disk in the real layouts.

>>> ds = scenes(64, batch_size=8)                 # {"label", "instance", "image"}
>>> labels = segment(images)                      # the exact oracle segmenter  # doctest: +SKIP
"""

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

try:
    import tensorflow  # noqa: F401
except ImportError:  # the tf.data datasets and the writers need TensorFlow; the scenes do not
    pass
else:
    from keras_i2i.data.synthetic.datasets import (
        boxes,
        multi_domain,
        scenes,
        unpaired,
        unpaired_boxes,
        videos,
    )
    from keras_i2i.data.synthetic.writers import (
        write_boxes,
        write_paired,
        write_unpaired,
        write_unpaired_boxes,
        write_videos,
    )
