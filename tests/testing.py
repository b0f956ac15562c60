"""Shared test helpers (keras-hub style): every layer and model is checked the same way.

from tests.testing import run_layer_test

def test_my_layer():
    run_layer_test(MyLayer, {"filters": 8}, np.zeros((2, 16, 16, 4), "float32"),
                   expected_output_shape=(2, 16, 16, 8))
"""

import inspect
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

BASE_CONFIG_KEYS = {"name", "trainable", "dtype", "autocast", "activity_regularizer"}


def to_numpy(structure):
    """Converts every tensor of a nested structure to a numpy array."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def assert_all_close(actual, expected, atol=1e-6, rtol=1e-6, what="outputs"):
    """Compares two nested structures of tensors/arrays leaf by leaf (as float32)."""
    actual, expected = keras.tree.flatten(to_numpy(actual)), keras.tree.flatten(to_numpy(expected))
    assert len(actual) == len(expected), f"{what}: {len(actual)} leaves vs {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(
            np.asarray(a, "float32"),
            np.asarray(e, "float32"),
            atol=atol,
            rtol=rtol,
            err_msg=f"{what}, leaf {i}",
        )


def _flatten_shapes(shapes):
    """A shape tuple or a nested structure of them -> list of shape tuples."""
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return [shapes]
    return [shape for item in shapes for shape in _flatten_shapes(item)]


def _symbolic(input_data, dynamic_spatial=False):
    def spec(x):
        shape = tuple(x.shape)
        if dynamic_spatial and len(shape) == 4:
            shape = (shape[0], None, None, shape[3])
        return keras.KerasTensor(shape, dtype=keras.backend.standardize_dtype(x.dtype))

    return keras.tree.map_structure(spec, input_data)


def _tensor_specs(input_data):
    """TensorSpecs with every axis but the last unknown, to trace with dynamic shapes."""

    def spec(x):
        shape = tuple(x.shape)
        return tf.TensorSpec(
            (None,) * (len(shape) - 1) + shape[-1:], dtype=keras.backend.standardize_dtype(x.dtype)
        )

    return keras.tree.map_structure(spec, input_data)


def _rebuilt(layer, new_layer, input_data, call_kwargs):
    """Builds `new_layer` on `input_data`, copies `layer`'s weights and returns its outputs."""
    new_layer(input_data, **call_kwargs)
    new_layer.set_weights(layer.get_weights())
    return new_layer(input_data, **call_kwargs)


