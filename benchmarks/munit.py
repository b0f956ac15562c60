"""MUNIT speed: training iteration and translation at the `edges2shoes` widths, 256x256.

    python benchmarks/munit.py [--steps 3] [--size 256] [--out results.json]

Configuration of the reference figures (NVlabs/MUNIT on a 2-core CPU: about 22.7 s per
training iteration and 1.3 s per translated image): the `edges2shoes` preset (generators of
dim 64, 8-d styles, MLP 256 wide, 4 residual blocks; three-scale four-layer discriminators),
256x256, batch 1. An iteration is the discriminators' update then the generators' update, both
domains (the reference's `dis_update` + `gen_update`); a translation encodes one image's
content and decodes it with one style (the reference's `test.py`), and with ten styles per
input the content is encoded once (its default `--num_style 10`), reported per output image.
Each figure is the median of `--steps` timed calls after two warm-up calls (tracing and
compiling excluded), for the plain `tf.function` graph and with XLA (`jit_compile=True`), in
wall-clock seconds and in CPU seconds of all the process's threads: on a machine shared with
other work the wall-clock figure grows with the load, the CPU figure much less (on an idle
2-core machine the wall-clock time approaches half the CPU time).
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.models.munit import MUNIT  # noqa: E402

from timing import median_time  # noqa: E402

REFERENCE = {"train_step_s": 22.7, "translate_s": 1.3}


def timings(steps, size, modes):
    rng = np.random.default_rng(0)
    batch = {key: tf.constant(rng.uniform(-1, 1, (1, size, size, 3)), tf.float32)
             for key in ("image_a", "image_b")}
    image = batch["image_a"]
    results = {}
    for jit in [mode == "xla" for mode in modes]:
        model = MUNIT.from_preset("edges2shoes", seed=0)
        model.compile(jit_compile=jit)
        train = tf.function(model.train_step, jit_compile=jit)

        def translate(images, styles):
            content = model.generator_a.content_encoder(images)
            content = tf.repeat(content, tf.shape(styles)[0] // tf.shape(images)[0], axis=0)
            return model.generator_b.decode(content, styles)

        translate = tf.function(translate, jit_compile=jit)
        one, ten = (tf.constant(rng.standard_normal((k, 8)), tf.float32) for k in (1, 10))
        name = "xla" if jit else "graph"
        figures = {
            "train_step": median_time(lambda: train(batch)["g_loss"].numpy(), steps),
            "translate": median_time(lambda: translate(image, one).numpy(), steps),
            "translate_10_styles": [
                t / 10
                for t in median_time(lambda: translate(image, ten).numpy(), max(1, steps // 2), 1)
            ],
        }
        for figure, (wall, cpu) in figures.items():
            results[f"{figure}_s_{name}"] = wall
            results[f"{figure}_cpu_s_{name}"] = cpu
            print(f"{name:5s}  {figure:20s} {wall:7.3f} s wall, {cpu:7.3f} s CPU (all threads)"
                  + (" per image" if figure == "translate_10_styles" else ""))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--size", type=int, default=256, help="image height and width")
    parser.add_argument("--modes", nargs="+", choices=("graph", "xla"), default=["graph", "xla"],
                        help="tf.function without / with XLA")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    results = {
        "tensorflow": tf.__version__,
        "cpus": os.cpu_count(),
        "load_average_1min_before": os.getloadavg()[0],
        "size": args.size,
        **timings(args.steps, args.size, args.modes),
        "load_average_1min_after": os.getloadavg()[0],
    }
    for key, reference in REFERENCE.items():
        best = min(results[f"{key}_{mode}"] for mode in args.modes)
        results[f"speedup_{key}"] = reference / best
        print(f"{key}: reference {reference:.2f} s, best here {best:.3f} s "
              f"({reference / best:.2f}x)")
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
