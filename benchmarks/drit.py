"""DRIT speed: training and translation at the reference's widths, 216x216, beside the
reference PyTorch code timed in the same run.

    python benchmarks/drit.py --reference-src DRIT/src --torch-python torchenv/bin/python \
        [--steps 3] [--size 216] [--modes graph xla] [--out results/drit.json]

Configuration: the `yosemite` preset, the reference's defaults (width 64: content codes of
256 channels; VAE attribute encoders and the concatenating generator, 8-d attributes;
three-scale image discriminators; mode seeking), 216x216 crops, 2 images per domain per
reference iteration. A `DRIT` training step (`train_on_batch`, 6 images per domain) is one
cycle of the reference's `d_iter` = 3 iterations: two content-discriminator iterations and a
full one (`update_D` + `update_EG`); it is reported per step and per reference iteration
(a third of it). A translation encodes the content of one iteration's 2 images and decodes
it with random attributes (the reference's `test_forward`), as a `tf.function`; it is
reported per image.

Each Keras figure is the median of `--steps` timed calls after one warm-up call (tracing and
compiling excluded), for the plain `tf.function` graph and with XLA (`jit_compile=True`), in
wall-clock seconds and in CPU seconds of all the process's threads (on a machine shared with
other work the wall-clock figure grows with the load, the CPU figure much less). The reference
(`reference.py --model drit`, the HsinYingLee/DRIT code itself) is timed in a subprocess of
`--torch-python` (a Python with torch) the same way, before the Keras figures; without
`--reference-src` only the Keras figures are taken. Compare figures of a quiet machine: under
load the reference slows down far more than TensorFlow (on this 2-core CPU at load 3 its
content iteration took 8x, its translation 7x as long as when quiet; TensorFlow's hardly
changed).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.models.drit import DRIT  # noqa: E402

from timing import machine, median_time, reference_figures, seconds, write_results  # noqa: E402


D_ITER = 3  # the reference's --d_iter: iterations per cycle, and per Keras step
IMAGES = 2  # images per domain per reference iteration, and per translation


def reference_timings(torch_python, src, size, steps):
    """`reference.py`'s DRIT figures under this script's names: a step is its training cycle
    of `D_ITER` iterations (`D_ITER - 1` content iterations and a full one) of `IMAGES`
    images per domain, an iteration a third of it, a translation its inference per image."""
    results = reference_figures(torch_python, ["--model", "drit", "--src", src, "--size", size,
                                                size, "--batch-size", IMAGES, "--steps", steps])
    figures = {"torch": results["torch"], "threads": results["threads"]}
    for unit in ("s", "cpu_s"):
        figures[f"step_{unit}"] = results[f"train_{unit}"]
        figures[f"iteration_{unit}"] = results[f"train_{unit}"] / D_ITER
        figures[f"translate_{unit}"] = results[f"infer_{unit}"]
    return figures


def keras_timings(size, steps, jit):
    """`step_s`, `iteration_s` (a third of a step) and `translate_s` (per image of
    `IMAGES`), with their CPU seconds, of the `yosemite` DRIT compiled with or without XLA."""
    model = DRIT.from_preset("yosemite", seed=0)
    model.compile(jit_compile=jit)
    rng = np.random.default_rng(0)
    batch = {key: rng.uniform(-1, 1, (model.default_batch_size, size, size, 3))
             .astype("float32") for key in ("image_a", "image_b")}
    images = tf.constant(batch["image_a"][:IMAGES])

    @tf.function(jit_compile=jit)
    def translate(images):
        content = model.content_encoder(images, branch=0)
        return model.generator(content, model.random_attributes(IMAGES), branch=1)

    step = median_time(lambda: model.train_on_batch(batch), steps, warmup=1)
    wall, cpu = median_time(lambda: translate(images).numpy(), steps, warmup=1)
    results = seconds({"step": step, "translate": (wall / IMAGES, cpu / IMAGES)})
    results["iteration_s"] = results["step_s"] / model.d_iter
    results["iteration_cpu_s"] = results["step_cpu_s"] / model.d_iter
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--size", type=int, default=216, help="image height and width")
    parser.add_argument("--modes", nargs="+", choices=("graph", "xla"), default=["graph", "xla"],
                        help="tf.function without / with XLA")
    parser.add_argument("--reference-src", help="HsinYingLee/DRIT's src/ folder")
    parser.add_argument("--torch-python", default="python", help="a Python with torch")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args()
    results = {"machine": machine(), "size": args.size, "images_per_iteration": IMAGES,
               "iterations_per_step": D_ITER}
    print(f"{results['machine']['cpus']} CPUs, load average "
          f"{results['machine']['load_average_before'][0]:.1f}; {args.size}x{args.size}")
    if args.reference_src:
        results["reference"] = reference_timings(args.torch_python, args.reference_src,
                                                 args.size, args.steps)
    for mode in args.modes:
        results[mode] = keras_timings(args.size, args.steps, mode == "xla")
    for name in ("reference", *args.modes):
        figures = results.get(name)
        if figures:
            print(f"{name:9s} step {figures['step_s']:7.2f} s, iteration "
                  f"{figures['iteration_s']:6.2f} s ({figures['iteration_cpu_s']:6.2f} s CPU), "
                  f"translation {figures['translate_s']:.3f} s "
                  f"({figures['translate_cpu_s']:.3f} s CPU)")
    if "reference" in results:
        results["ratio_reference_to_keras"] = {}
        for figure in ("iteration_s", "translate_s"):
            best = min(results[mode][figure] for mode in args.modes)
            ratio = results["reference"][figure] / best
            results["ratio_reference_to_keras"][figure] = ratio
            print(f"{figure}: reference {results['reference'][figure]:.3f} s, best here "
                  f"{best:.3f} s: the reference takes {ratio:.2f}x as long")
    write_results(results, args.out)


if __name__ == "__main__":
    main()