def check_config_matches_constructor(layer):
    """`get_config()` returns exactly the constructor's arguments (plus the base keys)."""
    init = type(layer).__init__
    if init.__module__.startswith("keras."):
        return
    params = inspect.signature(init).parameters
    args = {
        name
        for name, p in params.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    keys = set(layer.get_config()) - BASE_CONFIG_KEYS
    assert keys == args, f"get_config keys {sorted(keys)} != constructor args {sorted(args)}"


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    call_kwargs=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_mixed_precision_check=True,
    mixed_precision_tolerance=2e-2,
    expected_mixed_output_dtype="float16",
    run_jit_compile_check=True,
    run_dynamic_shape_check=True,
):
    """Builds and calls a layer (or model) and checks what every keras-i2i layer must satisfy.

    1. Output shapes (nested structures allowed) and the symbolic call agree with
       `expected_output_shape`, including with unknown H and W.
    2. `get_config()` holds exactly the constructor arguments and is JSON-serializable;
       `from_config` rebuilds a layer with the same outputs once the weights are copied.
    3. `keras.saving.serialize_keras_object` / `deserialize_keras_object` round trip (via
       JSON) likewise.
    4. Under `mixed_float16` the weights stay float32, floating outputs have
       `expected_mixed_output_dtype`, and they are close to the float32 outputs
       (`mixed_precision_tolerance`, relative, and absolute times the largest output).
    5. The call inside `tf.function(jit_compile=True)` gives the eager outputs, and a trace
       with every axis but the last unknown (`tf.function` with `TensorSpec`s) does too.

    Args:
        layer_cls: the layer or model class.
        init_kwargs: constructor arguments.
        input_data: numpy array or nested structure of them (a list for multi-input layers).
        expected_output_shape: a shape tuple, or a nested structure of them, or None.
        call_kwargs: extra keyword arguments of the call (keep them deterministic: the
            outputs of repeated calls are compared).
        expected_num_trainable_weights, expected_num_non_trainable_weights: optional counts.
        run_mixed_precision_check, run_jit_compile_check, run_dynamic_shape_check: toggles.

    Returns:
        The built layer and its float32 outputs as numpy.
    """
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    outputs = to_numpy(layer(input_data, **call_kwargs))

    if expected_output_shape is not None:
        shapes = [tuple(x.shape) for x in keras.tree.flatten(outputs)]
        expected = _flatten_shapes(expected_output_shape)
        assert shapes == expected, f"output shapes {shapes} != {expected}"
    for dynamic in (False, True):
        symbolic = layer(_symbolic(input_data, dynamic), **call_kwargs)
        for sym, out in zip(keras.tree.flatten(symbolic), keras.tree.flatten(outputs)):
            assert len(sym.shape) == out.ndim and all(
                s is None or s == o for s, o in zip(sym.shape, out.shape)
            ), f"symbolic output shape {sym.shape} (dynamic H, W: {dynamic}) vs eager {out.shape}"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    scale = max(
        [1.0] + [float(np.abs(out).max()) for out in keras.tree.flatten(outputs) if out.size]
    )
    config = layer.get_config()
    check_config_matches_constructor(layer)
    json.dumps(config)
    assert_all_close(
        _rebuilt(layer, layer_cls.from_config(config), input_data, call_kwargs),
        outputs,
        what="from_config",
    )

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is layer_cls
    assert_all_close(
        _rebuilt(layer, restored, input_data, call_kwargs), outputs, what="deserialized"
    )

    if run_mixed_precision_check:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_float16")
        try:
            mixed = layer_cls.from_config({**config, "dtype": "mixed_float16"})
            mixed_outputs = _rebuilt(layer, mixed, input_data, call_kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
        for weight in mixed.weights:
            assert weight.dtype == "float32", f"{weight.path} is {weight.dtype} under mixed_float16"
        for out in keras.tree.flatten(mixed_outputs):
            if keras.backend.is_float_dtype(out.dtype):
                assert keras.backend.standardize_dtype(out.dtype) == expected_mixed_output_dtype
        tol = mixed_precision_tolerance
        assert_all_close(mixed_outputs, outputs, atol=tol * scale, rtol=tol, what="mixed_float16")

    if run_jit_compile_check:
        jitted = tf.function(lambda inputs: layer(inputs, **call_kwargs), jit_compile=True)
        assert_all_close(
            jitted(input_data), outputs, atol=1e-5 * scale, rtol=1e-5, what="jit_compile"
        )
    if run_dynamic_shape_check:
        traced = tf.function(
            lambda inputs: layer(inputs, **call_kwargs), input_signature=[_tensor_specs(input_data)]
        )
        assert_all_close(
            traced(input_data), outputs, atol=1e-5 * scale, rtol=1e-5, what="dynamic shapes"
        )
    return layer, outputs


def run_model_saving_test(model, input_data, tmp_path, call_kwargs=None):
    """Saves `model` to a `.keras` file, reloads it (safe mode) and compares the outputs."""
    call_kwargs = call_kwargs or {}
    expected = model(input_data, **call_kwargs)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert_all_close(
        restored(input_data, **call_kwargs), expected, atol=1e-6, what="reloaded model"
    )
    return restored


def run_on_two_replicas(layer, input_data, jit_compile=False, call_kwargs=None):
    """Builds `layer` under a two-replica `MirroredStrategy` (two logical CPUs, conftest) and
    calls it once on `input_data` split between the replicas (`training=True` unless
    `call_kwargs` says otherwise). With `jit_compile=True` the layer's call is XLA-compiled
    per replica, as the base model compiles each network under a strategy. Returns the
    replicas' outputs concatenated along the batch axis; skips without two devices."""
    import pytest

    from tests.toy_gan import two_replicas

    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs two logical CPU devices (tests/conftest.py)")
    call_kwargs = {"training": True, **(call_kwargs or {})}
    strategy = two_replicas()
    with strategy.scope():
        layer.build(input_data.shape)
    if jit_compile:
        layer.call = tf.function(layer.call, jit_compile=True)

    @tf.function
    def step(batch):
        return strategy.run(lambda b: layer(b, **call_kwargs), (batch,))

    batches = tf.data.Dataset.from_tensors(input_data).unbatch().batch(len(input_data))
    outputs = step(next(iter(strategy.experimental_distribute_dataset(batches))))
    return np.concatenate([np.asarray(o) for o in strategy.experimental_local_results(outputs)])


class Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after the step that makes `steps_trained` reach `at_step`:
    a run stopped in the middle of `fit`."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.steps_trained.numpy()) == self.at_step:
            raise KeyboardInterrupt


class RaiseSignal(keras.callbacks.Callback):
    """Raises `number` (delivered at once, to this thread) as the step that makes
    `steps_trained` reach `at_step` begins, and notes the handlers in place just after."""

    def __init__(self, at_step, number):
        super().__init__()
        self.at_step = at_step
        self.number = number
        self.handlers_after = None

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.model.steps_trained.numpy()) == self.at_step - 1:
            signal.raise_signal(self.number)
            self.handlers_after = (signal.getsignal(signal.SIGINT),
                                   signal.getsignal(signal.SIGTERM))


