"""The same model, weights and batch: one training step under JAX gives the weights, optimizer
states and losses that one step under TensorFlow gives."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_i2i.data import synthetic
from tests.backend_step import result, run_step

pytest.importorskip("jax", reason="the JAX backend needs `pip install jax` (the dev extra)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RNG = np.random.default_rng(0)
# Random 64x64 label and instance maps. SPADE's head is 1/32 of the image: at 32x32 its norms
# would normalize one pixel per sample, and the batch norm of 2 samples whose labels agree
# there has zero variance and gradients of rounding noise alone (8 instead of 1e-3 seen).
SCENES = {"label": _RNG.integers(0, synthetic.NUM_CLASSES, (2, 64, 64, 1)).astype("int32"),
          "instance": _RNG.integers(0, 4, (2, 64, 64, 1)).astype("int32"),
          "image": _RNG.uniform(-1, 1, (2, 64, 64, 3)).astype("float32")}
DOMAINS = next(iter(synthetic.unpaired(2, size=64, batch_size=2, shuffle=False)))
CASES = {
    "spade": ("SPADE", dict(label_nc=synthetic.NUM_CLASSES, image_size=(64, 64), ngf=8, ndf=8,
                            spade_hidden=8, n_layers_D=2, lambda_vgg=0.0), SCENES),
    "spade_vae_syncbatch": ("SPADE", dict(
        label_nc=synthetic.NUM_CLASSES, image_size=(64, 64), ngf=8, ndf=8, spade_hidden=8,
        n_layers_D=2, lambda_vgg=0.0, use_vae=True, z_dim=4), SCENES),
    "pix2pixhd": ("Pix2PixHD", dict(
        label_nc=synthetic.NUM_CLASSES, instance_feat=True, nef=4, n_downsample_E=2, ngf=8,
        n_downsample_global=2, n_blocks_global=1, ndf=8, n_layers_D=1, lambda_vgg=0.0),
        SCENES),
    "munit": ("MUNIT", dict(dim=8, mlp_dim=16, n_res=1, dis_dim=8, dis_n_layer=2,
                            dis_num_scales=2, recon_x_cyc_weight=1.0), DOMAINS),
}


def case_arrays(name, seed=0):
    """The step's model, weights (drawn from `seed`) and batch as `tests.backend_step` reads
    them."""
    import keras
    import keras_i2i

    keras.utils.set_random_seed(seed)
    class_name, config, batch = CASES[name]
    model = getattr(keras_i2i, class_name)(**config)
    arrays = {"model": np.array(class_name), "config": np.array(json.dumps(config)),
              "sgd": np.array(1e-3)}
    arrays.update({f"weight/{i}": w for i, w in enumerate(model.get_weights())})
    arrays.update({f"batch/{key}": np.asarray(value) for key, value in batch.items()})
    return arrays


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_step_under_jax_equals_one_step_under_tensorflow(name, tmp_path):
    case = case_arrays(name)
    np.savez(tmp_path / "case.npz", **case)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT,
           "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "tests.backend_step", tmp_path / "case.npz",
                           tmp_path / "jax.npz"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = result(*run_step(case))
    with np.load(tmp_path / "jax.npz") as jax_result:
        assert sorted(jax_result.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(jax_result[key], value, rtol=1e-4, atol=1e-5,
                                       err_msg=key)
    moved = [key for key in case if key.startswith("weight/")
             and not np.array_equal(case[key], expected[key])]
    assert len(moved) > len(case) // 4  # a step was taken
