"""`InstanceWiseAvgPool` (pix2pixHD's instance-wise average pooling: segment means over
densely re-indexed ids, eager and XLA) against the reference's approach, a Python loop over
the ids that averages each one's pixels per channel (in eager TensorFlow), on 256x512
features with `--instances` Voronoi-cell instances.

    python benchmarks/instance_pool.py [--instances 100] [--channels 3] [--repeats 5] \
        [--out results.json]

Prints the seconds per call and writes them, with the machine, as JSON.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.layers import InstanceWiseAvgPool  # noqa: E402
from timing import machine, seconds_per_call, write_results  # noqa: E402


def per_id_loop(features, instance):
    """The reference's instance-wise pooling: for every id and sample, the mean of each
    channel over the id's pixels, written back to them."""
    output = features
    for instance_id in np.unique(instance.numpy()):
        for b in range(features.shape[0]):
            mask = tf.cast(instance[b] == instance_id, features.dtype)
            count = tf.reduce_sum(mask)
            if count == 0:
                continue
            mean = tf.reduce_sum(features[b] * mask, axis=(0, 1)) / count
            pooled = output[b] * (1 - mask) + mask * mean
            output = tf.tensor_scatter_nd_update(output, [[b]], pooled[None])
    return output


def instance_pooling(instances, channels, repeats):
    """Seconds per call of `InstanceWiseAvgPool` (eager, XLA) and of the per-id loop on
    (1, 256, 512, channels) features with `instances` Voronoi-cell instances."""
    rng = np.random.default_rng(1)
    height, width = 256, 512
    features = tf.constant(rng.normal(size=(1, height, width, channels)).astype("float32"))
    centres = rng.uniform(0, 1, (instances, 2)) * (height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    nearest = np.argmin(
        (rows[..., None] - centres[:, 0]) ** 2 + (cols[..., None] - centres[:, 1]) ** 2, -1
    )
    instance = tf.constant(nearest[None, ..., None].astype("int32") * 7 + 1000)
    layer = InstanceWiseAvgPool()
    compiled = tf.function(lambda f, i: layer([f, i]), jit_compile=True)
    np.testing.assert_allclose(
        layer([features, instance]), per_id_loop(features, instance), atol=1e-5
    )
    return {
        "layer_eager_s": round(
            seconds_per_call(lambda: layer([features, instance]).numpy(), repeats, 2), 5),
        "layer_xla_s": round(
            seconds_per_call(lambda: compiled(features, instance).numpy(), repeats, 2), 5),
        "per_id_loop_s": round(
            seconds_per_call(lambda: per_id_loop(features, instance).numpy(), 2, 1), 5),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--channels", type=int, default=3, help="pooled feature channels")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of the layer")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args()
    pooling = instance_pooling(args.instances, args.channels, args.repeats)
    print(f"InstanceWiseAvgPool, {args.instances} instances on 256x512x{args.channels}: "
          f"{pooling['layer_eager_s'] * 1e3:.1f} ms eager, {pooling['layer_xla_s'] * 1e3:.1f} ms "
          f"XLA; per-id loop {pooling['per_id_loop_s'] * 1e3:.1f} ms "
          f"({pooling['per_id_loop_s'] / pooling['layer_eager_s']:.0f}x slower)")
    write_results({"machine": machine(), "instances": args.instances,
                   "channels": args.channels, "size_hw": [256, 512], **pooling}, args.out)


if __name__ == "__main__":
    main()
