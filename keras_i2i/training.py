"""Training checkpoints: the whole state of a run, written durably and atomically, found again.

A checkpoint is a folder ``ckpt-<step>`` (zero-padded, so names sort by step) holding
``model.weights.h5`` — every model variable (the step counter included) and every optimizer's
variables (iterations, hence learning-rate schedule position, moments, loss scale) —,
``variables.json`` (the names and shapes of those variables, by which `load_checkpoint` checks
the model and restores each optimizer), ``config.json`` (the serialized model: the folder is
also a preset folder for `from_preset`) and ``state.json``: where in the run it was written
(``{"epoch", "batch", "step"}``: ``batch`` batches of 0-based epoch ``epoch`` were trained).

It is written as ``tmp-ckpt-<step>``, flushed to the disk and then renamed, so a run killed at
any moment (or a machine losing power) leaves either the whole folder or none; leftover
``tmp-*`` folders are removed by the next run.
"""

import json
import os
import pathlib
import re
import shutil

import h5py
import keras
import numpy as np

from keras_i2i import presets as preset_lib

WEIGHTS_FILE = "model.weights.h5"
VARIABLES_FILE = "variables.json"
STATE_FILE = "state.json"
_PREFIX = "ckpt-"
_TEMPORARY = "tmp-"
_LEARNING_RATE = "learning_rate"


class NonFiniteLoss(FloatingPointError):
    """A loss (or a weight) became NaN or infinite; training stopped, and the checkpoints kept
    are those whose weights gave finite losses."""


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM, after checkpointing the step it had reached.

    Attributes:
        step: the number of steps trained.
        checkpoint: the checkpoint folder of that step.
    """

    def __init__(self, step, checkpoint, signal_name):
        super().__init__(f"Interrupted at step {step} ({signal_name}): checkpoint {checkpoint} "
                         "written; run the same command to continue.")
        self.step = step
        self.checkpoint = checkpoint


class UnreadableCheckpoint(ValueError):
    """A checkpoint's file is missing, truncated or corrupt.

    Attributes:
        path: the checkpoint folder.
        reason: what is wrong, e.g. "no state.json".
    """

    def __init__(self, path, reason):
        super().__init__(f"{path} is unreadable ({reason})")
        self.path = pathlib.Path(path)
        self.reason = reason


# ------------------------------------------------------------------ writing


def save_checkpoint(model, directory, state, keep=2):
    """Writes `model`'s training state as the checkpoint of `state["step"]`.

    Args:
        model: a compiled `GANModel`.
        directory: the run's checkpoint folder (created if needed).
        state: `{"epoch": int, "batch": int, "step": int}`, the position in the run.
        keep: how many of the newest checkpoints to keep (older ones are deleted); 0 or None:
            all.

    Returns:
        The checkpoint folder.
    """
    return commit_checkpoint(write_checkpoint(model, directory, state), keep)


def write_checkpoint(model, directory, state):
    """Writes the checkpoint of `state["step"]` (see `save_checkpoint`) under its temporary
    name, flushed to the disk; `commit_checkpoint` makes it final.

    Returns:
        The temporary folder.
    """
    final = checkpoint_path(directory, state["step"])
    temporary = final.with_name(_TEMPORARY + final.name)
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    model.save_weights(temporary / WEIGHTS_FILE)
    _write_json(temporary / VARIABLES_FILE, _variables_record(model, temporary / WEIGHTS_FILE))
    _write_json(temporary / preset_lib.CONFIG_FILE, keras.saving.serialize_keras_object(model))
    _write_json(temporary / STATE_FILE, state)
    # Renaming is atomic, but the data may reach the disk after the new name does: a power
    # loss would then leave a complete-looking folder of empty files.
    for path in temporary.iterdir():
        _fsync(path)
    _fsync(temporary)
    return temporary


def commit_checkpoint(temporary, keep=2):
    """Renames a folder from `write_checkpoint` to its final name and deletes all but the
    `keep` newest checkpoints (0 or None: keeps all). Returns the checkpoint folder."""
    temporary = pathlib.Path(temporary)
    final = temporary.with_name(temporary.name[len(_TEMPORARY):])
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    _fsync(final.parent)
    if keep:
        # Newer ones are unreadable checkpoints that a resumed run went back past; it
        # overwrites them when it gets there.
        written = [path for path in list_checkpoints(final.parent) if path.name <= final.name]
        for old in written[:-keep]:
            shutil.rmtree(old)
    return final


def checkpoint_path(directory, step):
    """The folder of the checkpoint of `step` in `directory`."""
    return pathlib.Path(directory) / f"{_PREFIX}{step:09d}"


def remove_unfinished(directory):
    """Deletes the `tmp-*` folders: unfinished or never confirmed checkpoints."""
    directory = pathlib.Path(directory)
    if directory.is_dir():
        for path in directory.glob(f"{_TEMPORARY}*"):
            shutil.rmtree(path)


def non_finite_weight(model):
    """The path of the first of `model.weights` holding a NaN or an infinity, or None."""
    for weight in model.weights:
        if keras.backend.is_float_dtype(weight.dtype) and not np.isfinite(weight.numpy()).all():
            return weight.path
    return None


def _write_json(path, value):
    path.write_text(json.dumps(value, indent=2))


def _fsync(path):
    """Flushes the file or folder `path` to the disk."""
    if os.name == "nt" and path.is_dir():  # Windows can neither open nor sync a folder
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _variables_record(model, weights_file):
    """What `variables.json` holds: `{"model": {"paths", "shapes"}}` of `model.weights`, and
    for each optimizer, under the HDF5 group Keras wrote it to (e.g. "optimizers/adam"),
    `{"group", "paths", "keys"}` of its variables in Keras's order (see `_optimizer_keys`)."""
    with h5py.File(weights_file, "r") as weights:
        h5_groups = {group["vars"].attrs["name"]: f"optimizers/{name}"
                     for name, group in weights.get("optimizers", {}).items()}
    return {
        "model": {"paths": [weight.path for weight in model.weights],
                  "shapes": [list(weight.shape) for weight in model.weights]},
        "optimizers": {
            h5_groups[optimizer.name]: {"group": group,
                                        "paths": [v.path for v in optimizer.variables],
                                        "keys": _optimizer_keys(model, optimizer)}
            for group, optimizer in getattr(model, "optimizers", {}).items()},
    }


