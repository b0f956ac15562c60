"""Callbacks for long GAN runs: checkpoint and resume, sample grids, TensorBoard scalars.

Steps are counted by the model (`GANModel.steps_trained`), so they continue across a resumed
run; every callback here writes at that step.
"""

import math

import keras

from keras_i2i import training


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state regularly and resumes from it; stops on NaN or inf.

    When `fit` starts, the newest checkpoint in `directory` (if any) is restored: weights,
    every optimizer's state, the step count, and the position in the run. `fit` then continues
    from that epoch; in an epoch interrupted midway it first reads past the batches already
    trained (so an unshuffled dataset resumes on exactly the next batch) and ends the epoch at
    its usual length. Pass the same `epochs` as the interrupted run.

    After every step the logged losses are checked: a NaN or infinite one raises
    `training.NonFiniteLoss` before anything is saved, so the newest checkpoint stays a good one.
    Under a multi-worker strategy only the chief writes; every worker restores.

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
