"""Checkpoints and resume: durable atomic writes, exact continuation (also after SIGKILL or
SIGINT, with another learning rate, past unreadable checkpoints), the NaN stop, checkpoints as
preset folders."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i import cli, schedules, training
from keras_i2i.callbacks import TrainingCheckpoint
from tests.testing import Interrupt, RaiseSignal
from tests.toy_gan import ToyGAN, scheduled_toy, seeded_weights, toy_dataset, two_replicas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ("generator", "discriminator")


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
    """Step 3's loss is NaN: the checkpoint of step 2, whose weights step 3 started from, is
    dropped with it (the data is to blame here, but that cannot be told apart)."""
    model = scheduled_toy()
    inputs = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype("float32")
    targets = inputs.copy()
    targets[4:6] = np.nan  # the third batch
    data = tf.data.Dataset.from_tensor_slices({"input": inputs, "image": targets}).batch(2)
    with pytest.raises(training.NonFiniteLoss, match=r"Step 3: d_loss is nan; training stopped"
                                                     r".*resumes from .*ckpt-000000001.*--lr"):
        model.fit(data, epochs=1, verbose=0, callbacks=[TrainingCheckpoint(tmp_path, every=1)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000001"]
    restored = scheduled_toy()
    assert training.load_checkpoint(restored, training.latest_checkpoint(tmp_path))["step"] == 1
    assert all(np.isfinite(v.numpy()).all() for v in restored.weights)


def test_a_checkpoint_is_final_only_once_the_next_step_from_it_is_finite(tmp_path):
    """Resumed with Adam(1e30), step 5 makes the weights huge (~1e30, still finite) from a
    finite loss; step 6's loss is infinite. The checkpoint of step 5 never becomes final: the
    newest is still the sane one of step 4, named in the error as where a re-run resumes."""
    data = toy_dataset(batch_size=2, num=8)  # four batches an epoch
    scheduled_toy().fit(data, epochs=1, verbose=0,
                        callbacks=[TrainingCheckpoint(tmp_path, every=1, verbose=0)])
    exploding = ToyGAN(width=4)
    exploding.compile(optimizers={group: keras.optimizers.Adam(1e30) for group in GROUPS})
    with pytest.raises(training.NonFiniteLoss, match=r"Step 6: d_loss is inf; training stopped"
                                                     r".*resumes from .*ckpt-000000004.*--lr"):
        exploding.fit(data, epochs=2, verbose=0,
                      callbacks=[TrainingCheckpoint(tmp_path, every=1, verbose=0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000003", "ckpt-000000004"]
    weights = {name: value for name, value in h5_arrays(
        tmp_path / "ckpt-000000004" / "model.weights.h5").items()
        if not name.startswith("optimizers/")}
    assert all(np.abs(value).max() < 1e3 for value in weights.values())


class SpoilWeights(keras.callbacks.Callback):
    """Puts a NaN into the generator's first kernel after step `at_step`."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.steps_trained.numpy()) == self.at_step:
            kernel = self.model.generator.weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_weights_that_are_not_finite_are_never_checkpointed(tmp_path):
    """Step 2's weights are NaN, though its loss (computed before the update) is not: the end
    of the epoch (and of `fit`) writes no checkpoint of them."""
    model = scheduled_toy()
    with pytest.raises(training.NonFiniteLoss, match=r"Step 2: the weight toy_gan/generator/"
                                                     r"conv2d/kernel is not finite.*ckpt-0+1 "):
        model.fit(toy_dataset(), epochs=1, verbose=0, callbacks=[
            SpoilWeights(at_step=2), TrainingCheckpoint(tmp_path, every=1, verbose=0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000001"]


def test_a_checkpoint_of_another_model_or_optimizer_is_refused_by_name(tmp_path):
    training.save_checkpoint(scheduled_toy(), tmp_path, {"epoch": 0, "batch": 1, "step": 1})
    checkpoint = training.latest_checkpoint(tmp_path)
    wider = ToyGAN(width=6)
    wider.compile()
    with pytest.raises(ValueError, match=r"ckpt-000000001: cannot resume ToyGAN from this "
                                         r"checkpoint: toy_gan_1/generator/conv2d_4/kernel is of "
                                         r"shape \(3, 3, 3, 6\) in this model but of shape "
                                         r"\(3, 3, 3, 4\) in the checkpoint. Was it written "
                                         r"with other model options"):
        training.load_checkpoint(wider, checkpoint)
    amsgrad = ToyGAN(width=4)
    amsgrad.compile(optimizers={"generator": keras.optimizers.Adam(amsgrad=True)})
    with pytest.raises(ValueError, match=r"cannot resume ToyGAN.*generator_conv2d_\d+_kernel_"
                                         r"velocity_hat is of shape \(3, 3, 3, 4\) in this "
                                         r"model but absent in the checkpoint"):
        training.load_checkpoint(amsgrad, checkpoint)


def adam(learning_rate):
    return lambda: {"optimizers": {group: keras.optimizers.Adam(learning_rate)
                                   for group in GROUPS}}


def decaying():  # from ToyGAN's 1e-3: 7.5e-4 in epoch 2 (steps 2, 3)
    return {"learning_rate_schedule": schedules.linear_decay(
        steps_per_epoch=2, constant_epochs=0, decay_epochs=4)}


def optimizer_state(model):
    """`{group: [value]}` of every optimizer variable but the learning rate."""
    return {group: [v.numpy() for v in optimizer.variables if v.name != "learning_rate"]
            for group, optimizer in model.optimizers.items()}


@pytest.mark.parametrize("precision, trained, resumed, learning_rate", [
    ("float32", adam(1e-3), decaying, 7.5e-4),
    ("float32", decaying, adam(5e-4), 5e-4),
    ("float32", adam(1e-3), adam(1e-4), 1e-4),
    ("mixed_float16", decaying, adam(5e-4), 5e-4),
], ids=["float-to-schedule", "schedule-to-float", "lower-float", "loss-scaled"])
def test_a_run_resumes_with_another_learning_rate_or_schedule(
        tmp_path, precision, trained, resumed, learning_rate):
    """The optimizers' state (iterations, moments, loss scale) is restored by name, whether or
    not a learning-rate variable is among it; the learning rate is the new `compile`'s."""
    keras.config.set_dtype_policy(precision)
    model = ToyGAN(width=4)
    model.set_weights(seeded_weights(model))
    model.compile(**trained())
    model.fit(toy_dataset(), epochs=1, verbose=0,
              callbacks=[TrainingCheckpoint(tmp_path, verbose=0)])
    restored = ToyGAN(width=4)
    restored.compile(**resumed())
    assert training.load_checkpoint(restored, training.latest_checkpoint(tmp_path)) == {
        "epoch": 1, "batch": 0, "step": 2}
    for value, expected in zip(restored.weights, model.weights):
        np.testing.assert_array_equal(value.numpy(), expected.numpy())
    state, expected_state = optimizer_state(restored), optimizer_state(model)
    for group, optimizer in restored.optimizers.items():
        assert int(optimizer.iterations.numpy()) == int(model.optimizers[group].iterations)
        np.testing.assert_allclose(float(optimizer.learning_rate), learning_rate, rtol=1e-6)
        assert len(state[group]) == len(expected_state[group])
        for value, expected in zip(state[group], expected_state[group]):
            np.testing.assert_array_equal(value, expected)


def test_checkpoints_every_k_epochs_are_kept_and_found_by_step_or_epoch(tmp_path):
    model = scheduled_toy()
    model.fit(toy_dataset(batch_size=2, num=4), epochs=6, verbose=0,
              callbacks=[TrainingCheckpoint(tmp_path, every_epochs=2, keep=None, verbose=0)])
    assert [p.name for p in training.list_checkpoints(tmp_path)] == [
        "ckpt-000000004", "ckpt-000000008", "ckpt-000000012"]
    assert training.find_checkpoint(tmp_path).name == "ckpt-000000012"
    assert training.find_checkpoint(tmp_path, "latest").name == "ckpt-000000012"
    for which in (8, "8", "epoch-4", "epoch4"):
        assert training.find_checkpoint(tmp_path, which).name == "ckpt-000000008"
    with pytest.raises(ValueError, match=r"no checkpoint 'epoch-3'; there are steps 4, 8, 12 "
                                         r"and the ends of epochs 2, 4, 6\."):
        training.find_checkpoint(tmp_path, "epoch-3")
    with pytest.raises(ValueError, match=r"no checkpoint 5;"):
        training.find_checkpoint(tmp_path, 5)
    with pytest.raises(ValueError, match=r"'best': expected 'latest', a step number or 'epoch-N'"):
        training.find_checkpoint(tmp_path, "best")
    with pytest.raises(ValueError, match=r"no checkpoint 'latest'; it holds none"):
        training.find_checkpoint(tmp_path / "nothing")


def test_a_checkpoint_is_a_preset_folder(tmp_path):
    """`from_preset` loads a checkpoint folder (its weights file holds the optimizers too,
    which neither a compiled nor an uncompiled model warns about)."""
    model = scheduled_toy()
    model.fit(toy_dataset(), epochs=1, verbose=0,
              callbacks=[TrainingCheckpoint(tmp_path, verbose=0)])
    checkpoint = training.find_checkpoint(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = ToyGAN.from_preset(checkpoint)
        uncompiled = ToyGAN(width=4)
        uncompiled.load_weights(checkpoint / "model.weights.h5")
    for restored in (loaded, uncompiled):
        for value, expected in zip(restored.weights, model.weights):
            np.testing.assert_array_equal(value.numpy(), expected.numpy())


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names files by /proc/self/fd")
def test_a_checkpoint_reaches_the_disk_before_its_name_does(tmp_path, monkeypatch):
    """Every file and the folder are flushed before the rename, the parent folder after it."""
    events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(descriptor):
        events.append(("fsync", os.path.realpath(os.readlink(f"/proc/self/fd/{descriptor}"))))
        fsync(descriptor)

    def recording_replace(source, target):
        replace(source, target)
        events.append(("rename", os.path.realpath(target)))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    final = os.path.realpath(
        training.save_checkpoint(scheduled_toy(), tmp_path, {"epoch": 0, "batch": 1, "step": 1}))
    renamed = events.index(("rename", final))
    temporary = os.path.join(os.path.dirname(final), "tmp-" + os.path.basename(final))
    files = ["model.weights.h5", "variables.json", "config.json", "state.json"]
    assert {path for _, path in events[:renamed]} == {
        temporary, *(os.path.join(temporary, name) for name in files)}
    assert events[renamed - 1] == ("fsync", temporary)
    assert ("fsync", os.path.dirname(final)) in events[renamed + 1:]


def test_resuming_skips_unreadable_checkpoints_with_a_line_saying_why(tmp_path, capsys):
    data = toy_dataset(batch_size=2, num=8)
    expected = scheduled_toy()
    expected.fit(data, epochs=1, verbose=0,
                 callbacks=[TrainingCheckpoint(tmp_path, every=1, keep=None, verbose=0)])
    weights = tmp_path / "ckpt-000000004" / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:2000])
    (tmp_path / "ckpt-000000003" / "state.json").unlink()

    resumed = scheduled_toy()
    resumed.fit(data, epochs=1, verbose=0, callbacks=[TrainingCheckpoint(tmp_path, verbose=0)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ckpt-000000004 is unreadable (model.weights.h5: ")
    assert "truncated file" in lines[0] and lines[0].endswith("): resuming from ckpt-000000002")
    assert lines[1] == "ckpt-000000003 is unreadable (no state.json): resuming from ckpt-000000002"
    assert_same_training_state(resumed, expected)  # steps 3 and 4 trained again

    for checkpoint in training.list_checkpoints(tmp_path):
        (checkpoint / "variables.json").write_text("{")
    with pytest.raises(ValueError, match=r"no checkpoint is readable: .*ckpt-000000004 is "
                                         r"unreadable \(variables.json: "):
        training.resume(scheduled_toy(), tmp_path)


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


SIGINT_RUN = textwrap.dedent("""
    import signal, sys
    from tests.testing import RaiseSignal
    from tests.toy_gan import scheduled_toy, toy_dataset
    from keras_i2i.callbacks import TrainingCheckpoint

    scheduled_toy().fit(toy_dataset(batch_size=2, num=8), epochs=3, verbose=0, callbacks=[
        TrainingCheckpoint(sys.argv[1], verbose=0), RaiseSignal(5, signal.SIGINT)])
""")


def test_sigint_checkpoints_the_step_it_interrupts_and_the_run_continues_from_it(tmp_path):
    """A run that gets SIGINT in its fifth step ends after it with `Interrupted`, its message
    the last line on stderr; the checkpoint of step 5 (a checkpoint is written only at the end
    of each epoch of four steps otherwise) resumes it exactly."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", SIGINT_RUN, str(tmp_path)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    checkpoint = tmp_path / "ckpt-000000005"
    assert run.returncode != 0 and run.stderr.strip().splitlines()[-1] == (
        f"keras_i2i.training.Interrupted: Interrupted at step 5 (SIGINT): checkpoint "
        f"{checkpoint} written; run the same command to continue."), run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000004", checkpoint.name]
    assert json.loads((checkpoint / "state.json").read_text()) == {
        "epoch": 1, "batch": 1, "step": 5}

    data = toy_dataset(batch_size=2, num=8)
    expected, resumed = scheduled_toy(), scheduled_toy()
    expected.fit(data, epochs=3, verbose=0)
    resumed.fit(data, epochs=3, verbose=0, callbacks=[TrainingCheckpoint(tmp_path, verbose=0)])
    assert_same_training_state(resumed, expected)


@pytest.fixture
def recorded_signals():
    """Handlers for SIGINT and SIGTERM that record the signals they get, during the test (so
    that a signal that the code under test fails to handle cannot stop pytest)."""
    received = []

    def record(number, frame):
        received.append(number)

    previous = {number: signal.signal(number, record)
                for number in (signal.SIGINT, signal.SIGTERM)}
    yield record, received
    for number, handler in previous.items():
        signal.signal(number, handler)


def test_a_signal_stops_at_the_end_of_the_step_and_a_second_one_is_not_caught(
        tmp_path, recorded_signals):
    record, received = recorded_signals
    model = scheduled_toy()
    sender = RaiseSignal(3, signal.SIGTERM)
    with pytest.raises(training.Interrupted) as interrupted:
        model.fit(toy_dataset(batch_size=2, num=8), epochs=2, verbose=0,
                  callbacks=[TrainingCheckpoint(tmp_path, verbose=0), sender])
    assert interrupted.value.step == 3 == int(model.steps_trained.numpy())
    assert interrupted.value.checkpoint == tmp_path / "ckpt-000000003"
    assert str(interrupted.value).startswith("Interrupted at step 3 (SIGTERM): checkpoint ")
    assert training.latest_checkpoint(tmp_path) == tmp_path / "ckpt-000000003"
    assert sender.handlers_after == (signal.SIG_DFL, signal.SIG_DFL)  # while stopping
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (record, record)
    assert received == []


class Fail(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise RuntimeError("another callback failed")


def failing_steps():
    """Toy data whose second batch makes the training step fail."""
    inputs = np.zeros((4, 8, 8, 3), "float32")
    inputs[2:] = np.nan
    data = tf.data.Dataset.from_tensor_slices({"input": inputs, "image": inputs}).batch(2)
    return data.map(lambda batch: {key: tf.debugging.check_numerics(value, "bad batch")
                                   for key, value in batch.items()})


@pytest.mark.parametrize("failing", ["step", "callback"])
def test_the_signal_handlers_are_restored_when_fit_fails(tmp_path, recorded_signals, failing):
    """After a failed step at once; after another callback's error, at the next signal, which
    reaches the previous handler."""
    record, received = recorded_signals
    model = scheduled_toy()
    data, callbacks = ((failing_steps(), []) if failing == "step"
                       else (toy_dataset(batch_size=2, num=4), [Fail()]))
    with pytest.raises((tf.errors.InvalidArgumentError, RuntimeError)):
        model.fit(data, epochs=1, verbose=0,
                  callbacks=[TrainingCheckpoint(tmp_path, verbose=0), *callbacks])
    if failing == "callback":
        signal.raise_signal(signal.SIGTERM)
        assert received == [signal.SIGTERM]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (record, record)
