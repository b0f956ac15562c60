"""Shared fixtures: the `../shared` test vectors and data, and a clean Keras state per test."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tempfile

# The tests run as on a machine where nothing was measured or cached: a fresh cache (no
# measurement of the convolution routes, so the layers convolve plainly unless a test or
# KERAS_I2I_CONV_ROUTES turns the routes on; no demo models).
os.environ["KERAS_I2I_CACHE"] = tempfile.mkdtemp(prefix="keras_i2i_tests_")

import gc
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_i2i  # noqa: F401  (with TensorFlow and Keras, before gc.freeze below)

# Two logical CPUs, so that tf.distribute tests can mirror over two devices in-process. This
# must run before TensorFlow initializes its devices; other code still sees one default device.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"

# Every test's clear_session collects garbage, and a collection walks every object Python
# tracks: the ~400,000 that importing TensorFlow, Keras and the package makes took 2 CPU
# seconds a collection, most of a small test's time. They live as long as the process:
# frozen, collections skip them.
gc.freeze()


@pytest.fixture
def shared_dir():
    """`../shared` beside the checkout; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared test vectors and data samples are not here")
    return SHARED


@pytest.fixture
def reference(shared_dir):
    """Loader for a reference test vector: `reference("munit_small.npz")` -> dict of arrays."""

    def load(name):
        path = shared_dir / "reference" / name
        if not path.is_file():
            pytest.skip(f"reference vector {path} is absent")
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}

    return load


@pytest.fixture(autouse=True)
def clean_keras_state():
    """Every test starts with float32 policy and a fresh name scope, and restores it."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session()
    yield
    keras.config.set_dtype_policy("float32")
