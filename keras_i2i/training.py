"""Training checkpoints: the whole state of a run, written atomically, and found again.

A checkpoint is a folder ``ckpt-<step>`` (zero-padded, so names sort by step) holding
``model.weights.h5`` — every model variable (the step counter included) and every optimizer's
variables (iterations, hence learning-rate schedule position, moments, loss scale) — and
``state.json``: where in the run it was written (``{"epoch", "batch", "step"}``: ``batch``
batches of epoch ``epoch`` were trained). It is written as ``tmp-ckpt-<step>`` and renamed
when complete, so a run killed at any moment leaves either the whole folder or none; leftover
``tmp-*`` folders are removed by the next run.
"""

import json
import os
import pathlib
import shutil
import warnings

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
_PREFIX = "ckpt-"
_TEMPORARY = "tmp-"


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or infinite; training stopped before saving that state."""


def save_checkpoint(model, directory, state, keep=2):
    """Writes `model`'s training state as the checkpoint of `state["step"]`.

    Args:
        model: a compiled `GANModel`.
        directory: the run's checkpoint folder (created if needed).
        state: `{"epoch": int, "batch": int, "step": int}`, the position in the run.
        keep: how many of the newest checkpoints to keep; older ones are deleted.

    Returns:
        The checkpoint folder.
    """
    directory = pathlib.Path(directory)
    final = directory / f"{_PREFIX}{state['step']:09d}"
    temporary = directory / f"{_TEMPORARY}{final.name}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    model.save_weights(temporary / WEIGHTS_FILE)
    (temporary / STATE_FILE).write_text(json.dumps(state))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old)
    return final


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


def remove_unfinished(directory):
    """Deletes the `tmp-*` folders a killed run left behind."""
    directory = pathlib.Path(directory)
    if directory.is_dir():
        for path in directory.glob(f"{_TEMPORARY}*"):
            shutil.rmtree(path)


def load_checkpoint(model, path):
    """Restores `model` (compiled, so that its optimizers exist) from a checkpoint folder.

    Returns:
        The checkpoint's state, `{"epoch", "batch", "step"}`.
    """
    path = pathlib.Path(path)
    try:
        state = json.loads((path / STATE_FILE).read_text())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path / WEIGHTS_FILE)
        skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
        if skipped:  # Keras only warns when an optimizer's variables do not match
            raise ValueError(" ".join(skipped))
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path}: cannot resume {type(model).__name__} from this checkpoint ({error}). "
            "Was it written by another model, preset or optimizer setting?") from error
    return state
