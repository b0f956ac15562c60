"""The shared GAN base: presets, compile, gradient steps, loss logging and export."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.testing import assert_signatures_shown
from tests.toy_gan import ToyGAN, toy_dataset


def test_from_preset_builds_the_named_configuration():
    model = ToyGAN.from_preset("wide")
    assert model.width == 8
    assert model.built and model.generator.built and model.discriminator.built
    assert ToyGAN.presets() == {"tiny": "Four channels.", "wide": "Eight channels."}
    assert ToyGAN.from_preset("tiny", width=6).width == 6


def test_unknown_preset_lists_the_known_names():
    with pytest.raises(ValueError, match=r"Unknown preset 'huge'.*tiny, wide"):
        ToyGAN.from_preset("huge")


def test_get_config_returns_the_constructor_arguments():
    config = ToyGAN(width=5, learning_rate=0.5).get_config()
    assert config["width"] == 5 and config["learning_rate"] == 0.5
    assert ToyGAN.from_config(config).width == 5


def test_save_to_preset_round_trip(tmp_path):
    model = ToyGAN.from_preset("tiny")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 8, 8, 3)).astype("float32")
    model.save_to_preset(tmp_path / "preset", metadata={"trained_on": "noise"})
    assert sorted(p.name for p in (tmp_path / "preset").iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["trained_on"] == "noise" and metadata["model"] == "ToyGAN"
    restored = ToyGAN.from_preset(tmp_path / "preset")
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    fresh = ToyGAN.from_preset(tmp_path / "preset", load_weights=False)
    assert not np.allclose(fresh(x), model(x), atol=1e-3)


def test_preset_folder_of_another_class_is_refused(tmp_path):
    class Other(ToyGAN):
        pass

    ToyGAN(width=4).save_to_preset(tmp_path)
    with pytest.raises(ValueError, match="holds a ToyGAN, expected Other"):
        Other.from_preset(tmp_path)


def test_bad_preset_config_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not a readable preset config"):
        ToyGAN.from_preset(tmp_path)


def test_fit_updates_both_groups_and_logs_every_loss():
    model = ToyGAN(width=4)
    model.compile()
    before_g = [v.numpy().copy() for v in model.generator.trainable_variables]
    before_d = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    history = model.fit(toy_dataset(), epochs=1, verbose=0)
    assert set(history.history) == {"g_loss", "d_loss"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    for before, variables in ((before_g, model.generator), (before_d, model.discriminator)):
        assert all(not np.allclose(b, v.numpy()) for b, v in zip(before,
                                                                 variables.trainable_variables))
    assert int(model.optimizers["generator"].iterations) == 2


def test_compile_refuses_a_loss_and_unknown_groups():
    model = ToyGAN()
    with pytest.raises(ValueError, match="takes no `loss`"):
        model.compile(loss="mse")
    with pytest.raises(ValueError, match=r"Unknown optimizer groups \['encoder'\]"):
        model.compile(optimizers={"encoder": keras.optimizers.Adam()})


def test_mixed_precision_wraps_every_optimizer_in_loss_scaling():
    keras.config.set_dtype_policy("mixed_float16")
    model = ToyGAN(width=4)
    model.compile()
    assert all(isinstance(opt, keras.optimizers.LossScaleOptimizer)
               for opt in model.optimizers.values())
    history = model.fit(toy_dataset(), epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())


def test_export_serves_named_signature_in_a_fresh_process(tmp_path):
    model = ToyGAN(width=4)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 8, 8, 3)).astype("float32")
    expected = model(x).numpy()
    model.export(tmp_path / "served", verbose=False)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "served")!r})
        serve = loaded.signatures["serving_default"]
        out = serve(input_image=tf.constant(np.load({str(tmp_path / "x.npy")!r})))
        np.save({str(tmp_path / "y.npy")!r}, out["image"].numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)
    assert_signatures_shown(tmp_path / "served", model)


def test_keras_file_round_trip_restores_outputs_and_every_optimizer(tmp_path):
    model = ToyGAN(width=4)
    model.compile()
    model.fit(toy_dataset(), epochs=1, verbose=0)
    model.save(tmp_path / "toy.keras")
    restored = keras.saving.load_model(tmp_path / "toy.keras")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    assert int(restored.steps_trained.numpy()) == 2
    for group, optimizer in model.optimizers.items():
        for saved, loaded in zip(optimizer.variables, restored.optimizers[group].variables):
            np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    assert restored.optimizer is None
    restored.fit(toy_dataset(), epochs=1, verbose=0)
    assert int(restored.optimizers["generator"].iterations.numpy()) == 4
