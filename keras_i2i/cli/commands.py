"""What each `keras-i2i` command does, and where its models and data come from."""

import json
import pathlib
import re

import tensorflow as tf

from keras_i2i import data as data_lib
from keras_i2i import presets as preset_lib
from keras_i2i import training
from keras_i2i.models import registry


def run(args):
    """Runs the parsed command line `args`."""
    from keras_i2i import demo
    from keras_i2i.cli import evaluate, generate, train
    from keras_i2i.layers import conv_routes

    conv_routes.switch()  # a bad KERAS_I2I_CONV_ROUTES fails here, before any work

    handlers = {"presets": presets, "train": train.train, "test": generate.test,
                "translate": generate.translate, "export": export, "convert": convert,
                "synthetic": write_synthetic, "demo": demo.serve,
                "evaluate": evaluate.evaluate, "tune-routes": tune_routes}
    handlers[args.command](args)


def user_error(error):
    """The one line that tells the user about `error`, or None for a bug (a traceback)."""
    if isinstance(error, (ValueError, OSError, training.NonFiniteLoss)):
        return str(error)
    if isinstance(error, tf.errors.OpError):
        found = re.search(r"ValueError: (.*)", error.message)  # a loader's error about a file
        return found.group(1) if found else error.message.strip().splitlines()[0]
    return None


# ------------------------------------------------------------------ models


def load_model(args, **overrides):
    """The model that `--model`, `--preset`, `--checkpoint` and `--set` name, and what is known
    of its data: `(model, dataset name or None)`.

    `--preset` is a built-in preset, a preset folder, or a training run's `--out` folder: its
    `preset/`, or with `--checkpoint` (latest, a step, epoch-N) one of its checkpoints; a run
    that has no `preset/` yet (stopped, killed) gives its newest checkpoint.
    """
    spec = registry.get_model(args.model)
    folder = _model_folder(args.preset, getattr(args, "checkpoint", None))
    overrides = {**dict(getattr(args, "settings", [])), **overrides}
    model = spec.model_class.from_preset(folder, **overrides)
    return model, dataset_of(spec, args.preset, folder)


def _model_folder(preset, checkpoint):
    path = pathlib.Path(preset)
    checkpoints = path / "checkpoints"
    if checkpoint is not None:
        if not checkpoints.is_dir():
            raise ValueError(f"--checkpoint {checkpoint}: --preset {preset} is no training run's "
                             "folder (it has no checkpoints/).")
        return training.find_checkpoint(checkpoints, checkpoint)
    if preset_lib.is_preset_dir(path) or not checkpoints.is_dir():
        return preset
    if preset_lib.is_preset_dir(path / "preset"):
        return path / "preset"
    newest = training.find_checkpoint(checkpoints, "latest")
    print(f"{path} has no preset/ (the run did not finish): using its newest checkpoint, "
          f"{newest.name}.")
    return newest


def dataset_of(spec, preset, folder):
    """The dataset name a built-in preset declares, or that the training run which wrote
    `folder` recorded; None when unknown."""
    if not pathlib.Path(folder).is_dir():
        return preset_lib.preset_dataset(spec.model_class.__name__, preset)
    for record in (pathlib.Path(folder) / preset_lib.METADATA_FILE,
                   pathlib.Path(preset) / "options.json",
                   pathlib.Path(folder).parent.parent / "options.json"):
        if record.is_file():
            dataset = json.loads(record.read_text()).get("dataset")
            if dataset is not None:
                return dataset
    return None


# ------------------------------------------------------------------ data


def data_settings(spec, args, config):
    """`(dataset name, settings overrides)` for the loader of a dataset folder: the name
    `--dataset` gives (else the preset's), and the data options given (`--label-nc`,
    `--no-instance`, `--crop-size`, ...). Without a name, the label conventions come from the
    model's configuration `config`."""
    name = args.dataset or dataset_of(spec, args.preset, args.preset)
    overrides = {field: value for field, value in (
        ("label_nc", args.label_nc), ("contain_dontcare_label", args.contain_dontcare_label),
        ("instance", args.instance), ("preprocess", args.preprocess),
        ("load_size", args.load_size), ("crop_size", args.crop_size),
        ("aspect_ratio", args.aspect_ratio)) if value is not None}
    if name is None:
        overrides.setdefault("label_nc", config.get("label_nc", 0))
        if "contain_dontcare_label" in config:
            overrides.setdefault("contain_dontcare_label", config["contain_dontcare_label"])
        overrides.setdefault("instance", config.get("use_instance", False))
    return name, overrides


def bound_to_data(config, settings, image_size=None):
    """The model arguments the data decides, for the arguments the model has (`config`): its
    label count, dontcare class and instance maps, and the image size (MDMM's square
    `crop_size`)."""
    bound = {}
    if "label_nc" in config:
        with_dontcare = "contain_dontcare_label" in config
        bound["label_nc"] = settings.label_nc if with_dontcare else settings.num_classes
        if with_dontcare:
            bound["contain_dontcare_label"] = settings.contain_dontcare_label
        if "use_instance" in config:
            bound["use_instance"] = settings.instance
    if "image_size" in config and image_size is not None and None not in image_size:
        bound["image_size"] = tuple(image_size)
    if "crop_size" in config and image_size is not None and None not in image_size:
        if image_size[0] != image_size[1]:
            raise ValueError(f"The model trains on square crops (crop_size), the data's images "
                             f"are {image_size[0]}x{image_size[1]}.")
        bound["crop_size"] = image_size[0]
    return bound


