"""pix2pixHD speed: seconds per training step and per generated image, and instance-wise
average pooling against a per-id loop.

    python benchmarks/pix2pixhd.py [--preset label2city_512p] [--size 128x256]
                                   [--modes graph xla] [--out results.json]

The model is a preset (default `label2city_512p`: the global generator with ngf 64, 4
downsamplings, 9 residual blocks; the two-scale discriminator; 35 labels + instance
boundaries) at the given size, batch `--batch-size`. A training step is the generator step
(LSGAN + feature matching; the VGG loss only with `--vgg`, whose random weights cost the time
of ImageNet's) and the discriminator step, with Adam, through Keras's own training function.
Modes:

- `eager`: no `tf.function` (`run_eagerly=True`), op by op;
- `graph`: `tf.function` without XLA (Keras's default on CPUs);
- `xla`: `jit_compile=True` (`Pix2PixHD.compile`'s default).

A generated image is one generator pass from a label and instance map, divided by the batch
size, in the same mode. Compilation is excluded: each timing follows warm-up calls.

The reference (NVIDIA/pix2pixHD, PyTorch, this configuration at 256x128, batch 1) takes
about 5.2 s per training step and 0.64 s per image on a quiet 2-core CPU.

`InstanceWiseAvgPool` (segment means over densely re-indexed ids, eager and XLA) is timed
against the reference's approach, a Python loop over the ids that averages each one's pixels
per channel (in eager TensorFlow), on 512x256 features with `--instances` instances.

Prints a table and writes the figures, the machine's load average and the versions as JSON.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.layers import InstanceWiseAvgPool  # noqa: E402
from keras_i2i.models.pix2pixhd import Pix2PixHD  # noqa: E402
from timing import machine, seconds_per_call, write_results  # noqa: E402

MODES = ("eager", "graph", "xla")
REFERENCE = {"train_step_s": 5.2, "image_s": 0.64}


def _batch(model, size, batch_size, seed=0):
    """Label maps of 16 x 16 blocks, four instances across each row, random images."""
    rng = np.random.default_rng(seed)
    height, width = size
    blocks = rng.integers(0, model.label_nc, (batch_size, height // 16, width // 16, 1))
    label = np.repeat(np.repeat(blocks, 16, axis=1), 16, axis=2).astype("int32")
    instance = label * 1000 + (np.arange(width)[None, None, :, None] * 4 // width)
    image = rng.uniform(-1, 1, (batch_size, height, width, 3)).astype("float32")
    return {"label": label, "instance": instance.astype("int32"), "image": image}


def benchmark(preset, mode, size, batch_size, steps, images, vgg):
    """`{"train_step_s", "image_s"}` of one preset in one mode."""
    keras.utils.set_random_seed(0)
    model = Pix2PixHD.from_preset(preset, lambda_vgg=10.0 if vgg else 0.0, vgg_weights=None)
    model.compile(run_eagerly=mode == "eager", jit_compile=mode == "xla")
    batch = _batch(model, size, batch_size)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    model.make_train_function()
    train_function = model.train_function
    step = seconds_per_call(lambda: train_function(iterator), steps, warmup=2)

    inputs = {key: batch[key] for key in ("label", "instance")}
    if model.instance_feat:
        inputs["image"] = batch["image"]  # features encoded from it
    if mode == "eager":
        generate = lambda: model(inputs).numpy()  # noqa: E731
    else:
        compiled = tf.function(lambda x: model(x), jit_compile=mode == "xla")
        generate = lambda: compiled(inputs).numpy()  # noqa: E731
    image = seconds_per_call(generate, images, warmup=2) / batch_size
    return {"train_step_s": round(step, 4), "image_s": round(image, 4)}


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
    parser.add_argument("--preset", default="label2city_512p")
    parser.add_argument("--size", default="128x256", help="HxW")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["graph", "xla"])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--images", type=int, default=5, help="timed generator calls")
    parser.add_argument("--vgg", action="store_true", help="include the VGG19 loss")
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--channels", type=int, default=3, help="pooled feature channels")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args()
    size = tuple(int(n) for n in args.size.lower().split("x"))
    results = {
        "config": {"preset": args.preset, "size_hw": size, "batch_size": args.batch_size,
                   "vgg": args.vgg, "steps": args.steps, "images": args.images},
        "reference_pytorch_quiet_2_cpus": REFERENCE,
        "machine": machine(),
        "results": [],
    }
    print(f"pix2pixHD {args.preset}, {size[0]}x{size[1]}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'mode':>6} {'s/train step':>13} {'s/image':>9}")
    for mode in args.modes:
        figures = benchmark(args.preset, mode, size, args.batch_size, args.steps, args.images,
                            args.vgg)
        results["results"].append({"mode": mode, **figures})
        print(f"{mode:>6} {figures['train_step_s']:>13.3f} {figures['image_s']:>9.3f}",
              flush=True)
    pooling = instance_pooling(args.instances, args.channels, args.steps)
    results["instance_pooling"] = {"instances": args.instances, "channels": args.channels,
                                   "size_hw": (256, 512), **pooling}
    print(f"InstanceWiseAvgPool, {args.instances} instances on 256x512x{args.channels}: "
          f"{pooling['layer_eager_s'] * 1e3:.1f} ms eager, {pooling['layer_xla_s'] * 1e3:.1f} ms "
          f"XLA; per-id loop {pooling['per_id_loop_s'] * 1e3:.1f} ms "
          f"({pooling['per_id_loop_s'] / pooling['layer_eager_s']:.0f}x slower)")
    write_results(results, args.out)


if __name__ == "__main__":
    main()
