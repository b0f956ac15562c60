"""Timing the models on the machine at hand (`keras_i2i.speed`): the random batches the
benchmarks train on, and `keras-i2i tune-routes`, which chooses the convolution routes; the
routes give every model its plain values."""

import json

import keras
import numpy as np
import pytest

import keras_i2i
from keras_i2i import cli, speed
from keras_i2i.layers import conv_routes


@pytest.mark.parametrize("name", ["MDMM", "INIT", "Vid2Vid", "Pix2PixHD"])
def test_random_batches_are_what_the_models_train_on(name):
    """`speed.random_batch` for the models whose batches differ from SPADE's: one eager
    training step and inference of the synthetic preset run on them."""
    features = {"instance_feat": False} if name == "Pix2PixHD" else {}  # as label2city_512p
    model = getattr(keras_i2i, name).from_preset("synthetic", **features)
    model.compile(run_eagerly=True)
    size = (model.crop_size,) * 2 if name == "MDMM" else (64, 64)
    batch, inputs = speed.random_batch(model, size, 1)
    logs = model.train_on_batch(batch, return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())
    outputs = model.predict_on_batch(inputs)
    first = next(iter(outputs.values())) if isinstance(outputs, dict) else outputs
    assert first.shape[0] == 1 and first.shape[-3:-1] == size


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_I2I_CACHE", str(tmp_path))
    monkeypatch.delenv(conv_routes.SWITCH, raising=False)
    conv_routes.measured_choice.cache_clear()
    yield tmp_path
    conv_routes.measured_choice.cache_clear()


def test_tune_routes_measures_both_and_records_the_choice(monkeypatch, capsys, fresh_cache):
    """`keras-i2i tune-routes` compiles one model with the routes and one without (each
    convolution traced under its forcing), times both, prints and records the choice for
    this machine; the layers then follow it."""
    forcing = []
    convolve = conv_routes.convolve
    monkeypatch.setattr(conv_routes, "convolve", lambda *args: forcing.append(
        conv_routes._forced.value) or convolve(*args))
    assert cli.main(["tune-routes", "--size", "64", "--width", "4", "--steps", "1"]) == 0
    assert forcing and all(forcing), "the routes ran in the model compiled without them"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "compiling pix2pixhd with the convolution routes"
    assert lines[-3].startswith("Training step: ") and lines[-2].startswith("Inference: ")
    saved = json.loads((fresh_cache / conv_routes.CHOICES_FILE).read_text())
    choice = saved[conv_routes.machine_key()]
    assert (choice["model"], choice["size"], choice["width"]) == ("pix2pixhd", [64, 64], 4)
    for phase in conv_routes.PHASES:
        figures = choice[f"{phase}_s"]
        assert figures["routes"] > 0 and figures["plain"] > 0
        assert choice[phase] == (figures["routes"] <= speed.ROUTES_MARGIN * figures["plain"])
        assert f"routes {'on' if choice[phase] else 'off'}." in lines[-3 + (phase == "infer")]
    assert conv_routes.enabled(True) is choice["train"]
    assert conv_routes.enabled(False) is choice["infer"]


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope"], "--model nope: expected one of spade, pix2pixhd"),
    (["--steps", "0"], "--steps 0: expected a positive number"),
    (["--width", "0"], "--width 0: expected a positive number"),
    (["--model", "drit", "--size", "64"], "212"),
])
def test_tune_routes_refuses_bad_options_in_one_line(capsys, fresh_cache, argv, message):
    assert cli.main(["tune-routes", "--width", "4", *argv]) == 1  # the last --width wins
    error = capsys.readouterr().err
    assert error.startswith("keras-i2i: error: ") and message in error
    assert not (fresh_cache / conv_routes.CHOICES_FILE).exists()


def _trained(name, routes, batch, inputs):
    """The synthetic preset of `name` in graph mode with the routes or without (XLA's are
    tested layer by layer): its images for `inputs`, and the losses of a second training step
    on `batch`."""
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    model = getattr(keras_i2i, name).from_preset("synthetic")
    model.compile(jit_compile=False)
    with conv_routes.forced(routes):
        images = model.predict_on_batch(inputs)
        model.train_on_batch(batch)
        logs = model.train_on_batch(batch, return_dict=True)
    return images, logs


@pytest.mark.parametrize("name", ["SPADE", "Pix2PixHD"])  # deterministic images
def test_the_routes_give_the_models_their_plain_values(name):
    """A model with the convolution routes gives the images and the losses (after a step
    whose gradients took them) of the model without."""
    model = getattr(keras_i2i, name).from_preset("synthetic")
    batch, inputs = speed.random_batch(model, (64, 64), 1)
    with_routes, plain = (_trained(name, routes, batch, inputs) for routes in (True, False))
    for got, expected in zip(keras.tree.flatten(with_routes[0]), keras.tree.flatten(plain[0])):
        np.testing.assert_allclose(got, expected, atol=1e-4)
    assert with_routes[1].keys() == plain[1].keys()
    for key, value in plain[1].items():
        np.testing.assert_allclose(with_routes[1][key], value, rtol=1e-3, atol=1e-5,
                                   err_msg=key)


def test_a_bad_routes_switch_stops_a_command_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv(conv_routes.SWITCH, "maybe")
    assert cli.main(["presets"]) == 1
    assert capsys.readouterr().err == (
        "keras-i2i: error: KERAS_I2I_CONV_ROUTES must be 'on' or 'off' (or unset: as "
        "`keras-i2i tune-routes` measured on this machine), got 'maybe'\n")
