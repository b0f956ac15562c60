"""INIT speed: what the object branch costs over MUNIT, training and translating, in one run.

    python benchmarks/init.py [--preset sunny2night] [--size 256] [--boxes 8] [--steps 3] \
        [--modes graph xla] [--out results/init.json]

INIT has no reference code to time against; its network is MUNIT's (whose port is timed
against the reference in `benchmarks/run.py`) plus the object branch, so this times `INIT`
beside `MUNIT` at the same widths on the same images, in the same process: the ratio is the
object branch's cost. Configuration: the `--preset` (default `sunny2night`: MUNIT's default
widths, objects cropped to 64x64, the cross-cycle loss, which MUNIT gets too), `--size`
square images, batch 1, `--boxes` boxes per image (random, 1/8 to 1/3 of the side). A
training step is both updates of both domains (`train_on_batch`); a translation is one a2b
image with random styles (the background's and one per object), as a `tf.function`.

Each figure is the median of `--steps` timed calls after one warm-up call (tracing and
compiling excluded), for the plain `tf.function` graph and with XLA (`jit_compile=True`), in
wall-clock seconds and in CPU seconds of all the process's threads.
"""

import argparse
import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.models.init import INIT  # noqa: E402
from keras_i2i.models.munit import MUNIT  # noqa: E402

from timing import machine, median_time, seconds, write_results  # noqa: E402


def random_boxes(rng, count, size):
    """(1, count, 4) boxes of sides 1/8 to 1/3 of the image, inside it."""
    sides = rng.uniform(size / 8, size / 3, (count, 2))
    corners = rng.uniform(0, 1, (count, 2)) * (size - sides)
    return np.concatenate([corners, corners + sides], axis=1)[None].astype("float32")


def batch(size, count, seed=0):
    rng = np.random.default_rng(seed)
    data = {}
    for domain in "ab":
        data[f"image_{domain}"] = tf.constant(rng.uniform(-1, 1, (1, size, size, 3)), tf.float32)
        data[f"boxes_{domain}"] = tf.constant(random_boxes(rng, count, size))
        data[f"classes_{domain}"] = tf.zeros((1, count), tf.int32)
    return data


def timings(model, data, steps, jit):
    """{"train_step": (wall, cpu), "translate": (wall, cpu)} of `model` on `data`."""
    model.compile(jit_compile=jit)
    if isinstance(model, INIT):
        inputs = {key: value for key, value in data.items() if key.endswith("_a")}
        translate = tf.function(lambda: model(inputs)["image_ab"], jit_compile=jit)
    else:
        translate = tf.function(lambda: model(data["image_a"]), jit_compile=jit)
    return {"train_step": median_time(lambda: model.train_on_batch(data), steps, warmup=1),
            "translate": median_time(lambda: translate().numpy(), steps, warmup=1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sunny2night")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--boxes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=("graph", "xla"), default=["graph", "xla"])
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args()

    results = {"machine": machine(), "preset": args.preset, "size": args.size,
               "boxes": args.boxes}
    data = batch(args.size, args.boxes)
    config = INIT.from_preset(args.preset).get_config()
    own = set(inspect.signature(INIT.__init__).parameters)  # the object branch's options
    munit_config = {key: value for key, value in config.items() if key not in own}
    for mode in args.modes:
        figures = {}
        for name, make in (("munit", lambda: MUNIT.from_config(munit_config)),
                           ("init", lambda: INIT.from_config(config))):
            for what, times in timings(make(), data, args.steps, mode == "xla").items():
                figures[f"{name}_{what}"] = times
                print(f"{mode}: {name} {what}: {times[0]:.2f} s (CPU {times[1]:.2f} s)")
        results[mode] = seconds(figures)
        for what in ("train_step", "translate"):
            ratio = figures[f"init_{what}"][0] / figures[f"munit_{what}"][0]
            results[mode][f"init_over_munit_{what}"] = ratio
            print(f"{mode}: INIT / MUNIT {what}: {ratio:.2f}x")
    write_results(results, args.out)


if __name__ == "__main__":
    main()
