"""Checkpoints and resume: atomic writes, exact continuation (also after SIGKILL), NaN stop."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i import cli, training
from keras_i2i.callbacks import TrainingCheckpoint
from tests.testing import Interrupt
from tests.toy_gan import ToyGAN, scheduled_toy, toy_dataset, two_replicas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_same_training_state(model, expected):
    assert int(model.steps_trained.numpy()) == int(expected.steps_trained.numpy())
    for value, expected_value in zip(model.weights, expected.weights):
        np.testing.assert_allclose(value.numpy(), expected_value.numpy(), atol=1e-6)
    for group, optimizer in expected.optimizers.items():
        restored = model.optimizers[group]
        assert float(restored.learning_rate) == float(optimizer.learning_rate)
        for value, expected_value in zip(restored.variables, optimizer.variables):
            np.testing.assert_allclose(value.numpy(), expected_value.numpy(), atol=1e-6)


@pytest.mark.parametrize("distributed", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_resume_mid_epoch_continues_exactly_like_an_uninterrupted_run(tmp_path, distributed):
    data = toy_dataset(batch_size=2, num=8)  # four batches an epoch, unshuffled
    scope = two_replicas().scope if distributed else contextlib.nullcontext
    with scope():
        expected, interrupted, resumed = scheduled_toy(), scheduled_toy(), scheduled_toy()
    expected.fit(data, epochs=3, verbose=0)

    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(data, epochs=3, verbose=0, callbacks=[
            TrainingCheckpoint(tmp_path, every=2, verbose=0), Interrupt(at_step=7)])
    latest = training.latest_checkpoint(tmp_path)
    assert latest.name == "ckpt-000000006"
    assert json.loads((latest / "state.json").read_text()) == {"epoch": 1, "batch": 2, "step": 6}

    history = resumed.fit(data, epochs=3, verbose=0,
                          callbacks=[TrainingCheckpoint(tmp_path, every=2, verbose=0)])
    assert len(history.history["g_loss"]) == 2  # epochs 2 and 3 of 3
    assert_same_training_state(resumed, expected)
    assert [p.name for p in training.list_checkpoints(tmp_path)] == [
        "ckpt-000000010", "ckpt-000000012"]


def test_a_checkpoint_is_never_left_half_written(tmp_path, monkeypatch):
    model = scheduled_toy()
    good = training.save_checkpoint(model, tmp_path, {"epoch": 0, "batch": 1, "step": 1})

    def crash(path, *args, **kwargs):
        with open(path, "wb") as partial:
            partial.write(b"\x89HDF")
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(model, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        training.save_checkpoint(model, tmp_path, {"epoch": 0, "batch": 2, "step": 2})
    assert training.latest_checkpoint(tmp_path) == good
    assert (tmp_path / "tmp-ckpt-000000002").is_dir()
    training.remove_unfinished(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000001"]


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    model = scheduled_toy()
    inputs = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype("float32")
    targets = inputs.copy()
    targets[4:6] = np.nan  # the third batch
    data = tf.data.Dataset.from_tensor_slices({"input": inputs, "image": targets}).batch(2)
    with pytest.raises(training.NonFiniteLoss,
                       match=r"Step 3: d_loss is nan; training stopped.*ckpt-000000002"):
        model.fit(data, epochs=1, verbose=0, callbacks=[TrainingCheckpoint(tmp_path, every=1)])
    assert [p.name for p in training.list_checkpoints(tmp_path)] == [
        "ckpt-000000001", "ckpt-000000002"]
    restored = scheduled_toy()
    assert training.load_checkpoint(restored, training.latest_checkpoint(tmp_path))["step"] == 2
    assert all(np.isfinite(v.numpy()).all() for v in restored.weights)


def test_a_checkpoint_of_another_model_or_optimizer_is_refused_by_name(tmp_path):
    training.save_checkpoint(scheduled_toy(), tmp_path, {"epoch": 0, "batch": 1, "step": 1})
    checkpoint = training.latest_checkpoint(tmp_path)
    wider = ToyGAN(width=6)
    wider.compile()
    with pytest.raises(ValueError, match=r"ckpt-000000001: cannot resume ToyGAN"):
        training.load_checkpoint(wider, checkpoint)
    unscheduled = ToyGAN(width=4)
    unscheduled.compile()  # a learning-rate variable the scheduled optimizers lack
    with pytest.raises(ValueError, match=r"cannot resume ToyGAN.*Skipping variable loading"):
        training.load_checkpoint(unscheduled, checkpoint)


CLI = "import sys, tests.toy_gan; from keras_i2i.cli import main; sys.exit(main(sys.argv[1:]))"
TRAIN = ["train", "--model", "toy", "--preset", "tiny", "--data", "synthetic",
         "--synthetic-samples", "96", "--batch-size", "2", "--epochs", "2", "--verbose", "0"]


def h5_arrays(path):
    """`{name: array}` of every dataset in an HDF5 file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.update(
            {name: item[()]} if isinstance(item, h5py.Dataset) else {}))
    return arrays


def test_a_run_killed_with_sigkill_resumes_with_the_same_command(tmp_path, capsys):
    """`keras-i2i train` (96 steps, a checkpoint every 4) runs in a subprocess that is killed
    mid-run; the same command run again (here, in-process) ends in the state of a run never
    interrupted: weights, every optimizer's moments and step count, the schedule's position."""
    arguments = [*TRAIN, "--checkpoint-every", "4", "--out", str(tmp_path / "run")]
    checkpoints = tmp_path / "run" / "checkpoints"
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.Popen([sys.executable, "-c", CLI, *arguments], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while len(training.list_checkpoints(checkpoints)) < 2 or (
            training.latest_checkpoint(checkpoints).name < "ckpt-000000008"):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed = json.loads((training.latest_checkpoint(checkpoints) / "state.json").read_text())
    assert killed["step"] < 96 and not (tmp_path / "run" / "preset").exists()

    assert cli.main(arguments) == 0
    assert f"step {killed['step']}." in capsys.readouterr().out
    assert cli.main([*TRAIN, "--out", str(tmp_path / "reference")]) == 0
    final = training.latest_checkpoint(checkpoints)
    expected = training.latest_checkpoint(tmp_path / "reference" / "checkpoints")
    assert final.name == expected.name == "ckpt-000000096"
    arrays = h5_arrays(final / "model.weights.h5")
    expected_arrays = h5_arrays(expected / "model.weights.h5")
    assert arrays.keys() == expected_arrays.keys()
    assert any(name.startswith("optimizers/") for name in arrays)  # every optimizer's state
    for name, value in expected_arrays.items():
        np.testing.assert_allclose(arrays[name], value, atol=1e-6, err_msg=name)
