"""Callbacks for long GAN runs: checkpoint and resume, sample grids, TensorBoard scalars.

Steps are counted by the model (`GANModel.steps_trained`), so they continue across a resumed
run; every callback here writes at that step.
"""

import csv
import math
import os
import pathlib
import signal
import sys
import threading

import keras
import tensorflow as tf

from keras_i2i import training, visualize


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def writes_files(model):
    """Whether this process writes the run's files: under TensorFlow the strategy's chief,
    under JAX the first process."""
    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.extended.should_checkpoint
    import jax

    return jax.process_index() == 0


class _CountsSteps(keras.callbacks.Callback):
    """Keeps `self.step`, the model's step count after the current batch, without reading the
    model every batch: under JAX that would copy the whole training state back to the model
    each step. A subclass that restores a model calls `on_train_begin` after restoring."""

    def on_train_begin(self, logs=None):
        self.step = self._epoch_start = int(self.model.steps_trained.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step

    def on_train_batch_end(self, batch, logs=None):
        self.step = self._epoch_start + batch + 1  # every step counts itself once

    def _batches(self):
        """The batches trained in this epoch by this `fit` (after the current one)."""
        return self.step - self._epoch_start


class TrainingCheckpoint(_CountsSteps):
    """Saves the whole training state regularly and resumes from it; stops on NaN or inf, and
    on Ctrl-C (SIGINT) or SIGTERM after writing a checkpoint.

    When `fit` starts, the newest readable checkpoint in `directory` (if any; unreadable newer
    ones are skipped, with a line saying so) is restored: weights, every optimizer's state,
    the step count, and the position in the run. The learning rate is not restored: it comes
    from `compile`, so a run may resume with a lower one or another schedule (which continues
    from the restored step count). `fit` then continues from that epoch; in an epoch
    interrupted midway it first reads past the batches already trained (so an unshuffled
    dataset resumes on exactly the next batch) and ends the epoch at its usual length. Pass the
    same `epochs` as the interrupted run.

    A checkpoint stays pending (a `tmp-` folder) until the losses of the next step, computed
    from its weights, are finite; its weights must be finite too. A NaN or infinite loss or
    weight deletes the pending checkpoint and raises `training.NonFiniteLoss`, so the newest
    checkpoint is one that trains on. The pending checkpoint is committed when `fit` ends.

    With `handle_signals` (and `fit` in the main thread), SIGINT and SIGTERM stop training at
    the end of the current batch: its checkpoint is written and committed at once, and
    `training.Interrupted` is raised. A second signal meanwhile is not caught (it ends the
    process). The previous handlers are restored when `fit` ends; when it ends on another
    callback's error, at the next signal, which goes to them.

    Under a multi-worker strategy only the chief writes; every worker restores. List it first
    among `fit`'s callbacks, so that the others start from the restored state and see no step
    that a stop discards.

    Args:
        directory: the run's checkpoint folder (see `keras_i2i.training`).
        every: save every this many steps (at an epoch's end if it ends within them).
        every_epochs: save at the end of every this many epochs.
        keep: how many of the newest checkpoints to keep; 0 or None: all.
        handle_signals: stop on SIGINT and SIGTERM after a checkpoint.
        verbose: print a line on resume.
    """

    def __init__(self, directory, every=1000, every_epochs=1, keep=2, handle_signals=True,
                 verbose=1):
        super().__init__()
        self.directory = directory
        self.every = every
        self.every_epochs = every_epochs
        self.keep = keep
        self.handle_signals = handle_signals
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self._writes = writes_files(self.model)
        if self._writes:
            training.remove_unfinished(self.directory)
        self._epoch, self._batch, self._skipped, self._ended_early = 0, 0, 0, False
        self._pending, self._signal, self._previous_handlers = None, None, {}
        resumed = training.resume(self.model, self.directory)
        if resumed is not None:
            path, state = resumed
            if self.verbose:
                print(f"Resuming from {path}: epoch {state['epoch'] + 1}, "
                      f"{state['batch']} batches in, step {state['step']}.")
            self.model._initial_epoch = state["epoch"]  # where Keras's `fit` starts
            self._skipped = state["batch"]
        super().on_train_begin(logs)
        self._wrap_train_function()
        self._saved_step = self.step
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            self._catch_signals()

    def _wrap_train_function(self):
        """Makes `fit`'s train function first read past the batches trained before the
        checkpoint (`self._skipped`), and undo `on_train_begin`'s changes when it fails, since
        `fit` then ends without `on_train_end` (the end of the data is no failure)."""
        train_function, skip = self.model.train_function, self._skipped

        def train(*args):  # (iterator), or (state, iterator) under JAX
            nonlocal skip
            try:
                for _ in range(skip):
                    next(args[-1])
                skip = 0
                return train_function(*args)
            except (StopIteration, tf.errors.OutOfRangeError):
                raise
            except BaseException:
                self._clean_up()
                raise

        self._train_functions = (train_function, train)
        self.model.train_function = train

    def _catch_signals(self):
        self._fit = _running_fit(self.model)
        if self._fit is not None:
            self._previous_handlers = {number: signal.signal(number, self._on_signal)
                                       for number in _SIGNALS}

    def _on_signal(self, number, frame):
        if not _inside(frame, self._fit):  # `fit` ended on another callback's error
            self._clean_up()
            signal.raise_signal(number)  # to the handler it replaced
            return
        self._signal = number
        for caught in _SIGNALS:  # a second signal ends a run that is stuck
            signal.signal(caught, signal.SIG_DFL)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        step = self._check_finite(logs)
        self._commit()
        self._batch = self._skipped + batch + 1
        if self._batch == self.params.get("steps"):
            if self._skipped:  # the resumed epoch is complete: end it, not the run
                self.model.stop_training = self._ended_early = True
        elif step - self._saved_step >= self.every:
            self._save(step)
        self._stop_if_signalled(step)

    def on_epoch_end(self, epoch, logs=None):
        step = self._check_finite(logs)
        if self._ended_early:
            self.model.stop_training = self._ended_early = False
        self._skipped = 0
        self._epoch, self._batch = epoch + 1, 0
        due = (epoch + 1) % self.every_epochs == 0 or step - self._saved_step >= self.every
        if due and step != self._saved_step:
            self._save(step)
        self._stop_if_signalled(step)

    def on_train_end(self, logs=None):
        self._commit()
        self._stop_if_signalled(self.step)  # a signal after the last batch
        self._clean_up()

    def _position(self):
        """`{"epoch", "batch"}` after the current batch (an epoch's last one ends it)."""
        if self._batch == self.params.get("steps"):
            return {"epoch": self._epoch + 1, "batch": 0}
        return {"epoch": self._epoch, "batch": self._batch}

    def _save(self, step):
        """Writes the checkpoint of `step`, pending until `_commit`."""
        weight = training.non_finite_weight(self.model)
        if weight is not None:
            self._stop_non_finite(step, f"the weight {weight} is not finite")
        if self._writes:
            self._pending = training.write_checkpoint(
                self.model, self.directory, {**self._position(), "step": step})
        self._saved_step = step

    def _commit(self):
        """Makes the pending checkpoint final: the losses computed from it were finite."""
        if self._pending is not None:
            training.commit_checkpoint(self._pending, self.keep)
            self._pending = None

    def _check_finite(self, logs):
        """The current step, after making sure that every logged value is finite."""
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                self._stop_non_finite(self.step, f"{name} is {float(value)}")
        return self.step

    def _stop_non_finite(self, step, problem):
        if self._writes:
            training.remove_unfinished(self.directory)  # the pending checkpoint led to it
        self._pending = None
        self._clean_up()
        newest = training.latest_checkpoint(self.directory)
        start = (f"resumes from {newest} (the newest checkpoint whose next step's losses were "
                 "finite)" if newest else "starts afresh (no checkpoint's next step was finite)")
        raise training.NonFiniteLoss(
            f"Step {step}: {problem}; training stopped. The same command, run again, {start}: "
            "give it a lower learning rate (--lr).")

    def _stop_if_signalled(self, step):
        if self._signal is None:
            return
        if step != self._saved_step:
            self._save(step)
        self._commit()
        self._clean_up()
        raise training.Interrupted(step, training.checkpoint_path(self.directory, step),
                                   signal.Signals(self._signal).name)

    def _clean_up(self):
        """Undoes `on_train_begin`'s changes to the model and to the signal handlers."""
        self.model._initial_epoch = None
        train_function, wrapped = self._train_functions
        if self.model.train_function is wrapped:  # not replaced since (e.g. retraced)
            self.model.train_function = train_function
        for number, handler in self._previous_handlers.items():
            # None: a handler set outside Python, which cannot be put back; the default is.
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        self._previous_handlers = {}


def _running_fit(model):
    """`(id, code)` of the frame of the `model.fit` call running now, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            return id(frame), frame.f_code
        frame = frame.f_back
    return None


def _inside(frame, fit):
    """Whether `frame` runs within the call `fit` (from `_running_fit`)."""
    while frame is not None:
        if (id(frame), frame.f_code) == fit:
            return True
        frame = frame.f_back
    return False


class _EveryNSteps(_CountsSteps):
    """Calls `write(step, logs)` every `every` steps (and at the end of training), on the
    chief only; `log_dir` gets a TensorBoard writer."""

    def __init__(self, every, log_dir=None):
        super().__init__()
        self.every = every
        self.log_dir = log_dir

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._writes = writes_files(self.model)
        self._writer = (tf.summary.create_file_writer(str(self.log_dir))
                        if self.log_dir is not None and self._writes else None)
        self._written = None

    def on_train_batch_end(self, batch, logs=None):
        seen = self.step
        super().on_train_batch_end(batch, logs)
        if self.step // self.every > seen // self.every:  # passed a multiple of `every`
            self._write(self.step, logs)

    def on_train_end(self, logs=None):
        self._write(self.step, logs)
        if self._writer is not None:
            self._writer.close()

    def _write(self, step, logs):
        if self._writes and step != self._written:
            self.write(step, logs or {})
            self._written = step


class TensorBoardScalars(_EveryNSteps):
    """Writes every logged loss (`loss/<name>`) and every optimizer's learning rate
    (`learning_rate/<group>`, the rate of the step's update) to TensorBoard every `every` steps,
    at the model's step count.

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
                         tf.constant(applied_learning_rate(optimizer)))


class SampleGrid(_EveryNSteps):
    """When training starts and every `every` steps, the model's `sample_columns` on a fixed
    batch (input | output | target, a row per sample, titled columns) as
    `<directory>/step-<step>.png` and as the TensorBoard image `samples` in `log_dir`.

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

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._write(self.step, logs)  # how the run starts: step 0, or where it resumes

    def write(self, step, logs):
        grid = visualize.sample_grid(self.model.sample_columns(self.batch))
        if self.directory is not None:
            visualize.save_png(pathlib.Path(self.directory) / f"step-{step:09d}.png", grid)
        if self._writer is not None:
            height, width = grid.shape[:2]
            with self._writer.as_default(step=step):
                _summary("images", "samples",
                         tf.stack([str(width), str(height), tf.io.encode_png(grid)]))


class LossLog(_EveryNSteps):
    """Losses readable without TensorBoard: every `every` steps a row of `csv_path` (step,
    epoch, the mean of each logged loss over the steps since the previous row, each
    optimizer's learning rate) and `plot_path`, a PNG of every loss against the step,
    redrawn from the whole file.

    A resumed run keeps the rows up to the step it resumes from and drops later ones (written
    after the checkpoint it restarts from).

    Args:
        csv_path: the CSV file (appended to).
        plot_path: the PNG file, or None.
        every: steps between rows.
    """

    def __init__(self, csv_path, plot_path=None, every=10):
        super().__init__(every)
        self.csv_path = pathlib.Path(csv_path)
        self.plot_path = plot_path

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._rows = [row for row in _read_csv(self.csv_path) if int(row["step"]) <= self.step]
        self._epoch, self._sums = 0, {}
        self._last = (None, 0, {})  # epoch, batch and sums at the last row

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # Keras logs each loss's mean since the epoch began: mean * batches is the sum.
        self._sums = {name: float(value) * (batch + 1) for name, value in (logs or {}).items()}
        super().on_train_batch_end(batch, logs)

    def write(self, step, logs):
        epoch, batch, sums = self._last
        if epoch != self._epoch:  # a new epoch since the last row: its steps alone
            batch, sums = 0, {}
        count = max(self._batches() - batch, 1)
        row = {"step": step, "epoch": self._epoch + 1}
        row.update({name: (total - sums.get(name, 0.0)) / count
                    for name, total in self._sums.items()})
        for group, optimizer in self.model.optimizers.items():
            row[f"lr_{group}"] = applied_learning_rate(optimizer)
        self._last = (self._epoch, self._batches(), self._sums)
        self._rows.append(row)
        _write_csv(self.csv_path, self._rows)
        if self.plot_path is not None:
            visualize.save_loss_plot(self.plot_path, self._rows)


def applied_learning_rate(optimizer):
    """The learning rate of `optimizer`'s last update: a schedule's value one step back
    (`optimizer.learning_rate` is the next update's)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = inner._learning_rate
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return float(schedule(keras.ops.maximum(inner.iterations - 1, 0)))
    return float(inner.learning_rate)


def _read_csv(path):
    if not path.is_file():
        return []
    with path.open(newline="") as rows:
        return list(csv.DictReader(rows))


def _write_csv(path, rows):
    names = list(dict.fromkeys(name for row in rows for name in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"tmp-{path.name}")
    with temporary.open("w", newline="") as file:
        writer = csv.DictWriter(file, names)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def _summary(plugin, tag, tensor):
    """Writes `tensor` as a TensorBoard `plugin` ("scalars": a float32 scalar; "images":
    [width, height, png] strings) at the default writer's step. Written with TensorFlow's own
    `tf.summary.write`, so training needs no `tensorboard` package (viewing does)."""
    metadata = tf.compat.v1.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    tf.summary.write(tag, tensor, metadata=metadata.SerializeToString())
