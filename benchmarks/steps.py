"""One model's training step and inference, timed in this process under its Keras backend,
with the peak memory of each: one cell of `run.py`'s grid, or a figure of its own.

    KERAS_BACKEND=jax python benchmarks/steps.py --model spade [--preset cityscapes] \
        [--size 256x256] [--batch-size 1] [--width 32] [--mode xla] [--set lambda_feat=0] \
        [--steps 3] [--out r.json]

Builds the model as `keras_i2i.speed.build` does: from its preset (by default the one
`run.py` compares with the reference code: `MODELS`), with `--width` as its base width
(`ngf`, `dim` or `width`) and `--set` overrides, without a VGG loss, compiled in `--mode`
(`eager`, `graph`: `tf.function` without XLA, TensorFlow only; `xla`; `mixed`: XLA under
`mixed_float16`).

On random inputs with the keys and dtypes the model trains on, it times inference first
(`predict_on_batch`, per image: divided by the batch size), then a whole training step
(`train_on_batch`: every network's update, every loss), each the median of `--steps` calls
after a warm-up call that compiles it; both return NumPy values, so each timing includes the
device's work. Memory: on a CPU the process's peak resident memory (`ru_maxrss`) after the
imports (`baseline_bytes`), after the inference timings and after the training timings (the
high-water mark, so inference comes first; XLA's compilation included: the allocator
keeps what the compiler freed, so the memory of the steps alone is not told apart); on a
GPU the device's peak allocation. Prints one JSON line (and writes it, with the machine, to
`--out`); an error, as a JSON line `{"error": ...}`, exit status 1. `routes` records whether
the convolution routes ran in each phase (`KERAS_I2I_CONV_ROUTES`, else this machine's
`keras-i2i tune-routes`). Runs without TensorFlow installed (under JAX): the inputs are
NumPy.
"""

import argparse
import json
import os
import re
import resource
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_i2i.cli.arguments import literal  # noqa: E402
from keras_i2i.layers import conv_routes  # noqa: E402
from keras_i2i.speed import MODELS, MODES, build, default_size, random_batch  # noqa: E402
from timing import machine, median_time, write_results  # noqa: E402


class PeakMemory:
    """Peak bytes of this process (`ru_maxrss`, CPUs) or of its first accelerator."""

    def __init__(self):
        devices = keras.distribution.list_devices()
        self.device = devices[0] if devices else "cpu"
        self.accelerator = not self.device.lower().startswith("cpu")

    def __call__(self):
        if not self.accelerator:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if keras.backend.backend() == "jax":
            import jax

            return jax.local_devices()[0].memory_stats()["peak_bytes_in_use"]
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def measure(model, size, batch_size, steps, peak):
    """Seconds and `peak` bytes (a `PeakMemory`) of `model`'s inference (per image) and
    training step."""
    batch, inputs = random_batch(model, size, batch_size)
    phases = {"infer": (lambda: model.predict_on_batch(inputs), batch_size),
              "train": (lambda: model.train_on_batch(batch), 1)}
    figures = {}
    for name, (function, per_call) in phases.items():
        wall, cpu = median_time(function, steps, warmup=1)
        figures.update({f"{name}_s": wall / per_call, f"{name}_cpu_s": cpu / per_call,
                        f"{name}_peak_bytes": peak()})
    return figures


def one_line(error):
    """`error`'s type and message in one line, without Keras's call context."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split("Arguments received")[0]
    return f"{type(error).__name__}: {' '.join(message.split())}"


def parse_size(text):
    """"HxW" (or "S" for S x S) -> (H, W)."""
    sides = tuple(int(n) for n in text.lower().split("x"))
    return sides * 2 if len(sides) == 1 else sides


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--preset", default=None, help="default: MODELS' preset")
    parser.add_argument("--size", type=parse_size, default=None,
                        help="HxW or S (default: SPADE's image_size, MDMM's crop, 256)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--width", type=int, default=None, help="the base width (ngf, dim)")
    parser.add_argument("--mode", choices=MODES, default="xla")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="constructor arguments replacing the preset's")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.mode == "graph" and keras.backend.backend() != "tensorflow":
        parser.error(f"--mode graph needs TensorFlow; {keras.backend.backend()} compiles "
                     "every step with XLA (--mode xla)")

    overrides = {name: literal(value) for name, value in (s.split("=", 1) for s in args.set)}
    peak = PeakMemory()
    baseline = peak()
    try:
        model = build(args.model, args.preset, args.width, args.mode, overrides, args.size)
        size = args.size or default_size(model)
        figures = measure(model, tuple(size), args.batch_size, args.steps, peak)
    except Exception as error:  # the cell's error, in one line for run.py's table
        print(json.dumps({"error": one_line(error)}))
        return 1
    results = {"model": args.model, "preset": args.preset or MODELS[args.model][1],
               "width": args.width, "size": list(size), "batch_size": args.batch_size,
               "mode": args.mode, "backend": keras.backend.backend(),
               "overrides": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in overrides.items()},
               "device": peak.device, "baseline_bytes": baseline,
               "routes": {phase: conv_routes.enabled(phase == "train")
                          for phase in conv_routes.PHASES},
               **figures}
    print(json.dumps(results), flush=True)
    write_results({"machine": machine(), **results}, args.out)


if __name__ == "__main__":
    sys.exit(main())
