"""pix2pixHD around the step: coarse-to-fine loading, the schedule callbacks, instance feature
clusters and their manipulation, SavedModel export."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.models.pix2pixhd import EpochLinearDecay, FixCoarseLevels, Pix2PixHD, kmeans
from keras_i2i.models.pix2pixhd.clustering import cluster_by_class, instance_features
from tests.models.test_pix2pixhd import TINY, _labels
from tests.testing import Interrupt, assert_signatures_shown, saved_model_cli_run

COARSE = dict(TINY, ngf=8, n_local_enhancers=0, num_D=1)


def _weights(layers):
    return [w.numpy().copy() for layer in layers for w in layer.weights]


def _changed(before, layers):
    return [not np.array_equal(b, a) for b, a in zip(before, _weights(layers))]


def test_load_coarse_model_copies_the_global_generator_encoder_and_scales():
    coarse, fine = Pix2PixHD(**COARSE), Pix2PixHD(**TINY)
    fine.load_coarse_model(coarse)
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 6)).astype("float32")
    source, target = coarse.generator.global_generator, fine.generator.global_generator
    h = x
    for block in source.front_end + source.residual_blocks + source.back_end[:-1]:
        h = block(h)
    np.testing.assert_allclose(target(x), h, atol=1e-6)
    # Coarse scale 0 (full resolution of the coarse model) is the fine model's scale 1.
    for a, b in zip(coarse.discriminator.scales[0], fine.discriminator.scales[1]):
        np.testing.assert_array_equal(a.conv.kernel.numpy(), b.conv.kernel.numpy())
    assert not np.allclose(fine.discriminator.scales[0][0].conv.kernel.numpy(),
                           coarse.discriminator.scales[0][0].conv.kernel.numpy())
    for a, b in zip(coarse.encoder.weights, fine.encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="fewer local enhancers than this one"):
        coarse.load_coarse_model(fine)
    with pytest.raises(ValueError, match=r"has shape \(7, 7, 6, 4\), .* here \(7, 7, 6, 8\)"):
        fine.load_coarse_model(Pix2PixHD(**dict(COARSE, ngf=4)))


def test_epoch_linear_decay_follows_the_reference_epochs():
    decay = EpochLinearDecay({"generator": 1.0, "discriminator": 2.0}, 2, 4)
    # epochs 1..6 of the reference: 1, 1, 1, 0.75, 0.5, 0.25
    assert [decay.learning_rates(epoch)["generator"] for epoch in range(6)] == [
        1, 1, 1, 0.75, 0.5, 0.25]
    assert decay.learning_rates(4)["discriminator"] == 1.0
    with pytest.raises(ValueError, match="decay_epochs >= 1"):
        EpochLinearDecay({"generator": 1.0}, 3, 0)


def test_epoch_linear_decay_refuses_optimizers_with_schedules():
    model = Pix2PixHD(**TINY)
    model.compile(learning_rate_schedule=lambda rate: keras.optimizers.schedules.ExponentialDecay(
        rate, 10, 0.5))
    decay = EpochLinearDecay({"generator": 1.0}, 2, 4)
    decay.set_model(model)
    with pytest.raises(ValueError, match="compile without learning_rate_schedule"):
        decay.on_epoch_begin(0)
    assert [type(c) for c in Pix2PixHD(**dict(TINY, niter_decay=0)).training_callbacks()] == []


def test_schedule_fixes_the_coarse_levels_then_trains_everything():
    """niter_fix_global=1 over 3 one-step epochs: epoch 1 trains only the enhancer, the
    encoder and the discriminator; then a fresh generator optimizer trains everything, and
    the rates decay linearly (niter 1, niter_decay 2)."""
    model = Pix2PixHD(**dict(TINY, niter=1, niter_decay=2, niter_fix_global=1))
    model.compile(jit_compile=False)
    callbacks = model.training_callbacks()
    assert [type(c) for c in callbacks] == [EpochLinearDecay, FixCoarseLevels]
    coarse = [model.generator.global_generator]
    fine = [model.generator.local_enhancers[0], model.encoder, model.discriminator]
    record = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            record.append({
                "coarse": _changed(start_coarse, coarse), "fine": _changed(start_fine, fine),
                "g_iterations": int(model.optimizers["generator"].iterations.numpy()),
                "d_iterations": int(model.optimizers["discriminator"].iterations.numpy()),
                "lr": float(model.optimizers["generator"].learning_rate.numpy()),
            })

    start_coarse, start_fine = _weights(coarse), _weights(fine)
    data = tf.data.Dataset.from_tensors(_labels())
    model.fit(data, epochs=3, verbose=0, callbacks=callbacks + [Record()])
    assert not any(record[0]["coarse"]) and all(record[0]["fine"])
    assert all(record[1]["coarse"])
    assert [r["g_iterations"] for r in record] == [1, 1, 2]  # restarted at the switch
    assert [r["d_iterations"] for r in record] == [1, 2, 3]
    np.testing.assert_allclose([r["lr"] for r in record], [2e-4, 2e-4, 1e-4], rtol=1e-6)
    assert model.generator.global_generator.trainable  # released after fit


def test_fixed_levels_need_a_local_enhancer():
    with pytest.raises(ValueError, match="niter_fix_global needs a local enhancer"):
        Pix2PixHD(**dict(COARSE, niter_fix_global=2))


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    points = np.concatenate([c + 0.1 * rng.normal(size=(50, 2)) for c in centers])
    found = kmeans(points, 3, seed=1)
    order = np.argsort(found[:, 0] + 10 * found[:, 1])
    np.testing.assert_allclose(found[order], centers[[0, 2, 1]], atol=0.05)
    assert kmeans(points[:2], 10).shape == (2, 2)  # min(n_clusters, points)
    np.testing.assert_array_equal(kmeans(points, 3, seed=1), found)
    with pytest.raises(ValueError, match="non-empty"):
        kmeans(np.zeros((0, 2)), 3)


def test_instance_features_keep_large_instances_with_their_class():
    label = np.zeros((1, 8, 8, 1), np.int32)
    label[0, :, 4:] = 2
    instance = label * 1000
    instance[0, 0, 0] = 7  # one pixel: too small to keep
    features = np.broadcast_to(instance.astype("float32"), (1, 8, 8, 2))
    vectors, classes = instance_features(features, label, instance)
    np.testing.assert_array_equal(classes, [0, 2])
    np.testing.assert_array_equal(vectors, [[0, 0], [2000, 2000]])
    centers, counts = cluster_by_class(vectors, classes, 3, n_clusters=4)
    np.testing.assert_array_equal(counts, [1, 0, 1])
    np.testing.assert_array_equal(centers[2, 0], [2000, 2000])


def test_clusters_pick_features_per_instance():
    model = Pix2PixHD(**TINY)
    data = _labels()
    with pytest.raises(ValueError, match="No clusters for these label maps"):
        model.choose_clusters(data["label"], data["instance"])
    counts = model.cluster_features(tf.data.Dataset.from_tensors(data))
    assert counts.sum() > 0 and all(counts <= model.n_clusters)
    index = model.choose_clusters(data["label"], data["instance"]).numpy()
    features = model.features_from_clusters(data["label"], index).numpy()
    centers = model.cluster_centers.numpy()
    for b in range(2):
        for instance_id in np.unique(data["instance"][b]):
            pixels = data["instance"][b, ..., 0] == instance_id
            assert len(np.unique(index[b][pixels])) == 1
            cls, cluster = data["label"][b][pixels][0, 0], index[b][pixels][0, 0]
            assert 0 <= cluster < counts[cls]
            np.testing.assert_array_equal(features[b][pixels],
                                          np.tile(centers[cls, cluster], (pixels.sum(), 1)))
    seeds = [model.choose_clusters(data["label"], data["instance"], seed=s).numpy()
             for s in range(8)]
    assert any(not np.array_equal(seeds[0], other) for other in seeds[1:])
    # Change one instance's cluster, keep the others: only its pixels change.
    target = int(data["instance"][0, 0, 0, 0])
    cls = target // 1000
    other = (int(index[0, 0, 0, 0]) + 1) % counts[cls]
    edited = model.choose_clusters(data["label"], data["instance"], {target: other}).numpy()
    np.testing.assert_array_equal((edited != index)[..., 0], data["instance"][..., 0] == target)
    before = model({**data, "cluster_index": index}).numpy()
    after = model({**data, "cluster_index": edited}).numpy()
    assert not np.allclose(before, after)
    inputs = {"label": data["label"], "instance": data["instance"]}
    np.testing.assert_allclose(model(inputs), before, atol=1e-6)  # stored clusters, seed 0
    with pytest.raises(ValueError, match=f"instance {target} has {counts[cls]} clusters"):
        model.choose_clusters(data["label"], data["instance"], {target: 99})


def test_features_come_from_the_given_source():
    model = Pix2PixHD(**TINY)
    data = _labels()
    encoded = model.encode_features(data["image"], data["instance"])
    np.testing.assert_allclose(model(data), model({**data, "features": encoded}), atol=1e-6)
    no_clusters = model({**data, "cluster_index": np.zeros_like(data["label"])})
    np.testing.assert_allclose(
        no_clusters, model({**data, "features": np.zeros_like(encoded)}), atol=1e-6)
    columns = model.sample_columns(data)
    np.testing.assert_allclose(columns["output"], model(data), atol=1e-6)
    assert columns["input"] is data["label"] and columns["target"] is data["image"]


def test_served_translate_refuses_to_pick_clusters_before_there_are_any():
    """The served `translate`, traced as exported, refuses label maps whose classes have no
    stored clusters (the eager model does: zero features would be a silently wrong image),
    and once clustered gives the Keras model's image."""
    from keras_i2i.export import check_inputs

    model = Pix2PixHD(**TINY)
    data = _labels()
    inputs = {"label": data["label"], "instance": data["instance"]}
    endpoint, signature = model.serving_endpoints()["translate"]
    translate = tf.function(lambda *tensors: endpoint(*check_inputs(signature, tensors)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label: no stored clusters"):
        translate(*inputs.values())
    with pytest.raises(ValueError, match="No clusters for these label maps"):
        model(inputs)
    model.cluster_features(tf.data.Dataset.from_tensors(data))
    np.testing.assert_allclose(translate(*inputs.values())["image"], model(inputs), atol=1e-5)


@pytest.mark.parametrize("cli", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "and-saved_model_cli"])
def test_export_serves_every_feature_source_in_a_fresh_process(tmp_path, cli):
    model = Pix2PixHD(**TINY)
    data = _labels()
    model.cluster_features(tf.data.Dataset.from_tensors(data))
    inputs = {"label": data["label"], "instance": data["instance"]}
    index = model.choose_clusters(data["label"], data["instance"], seed=1).numpy()
    features = model.encode_features(data["image"], data["instance"]).numpy()
    expected = {
        "translate": model(inputs).numpy(),
        "translate_features": model({**inputs, "features": features}).numpy(),
        "translate_clusters": model({**inputs, "cluster_index": index}).numpy(),
        "translate_encoded": model(data).numpy(),
    }
    model.export(tmp_path / "served", verbose=False)
    np.savez(tmp_path / "inputs.npz", features=features, cluster_index=index, **data)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(tmp_path / "served")!r})
        x = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        base = dict(label=x["label"], instance=x["instance"])
        extra = {{"translate_features": "features", "translate_clusters": "cluster_index",
                  "translate_encoded": "image"}}
        out = {{name: served.signatures[name](**base, **{{key: x[key]}})["image"].numpy()
               for name, key in extra.items()}}
        out["translate"] = served.signatures["serving_default"](**base)["image"].numpy()
        np.savez({str(tmp_path / "outputs.npz")!r}, **out)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    outputs = np.load(tmp_path / "outputs.npz")
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, atol=1e-5, err_msg=name)
    if cli:
        assert_signatures_shown(tmp_path / "served", model)
        out = saved_model_cli_run(tmp_path / "served", "translate", inputs, tmp_path)
        np.testing.assert_allclose(out["image"], expected["translate"], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("interrupted_at", [2, 3])
def test_resumed_schedule_continues_like_an_uninterrupted_run(tmp_path, interrupted_at):
    """Two steps an epoch, coarse levels fixed for epoch 1: interrupted at the end of it
    (resumed at the switch) or within the switch epoch, the run ends as an uninterrupted one
    (the generator's optimizer restarted exactly once)."""
    from keras_i2i.callbacks import TrainingCheckpoint

    data = tf.data.Dataset.from_tensors(_labels()).repeat(2)

    def run(callbacks=()):
        keras.utils.set_random_seed(0)
        model = Pix2PixHD(**dict(TINY, niter=1, niter_decay=2, niter_fix_global=1))
        model.compile(jit_compile=False)
        model.fit(data, epochs=3, verbose=0,
                  callbacks=[*callbacks[:1], *model.training_callbacks(), *callbacks[1:]])
        return model

    expected = run()
    with pytest.raises(KeyboardInterrupt):
        run([TrainingCheckpoint(tmp_path, every=1, verbose=0), Interrupt(interrupted_at)])
    resumed = run([TrainingCheckpoint(tmp_path, every=1, verbose=0)])
    assert int(resumed.steps_trained.numpy()) == 6
    for group, optimizer in expected.optimizers.items():
        for a, b in zip(optimizer.variables, resumed.optimizers[group].variables):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6, err_msg=a.path)
    for a, b in zip(expected.weights, resumed.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5, err_msg=a.path)


