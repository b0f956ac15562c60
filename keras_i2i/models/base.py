"""The GAN model every keras-i2i model extends.

`GANModel` holds what the models share: presets (`from_preset`, `save_to_preset`), a
`compile` that builds one optimizer per network group from the model's own hyper-parameters,
the optimizer steps of the groups (`minimize`: under TensorFlow or JAX, distribution-aware,
loss-scaled under mixed precision), loss logging that reports true values under
distribution, a count of the steps trained, and `export` to a SavedModel with named serving
signatures.

A subclass defines:
    build_networks():      one forward pass of every sub-network on small dummy inputs, so the
                           model is built (weights exist) right after construction.
    optimizer_groups():    `{group: [variables]}`, e.g. generator and discriminator.
    default_optimizers():  `{group: keras.optimizers.Optimizer}` from the model's config.
    loss_names():          the names of the losses `train_step` reports.
    serving_endpoints():   `{name: (function, [export.ServingInput, ...])}` for `export`; the
                           first becomes the SavedModel's `serving_default`.
    sample_columns(batch): optional, what a progress grid shows (see its default).
    training_callbacks():  optional, callbacks of the reference training (phases, schedules).
and its own `call` (inference) and `train_batch(data)`, one training step written for every
backend: it calls `self.minimize({group: loss name}, compute)` for its groups and ends with
`return self.record_losses({...})`. It holds no backend-specific code.

Distribution: under TensorFlow create and compile the model inside `strategy.scope()`; each
replica computes its losses as means over its own part of the global batch, `minimize` turns
them into the gradient of the global-batch mean, and `record_losses` logs global means.
Batches must split evenly across replicas (batch with `drop_remainder=True`). Under JAX,
`keras.distribution.DataParallel` shards the batch of one global computation.

What differs between the backends is in `backend` (and the optimizer steps in
`optimization`); this module reads the same under both. Model files also take from here
`concrete`, `with_target` and `int_maps`.
"""

import keras
import numpy as np
from keras import ops

from keras_i2i import presets as preset_lib
from keras_i2i.models import backend, optimization
from keras_i2i.models.backend import concrete  # noqa: F401 (models import it from here)


