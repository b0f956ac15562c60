"""The optimizer steps of a training step, under TensorFlow or JAX: with `backend` (the rest
of what the shared model does differently per backend) the only code of the models that knows
the backend.

A model's `train_batch` calls `GANModel.minimize(targets, compute)`: `compute()` runs the
networks and returns `(losses, outputs)`; each group in `targets` takes one optimizer step on
its loss. Under TensorFlow the gradients come from a `tf.GradientTape`; under JAX from
`jax.vjp` of a stateless call of `compute`: every variable's value is threaded through a
`keras.StatelessScope`, and what `compute` changes (spectral-norm vectors, batch statistics,
seed generators, other groups' weights and optimizer states in a nested `minimize`) is written
back to the enclosing scope, with the new weights and optimizer states.

A `minimize` inside another's `compute` (MUNIT updates its discriminators in the middle of
its generators' pass) is not differentiated by the enclosing one: its outputs are constants
there.
"""

import contextlib
import threading
import warnings

import keras
from keras import ops


def minimize(model, targets, compute):
    """See `GANModel.minimize`."""
    if keras.backend.backend() == "jax":
        return _minimize_jax(model, targets, compute)
    return _minimize_tensorflow(model, targets, compute)


def _names(names):
    """A group's losses: one name, or several for that many steps in a row (DRIT updates its
    generator on two losses, each gradient taken before either step)."""
    return (names,) if isinstance(names, str) else tuple(names)


def _check_loss(group, loss):
    dtype = keras.backend.standardize_dtype(loss.dtype)
    if dtype != "float32":
        raise TypeError(f"The {group} loss must be float32 (compute losses on float32 "
                        f"casts of the network outputs), got {dtype}.")


# ------------------------------------------------------------------ TensorFlow


# This thread's recording tapes, outermost first: a tape records in the thread it was entered
# in, and the replicas of a `tf.distribute` strategy step in threads of their own.
_recording = threading.local()


def _minimize_tensorflow(model, targets, compute):
    import tensorflow as tf

    tapes = _recording.__dict__.setdefault("tapes", [])
    with contextlib.ExitStack() as paused:
        for tape in tapes:  # a nested step is not part of the enclosing gradient
            paused.enter_context(tape.stop_recording())
        tape = tf.GradientTape(persistent=len(targets) > 1)
        with tape:
            tapes.append(tape)
            try:
                losses, outputs = compute()
            finally:
                tapes.pop()
        for group, names in targets.items():
            for name in _names(names):
                _apply_tensorflow(model, group, tape, losses[name])
        del tape
    return losses, outputs


def _apply_tensorflow(model, group, tape, loss):
    """One optimizer step of `group` on `loss` (a per-replica mean, float32).

    Gradients are summed across replicas by the optimizer, so the loss is divided by the
    number of replicas; under mixed precision the loss is scaled and the step is skipped when
    gradients are not finite (`LossScaleOptimizer`), on every replica when one replica's are.
    Both factors enter as the tape's output gradient, so the loss itself stays as logged.
    """
    import tensorflow as tf

    _check_loss(group, loss)
    optimizer = model.optimizers[group]
    variables = model.optimizer_groups()[group]
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss_weight = optimizer.scale_loss(tf.constant(1.0 / replicas))
    gradients = tape.gradient(loss, variables, output_gradients=loss_weight)
    if replicas > 1 and isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        gradients = _spread_overflow(gradients)
    optimizer.apply(gradients, variables)


def _spread_overflow(gradients):
    """`gradients`, made non-finite on every replica when they are on any.

    `LossScaleOptimizer` decides from the first replica's gradients alone whether to skip a
    step, so an overflow on another replica would reach the weights through the gradient sum
    (or, across workers, let workers disagree). Agreeing first makes every replica skip.
    """
    import tensorflow as tf

    present = [g for g in gradients if g is not None]
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in present])
    overflows = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
    poison = tf.where(overflows > 0, float("nan"), 0.0)
    return [None if g is None else g + tf.cast(poison, g.dtype) for g in gradients]


# ------------------------------------------------------------------ JAX


