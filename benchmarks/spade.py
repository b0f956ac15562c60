"""SPADE speed: seconds per training step and per generated image.

    python benchmarks/spade.py [--ngf 32 64] [--size 128x256] [--batch-size 1]
                               [--modes eager graph xla mixed] [--out results.json]

The model is the `cityscapes` preset (35 labels + instance edges, `more` upsampling layers,
sync-batch SPADE, two-scale four-layer discriminator with spectral and instance norm) at the
given width and size. A training step is the generator step (hinge + feature matching; VGG
only with `--vgg`, whose random weights cost the same time as ImageNet's) and the
discriminator step, with Adam. Modes:

- `eager`: no `tf.function` (`run_eagerly=True`), op by op;
- `graph`: `tf.function` (Keras's default);
- `xla`: `jit_compile=True`;
- `mixed`: `tf.function` under `mixed_float16` (CPUs rarely gain from it).

A generated image is one forward pass of the generator from a label map (batch
`--batch-size`, divided by it), in the same mode. Compilation is excluded: each timing
follows warm-up calls. Prints a table and writes the figures, the machine's load average
and the versions as JSON.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.models.spade import SPADE  # noqa: E402
from timing import machine, seconds_per_call, write_results  # noqa: E402

MODES = ("eager", "graph", "xla", "mixed")


def _batch(model, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    height, width = model.image_size
    label = rng.integers(0, model.num_classes, (batch_size, height, width, 1)).astype("int32")
    instance = rng.integers(0, 4, (batch_size, height, width, 1)).astype("int32")
    image = rng.uniform(-1, 1, (batch_size, height, width, 3)).astype("float32")
    return {"label": label, "instance": instance, "image": image}


def benchmark(mode, ngf, size, batch_size, steps, images, vgg):
    """`{"train_step_s", "image_s"}` for one configuration."""
    keras.config.set_dtype_policy("mixed_float16" if mode == "mixed" else "float32")
    keras.utils.set_random_seed(0)
    model = SPADE.from_preset("cityscapes", ngf=ngf, ndf=64, image_size=size,
                              lambda_vgg=10.0 if vgg else 0.0, vgg_weights=None)
    model.compile(run_eagerly=mode == "eager", jit_compile=mode == "xla")
    batch = _batch(model, batch_size)
    data = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(data)
    model.make_train_function()
    train_function = model.train_function
    step = seconds_per_call(lambda: train_function(iterator), steps, warmup=2)

    inputs = {"label": batch["label"], "instance": batch["instance"]}
    if mode == "eager":
        generate = lambda: model(inputs).numpy()  # noqa: E731
    else:
        compiled = tf.function(lambda x: model(x), jit_compile=mode == "xla")
        generate = lambda: compiled(inputs).numpy()  # noqa: E731
    image = seconds_per_call(generate, images, warmup=2) / batch_size
    keras.config.set_dtype_policy("float32")
    return {"train_step_s": round(step, 4), "image_s": round(image, 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--size", default="128x256", help="HxW")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--images", type=int, default=5, help="timed generator calls")
    parser.add_argument("--vgg", action="store_true", help="include the VGG19 loss")
    parser.add_argument("--out", help="JSON file for the results")
    args = parser.parse_args()
    size = tuple(int(n) for n in args.size.lower().split("x"))
    results = {
        "config": {"preset": "cityscapes", "size_hw": size, "batch_size": args.batch_size,
                   "vgg": args.vgg, "steps": args.steps, "images": args.images},
        "machine": machine(),
        "results": [],
    }
    print(f"SPADE cityscapes preset, {size[0]}x{size[1]}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'ngf':>4} {'mode':>6} {'s/train step':>13} {'s/image':>9}")
    for ngf in args.ngf:
        for mode in args.modes:
            figures = benchmark(mode, ngf, size, args.batch_size, args.steps, args.images,
                                args.vgg)
            results["results"].append({"ngf": ngf, "mode": mode, **figures})
            print(f"{ngf:>4} {mode:>6} {figures['train_step_s']:>13.3f} "
                  f"{figures['image_s']:>9.3f}", flush=True)
    write_results(results, args.out)


if __name__ == "__main__":
    main()