class GANModel(keras.Model):
    """Base class: presets, per-group optimizers, loss logging and SavedModel export."""

    size_multiple = 1
    """What the height and width of inputs must be multiples of (the network's
    downsampling); subclasses say theirs."""

    default_batch_size = 1
    """The batch size of the reference training (`keras-i2i train`'s default)."""

    def __new__(cls, *args, **kwargs):
        # keras.Model.__new__ drops the constructor arguments, so Keras's automatic
        # `get_config` would record the defaults; Layer.__new__ records the real ones.
        return keras.layers.Layer.__new__(cls, *args, **kwargs)

    # ---------------------------------------------------------------- presets

    @classmethod
    def from_preset(cls, preset, load_weights=True, **overrides):
        """Builds a model from a built-in preset name or a preset folder.

        Args:
            preset: a name from `cls.presets()` or a folder written by `save_to_preset`
                (or by a checkpoint converter).
            load_weights: load the folder's `model.weights.h5` when it has one.
            **overrides: constructor arguments replacing the preset's.
        """
        if preset_lib.is_preset_dir(preset):
            return preset_lib.load_preset(preset, cls, load_weights, **overrides)
        config = {**preset_lib.get_preset(cls.__name__, preset)["config"], **overrides}
        return cls(**config)

    @classmethod
    def presets(cls):
        """`{name: description}` of this model's built-in presets."""
        return preset_lib.list_presets(cls.__name__)

    def save_to_preset(self, path, metadata=None):
        """Writes `config.json`, `model.weights.h5` and `metadata.json` into `path`."""
        return preset_lib.save_preset(self, path, metadata)

    # ------------------------------------------------------------ subclass API

    def build_networks(self):
        raise NotImplementedError

    def optimizer_groups(self):
        raise NotImplementedError

    def default_optimizers(self):
        raise NotImplementedError

    def loss_names(self):
        raise NotImplementedError

    def serving_endpoints(self):
        raise NotImplementedError

    def sample_columns(self, batch):
        """The columns of a progress grid (`callbacks.SampleGrid`), left to right:
        `{title: images (B, H, W, C)}`, float in [-1, 1] or int label maps.

        The default shows `batch["input"]` (or `batch["label"]`), `self(inputs)` (every member
        but "image"; a lone member unwrapped) and `batch["image"]` when the batch has it (a
        test split may have no images); a model whose `call` takes other inputs overrides it.
        """
        inputs = {key: value for key, value in batch.items() if key != "image"}
        source = inputs["input"] if "input" in inputs else inputs["label"]
        output = self(inputs if len(inputs) > 1 else source, training=False)
        return with_target({"input": source, "output": output}, batch)

    def training_callbacks(self):
        """Callbacks the model's reference training needs besides the optimizer steps
        (phases, epoch-wise schedules); `keras-i2i train` adds them. None by default."""
        return []

    def build(self, input_shape=None):
        """Creates every weight by one dummy forward pass (`build_networks`), the loss trackers
        and the step counter."""
        self.build_networks()
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names()}
        self.steps_trained = self.add_weight(
            shape=(), dtype="int", initializer="zeros", trainable=False,
            aggregation="only_first_replica", name="steps_trained")
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a strategy, Keras's fit first all-reduces a whole data batch to learn shapes
        # for building, which fails for dict batches under MultiWorkerMirroredStrategy. These
        # models are built in their constructor (`build`), so there is nothing to learn.
        pass

    # ------------------------------------------------------------ training

    def compile(self, optimizers=None, learning_rate_schedule=None, **kwargs):
        """Configures training.

        Args:
            optimizers: optional `{group: optimizer}` replacing the model's defaults
                (`default_optimizers()`) for some groups; create them inside the strategy's
                scope when training under `tf.distribute`.
            learning_rate_schedule: optional `initial_learning_rate -> LearningRateSchedule`
                (e.g. `keras_i2i.schedules.linear_decay(...)`), applied to every optimizer
                from its own initial rate, so groups keep their ratio (TTUR); it replaces a
                schedule an optimizer already had.
            **kwargs: passed to `keras.Model.compile` (`jit_compile`, `steps_per_execution`,
                `run_eagerly`, ...). No `loss` or `optimizer`: the model defines its own.
                `jit_compile=True` under a strategy of several replicas compiles each
                sub-network's forward and backward pass with XLA, not the whole step
                (tf.distribute cannot all-reduce gradients inside an XLA cluster on CPUs).
        """
        for argument in ("loss", "optimizer"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"{type(self).__name__}.compile() takes no `{argument}`: the model defines "
                    "its losses; pass `optimizers={group: optimizer}` to replace optimizers."
                )
        replicated = backend.replicas(self) > 1
        xla_networks = replicated and kwargs.get("jit_compile") is True
        if xla_networks:
            kwargs["jit_compile"] = False
        super().compile(optimizer=None, **kwargs)
        backend.compile_networks_with_xla(self.layers, xla_networks)
        groups = self.optimizer_groups()
        with backend.strategy_scope(self):
            chosen = {**self.default_optimizers(), **(optimizers or {})}
            if learning_rate_schedule is not None:
                chosen = {group: _with_schedule(optimizer, learning_rate_schedule)
                          for group, optimizer in chosen.items()}
        unknown = set(chosen) - set(groups)
        if unknown:
            raise ValueError(
                f"Unknown optimizer groups {sorted(unknown)}; known: {sorted(groups)}.")
        self.optimizers = {group: self._prepare_optimizer(chosen[group], groups[group])
                           for group in groups}
        self._xla_networks = xla_networks
        self.optimizer = backend.trainer_optimizer(list(self.optimizers.values()))

    def _prepare_optimizer(self, optimizer, variables):
        if (self.dtype_policy.name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        with backend.strategy_scope(self):
            optimizer.build(variables)
        return optimizer

    def traced_for_xla(self):
        """Whether the current call is being traced while the model is compiled with XLA under
        TensorFlow (its `predict`, or a `jit_compile` function of the caller's): inference code
        measured faster there may then be chosen. Eager calls, exported graphs and JAX (whose
        GPUs ran the plain convolutions as fast) get False."""
        return backend.traced_for_xla(self)

    def get_compile_config(self):
        """What `compile` was given (every group's optimizer included), for `.keras` files."""
        if not self.compiled:
            return {}
        return {
            "optimizers": {group: keras.saving.serialize_keras_object(optimizer)
                           for group, optimizer in self.optimizers.items()},
            "jit_compile": self._xla_networks or self.jit_compile,
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config):
        optimizers = {group: keras.saving.deserialize_keras_object(optimizer)
                      for group, optimizer in config.pop("optimizers").items()}
        self.compile(optimizers=optimizers, **config)

    @property
    def metrics(self):
        return list(getattr(self, "loss_trackers", {}).values())

    def train_batch(self, data):
        """One training step on the batch `data`: `minimize` per group, then
        `return self.record_losses({...})`."""
        raise NotImplementedError

    def train_step(self, *args):
        """Keras's step: `train_batch(data)`; under JAX `(state, data) -> (logs, state)`, the
        variables' values threaded through (see `backend.train_step`). `data` is the dict
        batch (`fit(dataset)`, `fit(x=dict)`, `train_on_batch(dict)`)."""
        *state, data = args
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(data, dict):
            raise TypeError(f"{type(self).__name__} trains on dict batches (keras_i2i.data's "
                            f"loaders give them), got {type(data).__name__}")
        return backend.train_step(self, state, data)

    def minimize(self, targets, compute):
        """Optimizer steps of several groups from one evaluation of `compute`.

        Args:
            targets: `{group: loss name}`: each group's optimizer minimizes that loss over the
                group's variables (`optimizer_groups`); `{group: (name, name2)}` takes one
                step per loss, in that order, every gradient taken at the weights `compute`
                saw (PyTorch's `backward(); step(); zero_grad(); backward(); step()` on one
                graph).
            compute: a function of no arguments that calls the networks (`training=True`) and
                returns `(losses, outputs)`: `{name: float32 scalar}` (per-replica means under
                `tf.distribute`) and anything the step needs later (e.g. generated images),
                which carries no gradient afterwards.

        Returns:
            `(losses, outputs)`, computed before the steps.
        """
        return optimization.minimize(self, targets, compute)

    def weight_decay_penalty(self, *groups):
        """`weight_decay / 2 * sum(w^2)` over the groups' variables (`self.weight_decay`, 0
        when the model has none): its gradient is the `weight_decay * w` that PyTorch's
        `Adam(weight_decay=...)` adds to the gradient."""
        decay = getattr(self, "weight_decay", 0.0)
        if not decay:
            return 0.0
        variables = self.optimizer_groups()
        return decay * 0.5 * sum(ops.sum(ops.square(v)) for group in groups
                                 for v in variables[group])

    def random_normal(self, shape, seed_generator):
        """N(0, 1) float32 draws of `shape` from `seed_generator`; under a `tf.distribute`
        strategy each replica draws its own."""
        return backend.random_normal(shape, seed_generator)

    def record_losses(self, losses):
        """Counts the step, updates the loss trackers with `{name: scalar}` (their means over
        the global batch under distribution) and returns the trackers' current means. Names
        that `loss_names()` does not list (the totals a step minimizes) are left out."""
        self.steps_trained.assign_add(1)
        losses = {name: value for name, value in losses.items() if name in self.loss_trackers}
        for name, value in backend.mean_over_replicas(losses).items():
            self.loss_trackers[name].update_state(value)
        return backend.step_logs({name: tracker.result()
                                  for name, tracker in self.loss_trackers.items()})

    # ------------------------------------------------------------ export

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes a SavedModel whose signatures (`serving_endpoints`) have named inputs and
        outputs; `tf.saved_model.load(filepath).signatures["serving_default"]` serves it, and
        rejects bad inputs with an `InvalidArgumentError` saying what was expected.
        `verbose=False` prints nothing. Under another backend than TensorFlow, a TensorFlow
        process exports the model's preset (SavedModels are TensorFlow graphs)."""
        if format != "tf_saved_model":
            raise ValueError(f"{type(self).__name__}.export supports format='tf_saved_model', "
                             f"got {format!r}.")
        return backend.export(self, filepath, verbose)


def with_target(columns, batch):
    """`columns` and, when `batch` has one, its real image as the "target" column."""
    return {**columns, "target": batch["image"]} if "image" in batch else columns


def int_maps(maps, what):
    """Integer maps (B, H, W) or (B, H, W, 1) as int32 (B, H, W, 1); ValueError otherwise."""
    maps = np.asarray(maps)
    if maps.ndim == 3:
        maps = maps[..., None]
    if maps.ndim != 4 or maps.shape[-1] != 1 or not np.issubdtype(maps.dtype, np.integer):
        raise ValueError(f"{what} must be integer maps (B, H, W) or (B, H, W, 1), got "
                         f"{maps.dtype} with shape {maps.shape}")
    return maps.astype("int32")


def _with_schedule(optimizer, make_schedule):
    """A new optimizer like `optimizer` whose learning rate follows
    `make_schedule(initial learning rate)`."""
    config = optimizer.get_config()
    config["learning_rate"] = make_schedule(float(optimizer.learning_rate))
    return type(optimizer).from_config(config)
