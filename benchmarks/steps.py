"""Training-step and inference speed of any model, under this process's Keras backend.

    KERAS_BACKEND=jax python benchmarks/steps.py --model spade --preset cityscapes \
        [--size 256x512] [--batch-size 1] [--set ngf=32] [--mixed] [--steps 10] [--out r.json]
    python benchmarks/steps.py --model drit --preset yosemite --size 216x216 --batch-size 2

Builds the model from its preset (with `--set` overrides), compiled with XLA (`jit_compile`;
under JAX every step is compiled), on a batch of random inputs with the keys and dtypes the
model trains on. Times a whole training step (`train_on_batch`: every network group's
update, every loss) and one inference (`predict_on_batch`, divided by the batch size for
seconds per image), after warm-up calls that compile them. Both calls return NumPy values,
so each timing includes the device's work. Runs where TensorFlow is not installed (under
JAX): the batch is NumPy. Prints the figures and writes them, with the machine and the
versions, as JSON.
"""

import argparse
import ast
import importlib
import inspect
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from timing import machine, seconds_per_call, write_results  # noqa: E402

MODELS = {"spade": "SPADE", "pix2pixhd": "Pix2PixHD", "munit": "MUNIT", "drit": "DRIT",
          "mdmm": "MDMM"}


def _maps(rng, batch_size, size, count):
    return rng.integers(0, count, (batch_size, *size, 1)).astype("int32")


def _images(rng, batch_size, size, channels=3):
    return rng.uniform(-1, 1, (batch_size, *size, channels)).astype("float32")


def random_batch(model, size, batch_size, seed=0):
    """`(training batch, inference inputs)` of random values for `model` at `size` (H, W).
    DRIT's and MDMM's training batch holds `batch_size` images per iteration of their step
    (`default_batch_size / 2` iterations)."""
    rng = np.random.default_rng(seed)
    name = type(model).__name__
    if name in ("MUNIT", "DRIT"):
        rows = batch_size * getattr(model, "d_iter", 1)
        batch = {"image_a": _images(rng, rows, size, model.channels_a),
                 "image_b": _images(rng, rows, size, model.channels_b)}
        return batch, batch["image_a"][:batch_size]
    if name == "MDMM":
        rows = batch_size * model.default_batch_size // 2
        batch = {"image": _images(rng, rows, size, model.channels),
                 "domain": rng.integers(0, model.num_domains, rows).astype("int32")}
        return batch, {key: value[:batch_size] for key, value in batch.items()}
    if name == "SPADE":
        batch = {"label": _maps(rng, batch_size, size, model.num_classes)}
    elif model.label_nc:
        batch = {"label": _maps(rng, batch_size, size, model.label_nc)}
    else:
        batch = {"input": _images(rng, batch_size, size, model.input_nc)}
    if model.use_instance:
        batch["instance"] = _maps(rng, batch_size, size, 4)
    inputs = dict(batch)
    batch["image"] = _images(rng, batch_size, size)
    return batch, inputs


def benchmark(model, size, batch_size, steps):
    """`{"train_step_s", "image_s"}` of `model` (compiled) on random inputs."""
    batch, inputs = random_batch(model, size, batch_size)
    train = seconds_per_call(lambda: model.train_on_batch(batch), steps, warmup=2)
    infer = seconds_per_call(lambda: model.predict_on_batch(inputs), steps, warmup=2)
    return {"train_step_s": train, "image_s": infer / batch_size}


def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--size", default=None, help="HxW (default: the preset's image size)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="constructor arguments replacing the preset's")
    parser.add_argument("--mixed", action="store_true", help="mixed_float16 (bfloat16 on TPUs)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    overrides = dict(item.split("=", 1) for item in args.set)
    overrides = {name: _value(value) for name, value in overrides.items()}
    model_class = getattr(importlib.import_module("keras_i2i"), MODELS[args.model])
    size = tuple(int(n) for n in args.size.lower().split("x")) if args.size else None
    if size and "image_size" in inspect.signature(model_class.__init__).parameters:
        overrides["image_size"] = size  # SPADE's: its generator's first map
    if args.mixed:
        keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    model = model_class.from_preset(args.preset, **overrides)
    model.compile(jit_compile=True)
    crop = getattr(model, "crop_size", None)  # MDMM's
    size = (size or getattr(model, "image_size", None) or (crop and (crop, crop))
            or (256, 256))
    figures = benchmark(model, tuple(size), args.batch_size, args.steps)
    results = {"machine": machine(), "model": args.model, "preset": args.preset,
               "overrides": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in overrides.items()},
               "size": list(size), "batch_size": args.batch_size, "mixed": args.mixed,
               **figures}
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}))
    write_results(results, args.out)


if __name__ == "__main__":
    sys.exit(main())
