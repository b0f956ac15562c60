"""This package's models timed on the machine at hand: a model built for timing (`build`),
random batches of what it trains on (`random_batch`), and the measurement that chooses the
convolution routes (`tune_routes`, the `keras-i2i tune-routes` command). The benchmarks
(`benchmarks/steps.py`) time the same models on the same batches."""

import datetime
import statistics
import time

import keras
import numpy as np

import keras_i2i
from keras_i2i import presets as preset_lib
from keras_i2i.layers import conv_routes

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
MODES = ("eager", "graph", "xla", "mixed")  # as `build` compiles
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
    in two, and the reference DRIT's default batch of 2 is one pair); vid2vid's is a clip
    of its first n_frames_G - 1 real frames and one generated frame, its inference a
    generated frame."""
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


def build(name, preset=None, width=None, mode="xla", overrides=None, size=None):
    """`MODELS[name]`'s model from `preset` (default: the reference's), without its VGG loss
    (its weights would need a download; the reference runs without one too), with `width`
    as its base width and `overrides`, compiled in `mode` (`MODES`: `eager` op by op,
    `graph` a `tf.function`, `xla` jit-compiled, `mixed` jit-compiled under
    `mixed_float16`). `size` (H, W) sets what follows the image size: SPADE's `image_size`
    (its generator's first map), MDMM's `crop_size` (its classifier's input)."""
    class_name, default_preset, width_argument = MODELS[name]
    model_class = getattr(keras_i2i, class_name)
    known = preset_lib.constructor_arguments(model_class)
    arguments = {key: value for key, value in NO_VGG.items() if key in known}
    if width:
        arguments[width_argument] = width
    if size and name == "spade":
        arguments["image_size"] = tuple(size)
    if size and name == "mdmm":
        arguments["crop_size"] = size[0]
    arguments.update(overrides or {})
    keras.config.set_dtype_policy("mixed_float16" if mode == "mixed" else "float32")
    keras.utils.set_random_seed(0)
    model = model_class.from_preset(preset or default_preset, **arguments)
    model.compile(run_eagerly=mode == "eager", jit_compile=mode in ("xla", "mixed"))
    return model


def default_size(model):
    """(H, W): SPADE's `image_size`, MDMM's crop, else 256 x 256."""
    crop = getattr(model, "crop_size", None)
    return tuple(getattr(model, "image_size", None) or (crop and (crop, crop)) or (256, 256))


# The routes are chosen for a phase when they take at most this fraction of the plain
# convolutions' time: within it, the plain computation.
ROUTES_MARGIN = 0.98


def tune_routes(name="pix2pixhd", preset=None, size=(256, 256), width=32, batch_size=1,
                steps=5, log=print):
    """Times `name`'s training step and inference with the convolution routes
    (`keras_i2i.layers.conv_routes`) and without, on this machine under XLA, and chooses.

    Two models are built and compiled, one with the routes and one without; their calls
    then alternate (`steps` timed rounds after one untimed), so that both see the same
    machine. Returns the choice `conv_routes.save_choice` records: `{"train": bool, "infer":
    bool}` (routes where their median takes at most `ROUTES_MARGIN` of the plain one's),
    the medians in seconds (`train_s`, `infer_s`: `{"routes": s, "plain": s}`) and the
    configuration measured.
    """
    size = tuple(size)
    runs = {}  # routes -> {phase: call}
    for routes in (True, False):
        log(f"compiling {name} {'with' if routes else 'without'} the convolution routes")
        with conv_routes.forced(routes):  # the routes are chosen when the steps are traced
            model = build(name, preset, width, "xla", size=size)
            batch, inputs = random_batch(model, size, batch_size)
            calls = {"train": lambda m=model, b=batch: m.train_on_batch(b),
                     "infer": lambda m=model, x=inputs: m.predict_on_batch(x)}
            for call in calls.values():
                call()
        runs[routes] = calls
    log(f"timing {steps} rounds of training steps and inference, with and without")
    seconds = {(phase, routes): [] for phase in conv_routes.PHASES for routes in runs}
    for round_ in range(steps + 1):
        for routes, calls in runs.items():
            for phase, call in calls.items():
                start = time.perf_counter()
                call()
                if round_:
                    seconds[phase, routes].append(time.perf_counter() - start)
    choice = {}
    for phase in conv_routes.PHASES:
        with_routes, plain = (statistics.median(seconds[phase, r]) for r in (True, False))
        choice[phase] = with_routes <= ROUTES_MARGIN * plain
        choice[f"{phase}_s"] = {"routes": with_routes, "plain": plain}
    configuration = {"model": name, "preset": preset or MODELS[name][1], "size": list(size),
                     "width": width, "batch_size": batch_size, "steps": steps,
                     "measured": datetime.datetime.now().isoformat(timespec="seconds")}
    return {**choice, **configuration}
