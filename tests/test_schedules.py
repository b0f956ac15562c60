"""Learning-rate schedules against the reference trainers' update rules."""

import keras
import numpy as np
import pytest

from keras_i2i import schedules
from tests.toy_gan import ToyGAN


def pix2pixhd_rates(lr, niter, niter_decay, steps_per_epoch):
    """The rate of every step of pix2pixHD's loop: `lr -= lr0 / niter_decay` after each
    1-based epoch above `niter`."""
    rates, current = [], lr
    for epoch in range(1, niter + niter_decay + 1):
        rates += [current] * steps_per_epoch
        if epoch > niter:
            current -= lr / niter_decay
    return rates


def test_linear_decay_follows_the_pix2pixhd_update_rule():
    schedule = schedules.linear_decay(steps_per_epoch=3, constant_epochs=2, decay_epochs=4)(2e-4)
    expected = pix2pixhd_rates(2e-4, 2, 4, 3)
    np.testing.assert_allclose([float(schedule(step)) for step in range(len(expected))],
                               expected, rtol=1e-5, atol=1e-12)
    assert float(schedule(len(expected) + 10)) == 0.0


def test_step_decay_follows_munit_step_lr():
    schedule = schedules.step_decay(step_size=4, gamma=0.5)(1e-4)
    np.testing.assert_allclose([float(schedule(step)) for step in range(10)],
                               [1e-4 * 0.5 ** (step // 4) for step in range(10)], rtol=1e-6)


def test_compile_schedules_every_optimizer_from_its_own_rate_and_serializes():
    model = ToyGAN(width=4, learning_rate=1e-3)
    model.compile(optimizers={"discriminator": keras.optimizers.Adam(4e-3, beta_1=0.0)},
                  learning_rate_schedule=schedules.step_decay(step_size=1))
    rates = {group: opt.learning_rate for group, opt in model.optimizers.items()}
    assert float(rates["generator"]) == pytest.approx(1e-3)
    assert float(rates["discriminator"]) == pytest.approx(4e-3)
    assert model.optimizers["discriminator"].beta_1 == 0.0
    config = model.get_compile_config()["optimizers"]["generator"]["config"]["learning_rate"]
    assert config["class_name"] == "ExponentialDecay"
    decay = schedules.LinearDecay(1e-3, steps_per_epoch=5, constant_epochs=1, decay_epochs=2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(decay))
    assert restored.get_config() == decay.get_config()


def test_linear_decay_refuses_an_empty_decay():
    with pytest.raises(ValueError, match="decay_epochs >= 1"):
        schedules.LinearDecay(1e-3, steps_per_epoch=10, constant_epochs=5, decay_epochs=0)
