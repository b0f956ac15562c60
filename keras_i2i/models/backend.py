"""What the shared GAN model (`base.GANModel`) does differently under TensorFlow and JAX;
with `optimization` (the optimizer steps) the only backend-specific code of the models.

Under TensorFlow a model may be replicated by a `tf.distribute` strategy: each replica runs
the step on its part of the global batch, draws its own random numbers, and the losses it
logs are averaged across replicas. Under JAX the step is one global computation
(`keras.distribution.DataParallel` shards its batch), whose state Keras's JAX trainer threads
through (`optimization.train_step_jax`). TensorFlow is imported only where it is used: under
JAX it need not be installed.
"""

import contextlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile

import keras

import keras_i2i
from keras_i2i import presets as preset_lib
from keras_i2i.models import optimization


def tensorflow():
    """Whether Keras runs on TensorFlow (else on JAX)."""
    return keras.backend.backend() == "tensorflow"


# ------------------------------------------------------------------ compile


def replicas(model):
    """The number of replicas of the model's `tf.distribute` strategy (1 under JAX)."""
    return model.distribute_strategy.num_replicas_in_sync if tensorflow() else 1


def strategy_scope(model):
    """The scope of the model's `tf.distribute` strategy, where its variables are created (a
    null context under JAX)."""
    return model.distribute_strategy.scope() if tensorflow() else contextlib.nullcontext()


def compile_networks_with_xla(networks, enabled):
    """Makes each network's `call` an XLA-compiled `tf.function` (its gradient compiles with
    it), or restores the class's own `call`. Only TensorFlow enables it: JAX compiles the
    whole step."""
    for network in networks:
        network.__dict__.pop("call", None)
        if enabled:
            import tensorflow as tf

            network.call = tf.function(network.call, jit_compile=True, reduce_retracing=True)


def trainer_optimizer(optimizers):
    """What Keras's trainer gets as `model.optimizer`: None under TensorFlow (the model's own
    steps apply its optimizers); under JAX the built `optimizers` seen as one, whose variables
    its trainer threads through the steps."""
    return None if tensorflow() else _OptimizerSet(optimizers)


class _OptimizerSet:
    """Several built optimizers seen as one by Keras's JAX trainer, which reads `.built` and
    `.variables`."""

    built = True

    def __init__(self, optimizers):
        self.optimizers = optimizers

    @property
    def variables(self):
        return [v for optimizer in self.optimizers for v in optimizer.variables]


# ------------------------------------------------------------------ the step


def train_step(model, state, data):
    """Keras's `train_step` of the model on the dict batch `data`: under TensorFlow
    `model.train_batch(data)` (`state` is empty); under JAX `(logs, new state)` from the
    state's values (`optimization.train_step_jax`)."""
    if tensorflow():
        return model.train_batch(data)
    return optimization.train_step_jax(model, *state, data)


def random_normal(shape, seed_generator):
    """N(0, 1) float32 draws of `shape` from `seed_generator`; under a `tf.distribute`
    strategy each replica draws its own."""
    if not tensorflow():
        return keras.random.normal(shape, seed=seed_generator)
    import tensorflow as tf

    seed = seed_generator.next()
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    return tf.random.stateless_normal(shape, seed)


def mean_over_replicas(losses):
    """`{name: scalar}` averaged across the replicas of a `tf.distribute` strategy (each
    replica's mean over its part of the batch becomes the global batch's mean)."""
    if not tensorflow():
        return losses
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        return context.all_reduce(tf.distribute.ReduceOp.MEAN, losses)
    return losses


def step_logs(means):
    """`{name: scalar}` as a step returns them to Keras: across the worker processes of a
    `MultiWorkerMirroredStrategy`, Keras reduces step logs along axis 0, which scalars lack,
    so each gets one (shape (1,))."""
    if not tensorflow():
        return means
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode()):
        return {name: mean[None] for name, mean in means.items()}
    return means


# ------------------------------------------------------------------ tracing


def traced_for_xla(model):
    """Whether the current call is being traced while `model` is compiled with XLA under
    TensorFlow (see `GANModel.traced_for_xla`)."""
    if not (tensorflow() and model.compiled and model.jit_compile is True):
        return False
    import tensorflow as tf

    return not tf.executing_eagerly()


def concrete(tensor):
    """Whether `tensor` holds values: not traced (by `tf.function`, `jax.jit`), not symbolic."""
    if isinstance(tensor, keras.KerasTensor):
        return False
    if tensorflow():
        import tensorflow as tf

        return tf.executing_eagerly()
    import jax

    return not isinstance(tensor, jax.core.Tracer)


# ------------------------------------------------------------------ export


def export(model, filepath, verbose):
    """Writes `model`'s SavedModel (`GANModel.export`): under TensorFlow from this process's
    graph; under another backend a TensorFlow process exports the model's preset
    (SavedModels are TensorFlow graphs), so the SavedModel is the one TensorFlow gives for
    these weights."""
    if tensorflow():
        from keras_i2i.export import export_saved_model

        return export_saved_model(model, filepath, model.serving_endpoints(), verbose=verbose)
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError("Exporting a SavedModel needs TensorFlow (pip install tensorflow); "
                          f"this {keras.backend.backend()} process has none.")
    package_root = str(pathlib.Path(keras_i2i.__file__).resolve().parents[1])
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                       os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as folder:
        preset_lib.save_preset(model, folder)
        command = [sys.executable, "-m", "keras_i2i.export", folder, os.fspath(filepath)]
        done = subprocess.run(command + ([] if verbose else ["--quiet"]), env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"Exporting {type(model).__name__} in a TensorFlow process failed:\n"
                           f"{done.stderr[-3000:]}")
    print(done.stdout, end="")
    return filepath
