"""`keras-i2i train`: one command that trains, resumes, logs and writes the preset."""

import argparse
import json
import pathlib

import keras
import tensorflow as tf

from keras_i2i import data as data_lib
from keras_i2i import presets as preset_lib
from keras_i2i import schedules, training
from keras_i2i.callbacks import (
    LossLog,
    SampleGrid,
    TensorBoardScalars,
    TrainingCheckpoint,
    writes_files,
)
from keras_i2i.cli import arguments, commands
from keras_i2i.layers import conv_routes
from keras_i2i.models import registry

OPTIONS_FILE = "options.json"
_STRATEGIES = {
    "one-device": tf.distribute.get_strategy,
    "mirrored": tf.distribute.MirroredStrategy,
    "multi-worker": tf.distribute.MultiWorkerMirroredStrategy,
}
# Options that do not change what a run computes: a re-run may change them silently.
_INCIDENTAL = {"resume", "verbose", "command"}


def train(args):
    spec = registry.get_model(args.model)
    out = pathlib.Path(args.out)
    checkpoints = out / "checkpoints"
    resuming = training.latest_checkpoint(checkpoints) is not None
    if resuming and not args.resume:
        raise ValueError(f"{checkpoints} holds an earlier run's checkpoints: drop --no-resume "
                         "to continue it, or choose another --out.")
    strategy = _STRATEGIES[args.strategy]()
    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(args.seed)

    config = preset_lib.preset_arguments(spec.model_class, args.preset)
    synthetic = args.data == "synthetic"
    name, data_overrides = (("synthetic", {}) if synthetic
                            else commands.data_settings(spec, args, config))
    settings = data_lib.dataset_settings(name, **data_overrides)
    image_size = ((args.size, args.size) if synthetic
                  else settings.preprocessing(training=True).output_size)
    overrides = {**commands.bound_to_data(config, settings, image_size),
                 **arguments.model_overrides(args)}
    with strategy.scope():
        model = spec.model_class.from_preset(args.preset, **overrides)
        if args.coarse_model is not None and not resuming:
            _load_coarse_model(model, args)
    args.batch_size = args.batch_size or model.default_batch_size
    epochs = args.epochs or _default_epochs(model)
    dataset, steps_per_epoch = _training_data(spec, args, strategy, model, name, data_overrides,
                                              epochs)
    _record_options(out, args, name, model, epochs)
    with strategy.scope():
        options = {} if args.jit is None else {"jit_compile": args.jit}
        if args.run_eagerly:
            options.update(run_eagerly=True, jit_compile=False)
        model.compile(learning_rate_schedule=_schedule(spec, args, steps_per_epoch, epochs),
                      **options)
    shown = next(iter(dataset.unbatch().take(args.samples_shown).batch(args.samples_shown)))
    sample_every = args.sample_every or max(1, steps_per_epoch * epochs // 10)
    callbacks = [
        TrainingCheckpoint(checkpoints, every=args.checkpoint_every,
                           keep=args.keep_checkpoints or None,
                           every_epochs=args.save_every_epochs),
        *model.training_callbacks(),
        LossLog(out / "losses.csv", out / "losses.png", every=args.log_every),
        TensorBoardScalars(out / "logs", every=args.log_every),
        SampleGrid(shown, out / "samples", out / "logs", every=sample_every),
    ]
    print(conv_routes.describe())
    model.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=args.verbose, shuffle=False)
    if not writes_files(model):
        return
    steps = int(model.steps_trained.numpy())
    if getattr(model, "instance_feat", False) and args.cluster_features:
        _cluster_features(model, spec, args, name, data_overrides)
    path = model.save_to_preset(out / "preset", metadata={
        "steps_trained": steps, "data": str(args.data), "dataset": name})
    print(f"Trained {steps} steps; preset written to {path}.")


def _load_coarse_model(model, args):
    if not hasattr(model, "load_coarse_model"):
        raise ValueError(f"--coarse-model: {args.model} has no coarse-to-fine training.")
    coarse, _ = commands.load_model(
        argparse.Namespace(model=args.model, preset=args.coarse_model, checkpoint=None))
    model.load_coarse_model(coarse)
    print(f"Started from the coarse model {args.coarse_model}.")


def _default_epochs(model):
    if hasattr(model, "niter") and hasattr(model, "niter_decay"):
        return model.niter + model.niter_decay
    return getattr(model, "n_ep", 10)


