"""pix2pixHD's training schedule as callbacks: the linear learning-rate decay and the phase in
which only the finest local enhancer trains (the reference's `--niter`, `--niter_decay`,
`--niter_fix_global`).

The coarse-to-fine procedure is: train the global generator alone (a `Pix2PixHD` with
`n_local_enhancers=0`) at half resolution; build the enhanced model, load the trained one
into it (`Pix2PixHD.load_coarse_model`) and train it at full resolution, its coarse levels
fixed for the first `niter_fix_global` epochs (`FixCoarseLevels`), then everything jointly;
the learning rates decay linearly over the last `niter_decay` epochs (`EpochLinearDecay`).
`Pix2PixHD.training_callbacks()` returns these callbacks configured from the model.
"""

import keras

from keras_i2i import schedules


class EpochLinearDecay(keras.callbacks.Callback):
    """Sets every optimizer group's learning rate at the start of each epoch from the epoch
    number: `keras_i2i.schedules.LinearDecay` (the rate for `constant_epochs` epochs, then a
    linear decrease over `decay_epochs`), by epoch rather than by the optimizer's step count.

    pix2pixHD needs it by epoch because `FixCoarseLevels` restarts the generator's optimizer
    (its step count included) when the coarse levels are released, as the reference does,
    while both learning rates keep decaying on the same epochs. A resumed run continues the
    schedule, the epoch being known. The optimizers must have float learning rates (compile
    without a `learning_rate_schedule`).

    Args:
        learning_rates: `{optimizer group: initial rate}`.
        constant_epochs: the reference's `niter`.
        decay_epochs: the reference's `niter_decay` (at least 1).
    """

    def __init__(self, learning_rates, constant_epochs, decay_epochs):
        super().__init__()
        self.schedules = {
            group: schedules.LinearDecay(rate, 1, constant_epochs, decay_epochs)
            for group, rate in learning_rates.items()
        }

    def learning_rates(self, epoch):
        """`{group: rate}` in epoch `epoch` (from 0)."""
        return {group: float(schedule(epoch)) for group, schedule in self.schedules.items()}

    def on_epoch_begin(self, epoch, logs=None):
        for group, rate in self.learning_rates(epoch).items():
            try:
                self.model.optimizers[group].learning_rate = rate
            except TypeError as error:  # Keras refuses to set a schedule's rate
                raise ValueError(
                    f"EpochLinearDecay sets the {group} optimizer's learning rate, which is a "
                    "schedule here; compile without learning_rate_schedule."
                ) from error


def _reset_optimizer(optimizer, variables):
    """Gives `optimizer` the state of a new optimizer of its kind built on `variables`
    (iterations and slots; the learning rate and any loss scale are kept)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    fresh = type(inner).from_config(inner.get_config())
    fresh.build(variables)
    for target, value in zip(inner.variables, fresh.variables):
        if target.name != "learning_rate":
            target.assign(value)


class FixCoarseLevels(keras.callbacks.Callback):
    """For the first `epochs` epochs, trains only the finest local enhancer (and the feature
    encoder, and the discriminator); afterwards the whole generator (`--niter_fix_global`).

    The global generator and the coarser enhancers are made non-trainable, so the
    generator's optimizer group leaves them out. When they are released the generator's
    optimizer restarts from a fresh state, as the reference builds a new Adam over every
    parameter then. The training function is retraced at the switch; the levels are trainable
    again after `fit`. Resuming (e.g. with `TrainingCheckpoint`) at an epoch boundary or
    within an epoch continues the same schedule.

    Args:
        epochs: the number of epochs with the coarse levels fixed.
    """

    def __init__(self, epochs):
        super().__init__()
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        self.epochs = epochs
        self._traced = False

    def _coarse_levels(self):
        generator = self.model.generator
        if not generator.local_enhancers:
            raise ValueError(
                "FixCoarseLevels needs a model with local enhancers (n_local_enhancers >= 1)."
            )
        return [generator.global_generator, *generator.local_enhancers[:-1]]

    def set_model(self, model):
        super().set_model(model)
        # `fit` reuses a training function traced before; drop it so that the first trace of
        # this run sees the levels as this callback sets them.
        model.train_function = None
        self._traced = False

    def on_train_batch_end(self, batch, logs=None):
        self._traced = True

    def on_epoch_begin(self, epoch, logs=None):
        levels = self._coarse_levels()
        fixed, was_fixed = epoch < self.epochs, not levels[0].trainable
        if epoch == self.epochs and self._switching(was_fixed):
            for level in levels:
                level.trainable = True
            _reset_optimizer(
                self.model.optimizers["generator"], self.model.optimizer_groups()["generator"]
            )
        if fixed != was_fixed:
            for level in levels:
                level.trainable = not fixed
            if self._traced:
                self.model.make_train_function(force=True)

    def _switching(self, was_fixed):
        """Whether no step of the switch epoch has run yet (not so when resuming within it)."""
        steps = self.params.get("steps") if self.params else None
        if steps is None:
            return was_fixed
        return int(self.model.steps_trained.numpy()) <= self.epochs * steps

    def on_train_end(self, logs=None):
        for level in self._coarse_levels():
            level.trainable = True
