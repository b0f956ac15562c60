"""Training steps of a model, in this process's Keras backend, for comparing backends.

    KERAS_BACKEND=jax python -m tests.backend_step CASE.npz RESULT.npz [--data-parallel]

`CASE.npz` holds `model` (the class name), `config` (its constructor arguments, JSON),
`sgd` (the learning rate of the plain gradient steps every group takes: a weight then moves
by a smooth function of its gradient, unlike Adam's first step, `lr * g / (|g| + eps)`, whose
sign follows the rounding of gradients near 0), the weights `weight/<i>` and the batch
`batch/<key>`; optionally the dtype policy `policy` (float32 by default), `compile`'s
arguments `compile` (JSON), `callbacks` (True: `fit` with the model's `training_callbacks()`),
and `batch_size`: the batch's rows are then that many per step, one `fit` each, in order
(one step on the whole batch by default). The model's random draws
(`GANModel.random_normal`: SPADE's VAE, MUNIT's styles) come from one seeded NumPy stream,
so that both backends draw the same. `RESULT.npz` gets the weights after the steps
(`weight/<i>`), every optimizer's variables (`optimizer/<group>/<i>`) and the last step's
logs (`log/<name>`). Under JAX the process runs without TensorFlow.
"""

import json
import os
import sys

if __name__ == "__main__" and os.environ.get("KERAS_BACKEND") == "jax":
    # The models train under JAX where TensorFlow is not installed (GPU machines): every
    # `import tensorflow` of this process fails.
    sys.modules["tensorflow"] = None

import keras  # noqa: E402
import numpy as np  # noqa: E402


def run_step(case):
    """`(model, logs)` after the `fit` steps of the case on its weights and batch, under its
    dtype policy (set globally)."""
    import keras_i2i

    keras.config.set_dtype_policy(str(case.get("policy", "float32")))
    model = getattr(keras_i2i, str(case["model"]))(**json.loads(str(case["config"])))
    model.set_weights([case[f"weight/{i}"] for i in range(len(model.weights))])
    draws = np.random.default_rng(0)
    model.random_normal = lambda shape, seed_generator: keras.ops.convert_to_tensor(
        draws.standard_normal(tuple(shape)).astype("float32"))
    rate = float(case["sgd"])
    model.compile(optimizers={group: keras.optimizers.SGD(rate)
                              for group in model.optimizer_groups()},
                  **json.loads(str(case.get("compile", "{}"))))
    batch = {key.split("/", 1)[1]: case[key] for key in case if key.startswith("batch/")}
    rows = len(next(iter(batch.values())))
    size = int(case.get("batch_size", rows))
    callbacks = model.training_callbacks() if case.get("callbacks", False) else []
    for start in range(0, rows, size):
        history = model.fit({key: value[start:start + size] for key, value in batch.items()},
                            batch_size=size, epochs=1, verbose=0, shuffle=False,
                            callbacks=callbacks)
    return model, {name: values[-1] for name, values in history.history.items()}


def result(model, logs):
    """The arrays `RESULT.npz` holds."""
    arrays = {f"weight/{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    for group, optimizer in model.optimizers.items():
        for i, variable in enumerate(optimizer.variables):
            arrays[f"optimizer/{group}/{i}"] = keras.ops.convert_to_numpy(variable.value)
    arrays.update({f"log/{name}": np.asarray(value) for name, value in logs.items()})
    return arrays


def data_parallel(case):
    """`(one device's result, two devices' result)` of the case's step under JAX, the second
    with `keras.distribution.DataParallel` sharding the batch over two (CPU) devices."""
    one = result(*run_step(case))
    devices = keras.distribution.list_devices()
    if len(devices) != 2:
        raise RuntimeError(f"expected two devices (XLA_FLAGS), got {devices}")
    distribution = keras.distribution.DataParallel(devices=devices)
    with distribution.scope():
        two = result(*run_step(case))
    return one, two


if __name__ == "__main__":
    with np.load(sys.argv[1], allow_pickle=False) as loaded:
        case = {key: loaded[key] for key in loaded.files}
    if sys.argv[3:] == ["--data-parallel"]:
        one, two = data_parallel(case)
        np.savez(sys.argv[2], **{f"one/{k}": v for k, v in one.items()},
                 **{f"two/{k}": v for k, v in two.items()})
    else:
        np.savez(sys.argv[2], **result(*run_step(case)))