def _training_data(spec, args, strategy, model, name, overrides, epochs):
    """The batched training data and its number of batches; a video model's clips long enough
    for `epochs` epochs of its schedule, with their reference flow."""
    video = hasattr(model, "clip_frames")
    frames = (args.frames or model.clip_frames(epochs)) if video else None
    if args.data == "synthetic":
        dataset = synthetic_dataset(spec)(
            args.synthetic_samples, size=args.size, batch_size=args.batch_size, seed=args.seed,
            **({"shuffle": False} if args.serial_batches else {}),
            **({"frames": frames} if video else {}))
    else:
        settings = data_lib.dataset_settings(name, **overrides)
        options = {"phase": args.phase, "batch_size": args.batch_size, "seed": args.seed,
                   "on_error": args.on_error, **commands.model_data_options(model)}
        if video:  # without --frames, clips as long as the shortest sequence when shorter
            options.update(frames=frames, at_most=args.frames is None)
        for option, value, unset in (("layout", args.layout, None), ("flip", args.flip, True),
                                     ("shuffle", not args.serial_batches, True),
                                     ("cache", args.cache, False)):
            if value != unset:
                options[option] = value
        dataset = commands.load_folder(commands.loader(spec, settings), args.data, name,
                                       overrides, **options)
    steps = int(dataset.cardinality())
    if steps < 0:  # a loader that may skip bad files does not know its length: count once
        skipped = getattr(dataset, "skipped", None)
        steps = int(dataset.reduce(0, lambda count, _: count + 1))
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
        if skipped is not None and skipped.count:
            print(f"--on-error skip: {skipped.count} bad samples left out.")
    if steps == 0:
        raise ValueError(f"--data {args.data}: no complete batch of {args.batch_size} samples.")
    if video:  # the synthetic videos' exact flow passes unchanged
        dataset = data_lib.with_flow(dataset, cache=args.flow_cache)
    if strategy.num_replicas_in_sync > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        dataset = dataset.with_options(options)
    return dataset, steps


def synthetic_dataset(spec):
    """The model's synthetic data generator."""
    if callable(spec.synthetic):
        return spec.synthetic
    return getattr(data_lib.synthetic, spec.synthetic)


def _schedule(spec, args, steps_per_epoch, epochs):
    kind = args.schedule or spec.schedule
    if kind == "step":
        return schedules.step_decay(args.step_size or spec.step_size, spec.gamma)
    if kind == "linear":
        decay_epochs = epochs // 2 if args.decay_epochs is None else args.decay_epochs
        if not 0 <= decay_epochs <= epochs:
            raise ValueError(f"--decay-epochs {decay_epochs}: expected 0 to --epochs ({epochs}).")
        if decay_epochs:
            return schedules.linear_decay(steps_per_epoch, epochs - decay_epochs, decay_epochs)
    return None


def _cluster_features(model, spec, args, name, overrides):
    """pix2pixHD's feature clustering on the training data, unshuffled and unaugmented."""
    if args.data == "synthetic":
        dataset = synthetic_dataset(spec)(args.synthetic_samples, size=args.size, batch_size=1,
                                          seed=args.seed, shuffle=False)
    else:
        settings = data_lib.dataset_settings(name, **overrides)
        dataset = commands.load_folder(
            commands.loader(spec, settings), args.data, name, overrides, phase=args.phase,
            batch_size=1, training=False, on_error=args.on_error,
            size_multiple=model.size_multiple)
    counts = model.cluster_features(dataset)
    print(f"Clustered the instance features: {int((counts > 0).sum())} classes, "
          f"{int(counts.sum())} clusters.")


# ------------------------------------------------------------------ the run's options


def _record_options(out, args, dataset, model, epochs):
    """Writes `opt.txt` (readable, as the reference's) and `options.json` into `out`; when an
    earlier run of `out` had other options, says which."""
    options = {key: _plain(value) for key, value in sorted(vars(args).items())
               if key not in _INCIDENTAL}
    options["epochs"] = epochs
    record = {"options": options, "dataset": dataset,
              "model": {"class": type(model).__name__, "config": _plain(model.get_config())}}
    path = out / OPTIONS_FILE
    if path.is_file():
        _report_changes(json.loads(path.read_text()), record, path)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["------------ Options -------------"]
    lines += [f"{key}: {value}" for key, value in options.items()]
    lines += [f"------------ {type(model).__name__} -------------"]
    lines += [f"{key}: {value}" for key, value in sorted(record["model"]["config"].items())]
    lines += ["-------------- End ----------------", ""]
    _write(out / "opt.txt", "\n".join(lines))
    _write(path, json.dumps(record, indent=2))


def _report_changes(before, now, path):
    changes = []
    for section in ("options", "model"):
        old, new = before.get(section, {}), now[section]
        if section == "model":
            old, new = old.get("config", {}), new["config"]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                name = key.split(":")[-1]  # "model:lr": a model option
                flag = f"--{name.replace('_', '-')}" if section == "options" else key
                changes.append(f"{flag} {old.get(key)!r} -> {new.get(key)!r}")
    if changes:
        print(f"Options differ from the earlier run ({path}): " + "; ".join(changes) + ".")


def _plain(value):
    """JSON-ready: tuples as lists, (name, value) settings as a dict, objects as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _write(path, text):
    temporary = path.with_name(f"tmp-{path.name}")
    temporary.write_text(text)
    temporary.replace(path)
