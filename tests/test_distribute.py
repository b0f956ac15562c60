"""The shared base under tf.distribute, XLA and mixed precision (two logical CPUs, conftest)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.toy_gan import ToyGAN, seeded_weights, toy_dataset, two_replicas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_step(model, batch):
    """Trains `model` on one global `batch`; returns `(logged losses, weights)`."""
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    return ({name: values[0] for name, values in history.history.items()},
            [v.numpy() for v in model.weights])


def a_batch(size=4, seed=0):
    return next(iter(toy_dataset(batch_size=size, num=size, seed=seed)))


def reference_step(batch, weights, **compile_args):
    """One step of a single-device model from `weights`."""
    model = ToyGAN(width=4)
    model.set_weights(weights)
    model.compile(**compile_args)
    return one_step(model, batch)


def assert_same_step(result, expected, atol=1e-5):
    (losses, weights), (expected_losses, expected_weights) = result, expected
    assert losses.keys() == expected_losses.keys()
    for name in losses:
        np.testing.assert_allclose(losses[name], expected_losses[name], rtol=1e-5)
    for value, expected_value in zip(weights, expected_weights):
        np.testing.assert_allclose(value, expected_value, atol=atol)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_mirrored_step_matches_one_device_on_the_global_batch(jit_compile):
    batch = a_batch()
    with two_replicas().scope():
        model = ToyGAN(width=4)
        model.compile(jit_compile=jit_compile)
    initial = [v.numpy() for v in model.weights]
    result = one_step(model, batch)
    assert_same_step(result, reference_step(batch, initial))
    assert int(model.steps_trained.numpy()) == 1
    if jit_compile:
        assert all(getattr(net.call, "_jit_compile", False) for net in model.layers)


def test_xla_on_one_device_matches_the_plain_step():
    batch = a_batch()
    model = ToyGAN(width=4)
    initial = [v.numpy() for v in model.weights]
    model.compile(jit_compile=True)
    assert model.jit_compile
    assert_same_step(one_step(model, batch), reference_step(batch, initial))


def test_an_overflow_on_one_replica_skips_the_step_on_every_replica():
    keras.config.set_dtype_policy("mixed_float16")
    batch = a_batch()
    batch["image"] = tf.concat([batch["image"][:2], 1e5 * batch["image"][2:]], axis=0)  # fp16 inf
    with two_replicas().scope():
        model = ToyGAN(width=4)
        model.compile()
    discriminator = [v.numpy() for v in model.discriminator.weights]
    one_step(model, batch)
    optimizer = model.optimizers["discriminator"]
    assert float(optimizer.dynamic_scale.numpy()) == 2.0 ** 14  # halved from 2**15
    for before, variable in zip(discriminator, model.discriminator.weights):
        np.testing.assert_array_equal(variable.numpy(), before)
    assert int(model.optimizers["generator"].iterations.numpy()) == 1  # its step was finite


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_under_a_strategy_trains_with_float32_weights(policy):
    keras.config.set_dtype_policy(policy)
    with two_replicas().scope():
        model = ToyGAN(width=4)
        model.compile()
    losses, _ = one_step(model, a_batch())
    assert all(np.isfinite(value) for value in losses.values())
    assert all(v.dtype == "float32" for v in model.trainable_weights)
    scaled = policy == "mixed_float16"
    assert all(isinstance(opt, keras.optimizers.LossScaleOptimizer) == scaled
               for opt in model.optimizers.values())


WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    from keras_i2i.callbacks import TrainingCheckpoint
    from tests.toy_gan import ToyGAN, seeded_weights, toy_dataset

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = ToyGAN(width=4)
        model.compile()
    model.set_weights(seeded_weights(model))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = toy_dataset(batch_size=4, num=8).with_options(options)
    history = model.fit(data, epochs=1, verbose=0, callbacks=[TrainingCheckpoint(sys.argv[2])])
    np.savez(sys.argv[1], *[v.numpy() for v in model.weights])
    with open(sys.argv[1] + ".json", "w") as f:
        json.dump({k: v[-1] for k, v in history.history.items()}, f)
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_local_workers_finish_with_identical_weights(tmp_path):
    """Each worker trains two steps on its half of each global batch of four, with
    `TrainingCheckpoint` (which only the chief writes)."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}.npz"),
             str(tmp_path / "checkpoints")],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output[-3000:]
    first, second = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])
    losses = [json.loads((tmp_path / f"worker{i}.npz.json").read_text()) for i in range(2)]
    assert losses[0] == losses[1]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["ckpt-000000002"]

    model = ToyGAN(width=4)
    model.set_weights(seeded_weights(model))
    model.compile()
    expected = model.fit(toy_dataset(batch_size=4, num=8), epochs=1, verbose=0).history
    for name, value in losses[0].items():
        np.testing.assert_allclose(value, expected[name][-1], rtol=1e-5)
    for i, variable in enumerate(model.weights):
        np.testing.assert_allclose(first[f"arr_{i}"], variable.numpy(), atol=1e-5)


TINY_SPADE = dict(ngf=4, ndf=4, spade_hidden=8, image_size=(32, 32), num_D=1, n_layers_D=2,
                  norm_G="spectralspadeinstance3x3", lambda_vgg=0.0)


@pytest.mark.slow
def test_spade_mirrored_step_matches_one_device():
    """In float64: in float32, ReLU and hinge boundaries turn the different rounding of
    batch-4 and batch-2 convolutions into visibly different gradients for a few weights."""
    from keras_i2i.data import synthetic
    from keras_i2i.models.spade import SPADE

    keras.config.set_dtype_policy("float64")
    batch = next(iter(synthetic.scenes(4, size=32, batch_size=4, shuffle=False)))
    batch["image"] = tf.cast(batch["image"], "float64")

    def sgd():
        return {group: keras.optimizers.SGD(1e-2) for group in ("generator", "discriminator")}

    single = SPADE.from_preset("synthetic", **TINY_SPADE)
    initial = [v.numpy() for v in single.weights]
    single.compile(optimizers=sgd())
    expected = one_step(single, batch)
    with two_replicas().scope():
        mirrored = SPADE.from_preset("synthetic", **TINY_SPADE)
        mirrored.set_weights(initial)
        mirrored.compile(optimizers=sgd())
    assert_same_step(one_step(mirrored, batch), expected, atol=1e-12)