def _optimizer_keys(model, optimizer):
    """Names for `optimizer.variables` free of the automatic (numbered) names of the model, its
    layers and the optimizer: the optimizer's own as they are ("iteration", "learning_rate",
    "dynamic_scale"), the slot of `model.weights[i]` as "<i>/<slot>" (e.g. "3/momentum"); those
    of a `LossScaleOptimizer`'s inner optimizer prefixed with "inner/"."""
    # Keras names a slot "<the weight's path, '/' as '_'>_<slot>" within the optimizer's scope.
    weights = {weight.path.replace("/", "_"): index for index, weight in enumerate(model.weights)}
    inner = getattr(optimizer, "inner_optimizer", None)
    keys = []
    for variable in optimizer.variables:
        owner, _, name = variable.path.partition("/")
        scope = "inner/" if inner is not None and owner == inner.name else ""
        keys.append(scope + _slot_key(name, weights))
    return keys


def _slot_key(name, weights):
    """"<i>/<slot>" when `name` is "<a key of `weights`>_<slot>" (the longest key), else `name`."""
    for end in range(len(name) - 1, 0, -1):
        if name[end] == "_" and name[:end] in weights:
            return f"{weights[name[:end]]}/{name[end + 1:]}"
    return name


# ------------------------------------------------------------------ finding


