"""One model's training step and inference, timed in this process under its Keras backend,
with the peak memory of each: one cell of `run.py`'s grid, or a figure of its own.

    KERAS_BACKEND=jax python benchmarks/steps.py --model spade [--preset cityscapes] \
        [--size 256x256] [--batch-size 1] [--width 32] [--mode xla] [--set lambda_feat=0] \
        [--steps 3] [--out r.json]

Builds the model from its preset (by default the one `run.py` compares with the reference
code: `MODELS`), with `--width` as its base width (`ngf`, `dim` or `width`) and `--set`
overrides, without a VGG loss (its weights would need a download; the reference runs without
one too), and compiles it in `--mode`:

- `eager`: op by op (`run_eagerly=True`);
- `graph`: `tf.function` without XLA (TensorFlow only: JAX compiles every step with XLA);
- `xla`: `jit_compile=True`;
- `mixed`: `jit_compile=True` under `mixed_float16`.

On random inputs with the keys and dtypes the model trains on, it times inference first
(`predict_on_batch`, per image: divided by the batch size), then a whole training step
(`train_on_batch`: every network's update, every loss), each the median of `--steps` calls
after a warm-up call that compiles it; both return NumPy values, so each timing includes the
device's work. Memory: on a CPU the process's peak resident memory (`ru_maxrss`) after the
imports (`baseline_bytes`), after the inference timings and after the training timings (the
high-water mark, so inference comes first; XLA's compilation included: the allocator
keeps what the compiler freed, so the memory of the steps alone is not told apart); on a
GPU the device's peak allocation. Prints one
JSON line (and writes it, with the machine, to `--out`); an error, as a JSON line
`{"error": ...}`, exit status 1. Runs without TensorFlow installed
(under JAX): the inputs are NumPy.
"""

import argparse
import json
import os
import re
import resource
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_i2i  # noqa: E402  (imported before the memory baseline)
from keras_i2i import presets as preset_lib  # noqa: E402
from keras_i2i.cli.arguments import literal  # noqa: E402
from timing import machine, median_time, write_results  # noqa: E402

# model -> (class, the preset compared with the reference, its base width's argument)
MODELS = {
    "spade": ("SPADE", "cityscapes", "ngf"),
    "pix2pixhd": ("Pix2PixHD", "label2city_512p", "ngf"),
    "munit": ("MUNIT", "edges2shoes", "dim"),
    "drit": ("DRIT", "yosemite", "width"),
    "mdmm": ("MDMM", "mdmm", "width"),
    "init": ("INIT", "sunny2night", "dim"),
    "vid2vid": ("Vid2Vid", "cityscapes_512", "ngf"),
}
MODES = ("eager", "graph", "xla", "mixed")
NO_VGG = {"lambda_vgg": 0.0, "vgg_weight": 0.0}  # the models' names for the VGG loss weight
BOXES = 8  # INIT's objects per image (at most its max_boxes)


def _maps(rng, shape, count):
    return rng.integers(0, count, (*shape, 1)).astype("int32")


def _images(rng, shape, channels=3):
    return rng.uniform(-1, 1, (*shape, channels)).astype("float32")


def random_boxes(rng, batch_size, count, size):
    """(B, count, 4) boxes (y0, x0, y1, x1) of sides 1/8 to 1/3 of the image's, inside it."""
    sides = rng.uniform(1 / 8, 1 / 3, (batch_size, count, 2)) * size
    corners = rng.uniform(0, 1, (batch_size, count, 2)) * (np.array(size) - sides)
    return np.concatenate([corners, corners + sides], axis=-1).astype("float32")


def _conditional(model, rng, shape):
    """SPADE's, pix2pixHD's and vid2vid's label (and instance) maps of `shape` (B, [T,] H,
    W), or pix2pixHD's RGB input (label_nc 0), with the real images."""
    label_nc = model.num_classes if hasattr(model, "num_classes") else model.label_nc
    batch = ({"label": _maps(rng, shape, label_nc)} if label_nc
             else {"input": _images(rng, shape, model.input_nc)})
    if model.use_instance:
        batch["instance"] = _maps(rng, shape, 4)
    batch["image"] = _images(rng, shape)
    return batch