# ------------------------------------------------------------------ saved_model_cli


def saved_model_cli(*arguments):
    """The finished process of TensorFlow's `saved_model_cli` command (the console script beside
    this Python's, as a user runs it) with `arguments`; skips the test when it is absent."""
    import pytest

    command = shutil.which("saved_model_cli", path=str(pathlib.Path(sys.executable).parent))
    if command is None:
        pytest.skip(f"no saved_model_cli beside {sys.executable}")
    return subprocess.run([command, *map(str, arguments)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def saved_model_cli_run(path, signature, inputs, tmp_path):
    """`{output name: array}` of `saved_model_cli run` on the SavedModel `path`'s `signature`,
    fed `inputs` (`{name: array}`, written as .npy files under `tmp_path`)."""
    done, outdir = _run_saved_model_cli(path, signature, inputs, tmp_path)
    assert done.returncode == 0, f"saved_model_cli run failed:\n{done.stderr[-3000:]}"
    return {file.stem: np.load(file) for file in outdir.glob("*.npy")}


def assert_saved_model_cli_rejects(path, signature, inputs, tmp_path, message):
    """`saved_model_cli run` (as in `saved_model_cli_run`) exits with an error whose output
    matches the regular expression `message`."""
    done, _ = _run_saved_model_cli(path, signature, inputs, tmp_path)
    assert done.returncode != 0, f"saved_model_cli run accepted bad inputs:\n{done.stdout[-2000:]}"
    assert re.search(message, done.stderr), f"{message!r} not in:\n{done.stderr[-3000:]}"


def _run_saved_model_cli(path, signature, inputs, tmp_path):
    """`saved_model_cli run` in a new folder of `tmp_path`: (its process, its --outdir)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix=f"cli_{signature}_", dir=tmp_path))
    for name, value in inputs.items():
        np.save(folder / f"{name}.npy", value)
    done = saved_model_cli(
        "run", "--dir", path, "--tag_set", "serve", "--signature_def", signature,
        "--inputs", ";".join(f"{name}={folder / name}.npy" for name in inputs),
        "--outdir", folder / "out")
    return done, folder / "out"


def saved_model_cli_show(path):
    """The signatures `saved_model_cli show --all` lists for the SavedModel `path`:
    `{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}}}`, a dtype as the
    command prints it ("DT_FLOAT"), a shape a tuple (None for -1) or None (unknown rank)."""
    done = saved_model_cli("show", "--all", "--dir", path)
    assert done.returncode == 0, f"saved_model_cli show failed:\n{done.stderr[-3000:]}"
    shown, tensor = {}, None
    for line in done.stdout.splitlines():
        if match := re.match(r"signature_def\['(.+)'\]:$", line):
            signature = shown.setdefault(match[1], {"inputs": {}, "outputs": {}})
        elif match := re.match(r"\s+(inputs|outputs)\['(.+)'\] tensor_info:$", line):
            tensor = signature[match[1]].setdefault(match[2], [None, None])
        elif match := re.match(r"\s+dtype: (\w+)$", line):
            tensor[0] = match[1]
        elif match := re.match(r"\s+shape: (.+)$", line):
            tensor[1] = None if match[1] == "unknown_rank" else tuple(
                None if size == -1 else size for size in _shape_tuple(match[1]))
    return {name: {side: {key: tuple(value) for key, value in tensors.items()}
                   for side, tensors in signature.items()}
            for name, signature in shown.items()}


def _shape_tuple(text):
    """"(-1, 8)" -> (-1, 8); "()" -> ()."""
    return tuple(int(size) for size in text.strip("()").split(",") if size.strip())


def assert_signatures_shown(path, model):
    """`saved_model_cli show --all` of the SavedModel `path` (exported from `model`) lists the
    signatures `keras_i2i.export.signatures(model)` describes (what docs/serving.md shows): the
    first also as "serving_default", every input with its dtype (any shape: the graph checks
    the layouts), every output with its dtype and static shape."""
    from keras_i2i.export import signatures

    def dtype(dtype):
        return types_pb2.DataType.Name(dtype.as_datatype_enum)

    shown = saved_model_cli_show(path)
    described = signatures(model)
    for index, signature in enumerate(described):
        expected = {
            "inputs": {item.name: (dtype(item.dtype), None) for item in signature.inputs},
            "outputs": {key: (dtype(spec.dtype), tuple(spec.shape))
                        for key, spec in signature.outputs.items()},
        }
        for name in [signature.name] + (["serving_default"] if index == 0 else []):
            assert shown.get(name) == expected, (
                f"{name}: shown {shown.get(name)}, described {expected}")
    extra = set(shown) - {s.name for s in described} - {"serving_default", "__saved_model_init_op"}
    assert not extra, f"signatures shown but not described: {sorted(extra)}"