def list_checkpoints(directory):
    """The complete checkpoint folders in `directory`, oldest first."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir()
                  if path.is_dir() and path.name.startswith(_PREFIX))


def latest_checkpoint(directory):
    """The newest complete checkpoint folder in `directory`, or None."""
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def find_checkpoint(directory, which="latest"):
    """The checkpoint folder in `directory` that `which` names.

    Args:
        directory: a run's checkpoint folder.
        which: "latest"; a step number (an int, or a string of digits): the checkpoint written
            after that many steps; or "epoch-N" (or "epochN"): the one written at the end of
            epoch N, counted from 1 (its state is `{"epoch": N, "batch": 0}`).

    Raises:
        ValueError: no checkpoint is `which`; the message lists the steps and epochs there are.
    """
    checkpoints = list_checkpoints(directory)
    text = str(which).strip().lower()
    epoch = re.fullmatch(r"epoch-?(\d+)", text)
    if text == "latest":
        found = checkpoints[-1:]
    elif re.fullmatch(r"\d+", text):
        found = [path for path in checkpoints if _step(path) == int(text)]
    elif epoch:
        found = [path for path in checkpoints if _epoch_ended(path) == int(epoch.group(1))]
    else:
        raise ValueError(f"Checkpoint {which!r}: expected 'latest', a step number or 'epoch-N'.")
    if not found:
        raise ValueError(f"{directory}: no checkpoint {which!r}; {_available(checkpoints)}.")
    return found[-1]


def _step(path):
    return int(path.name[len(_PREFIX):])


def _epoch_ended(path):
    """The 1-based epoch at whose end `path` was written, or None (mid-epoch, unreadable)."""
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state["epoch"] if state.get("batch") == 0 else None


def _available(checkpoints):
    if not checkpoints:
        return "it holds none"
    steps = ", ".join(str(_step(path)) for path in checkpoints)
    epochs = [_epoch_ended(path) for path in checkpoints]
    ended = ", ".join(str(epoch) for epoch in epochs if epoch is not None) or "none"
    return f"there are steps {steps} and the ends of epochs {ended}"


# ------------------------------------------------------------------ loading


def load_checkpoint(model, path):
    """Restores `model` (compiled, so that its optimizers exist) from a checkpoint folder.

    The model's variables load through Keras; each optimizer's state (its iteration count,
    moments, loss scale) is matched by name, so a run may resume with another learning rate
    or schedule: the learning rate always comes from the current `compile`, a schedule's
    position from the restored iteration count.

    Returns:
        The checkpoint's state, `{"epoch", "batch", "step"}`.

    Raises:
        UnreadableCheckpoint: a file of the checkpoint is missing, truncated or corrupt.
        ValueError: the checkpoint holds another model or optimizer state (a variable of
            `model` is absent from it or has another shape).
    """
    path = pathlib.Path(path)
    state = _read_json(path, STATE_FILE)
    record = _read_json(path, VARIABLES_FILE)
    try:
        with h5py.File(path / WEIGHTS_FILE, "r") as weights:
            _check_model_variables(model, record["model"], path)
            values = _optimizer_values(model, record["optimizers"], weights, path)
        _load_model_variables(model, path)
    except (OSError, KeyError) as error:
        raise UnreadableCheckpoint(path, f"{WEIGHTS_FILE}: {error}") from error
    for variable, value in values:
        variable.assign(value)
    return state


def resume(model, directory):
    """Restores `model` from the newest readable checkpoint in `directory`; for each newer
    one, unreadable, prints a line saying why it was skipped.

    Returns:
        `(checkpoint folder, state)`, or None when `directory` holds no checkpoint.

    Raises:
        ValueError: no checkpoint is readable, or the newest readable one holds another model
            or optimizer state (see `load_checkpoint`).
    """
    skipped = []
    for path in reversed(list_checkpoints(directory)):
        try:
            state = load_checkpoint(model, path)
        except UnreadableCheckpoint as error:
            skipped.append(error)
            continue
        for error in skipped:
            print(f"{error.path.name} is unreadable ({error.reason}): resuming from {path.name}")
        return path, state
    if skipped:
        raise ValueError(f"{directory}: no checkpoint is readable: "
                         f"{'; '.join(str(error) for error in skipped)}.")
    return None


def _read_json(folder, name):
    try:
        return json.loads((folder / name).read_text())
    except FileNotFoundError as error:
        raise UnreadableCheckpoint(folder, f"no {name}") from error
    except (OSError, ValueError) as error:
        raise UnreadableCheckpoint(folder, f"{name}: {error}") from error


def _check_model_variables(model, saved, path):
    """Raises the error of `_mismatch` at the first of `model.weights` that is not, in the same
    place and shape, in `saved` (`{"paths", "shapes"}`)."""
    current = [(weight.path, tuple(weight.shape)) for weight in model.weights]
    written = list(zip(saved["paths"], map(tuple, saved["shapes"])))
    for index in range(max(len(current), len(written))):
        here = current[index] if index < len(current) else None
        there = written[index] if index < len(written) else None
        if here is None or there is None or here[1] != there[1]:
            name = (here or there)[0]
            raise _mismatch(model, path, name, here and here[1], there and there[1])


def _optimizer_values(model, saved, weights, path):
    """`[(variable, value)]`: every variable of `model`'s optimizers but the learning rate,
    with its value in the open `.weights.h5` file `weights`, matched by key (`saved` is
    `variables.json`'s "optimizers")."""
    by_group = {entry["group"]: (h5_group, entry) for h5_group, entry in saved.items()}
    values = []
    for group, optimizer in getattr(model, "optimizers", {}).items():
        h5_group, entry = by_group.get(group, (None, {"keys": []}))
        index = {key: position for position, key in enumerate(entry["keys"])}
        for variable, key in zip(optimizer.variables, _optimizer_keys(model, optimizer)):
            if key.split("/")[-1] == _LEARNING_RATE:  # the current `compile` sets it
                continue
            if key not in index:
                raise _mismatch(model, path, variable.path, tuple(variable.shape), None)
            value = weights[f"{h5_group}/vars/{index[key]}"][()]
            if value.shape != tuple(variable.shape):
                raise _mismatch(model, path, variable.path, tuple(variable.shape), value.shape)
            values.append((variable, value))
    return values


def _load_model_variables(model, path):
    """Loads the model's own variables, not the optimizers' (Keras would match those by
    position, and overwrite the learning rate)."""
    optimizers = list(getattr(model, "optimizers", {}).values())
    inner = [optimizer.inner_optimizer for optimizer in optimizers
             if hasattr(optimizer, "inner_optimizer")]
    try:
        model.load_weights(path / WEIGHTS_FILE, objects_to_skip=optimizers + inner)
    except ValueError as error:
        raise ValueError(f"{path}: cannot resume {type(model).__name__} from this checkpoint "
                         f"({error}). Was it written with other model options?") from error


def _mismatch(model, path, name, here, there):
    """The error for a checkpoint whose variable `name` has the shape `there` where `model`'s
    has the shape `here` (None: absent)."""
    def described(shape):
        return "absent" if shape is None else f"of shape {shape}"

    return ValueError(
        f"{path}: cannot resume {type(model).__name__} from this checkpoint: {name} is "
        f"{described(here)} in this model but {described(there)} in the checkpoint. Was it "
        "written with other model options (another model, preset, precision or optimizer)?")