def check_model_fits_data(config, settings, name):
    """ValueError when a model's label conventions (`config`) are not the data's."""
    differences = [f"{argument} {config[argument]!r} (data: {value!r})"
                   for argument, value in bound_to_data(config, settings).items()
                   if config[argument] != value]
    if differences:
        raise ValueError(f"The model does not fit the data ({name or 'given options'}): "
                         f"{', '.join(differences)}. Pass the model that was trained on such "
                         "data, or --dataset / --label-nc / --no-instance for this data.")


def loader(spec, settings):
    """The `keras_i2i.data` loader of a model's dataset folders; RGB input (label_nc 0) of a
    label-map model reads `paired_images`."""
    load = spec.data if callable(spec.data) else getattr(data_lib, spec.data)
    if load is data_lib.paired_labels and settings.label_nc == 0:
        return data_lib.paired_images
    return load


_LOADER_FLAGS = {"layout": "--layout", "shuffle": "--serial-batches", "cache": "--cache",
                 "flip": "--no-flip"}


def model_data_options(model):
    """The loader options a model decides: its `size_multiple` and (INIT) `max_boxes`."""
    options = {"size_multiple": model.size_multiple}
    if hasattr(model, "max_boxes"):
        options["max_boxes"] = model.max_boxes
    return options


def load_folder(load, root, name, overrides, **options):
    """`load(root, name, **options, **overrides)`; an option the loader does not take is an
    error in command-line terms."""
    import inspect

    root = pathlib.Path(root)
    if not root.is_dir():
        raise ValueError(f"--data {root}: no such folder.")
    parameters = inspect.signature(load).parameters
    for option in options:
        if option not in parameters:
            raise ValueError(f"{_LOADER_FLAGS.get(option, option)}: the {load.__name__} loader "
                             f"takes no {option}.")
    return load(str(root), name, **options, **overrides)


# ------------------------------------------------------------------ export, convert, presets


def export(args):
    if args.format == "onnx":
        return _export_onnx(args)
    if args.endpoint or args.opset is not None:
        raise ValueError("--endpoint and --opset are options of --format onnx.")
    model, _ = load_model(args)
    model.export(args.out, verbose=False)
    names = ", ".join(model.serving_endpoints())
    print(f"SavedModel written to {args.out} (signatures: {names}; serving_default = the "
          "first).")


def _export_onnx(args):
    from keras_i2i import onnx_export
    from keras_i2i.export import layout_text

    try:
        onnx_export.import_tf2onnx()
    except ImportError as error:
        raise ValueError(str(error)) from None
    model, _ = load_model(args)
    options = {} if args.opset is None else {"opset": args.opset}
    written = onnx_export.export_onnx(model, args.out, args.endpoint, **options)
    print(f"ONNX models written to {args.out}:")
    for path, inputs, outputs in written.values():
        described = ", ".join(f"{item.name} {item.dtype.name} {layout_text(item.layout)}"
                              for item in inputs)
        print(f"  {path.name}: {described} -> {', '.join(outputs)}")
    skipped = [name for name in model.serving_endpoints() if name not in written]
    if skipped and not args.endpoint:
        print(f"Not exported (they draw random styles, which the other endpoints take as "
              f"inputs): {', '.join(skipped)}.")


def convert(args):
    spec = registry.get_model(args.model)
    if spec.converter is None:
        raise ValueError(f"{args.model} has no PyTorch checkpoint converter yet.")
    checkpoint = pathlib.Path(args.checkpoint)
    if not checkpoint.exists():
        raise ValueError(f"--checkpoint {checkpoint}: no such file or folder.")
    converter = spec.converter
    if isinstance(converter, str):
        import importlib

        module, _, function = converter.partition(":")
        converter = getattr(importlib.import_module(module), function)
    converter(str(checkpoint), args.out, args.preset)
    print(f"Preset written to {args.out}.")


def tune_routes(args):
    """Measures the convolution routes on this machine and records the choice."""
    from keras_i2i import speed
    from keras_i2i.layers import conv_routes

    if args.model not in speed.MODELS:
        raise ValueError(f"--model {args.model}: expected one of {', '.join(speed.MODELS)}.")
    width = args.width if args.width is not None else (None if args.preset else 32)
    for option, value in (("--width", width), ("--batch-size", args.batch_size),
                          ("--steps", args.steps)):
        if value is not None and value < 1:
            raise ValueError(f"{option} {value}: expected a positive number.")
    choice = speed.tune_routes(args.model, args.preset, args.size, width, args.batch_size,
                               args.steps)
    conv_routes.save_choice(choice)
    for phase, title in (("train", "Training step"), ("infer", "Inference")):
        figures = choice[f"{phase}_s"]
        print(f"{title}: {figures['routes']:.3f} s with the routes, {figures['plain']:.3f} s "
              f"without: routes {'on' if choice[phase] else 'off'}.")
    print(f"Recorded in {conv_routes.choices_path()} for {conv_routes.machine_key()}.")


def presets(args):
    if args.model is None:
        models = registry.list_models()
    else:
        models = {args.model: registry.get_model(args.model)}
    for name, spec in models.items():
        print(f"{name}: {spec.description}")
        for preset, description in spec.model_class.presets().items():
            print(f"  {preset:<24} {description}")


def write_synthetic(args):
    write = {"paired": data_lib.synthetic.write_paired,
             "unpaired": data_lib.synthetic.write_unpaired,
             "unpaired_boxes": data_lib.synthetic.write_unpaired_boxes,
             "videos": data_lib.synthetic.write_videos}[args.kind]
    options = {"frames": args.frames} if args.kind == "videos" else {}
    for index, phase in enumerate(args.phase or ("train", "test")):
        # Each split its own scenes: a different seed per split.
        write(args.out, args.samples, phase=phase, seed=args.seed + 1000 * index, size=args.size,
              **options)
    print(f"{args.kind} synthetic data written to {args.out}.")
