"""SavedModel export: served inputs are checked in the graph, with messages saying what was
expected, through the signatures and through the loaded object's endpoint attributes."""

import numpy as np
import pytest
import tensorflow as tf

from keras_i2i.export import (
    ServingInput,
    check_ids,
    check_size,
    check_size_multiple,
    export_saved_model,
    spatial_input,
)
from keras_i2i.models.munit import MUNIT
from keras_i2i.models.pix2pixhd import Pix2PixHD
from keras_i2i.models.spade import SPADE
from tests.toy_gan import ToyGAN

SPADE_TINY = dict(label_nc=3, image_size=(32, 32), ngf=4, ndf=4, spade_hidden=8, lambda_vgg=0.0)
PIX2PIXHD_TINY = dict(label_nc=3, instance_feat=True, feat_num=2, nef=4, n_downsample_E=1, ngf=4,
                      n_downsample_global=2, n_blocks_global=1, n_local_enhancers=1,
                      n_blocks_local=1, ndf=4, n_layers_D=2, num_D=1, lambda_vgg=0.0)
MUNIT_TINY = dict(dim=4, style_dim=3, mlp_dim=8, n_res=1, dis_dim=4, dis_n_layer=2,
                  dis_num_scales=2)

rng = np.random.default_rng(4)


def _ids(*shape, high=3):
    return rng.integers(0, high, shape).astype("int32")


def _floats(*shape):
    return rng.uniform(-1, 1, shape).astype("float32")


def _export(model, tmp_path_factory):
    path = tmp_path_factory.mktemp(type(model).__name__) / "served"
    model.export(path, verbose=False)
    return tf.saved_model.load(str(path))


def _serve(served, endpoint, **inputs):
    """The endpoint's outputs through its signature, checked equal to its attribute's."""
    by_signature = served.signatures[endpoint](**inputs)
    by_attribute = getattr(served, endpoint)(**inputs)
    for name, value in by_signature.items():
        np.testing.assert_array_equal(by_attribute[name], value, err_msg=name)
    return by_signature


