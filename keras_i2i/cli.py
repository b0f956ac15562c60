"""The `keras-i2i` command: train, translate, export, convert, and list presets.

    keras-i2i presets
    keras-i2i train --model spade --preset cityscapes --data datasets/cityscapes --out runs/spade
    keras-i2i translate --model spade --preset runs/spade/preset labels/ --out results/
    keras-i2i export --model spade --preset runs/spade/preset --out serving/spade/1
    keras-i2i convert --model spade --checkpoint latest_net_G.pth --preset cityscapes --out p/

`train` writes into its `--out` folder: `checkpoints/` (resumed from when the same command
runs again), `samples/` (input | output | target grids), `logs/` (TensorBoard) and, at the
end, `preset/` (a preset folder for `from_preset`, `translate` and `export`).

Mistakes (a missing folder, an unknown model or preset, a wrong layout) and a run stopped by
a NaN loss end the command with one line on stderr and exit status 1.
"""

import argparse
import importlib
import inspect
import pathlib
import re
import sys

import keras
import tensorflow as tf

from keras_i2i import data as data_lib
from keras_i2i import presets as preset_lib
from keras_i2i import schedules, training, visualize
from keras_i2i.callbacks import SampleGrid, TensorBoardScalars, TrainingCheckpoint
from keras_i2i.data import io, layouts
from keras_i2i.models import registry

_STRATEGIES = {
    "one-device": tf.distribute.get_strategy,
    "mirrored": tf.distribute.MirroredStrategy,
    "multi-worker": tf.distribute.MultiWorkerMirroredStrategy,
}