def random_batch(model, size, batch_size, seed=0):
    """`(training batch, inference inputs)` of random values for `model` at `size` (H, W).
    DRIT's and MDMM's training batches hold `batch_size` pairs of images (per domain) per
    iteration of their step (`d_iter` iterations; their steps split an iteration's images
    in two, and the reference DRIT's default batch of 2 is one pair); vid2vid's is a clip of its first n_frames_G - 1 real frames and
    one generated frame, its inference a generated frame."""
    rng = np.random.default_rng(seed)
    name = type(model).__name__
    if name in ("MUNIT", "DRIT"):
        rows = batch_size * (2 * model.d_iter if name == "DRIT" else 1)
        batch = {"image_a": _images(rng, (rows, *size), model.channels_a),
                 "image_b": _images(rng, (rows, *size), model.channels_b)}
        return batch, batch["image_a"][:batch_size]
    if name == "MDMM":
        rows = batch_size * model.default_batch_size
        batch = {"image": _images(rng, (rows, *size), model.channels),
                 "domain": rng.integers(0, model.num_domains, rows).astype("int32")}
        return batch, {key: value[:batch_size] for key, value in batch.items()}
    if name == "INIT":
        boxes, batch = min(BOXES, model.max_boxes), {}
        for domain in "ab":
            batch[f"image_{domain}"] = _images(rng, (batch_size, *size))
            batch[f"boxes_{domain}"] = random_boxes(rng, batch_size, boxes, size)
            batch[f"classes_{domain}"] = rng.integers(
                0, model.num_classes, (batch_size, boxes)).astype("int32")
        return batch, {key: value for key, value in batch.items() if key.endswith("_a")}
    if name == "Vid2Vid":
        batch = _conditional(model, rng, (batch_size, model.n_frames_G, *size))
        batch["flow"] = rng.uniform(-2, 2, (batch_size, model.n_frames_G - 1, *size, 2))
        batch["flow"] = batch["flow"].astype("float32")
        return batch, dict(batch)
    batch = _conditional(model, rng, (batch_size, *size))
    return batch, {key: value for key, value in batch.items() if key != "image"}


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


def build(name, preset=None, width=None, mode="xla", overrides=None):
    """`MODELS[name]`'s model from `preset` (default: the reference's), compiled in `mode`."""
    class_name, default_preset, width_argument = MODELS[name]
    model_class = getattr(keras_i2i, class_name)
    known = preset_lib.constructor_arguments(model_class)
    arguments = {key: value for key, value in NO_VGG.items() if key in known}
    if width:
        arguments[width_argument] = width
    arguments.update(overrides or {})
    keras.config.set_dtype_policy("mixed_float16" if mode == "mixed" else "float32")
    keras.utils.set_random_seed(0)
    model = model_class.from_preset(preset or default_preset, **arguments)
    model.compile(run_eagerly=mode == "eager", jit_compile=mode in ("xla", "mixed"))
    return model


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


def default_size(model):
    """(H, W): SPADE's `image_size`, MDMM's crop, else 256 x 256."""
    crop = getattr(model, "crop_size", None)
    return tuple(getattr(model, "image_size", None) or (crop and (crop, crop)) or (256, 256))


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
    if args.size and args.model == "spade":
        overrides["image_size"] = args.size  # its generator's first map follows it
    if args.size and args.model == "mdmm":
        overrides["crop_size"] = args.size[0]  # its classifier's input (square crops)
    peak = PeakMemory()
    baseline = peak()
    try:
        model = build(args.model, args.preset, args.width, args.mode, overrides)
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
               "device": peak.device, "baseline_bytes": baseline, **figures}
    print(json.dumps(results), flush=True)
    write_results({"machine": machine(), **results}, args.out)


if __name__ == "__main__":
    sys.exit(main())
