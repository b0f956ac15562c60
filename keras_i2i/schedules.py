"""Learning-rate schedules of the reference trainings, as Keras schedules.

Both are functions of the optimizer's step count, so they resume with its checkpointed
`iterations`. Apply one to every optimizer of a model with
`model.compile(learning_rate_schedule=linear_decay(...))`.
"""

import functools

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_i2i")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """pix2pixHD's and SPADE's schedule (`niter`, `niter_decay`): the initial rate for
    `constant_epochs` epochs, then lowered by `initial / decay_epochs` after each further
    epoch, reaching zero after `constant_epochs + decay_epochs` epochs.

    In 0-based epoch `k = step // steps_per_epoch` the rate is
    `initial * (1 - clip(k - constant_epochs, 0, decay_epochs) / decay_epochs)`.
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, constant_epochs, decay_epochs):
        if steps_per_epoch < 1 or decay_epochs < 1 or constant_epochs < 0:
            raise ValueError(
                "LinearDecay needs steps_per_epoch >= 1, decay_epochs >= 1 and "
                f"constant_epochs >= 0, got {steps_per_epoch}, {decay_epochs}, {constant_epochs}.")
        self.initial_learning_rate = initial_learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.constant_epochs = constant_epochs
        self.decay_epochs = decay_epochs

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        decayed = ops.clip(epoch - self.constant_epochs, 0, self.decay_epochs)
        return self.initial_learning_rate * (1.0 - decayed / self.decay_epochs)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "steps_per_epoch": self.steps_per_epoch,
                "constant_epochs": self.constant_epochs,
                "decay_epochs": self.decay_epochs}


def linear_decay(steps_per_epoch, constant_epochs, decay_epochs):
    """`initial_learning_rate -> LinearDecay(...)`, for `compile(learning_rate_schedule=...)`."""
    return functools.partial(LinearDecay, steps_per_epoch=steps_per_epoch,
                             constant_epochs=constant_epochs, decay_epochs=decay_epochs)


def step_decay(step_size, gamma=0.5):
    """MUNIT's schedule (`lr_policy: step`): the rate times `gamma` every `step_size` steps,
    as `initial_learning_rate -> ExponentialDecay(staircase=True)`."""
    return functools.partial(keras.optimizers.schedules.ExponentialDecay,
                             decay_steps=step_size, decay_rate=gamma, staircase=True)
