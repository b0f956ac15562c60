"""Callbacks for long GAN runs: checkpoint and resume, sample grids, TensorBoard scalars.

Steps are counted by the model (`GANModel.steps_trained`), so they continue across a resumed
run; every callback here writes at that step.
"""

import math
import pathlib

import keras
import tensorflow as tf

from keras_i2i import training, visualize


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state regularly and resumes from it; stops on NaN or inf.

    When `fit` starts, the newest checkpoint in `directory` (if any) is restored: weights,
    every optimizer's state, the step count, and the position in the run. `fit` then continues
    from that epoch; in an epoch interrupted midway it first reads past the batches already
    trained (so an unshuffled dataset resumes on exactly the next batch) and ends the epoch at
    its usual length. Pass the same `epochs` as the interrupted run.

    After every step the logged losses are checked: a NaN or infinite one raises
    `training.NonFiniteLoss` before anything is saved, so the newest checkpoint stays a good one.
    Under a multi-worker strategy only the chief writes; every worker restores. List it first
    among `fit`'s callbacks, so that the others start from the restored state.

    Args:
        directory: the run's checkpoint folder (see `keras_i2i.training`).
        every: save every this many steps, and at the end of every epoch.
        keep: how many checkpoints to keep.
        verbose: print a line on resume.
    """

    def __init__(self, directory, every=1000, keep=2, verbose=1):
        super().__init__()
        self.directory = directory
        self.every = every
        self.keep = keep
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self._writes = self.model.distribute_strategy.extended.should_checkpoint
        if self._writes:
            training.remove_unfinished(self.directory)
        self._epoch, self._batch, self._skipped, self._ended_early = 0, 0, 0, False
        path = training.latest_checkpoint(self.directory)
        if path is not None:
            state = training.load_checkpoint(self.model, path)
            if self.verbose:
                print(f"Resuming from {path}: epoch {state['epoch'] + 1}, "
                      f"{state['batch']} batches in, step {state['step']}.")
            self.model._initial_epoch = state["epoch"]  # where Keras's `fit` starts
            if state["batch"]:
                self._skip_trained_batches(state["batch"])
        self._saved_step = self._step()

    def _skip_trained_batches(self, count):
        train_function = self.model.train_function

        def skip_then_train(iterator):
            for _ in range(count):
                next(iterator)
            self.model.train_function = train_function
            return train_function(iterator)

        self.model.train_function = skip_then_train
        self._skipped = count

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self._check_finite(logs)
        self._batch = self._skipped + batch + 1
        epoch_length = self.params.get("steps")
        if self._batch == epoch_length:
            if self._skipped:  # the resumed epoch is complete: end it, not the run
                self.model.stop_training = self._ended_early = True
            return  # saved at the epoch's end
        if step - self._saved_step >= self.every:
            self._save(step)

    def on_epoch_end(self, epoch, logs=None):
        step = self._check_finite(logs)
        if self._ended_early:
            self.model.stop_training = self._ended_early = False
        self._skipped = 0
        self._epoch, self._batch = epoch + 1, 0
        if step != self._saved_step:
            self._save(step)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None

    def _step(self):
        return int(self.model.steps_trained.numpy())

    def _save(self, step):
        if self._writes:
            training.save_checkpoint(
                self.model, self.directory,
                {"epoch": self._epoch, "batch": self._batch, "step": step}, keep=self.keep)
        self._saved_step = step

    def _check_finite(self, logs):
        """The current step, after making sure that every logged value is finite."""
        step = self._step()
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                newest = training.latest_checkpoint(self.directory)
                raise training.NonFiniteLoss(
                    f"Step {step}: {name} is {float(value)}; training stopped. The newest good "
                    f"checkpoint, {newest or 'none yet'}, is kept: resume from it (e.g. with a "
                    "lower learning rate) by running the same command again.")
        return step


class _EveryNSteps(keras.callbacks.Callback):
    """Calls `write(step, logs)` every `every` steps (and at the end of training), on the
    chief only; `log_dir` gets a TensorBoard writer."""

    def __init__(self, every, log_dir=None):
        super().__init__()
        self.every = every
        self.log_dir = log_dir

    def on_train_begin(self, logs=None):
        self._writes = self.model.distribute_strategy.extended.should_checkpoint
        self._writer = (tf.summary.create_file_writer(str(self.log_dir))
                        if self.log_dir is not None and self._writes else None)
        self._written = None
        self._seen = int(self.model.steps_trained.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.steps_trained.numpy())
        if step // self.every > self._seen // self.every:  # passed a multiple of `every`
            self._write(step, logs)
        self._seen = step

    def on_train_end(self, logs=None):
        self._write(int(self.model.steps_trained.numpy()), logs)
        if self._writer is not None:
            self._writer.close()

    def _write(self, step, logs):
        if self._writes and step != self._written:
            self.write(step, logs or {})
            self._written = step


class TensorBoardScalars(_EveryNSteps):
    """Writes every logged loss (`loss/<name>`) and every optimizer's learning rate
    (`learning_rate/<group>`) to TensorBoard every `every` steps, at the model's step count.

    Args:
        log_dir: TensorBoard folder.
        every: steps between writes.
    """

    def __init__(self, log_dir, every=100):
        super().__init__(every, log_dir)

    def write(self, step, logs):
        with self._writer.as_default(step=step):
            for name, value in logs.items():
                _summary("scalars", f"loss/{name}", tf.constant(float(value)))
            for group, optimizer in self.model.optimizers.items():
                _summary("scalars", f"learning_rate/{group}",
                         tf.constant(float(optimizer.learning_rate)))


class SampleGrid(_EveryNSteps):
    """Every `every` steps, the model's `sample_columns` on a fixed batch (input | output |
    target, a row per sample) as `<directory>/step-<step>.png` and as the TensorBoard image
    `samples` in `log_dir`.

    Args:
        batch: a dict batch from the training data (a few samples are enough).
        directory: folder for the PNG files, or None.
        log_dir: TensorBoard folder, or None.
        every: steps between grids.
    """

    def __init__(self, batch, directory=None, log_dir=None, every=1000):
        if directory is None and log_dir is None:
            raise ValueError("SampleGrid needs a `directory` for PNG files, a `log_dir` "
                             "for TensorBoard, or both.")
        super().__init__(every, log_dir)
        self.batch = batch
        self.directory = directory

    def write(self, step, logs):
        grid = visualize.sample_grid(self.model.sample_columns(self.batch))
        if self.directory is not None:
            visualize.save_png(pathlib.Path(self.directory) / f"step-{step:09d}.png", grid)
        if self._writer is not None:
            height, width = grid.shape[:2]
            with self._writer.as_default(step=step):
                _summary("images", "samples",
                         tf.stack([str(width), str(height), tf.io.encode_png(grid)]))


def _summary(plugin, tag, tensor):
    """Writes `tensor` as a TensorBoard `plugin` ("scalars": a float32 scalar; "images":
    [width, height, png] strings) at the default writer's step. Written with TensorFlow's own
    `tf.summary.write`, so training needs no `tensorboard` package (viewing does)."""
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    tf.summary.write(tag, tensor, metadata=metadata.SerializeToString())