def _assert_rejected(served, endpoint, message, **inputs):
    """Both ways of calling the endpoint raise `InvalidArgumentError` matching `message`."""
    for call in (served.signatures[endpoint], getattr(served, endpoint)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(**inputs)


# ------------------------------------------------------------------ the shared checks


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """A SavedModel whose endpoints run the shared checks and return their inputs."""
    maps = [spatial_input("label", 1, tf.int32), spatial_input("instance", 1, tf.int32),
            ServingInput("z", ("B", 2))]
    image = [spatial_input("image", 3)]
    endpoints = {
        "maps": (lambda label, instance, z: {
            "label": check_ids(label, "label", 3, "label_nc 3"), "z": z}, maps),
        "multiple": (lambda image: {
            "image": check_size_multiple(image, "image", 8, "a reason")}, image),
        "size": (lambda image: {"image": check_size(image, "image", (8, 16), "a reason")}, image),
    }
    path = tmp_path_factory.mktemp("checks") / "served"
    export_saved_model(ToyGAN(width=4), path, endpoints, verbose=False)
    return tf.saved_model.load(str(path))


def test_good_inputs_pass_the_checks_unchanged(checks):
    label, z = _ids(2, 8, 16, 1), _floats(2, 2)
    out = _serve(checks, "maps", label=label, instance=label, z=z)
    np.testing.assert_array_equal(out["label"], label)
    np.testing.assert_array_equal(out["z"], z)
    image = _floats(1, 8, 16, 3)
    np.testing.assert_array_equal(_serve(checks, "multiple", image=image)["image"], image)
    np.testing.assert_array_equal(_serve(checks, "size", image=image)["image"], image)


@pytest.mark.parametrize("inputs, message", [
    pytest.param(dict(label=_ids(2, 8, 8), instance=_ids(2, 8, 8, 1)),
                 r"label must be a rank-4 tensor \(B, H, W, 1\), got shape \[2 8 8\]", id="rank"),
    pytest.param(dict(label=_ids(2, 8, 8, 1), instance=_ids(2, 8, 8, 2)),
                 r"instance must be a rank-4 tensor \(B, H, W, 1\), got shape \[2 8 8 2\]",
                 id="channels"),
    pytest.param(dict(label=_ids(2, 8, 8, 1), instance=_ids(2, 8, 16, 1)),
                 r"label and instance must have the same batch size, height and width, got "
                 r"shapes \[2 8 8 1\] and \[2 8 16 1\]", id="map-sizes"),
    pytest.param(dict(label=_ids(2, 8, 8, 1), instance=_ids(2, 8, 8, 1), z=_floats(3, 2)),
                 r"label and z must have the same batch size, got shapes \[2 8 8 1\] and \[3 2\]",
                 id="z-batch"),
    pytest.param(dict(label=_ids(2, 8, 8, 1), instance=_ids(2, 8, 8, 1), z=_floats(2, 5)),
                 r"z must be a rank-2 tensor \(B, 2\), got shape \[2 5\]", id="z-length"),
    pytest.param(dict(label=_ids(2, 8, 8, 1, high=5), instance=_ids(2, 8, 8, 1)),
                 r"label: ids must be in 0\.\.2 \(label_nc 3\), got ids 0\.\.4", id="ids-high"),
    pytest.param(dict(label=np.full((2, 8, 8, 1), -1, "int32"), instance=_ids(2, 8, 8, 1)),
                 r"label: ids must be in 0\.\.2 \(label_nc 3\), got ids -1\.\.-1",
                 id="ids-negative"),
])
def test_bad_maps_are_rejected_with_what_was_expected(checks, inputs, message):
    _assert_rejected(checks, "maps", message, **{"z": _floats(2, 2), **inputs})


def test_bad_sizes_are_rejected_with_what_was_expected(checks):
    image = _floats(1, 12, 16, 3)
    _assert_rejected(checks, "multiple", r"image: height and width must be multiples of 8 "
                     r"\(a reason\), got 12x16", image=image)
    _assert_rejected(checks, "size", r"image: height and width must be 8x16 \(a reason\), "
                     r"got 12x16", image=image)


def test_a_tensor_spec_input_is_checked_and_export_is_silent(tmp_path, capfd):
    model = ToyGAN(width=4)
    capfd.readouterr()
    model.export(tmp_path / "toy", verbose=False)
    assert capfd.readouterr() == ("", "")
    served = tf.saved_model.load(str(tmp_path / "toy"))
    x = _floats(1, 8, 8, 3)
    np.testing.assert_allclose(_serve(served, "translate", input_image=x)["image"], model(x),
                               atol=1e-6)
    _assert_rejected(served, "translate", r"input_image must be a rank-4 tensor "
                     r"\(None, None, None, 3\), got shape \[1 8 8\]", input_image=x[..., 0])


# ------------------------------------------------------------------ every model's endpoints


@pytest.fixture(scope="module")
def spade(tmp_path_factory):
    model = SPADE(**SPADE_TINY)
    return model, _export(model, tmp_path_factory)


@pytest.fixture(scope="module")
def spade_vae(tmp_path_factory):
    model = SPADE(**SPADE_TINY, use_vae=True, z_dim=8)
    return model, _export(model, tmp_path_factory)


@pytest.fixture(scope="module")
def pix2pixhd(tmp_path_factory):
    model = Pix2PixHD(**PIX2PIXHD_TINY)
    return model, _export(model, tmp_path_factory)


@pytest.fixture(scope="module")
def pix2pixhd_padded(tmp_path_factory):
    model = Pix2PixHD(**PIX2PIXHD_TINY, pad_inputs=True)
    return model, _export(model, tmp_path_factory)


@pytest.fixture(scope="module")
def munit(tmp_path_factory):
    model = MUNIT(**MUNIT_TINY)
    return model, _export(model, tmp_path_factory)


@pytest.mark.slow
def test_spade_serves_the_keras_image_and_rejects_bad_maps(spade):
    model, served = spade
    label, instance = _ids(2, 64, 32, 1), _ids(2, 64, 32, 1)
    image = _serve(served, "translate", label=label, instance=instance)["image"]
    np.testing.assert_allclose(image, model({"label": label, "instance": instance}), atol=1e-5)
    _assert_rejected(served, "translate", r"label: ids must be in 0\.\.2 \(label_nc 3\), got "
                     r"ids 1\.\.3", label=label + 1, instance=instance)
    _assert_rejected(served, "translate", r"label: height and width must be multiples of 32 "
                     r"\(SPADE num_upsampling_layers=normal\), got 60x60",
                     label=_ids(1, 60, 60, 1), instance=_ids(1, 60, 60, 1))
    _assert_rejected(served, "translate", "label and instance must have the same batch size, "
                     "height and width", label=label, instance=instance[:, :32])
    _assert_rejected(served, "translate", r"label must be a rank-4 tensor \(B, H, W, 1\)",
                     label=label[..., 0], instance=instance)


@pytest.mark.slow
def test_spade_with_the_vae_checks_z_the_size_and_style_images(spade_vae):
    model, served = spade_vae
    label, instance, z = _ids(2, 32, 32, 1), _ids(2, 32, 32, 1), _floats(2, 8)
    maps = dict(label=label, instance=instance)
    image = _serve(served, "translate_with_style", **maps, z=z)["image"]
    np.testing.assert_allclose(image, model({**maps, "z": z}), atol=1e-5)
    style = _floats(2, 40, 48, 3)
    mu = _serve(served, "encode_style", image=style)["mu"]
    np.testing.assert_allclose(mu, model.encode(style)[0], atol=1e-5)
    _assert_rejected(served, "translate_with_style", r"z must be a rank-2 tensor \(B, 8\)",
                     **maps, z=z[:, :4])
    _assert_rejected(served, "translate_with_style", "label and z must have the same batch size",
                     **maps, z=z[:1])
    _assert_rejected(served, "translate", r"label: height and width must be 32x32 \(SPADE "
                     r"image_size: .*\), got 64x64", label=_ids(1, 64, 64, 1),
                     instance=_ids(1, 64, 64, 1))
    _assert_rejected(served, "encode_style", r"image must be a rank-4 tensor \(B, H, W, 3\)",
                     image=style[..., :1])


@pytest.mark.slow
def test_pix2pixhd_checks_every_endpoints_inputs(pix2pixhd):
    model, served = pix2pixhd
    maps = dict(label=_ids(2, 16, 24, 1), instance=_ids(2, 16, 24, 1))
    extras = {"translate_features": ("features", _floats(2, 16, 24, 2)),
              "translate_clusters": ("cluster_index", _ids(2, 16, 24, 1)),
              "translate_encoded": ("image", _floats(2, 16, 24, 3))}
    for endpoint, (key, value) in extras.items():
        image = _serve(served, endpoint, **maps, **{key: value})["image"]
        np.testing.assert_allclose(image, model({**maps, key: value}), atol=1e-5,
                                   err_msg=endpoint)
        _assert_rejected(served, endpoint, f"label and {key} must have the same batch size, "
                         "height and width", **maps, **{key: value[:, :8]})
        _assert_rejected(served, endpoint, r"label: ids must be in 0\.\.2 \(label_nc 3\)",
                         **{**maps, "label": maps["label"] + 1}, **{key: value})
    _assert_rejected(served, "translate", r"label: height and width must be multiples of 8 "
                     r"\(Pix2PixHD size_multiple; pad_inputs=True pads other sizes\), got 12x16",
                     label=_ids(1, 12, 16, 1), instance=_ids(1, 12, 16, 1))


@pytest.mark.slow
def test_pix2pixhd_with_pad_inputs_serves_any_size(pix2pixhd_padded):
    model, served = pix2pixhd_padded
    inputs = dict(label=_ids(1, 12, 20, 1), instance=_ids(1, 12, 20, 1),
                  features=_floats(1, 12, 20, 2))
    image = _serve(served, "translate_features", **inputs)["image"]
    assert image.shape == (1, 12, 20, 3)
    np.testing.assert_allclose(image, model(inputs), atol=1e-5)
    _assert_rejected(served, "translate_features", "label and features must have the same",
                     **{**inputs, "features": _floats(1, 16, 24, 2)})


@pytest.mark.slow
def test_munit_checks_image_sizes_and_style_shapes(munit):
    model, served = munit
    image, style = _floats(2, 32, 48, 3), _floats(2, 3)
    out = _serve(served, "translate_b2a", image=image, style=style)["image"]
    np.testing.assert_allclose(out, model.translate(image, "b2a", styles=style), atol=1e-5)
    np.testing.assert_allclose(_serve(served, "encode_style_a", image=image)["style"],
                               model.encode(image, "a")[1], atol=1e-5)
    for endpoint in ("sample_a2b", "encode_style_b"):
        _assert_rejected(served, endpoint, r"image: height and width must be multiples of 16 "
                         r"\(MUNIT size_multiple.*\), got 40x48", image=_floats(2, 40, 48, 3))
    _assert_rejected(served, "translate_a2b", r"style must be a rank-2 tensor \(B, 3\)",
                     image=image, style=_floats(2, 4))
    _assert_rejected(served, "translate_a2b", "image and style must have the same batch size",
                     image=image, style=style[:1])
    _assert_rejected(served, "translate_a2b", r"image must be a rank-4 tensor \(B, H, W, 3\)",
                     image=image[0], style=style)