class StateScopes:
    """Under JAX, the stateless scopes of a training step: `current` holds every variable's
    value at this point of the step (`None` outside a step)."""

    def __init__(self, variables):
        self.variables = variables
        self.current = None

    def value(self, variable):
        value = self.current.get_current_value(variable)
        return variable.value if value is None else value

    @contextlib.contextmanager
    def entered(self, mapping):
        """A new stateless scope of `mapping` as the current one."""
        outer = self.current
        with keras.StatelessScope(state_mapping=mapping) as scope:
            self.current = scope
            try:
                yield scope
            finally:
                self.current = outer


def train_step_jax(model, state, data):
    """Keras's JAX `train_step(state, data)`: the model's `train_batch(data)` run on the state
    `(trainable, non-trainable, optimizer, metrics)` values; returns `(logs, new state)`."""
    groups = _state_variables(model)
    mapping = [(v, x) for variables, values in zip(groups, state)
               for v, x in zip(variables, values)]
    scopes = model._state_scopes = StateScopes([v for vs in groups for v in vs])
    with scopes.entered(mapping) as scope:
        logs = model.train_batch(data)
        new_state = tuple([_updated(scope, v, x) for v, x in zip(variables, values)]
                          for variables, values in zip(groups, state))
    model._state_scopes = None
    return logs, new_state


def _state_variables(model):
    """The variables of the training state, in the order of Keras's JAX trainer: trainable,
    non-trainable, every optimizer's (`model.optimizer`, see `backend.trainer_optimizer`),
    the loss trackers'."""
    return (model.trainable_variables, model.non_trainable_variables,
            model.optimizer.variables, model.metrics_variables)


def _updated(scope, variable, old):
    value = scope.get_current_value(variable)
    return old if value is None else value


def _minimize_jax(model, targets, compute):
    import jax

    scopes = model._state_scopes
    if scopes is None or scopes.current is None:
        raise RuntimeError("GANModel.minimize runs inside a training step (`fit`).")
    groups = model.optimizer_groups()
    trained = [v for group in targets for v in groups[group]]
    ids = {id(v) for v in trained}
    others = [v for v in scopes.variables if id(v) not in ids]

    def run(values):
        before = [scopes.value(v) for v in others]
        with scopes.entered(list(zip(trained, values)) + list(zip(others, before))) as scope:
            losses, outputs = compute()
            # Only what `compute` assigned goes back: the rest must keep its place in an
            # enclosing differentiation.
            changed = [None if scope.get_current_value(v) is old else scope.get_current_value(v)
                       for v, old in zip(others, before)]
        return losses, (outputs, changed)

    losses, pullback, (outputs, changed) = jax.vjp(
        run, [scopes.value(v) for v in trained], has_aux=True)
    for variable, value in zip(others, changed):
        if value is not None:
            variable.assign(value)
    steps = []
    for group, names in targets.items():
        mine = {id(v) for v in groups[group]}
        for name in _names(names):
            _check_loss(group, losses[name])
            weight = model.optimizers[group].scale_loss(ops.ones((), "float32"))
            seed = {key: weight if key == name else ops.zeros_like(loss)
                    for key, loss in losses.items()}
            every = pullback(seed)[0]
            steps.append((group, [g for v, g in zip(trained, every) if id(v) in mine]))
    for group, grads in steps:
        _apply_jax(scopes, model.optimizers[group], groups[group], grads)
    return losses, jax.tree_util.tree_map(jax.lax.stop_gradient, outputs)


def _apply_jax(scopes, optimizer, variables, gradients):
    """`optimizer`'s step on `variables`, written to the current scope.

    Variables the optimizer was built with but not among `variables` (made non-trainable
    since, as by pix2pixHD's `FixCoarseLevels`) get no gradient: they and their slots keep
    their values, as under TensorFlow's `optimizer.apply(gradients, variables)`.
    """
    given = {id(v): g for v, g in zip(variables, gradients)}
    built = optimizer._trainable_variables  # `stateless_apply` takes values of all of them
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Gradients do not exist for variables")
        new_values, new_optimizer_values = optimizer.stateless_apply(
            [scopes.value(v) for v in optimizer.variables], [given.get(id(v)) for v in built],
            [scopes.value(v) for v in built])
    for variable, value in zip(built, new_values):
        if id(variable) in given:
            variable.assign(value)
    for variable, value in zip(optimizer.variables, new_optimizer_values):
        variable.assign(value)
