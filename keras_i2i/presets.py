"""Preset registry and preset folders in the keras-hub layout.

A preset is a named, documented set of constructor arguments for one model class, taken from
the reference configuration of a dataset. Built-in presets carry no weights. A preset folder
holds ``config.json`` (the serialized model), ``model.weights.h5`` (optional) and
``metadata.json``; ``save_preset`` writes one and ``load_preset`` reads one in Keras safe mode.
"""

import datetime
import importlib
import inspect
import json
import os
import pathlib
import tempfile

import h5py
import keras

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"

_REGISTRY = {}


def register_presets(model_name, presets):
    """Adds ``{preset_name: {"description": str, "config": dict, "dataset": str}}`` for a model
    class name; "dataset" (optional) names the `keras_i2i.data.DATASETS` entry whose label
    conventions and preprocessing the preset was trained with."""
    for name, preset in presets.items():
        missing = {"description", "config"} - set(preset)
        unknown = set(preset) - {"description", "config", "dataset"}
        if missing or unknown:
            raise ValueError(f"Preset {model_name}/{name}: lacks {sorted(missing)}, "
                             f"has unknown {sorted(unknown)}.")
    _REGISTRY.setdefault(model_name, {}).update(presets)


def preset_dataset(model_name, name):
    """The dataset name a built-in preset declares, or None (a preset folder, or none given)."""
    return _REGISTRY.get(model_name, {}).get(name, {}).get("dataset")


def list_presets(model_name=None):
    """``{model_name: {preset_name: description}}``, or one model's
    ``{preset_name: description}``."""
    table = {
        model: {name: preset["description"] for name, preset in presets.items()}
        for model, presets in sorted(_REGISTRY.items())
    }
    if model_name is None:
        return table
    return table.get(model_name, {})


def get_preset(model_name, name):
    """The built-in preset ``name`` of ``model_name``; the error lists the known names."""
    presets = _REGISTRY.get(model_name, {})
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none"
        raise ValueError(
            f"Unknown preset {name!r} for {model_name}. Known presets: {known}. "
            "A path to a preset folder (with config.json) works too."
        )
    return presets[name]


def constructor_arguments(model_class):
    """`{name: default}` of the model's constructor arguments, those its `**kwargs` pass to a
    keras_i2i base class included (INIT's MUNIT arguments)."""
    arguments = {}
    for cls in model_class.__mro__:
        if not cls.__module__.startswith("keras_i2i") or "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters.values()
        for p in parameters:
            if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD:
                arguments.setdefault(p.name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return arguments


def preset_arguments(model_class, preset):
    """The constructor arguments that ``preset`` (a built-in name or a preset folder) gives,
    over the class defaults; a folder without ``config.json`` (a run not saved yet) gives the
    defaults."""
    config = constructor_arguments(model_class)
    if is_preset_dir(preset):
        stored = json.loads((pathlib.Path(preset) / CONFIG_FILE).read_text())
        return {**config, **stored.get("config", {})}
    if pathlib.Path(preset).is_dir():
        return config
    return {**config, **get_preset(model_class.__name__, preset)["config"]}


def is_preset_dir(path):
    """Whether ``path`` is a folder holding a preset's ``config.json``."""
    return os.path.isfile(os.path.join(os.fspath(path), CONFIG_FILE))


def save_preset(model, path, metadata=None):
    """Writes ``model`` as a preset folder: config, weights and metadata.

    Each file is written to a temporary name and then renamed, so an interrupted save never
    leaves a half-written file behind an existing good one.
    """
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = keras.saving.serialize_keras_object(model)
    info = {
        "keras_version": keras.__version__,
        "keras_i2i_version": _package_version(),
        "model": type(model).__name__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(metadata or {}),
    }
    _write_atomic(path / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(config, indent=2)))
    _write_atomic(path / WEIGHTS_FILE, lambda tmp: model.save_weights(tmp))
    _write_atomic(path / METADATA_FILE, lambda tmp: tmp.write_text(json.dumps(info, indent=2)))
    return path


def load_preset(path, expected_class=None, load_weights=True, **overrides):
    """Rebuilds the model a preset folder describes, in Keras safe mode.

    Args:
        path: folder with ``config.json`` (and ``model.weights.h5`` to load weights).
        expected_class: when given, the folder must hold this class (or a subclass).
        load_weights: load ``model.weights.h5`` when present.
        **overrides: constructor arguments replacing those in ``config.json``.
    """
    path = pathlib.Path(path)
    config_path = path / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{config_path}: not a readable preset config ({error}).") from error
    if not isinstance(config, dict) or "config" not in config:
        raise ValueError(f"{config_path}: expected a serialized Keras object with a 'config' key.")
    config["config"].update(overrides)
    for module in _package_modules(config):  # registers their classes (a fresh process)
        importlib.import_module(module)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    if expected_class is not None and not isinstance(model, expected_class):
        raise ValueError(
            f"{config_path}: holds a {type(model).__name__}, expected {expected_class.__name__}."
        )
    weights_path = path / WEIGHTS_FILE
    if load_weights and weights_path.is_file():
        built_by = CONFIG_FILE + (" with the overrides" if overrides else "")
        _load_weights(model, weights_path, built_by)
    return model


def _package_modules(config):
    """The `keras_i2i` modules a serialized object names (its class, schedules, layers)."""
    if isinstance(config, dict):
        named = config.get("module")
        own = {named} if isinstance(named, str) and named.startswith("keras_i2i.") else set()
        return own.union(*(_package_modules(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(_package_modules(value) for value in config))
    return set()


def _load_weights(model, weights_path, built_by):
    """Loads the weights; when they do not fit, one `ValueError` names the first weight whose
    shape differs between the file and the model `built_by` describes (Keras's own error
    lists every layer that could not be loaded, without shapes)."""
    try:
        model.load_weights(weights_path)
    except ValueError:
        difference = _first_difference(weights_path, model)
        if difference is None:
            raise
        raise ValueError(
            f"{weights_path}: {_describe(*difference, built_by)}: were the weights written "
            "with another configuration?"
        ) from None


def _first_difference(weights_path, model):
    """`(weight path, shape in the file, shape in the model)` of the first weight (in path
    order) that differs or is missing on one side (shape None); None if all agree."""
    with tempfile.TemporaryDirectory() as folder:
        built_path = os.path.join(folder, WEIGHTS_FILE)
        model.save_weights(built_path)
        saved, built = _dataset_shapes(weights_path), _dataset_shapes(built_path)
    for name in sorted(saved.keys() | built.keys()):
        if saved.get(name) != built.get(name):
            return name, saved.get(name), built.get(name)
    return None


def _dataset_shapes(path):
    """`{dataset path: shape}` of every dataset in an HDF5 file."""
    shapes = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            shapes[name] = item.shape

    with h5py.File(path, "r") as file:
        file.visititems(visit)
    return shapes


def _describe(name, saved_shape, built_shape, built_by):
    if saved_shape is None:
        return f"has no {name}, which {built_by} builds with shape {built_shape}"
    if built_shape is None:
        return f"{name} has shape {saved_shape}, but {built_by} builds no such weight"
    return f"{name} has shape {saved_shape}, but {built_by} builds {built_shape}"


def _write_atomic(target, write):
    tmp = target.with_name("tmp-" + target.name)
    write(tmp)
    os.replace(tmp, target)


def _package_version():
    from keras_i2i import __version__

    return __version__