@pytest.mark.slow
def test_mirrored_step_matches_one_device():
    """One step on two replicas (two logical CPUs, conftest) equals one step on the global
    batch of four, in float64 with SGD so that nothing but summation order differs."""
    from tests.toy_gan import two_replicas

    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs two logical CPU devices (tests/conftest.py)")
    keras.config.set_dtype_policy("float64")
    batch = {**_labels(batch=4)}
    batch["image"] = batch["image"].astype("float64")
    data = tf.data.Dataset.from_tensors(batch)

    def sgd():
        return {group: keras.optimizers.SGD(1e-2) for group in ("generator", "discriminator")}

    def step(model):
        history = model.fit(data, epochs=1, verbose=0)
        return {name: values[0] for name, values in history.history.items()}, model.weights

    single = Pix2PixHD(**TINY)
    initial = [v.numpy() for v in single.weights]
    single.compile(optimizers=sgd(), jit_compile=False)
    expected_losses, expected_weights = step(single)
    with two_replicas().scope():
        mirrored = Pix2PixHD(**TINY)
        mirrored.set_weights(initial)
        mirrored.compile(optimizers=sgd(), jit_compile=False)
    losses, weights = step(mirrored)
    for name, value in expected_losses.items():
        np.testing.assert_allclose(losses[name], value, rtol=1e-6, err_msg=name)
    for a, b in zip(expected_weights, weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9, err_msg=a.path)
