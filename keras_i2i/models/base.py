"""The GAN model every keras-i2i model extends.

`GANModel` holds what the models share: presets (`from_preset`, `save_to_preset`), a
`compile` that builds one optimizer per network group from the model's own hyper-parameters,
the gradient step of a group (distribution-aware, loss-scaled under mixed precision), loss
logging that reports true values under `tf.distribute`, a count of the steps trained, and
`export` to a SavedModel with named serving signatures.

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
and its own `call` (inference) and `train_step`, which calls `apply_gradients(group, tape, loss)`
once per group and ends with `return self.record_losses({...})`.

Distribution: create and compile the model inside `strategy.scope()`. Each replica computes
its losses as means over its own part of the global batch; `apply_gradients` turns them into
the gradient of the global-batch mean, and `record_losses` logs global means. Batches must
split evenly across replicas (batch with `drop_remainder=True`).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_i2i import presets as preset_lib


class GANModel(keras.Model):
    """Base class: presets, per-group optimizers, loss logging and SavedModel export."""

    size_multiple = 1
    """What the height and width of inputs must be multiples of (the network's
    downsampling); subclasses say theirs."""

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
            shape=(), dtype="int64", initializer="zeros", trainable=False,
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
        replicated = self.distribute_strategy.num_replicas_in_sync > 1
        xla_networks = replicated and kwargs.get("jit_compile") is True
        if xla_networks:
            kwargs["jit_compile"] = False
        super().compile(optimizer=None, **kwargs)
        self._compile_networks_with_xla(xla_networks)
        groups = self.optimizer_groups()
        with self.distribute_strategy.scope():
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

    def _compile_networks_with_xla(self, enabled):
        """Makes each sub-network's `call` an XLA-compiled function (its gradient compiles
        with it), or restores the class's own `call`."""
        for network in self.layers:
            network.__dict__.pop("call", None)
            if enabled:
                network.call = tf.function(network.call, jit_compile=True, reduce_retracing=True)

    def _prepare_optimizer(self, optimizer, variables):
        if (self.dtype_policy.name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        with self.distribute_strategy.scope():
            optimizer.build(variables)
        return optimizer

    def traced_for_xla(self):
        """Whether the current call is being traced while the model is compiled with XLA (its
        `predict`, or a `jit_compile` function of the caller's): inference code that is only
        fast under XLA may then be chosen. Eager calls and exported graphs get False."""
        return self.compiled and self.jit_compile is True and not tf.executing_eagerly()

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

    def apply_gradients(self, group, tape, loss):
        """One optimizer step of `group` on `loss` (a per-replica mean, float32).

        Gradients are summed across replicas by the optimizer, so the loss is divided by
        the number of replicas; under mixed precision the loss is scaled and the step is
        skipped when gradients are not finite (`LossScaleOptimizer`), on every replica when
        one replica's are. Both factors enter as the tape's output gradient, so callers
        record only the plain loss.
        """
        if loss.dtype != tf.float32:
            raise TypeError(f"The {group} loss must be float32 (compute losses on float32 "
                            f"casts of the network outputs), got {loss.dtype.name}.")
        optimizer = self.optimizers[group]
        variables = self.optimizer_groups()[group]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        loss_weight = optimizer.scale_loss(tf.constant(1.0 / replicas))
        gradients = tape.gradient(loss, variables, output_gradients=loss_weight)
        if replicas > 1 and isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            gradients = _spread_overflow(gradients)
        optimizer.apply(gradients, variables)

    def record_losses(self, losses):
        """Counts the step, updates the loss trackers with `{name: scalar}` (their means over
        the global batch under `tf.distribute`) and returns the trackers' current means."""
        self.steps_trained.assign_add(1)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            losses = context.all_reduce(tf.distribute.ReduceOp.MEAN, losses)
        for name, value in losses.items():
            self.loss_trackers[name].update_state(value)
        means = {name: tracker.result() for name, tracker in self.loss_trackers.items()}
        if _between_workers(tf.distribute.get_strategy()):
            # Keras reduces step logs across workers along axis 0, which scalars lack.
            means = {name: mean[None] for name, mean in means.items()}
        return means

    # ------------------------------------------------------------ export

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes a SavedModel whose signatures (`serving_endpoints`) have named inputs and
        outputs; `tf.saved_model.load(filepath).signatures["serving_default"]` serves it, and
        rejects bad inputs with an `InvalidArgumentError` saying what was expected.
        `verbose=False` prints nothing."""
        if format != "tf_saved_model":
            raise ValueError(f"{type(self).__name__}.export supports format='tf_saved_model', "
                             f"got {format!r}.")
        from keras_i2i.export import export_saved_model

        return export_saved_model(self, filepath, self.serving_endpoints(), verbose=verbose)


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


def _between_workers(strategy):
    """Whether `strategy` all-reduces across several worker processes."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def _spread_overflow(gradients):
    """`gradients`, made non-finite on every replica when they are on any.

    `LossScaleOptimizer` decides from the first replica's gradients alone whether to skip a
    step, so an overflow on another replica would reach the weights through the gradient sum
    (or, across workers, let workers disagree). Agreeing first makes every replica skip.
    """
    present = [g for g in gradients if g is not None]
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in present])
    overflows = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
    poison = tf.where(overflows > 0, float("nan"), 0.0)
    return [None if g is None else g + tf.cast(poison, g.dtype) for g in gradients]