def main(argv=None):
    """Runs the command line `argv` (default `sys.argv[1:]`); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, training.NonFiniteLoss) as error:
        return _fail(str(error))
    except tf.errors.OpError as error:
        found = re.search(r"ValueError: (.*)", error.message)  # a loader's error about a file
        return _fail(found.group(1) if found else error.message)
    return 0


def _fail(message):
    print(f"keras-i2i: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


# ------------------------------------------------------------------ train


def train(args):
    spec = registry.get_model(args.model)
    out = pathlib.Path(args.out)
    checkpoints = out / "checkpoints"
    if not args.resume and training.latest_checkpoint(checkpoints) is not None:
        raise ValueError(f"{checkpoints} holds an earlier run's checkpoints: drop --no-resume "
                         "to continue it, or choose another --out.")
    strategy = _STRATEGIES[args.strategy]()
    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    dataset, steps_per_epoch = _training_data(spec, args, strategy)
    with strategy.scope():
        model = spec.model_class.from_preset(args.preset)
        jit = {} if args.jit is None else {"jit_compile": args.jit}
        model.compile(learning_rate_schedule=_schedule(spec, args, steps_per_epoch), **jit)
    shown = next(iter(dataset.unbatch().take(args.samples_shown).batch(args.samples_shown)))
    callbacks = [
        TrainingCheckpoint(checkpoints, every=args.checkpoint_every),
        *model.training_callbacks(),
        TensorBoardScalars(out / "logs", every=args.log_every),
        SampleGrid(shown, out / "samples", out / "logs", every=args.sample_every),
    ]
    model.fit(dataset, epochs=args.epochs, callbacks=callbacks, verbose=args.verbose)
    if strategy.extended.should_checkpoint:
        path = model.save_to_preset(out / "preset", metadata={
            "steps_trained": int(model.steps_trained.numpy()), "data": str(args.data)})
        print(f"Trained {int(model.steps_trained.numpy())} steps; preset written to {path}.")


def _training_data(spec, args, strategy):
    """The batched training data and its number of batches."""
    if args.data == "synthetic":
        make = _resolve(spec.synthetic, data_lib.synthetic)
        dataset = make(args.synthetic_samples, size=args.size, batch_size=args.batch_size,
                       seed=args.seed)
    else:
        root = pathlib.Path(args.data)
        if not root.is_dir():
            raise ValueError(f"--data {root}: no such folder (give a dataset folder, or "
                             "`synthetic` for the built-in synthetic data).")
        load = _resolve(spec.data, data_lib)
        options = {"batch_size": args.batch_size, "seed": args.seed}
        if args.layout is not None:
            if "layout" not in inspect.signature(load).parameters:
                raise ValueError(f"--layout: the {args.model} data loader takes no layout.")
            options["layout"] = args.layout
        dataset_name = args.dataset or preset_lib.preset_dataset(spec.model_class.__name__,
                                                                 args.preset)
        dataset = load(str(root), dataset_name, **options)
    steps = int(dataset.cardinality())
    if steps < 0:  # a loader that may skip bad files does not know its length: count once
        steps = int(dataset.reduce(0, lambda count, _: count + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    if steps == 0:
        raise ValueError(f"--data {args.data}: no complete batch of {args.batch_size} samples.")
    if strategy.num_replicas_in_sync > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        dataset = dataset.with_options(options)
    return dataset, steps


def _resolve(loader, module):
    return loader if callable(loader) else getattr(module, loader)


def _schedule(spec, args, steps_per_epoch):
    kind = args.schedule or spec.schedule
    if kind == "step":
        return schedules.step_decay(args.step_size or spec.step_size, spec.gamma)
    if kind == "linear":
        decay_epochs = args.epochs // 2 if args.decay_epochs is None else args.decay_epochs
        if not 0 <= decay_epochs <= args.epochs:
            raise ValueError(f"--decay-epochs {decay_epochs}: expected 0 to --epochs "
                             f"({args.epochs}).")
        if decay_epochs:
            return schedules.linear_decay(steps_per_epoch, args.epochs - decay_epochs,
                                          decay_epochs)
    return None


# ------------------------------------------------------------------ translate, export, convert


def translate(args):
    spec = registry.get_model(args.model)
    model = spec.model_class.from_preset(args.preset)
    function, signature = next(iter(model.serving_endpoints().values()))
    companions = dict(_name_and_folder(option) for option in args.with_)
    unknown = set(companions) - {input_spec.name for input_spec in signature[1:]}
    if unknown or len(companions) != len(signature) - 1:
        raise ValueError(
            f"--with: {args.model} takes {', '.join(s.name for s in signature)}; give the "
            f"files of {signature[0].name} as arguments and each other one as --with NAME=FOLDER.")
    settings = None if args.dataset is None else data_lib.dataset_settings(args.dataset)
    out = pathlib.Path(args.out)
    for path in _input_files(args.inputs):
        key = layouts.pairing_key(path, str(pathlib.Path(path).parent))
        paths = [path] + [_companion(companions[s.name], key, s.name) for s in signature[1:]]
        inputs = {s.name: _read(s, p, settings)[None] for s, p in zip(signature, paths)}
        outputs = function(**inputs)
        image = outputs["image"] if "image" in outputs else next(iter(outputs.values()))
        written = visualize.save_png(out / f"{key}.png", image[0])
        print(written)


def _name_and_folder(option):
    name, separator, folder = option.partition("=")
    if not separator or not pathlib.Path(folder).is_dir():
        raise ValueError(f"--with {option}: expected NAME=FOLDER with an existing folder.")
    return name, folder


def _input_files(inputs):
    files = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            files += io.list_files(str(path))
        elif path.is_file():
            files.append(str(path))
        else:
            raise ValueError(f"{path}: no such file or folder.")
    if not files:
        raise ValueError(f"{', '.join(inputs)}: no image files to translate.")
    return files


def _companion(folder, key, name):
    matches = [path for path in io.list_files(folder) if layouts.pairing_key(path, folder) == key]
    if not matches:
        raise ValueError(f"{folder}: no {name} file named like {key}.*")
    return matches[0]


def _read(input_spec, path, settings=None):
    """The file at `path` as `input_spec` wants it: label ids for integer inputs (a "label"
    input's raw ids mapped to classes as `settings`, a `DatasetSettings`, declares), an RGB
    image in [-1, 1] otherwise; resized to the spec's height and width when it fixes them."""
    labels = input_spec.dtype.is_integer
    value = io.read_label_map(path) if labels else io.read_image(path)
    if settings is not None and input_spec.name == "label":
        io.check_label_ids(path, value.numpy(), settings)
        value = io.map_label_ids(value, settings)
    height, width = input_spec.shape[1:3]
    if height is not None and width is not None:
        value = tf.image.resize(value, (height, width),
                                method="nearest" if labels else "bicubic")
    return tf.cast(value, input_spec.dtype)


def export(args):
    model = registry.get_model(args.model).model_class.from_preset(args.preset)
    model.export(args.out)


def convert(args):
    spec = registry.get_model(args.model)
    if spec.converter is None:
        raise ValueError(f"{args.model} has no PyTorch checkpoint converter yet.")
    checkpoint = pathlib.Path(args.checkpoint)
    if not checkpoint.exists():
        raise ValueError(f"--checkpoint {checkpoint}: no such file or folder.")
    converter = spec.converter
    if isinstance(converter, str):
        module, _, function = converter.partition(":")
        converter = getattr(importlib.import_module(module), function)
    converter(str(checkpoint), args.out, args.preset)
    print(f"Preset written to {args.out}.")


def presets(args):
    if args.model is None:
        models = registry.list_models()
    else:
        models = {args.model: registry.get_model(args.model)}
    for name, spec in models.items():
        print(f"{name}: {spec.description}")
        for preset, description in spec.model_class.presets().items():
            print(f"  {preset:<24} {description}")


# ------------------------------------------------------------------ arguments


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-i2i", description="Image-to-image translation GANs for Keras.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    listing = commands.add_parser("presets", help="list the models and their presets")
    listing.add_argument("--model", help="only this model")
    listing.set_defaults(run=presets)

    fit = commands.add_parser("train", help="train a model (resumes from --out's checkpoints)")
    _model_arguments(fit)
    fit.add_argument("--data", required=True,
                     help="dataset folder, or `synthetic` for the built-in synthetic data")
    fit.add_argument("--layout", help="the folder's layout (the model's loader detects it)")
    fit.add_argument("--dataset", help="dataset settings (label ids, sizes), e.g. cityscapes; "
                                       "default: the one a built-in preset names")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                     help="continue from --out's newest checkpoint (default)")
    fit.add_argument("--epochs", type=int, default=10)
    fit.add_argument("--batch-size", type=int, default=1, help="global batch size")
    fit.add_argument("--schedule", choices=registry.SCHEDULES,
                     help="learning-rate schedule (default: the model's reference one)")
    fit.add_argument("--decay-epochs", type=int,
                     help="linear schedule: epochs of decay at the end (default: half)")
    fit.add_argument("--step-size", type=int, help="step schedule: steps between halvings")
    fit.add_argument("--strategy", choices=sorted(_STRATEGIES), default="one-device",
                     help="multi-worker reads the cluster from TF_CONFIG")
    fit.add_argument("--precision", default="float32",
                     choices=["float32", "mixed_float16", "mixed_bfloat16"])
    fit.add_argument("--jit", action=argparse.BooleanOptionalAction,
                     help="XLA compilation (default: the model's compile default)")
    fit.add_argument("--checkpoint-every", type=int, default=500, help="steps")
    fit.add_argument("--sample-every", type=int, default=500, help="steps")
    fit.add_argument("--log-every", type=int, default=50, help="steps")
    fit.add_argument("--samples-shown", type=int, default=4, help="rows of the sample grids")
    fit.add_argument("--synthetic-samples", type=int, default=256, help="synthetic epoch size")
    fit.add_argument("--size", type=int, default=64, help="synthetic image size")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    fit.set_defaults(run=train)

    apply = commands.add_parser("translate", help="translate image or label files")
    _model_arguments(apply)
    apply.add_argument("inputs", nargs="+", help="files or folders of the model's first input")
    apply.add_argument("--with", dest="with_", action="append", default=[],
                       metavar="NAME=FOLDER", help="a further input (e.g. instance=inst/), "
                                                   "paired with the inputs by file name")
    apply.add_argument("--dataset", choices=sorted(data_lib.DATASETS),
                       help="map the label files' raw ids as this dataset's loader does "
                            "(e.g. coco_stuff: 255 -> dontcare class 182)")
    apply.add_argument("--out", required=True, help="output folder")
    apply.set_defaults(run=translate)

    serve = commands.add_parser("export", help="export a SavedModel for TF Serving")
    _model_arguments(serve)
    serve.add_argument("--out", required=True, help="SavedModel folder")
    serve.set_defaults(run=export)

    port = commands.add_parser("convert", help="PyTorch checkpoint -> preset folder")
    port.add_argument("--model", required=True)
    port.add_argument("--checkpoint", required=True,
                      help="the reference checkpoint (file or folder, as the model's converter "
                           "reads it)")
    port.add_argument("--preset", help="the built-in preset the checkpoint was trained with")
    port.add_argument("--out", required=True, help="preset folder to write")
    port.set_defaults(run=convert)
    return parser


def _model_arguments(parser):
    parser.add_argument("--model", required=True, help="e.g. spade, pix2pixhd, munit")
    parser.add_argument("--preset", required=True, help="a built-in preset or a preset folder")


if __name__ == "__main__":
    sys.exit(main())
