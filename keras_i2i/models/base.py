"""The GAN model every keras-i2i model extends.

`GANModel` holds what the models share: presets (`from_preset`, `save_to_preset`), a
`compile` that builds one optimizer per network group from the model's own hyper-parameters,
the gradient step of a group (distribution-aware, loss-scaled under mixed precision), loss
logging that reports true values under `tf.distribute`, and `export` to a SavedModel with
named serving signatures.

A subclass defines:
    build_networks():      one forward pass of every sub-network on small dummy inputs, so the
                           model is built (weights exist) right after construction.
    optimizer_groups():    `{group: [variables]}`, e.g. generator and discriminator.
    default_optimizers():  `{group: keras.optimizers.Optimizer}` from the model's config.
    loss_names():          the names of the losses `train_step` reports.
    serving_endpoints():   `{name: (function, [tf.TensorSpec, ...])}` for `export`; the first
                           becomes the SavedModel's `serving_default`.
and its own `call` (inference) and `train_step`.
"""

import keras
import tensorflow as tf

from keras_i2i import presets as preset_lib


class GANModel(keras.Model):
    """Base class: presets, per-group optimizers, loss logging and SavedModel export."""

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

    def build(self, input_shape=None):
        """Creates every weight by one dummy forward pass (`build_networks`), and the loss
        trackers."""
        self.build_networks()
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names()}
        self.built = True

    # ------------------------------------------------------------ training

    def compile(self, optimizers=None, **kwargs):
        """Configures training.

        Args:
            optimizers: optional `{group: optimizer}` replacing the model's defaults
                (`default_optimizers()`) for some groups.
            **kwargs: passed to `keras.Model.compile` (`jit_compile`, `steps_per_execution`,
                `run_eagerly`, ...). No `loss` or `optimizer`: the model defines its own.
        """
        for argument in ("loss", "optimizer"):
            if kwargs.get(argument) is not None:
                raise ValueError(
                    f"{type(self).__name__}.compile() takes no `{argument}`: the model defines "
                    "its losses; pass `optimizers={group: optimizer}` to replace optimizers."
                )
        super().compile(**kwargs)
        groups = self.optimizer_groups()
        chosen = {**self.default_optimizers(), **(optimizers or {})}
        unknown = set(chosen) - set(groups)
        if unknown:
            raise ValueError(f"Unknown optimizer groups {sorted(unknown)}; known: {sorted(groups)}.")
        self.optimizers = {group: self._prepare_optimizer(chosen[group], groups[group])
                           for group in groups}

    def _prepare_optimizer(self, optimizer, variables):
        if (self.dtype_policy.name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        with self.distribute_strategy.scope():
            optimizer.build(variables)
        return optimizer

    @property
    def metrics(self):
        return list(getattr(self, "loss_trackers", {}).values())

    def apply_gradients(self, group, tape, loss):
        """One optimizer step of `group` on `loss` (a per-replica mean, float32).

        Gradients are summed across replicas by the optimizer, so the loss is divided by
        the number of replicas; under mixed precision the loss is scaled and the step is
        skipped when gradients are not finite (`LossScaleOptimizer`). Both factors enter as the
        tape's output gradient, so callers record only the plain loss.
        """
        if loss.dtype != tf.float32:
            raise TypeError(f"The {group} loss must be float32 (compute losses on float32 "
                            f"casts of the network outputs), got {loss.dtype.name}.")
        optimizer = self.optimizers[group]
        variables = self.optimizer_groups()[group]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        loss_weight = optimizer.scale_loss(tf.constant(1.0 / replicas))
        gradients = tape.gradient(loss, variables, output_gradients=loss_weight)
        optimizer.apply(gradients, variables)

    def record_losses(self, losses):
        """Updates the loss trackers with `{name: scalar}` and returns their current means."""
        for name, value in losses.items():
            self.loss_trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.loss_trackers.items()}

    # ------------------------------------------------------------ export

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes a SavedModel whose signatures (`serving_endpoints`) have named inputs and
        outputs; `tf.saved_model.load(filepath).signatures["serving_default"]` serves it."""
        if format != "tf_saved_model":
            raise ValueError(f"{type(self).__name__}.export supports format='tf_saved_model', "
                             f"got {format!r}.")
        from keras_i2i.export import export_saved_model

        return export_saved_model(self, filepath, self.serving_endpoints(), verbose=verbose)
