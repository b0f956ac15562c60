"""`ToyGAN`: the smallest model on the shared base, for the tests of the machinery around it."""

import functools

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_i2i import presets as preset_lib
from keras_i2i.models import registry
from keras_i2i.models.base import GANModel


@keras.saving.register_keras_serializable(package="keras_i2i_tests")
class ToyGAN(GANModel):
    """A least-squares pix2pix-like GAN on 3-channel inputs, as small as it gets."""

    def __init__(self, width=4, learning_rate=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.learning_rate = learning_rate
        self.generator = keras.Sequential(
            [keras.layers.Conv2D(width, 3, padding="same", activation="relu"),
             keras.layers.Conv2D(3, 3, padding="same", activation="tanh")], name="generator")
        self.discriminator = keras.Sequential(
            [keras.layers.Conv2D(width, 3, strides=2, padding="same"),
             keras.layers.Conv2D(1, 3, padding="same")], name="discriminator")
        self.build()

    def build_networks(self):
        self.discriminator(self.generator(keras.ops.zeros((1, 8, 8, 3))))

    def optimizer_groups(self):
        return {"generator": self.generator.trainable_variables,
                "discriminator": self.discriminator.trainable_variables}

    def default_optimizers(self):
        return {group: keras.optimizers.Adam(self.learning_rate) for group in ("generator",
                                                                              "discriminator")}

    def loss_names(self):
        return ["g_loss", "d_loss"]

    def call(self, inputs):
        return self.generator(inputs)

    def train_batch(self, data):
        source, target = data["input"], data["image"]

        def generator_loss():
            fake = ops.cast(self.generator(source, training=True), "float32")
            fake_score = ops.cast(self.discriminator(fake, training=True), "float32")
            return {"g_loss": ops.mean(ops.square(fake_score - 1.0))}, fake

        losses, fake = self.minimize({"generator": "g_loss"}, generator_loss)

        def discriminator_loss():
            real_score = ops.cast(self.discriminator(target, training=True), "float32")
            fake_score = ops.cast(self.discriminator(fake, training=True), "float32")
            d_loss = ops.mean(ops.square(real_score - 1.0)) + ops.mean(ops.square(fake_score))
            return {"d_loss": d_loss}, None

        losses.update(self.minimize({"discriminator": "d_loss"}, discriminator_loss)[0])
        return self.record_losses(losses)

    def serving_endpoints(self):
        def translate(input_image):
            return {"image": tf.cast(self.generator(input_image), "float32")}

        return {"translate": (translate, [tf.TensorSpec([None, None, None, 3], tf.float32,
                                                        name="input_image")])}


preset_lib.register_presets("ToyGAN", {
    "tiny": {"description": "Four channels.", "config": {"width": 4}},
    "wide": {"description": "Eight channels.", "config": {"width": 8}},
})


def toy_dataset(batch_size=2, num=4, seed=0):
    rng = np.random.default_rng(seed)
    data = {"input": rng.uniform(-1, 1, (num, 8, 8, 3)).astype("float32"),
            "image": rng.uniform(-1, 1, (num, 8, 8, 3)).astype("float32")}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def seeded_weights(model, seed=0):
    """Weights for `model` that every process can reproduce: N(0, 0.2) floats, zero counters."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.2, v.shape).astype(v.dtype) if "float" in str(v.dtype)
            else np.zeros(v.shape, v.dtype) for v in model.weights]


@functools.cache
def two_replicas():
    """One MirroredStrategy over the two logical CPUs (conftest) for the whole test process:
    strategies created side by side would reuse each other's collective instance keys."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def scheduled_toy():
    """A ToyGAN with reproducible weights and a step-decay schedule on both optimizers."""
    model = ToyGAN(width=4)
    model.set_weights(seeded_weights(model))
    decay = keras.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5, staircase=True)
    model.compile(optimizers={group: keras.optimizers.Adam(decay)
                              for group in ("generator", "discriminator")})
    return model


def toy_synthetic(num_samples, *, size, batch_size, seed):
    """The command line's synthetic data for ToyGAN (8x8 whatever `size`)."""
    return toy_dataset(batch_size=batch_size, num=num_samples, seed=seed)


registry.register_model("toy", ToyGAN, data="paired_images", synthetic=toy_synthetic,
                        description="ToyGAN: RGB -> RGB, for the tests")
