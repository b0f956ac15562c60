import sys

import keras
import numpy as np
import pytest

from keras_i2i.convert import common
from keras_i2i.layers import AdaptiveInstanceNorm, BatchNorm, LayerNorm

rng = np.random.default_rng(6)


def test_load_state_dict_from_npz_with_prefix(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, **{"discriminator/a.weight": np.ones((2, 3)), "generator/b.bias": np.zeros(2)})
    state = common.load_state_dict(path, prefix="discriminator/")
    assert list(state) == ["a.weight"] and state["a.weight"].shape == (2, 3)


def test_load_state_dict_flattens_nested_checkpoints():
    state = common.load_state_dict(
        {"a": {"x.weight": [1.0]}, "b": {"x.weight": [2.0]}}, prefix="b/"
    )
    np.testing.assert_array_equal(state["x.weight"], [2.0])


def test_load_state_dict_names_the_torch_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"keras-i2i\[torch\]"):
        common.load_state_dict(tmp_path / "model.pth")
    with pytest.raises(ValueError, match="expected a .pth, .pt or .npz"):
        common.load_state_dict(tmp_path / "model.bin")


def test_reference_checkpoint_files_from_a_folder_or_the_generator_file(tmp_path):
    for name in ("latest_net_G.pth", "latest_net_D.pth", "20_net_G.pth"):
        (tmp_path / name).write_bytes(b"")
    epoch, files = common.reference_checkpoint_files(tmp_path)
    assert epoch == "latest" and files == {"G": tmp_path / "latest_net_G.pth",
                                           "D": tmp_path / "latest_net_D.pth"}
    epoch, files = common.reference_checkpoint_files(tmp_path / "20_net_G.pth")
    assert epoch == "20" and files == {"G": tmp_path / "20_net_G.pth"}
    with pytest.raises(FileNotFoundError, match="7_net_G.pth: no generator checkpoint"):
        common.reference_checkpoint_files(tmp_path, epoch=7)
    (tmp_path / "weights.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a <epoch>_net_G.pth file or its folder"):
        common.reference_checkpoint_files(tmp_path / "weights.pth")


def test_weight_mapper_dense_and_norms():
    dense = keras.layers.Dense(3)
    dense.build((None, 5))
    batch_norm, layer_norm, adain = BatchNorm(), LayerNorm(), AdaptiveInstanceNorm()
    batch_norm.build((None, 4, 4, 3))
    layer_norm.build((None, 4, 4, 3))
    state = {
        "fc.weight": rng.normal(size=(3, 5)),
        "fc.bias": rng.normal(size=3),
        "bn.weight": rng.normal(size=3),
        "bn.bias": rng.normal(size=3),
        "bn.running_mean": rng.normal(size=3),
        "bn.running_var": rng.uniform(size=3),
        "bn.num_batches_tracked": np.array(7),
        "ln.gamma": rng.normal(size=3),
        "ln.beta": rng.normal(size=3),
        "adain.running_mean": np.zeros(3),
        "adain.running_var": np.ones(3),
    }
    mapper = common.WeightMapper(state)
    mapper.dense(dense, "fc")
    mapper.norm(batch_norm, "bn")
    mapper.norm(layer_norm, "ln")
    mapper.norm(adain, "adain")
    mapper.finish()
    np.testing.assert_allclose(dense.kernel, state["fc.weight"].T, rtol=1e-6)
    np.testing.assert_allclose(batch_norm.moving_variance, state["bn.running_var"], rtol=1e-6)
    np.testing.assert_allclose(layer_norm.gamma, state["ln.gamma"], rtol=1e-6)


def test_spectral_v_reorders_flattening():
    v = np.arange(2 * 3 * 3)
    np.testing.assert_array_equal(
        common.spectral_v(v, 3, 2), np.transpose(v.reshape(2, 3, 3), (1, 2, 0)).ravel()
    )
