import numpy as np
import pytest

from keras_i2i.convert import common
from keras_i2i.layers import instance_boundary_map
from keras_i2i.models.discriminators import MsImageDiscriminator, MultiscaleDiscriminator
from tests.testing import run_layer_test, run_model_saving_test

TOLERANCE = 1e-4


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _assert_matches(outputs, ref):
    """Every stored `output/discriminator/<scale>[/<layer>]` within TOLERANCE."""
    compared = 0
    for k, scale in enumerate(outputs):
        features = scale if isinstance(scale, list) else [scale]
        for i, feature in enumerate(features):
            key = (
                f"output/discriminator/{k}/{i}"
                if isinstance(scale, list)
                else f"output/discriminator/{k}"
            )
            expected = _nhwc(ref[key])
            assert feature.shape == expected.shape, key
            np.testing.assert_allclose(
                np.asarray(feature), expected, atol=TOLERANCE, rtol=0, err_msg=key
            )
            compared += 1
    assert compared == sum(key.startswith("output/discriminator/") for key in ref)


@pytest.mark.parametrize("name", ["spade_small_syncbatch.npz", "spade_small_instance_vae.npz"])
def test_spade_discriminator_matches_reference(reference, name):
    ref = reference(name)
    discriminator = MultiscaleDiscriminator(num_D=2, n_layers=4, ndf=8, norm="spectralinstance")
    common.load_spade_discriminator(discriminator, ref, prefix="discriminator/")
    inputs = np.concatenate([_nhwc(ref["input/semantics"]), _nhwc(ref["output/image"])], axis=-1)
    _assert_matches(discriminator(inputs), ref)


def test_pix2pixhd_discriminator_matches_reference(reference):
    ref = reference("pix2pixhd_small_local.npz")
    one_hot = np.eye(6, dtype="float32")[_nhwc(ref["input/label"])[..., 0]]
    condition = np.concatenate(
        [one_hot, instance_boundary_map(_nhwc(ref["input/instance"]))], axis=-1
    )
    np.testing.assert_array_equal(condition, _nhwc(ref["input/generator_input"])[..., :7])
    # pix2pixHD's n_layers_D=3 is n_layers=4 here.
    discriminator = MultiscaleDiscriminator(num_D=2, n_layers=4, ndf=8, norm="instance")
    common.load_pix2pixhd_discriminator(discriminator, ref, prefix="discriminator/")
    _assert_matches(
        discriminator(np.concatenate([condition, _nhwc(ref["output/image"])], axis=-1)), ref
    )


def test_munit_discriminator_matches_reference(reference):
    ref = reference("munit_small.npz")
    discriminator = MsImageDiscriminator(
        num_scales=2, n_layer=3, dim=8, norm="none", pad_type="reflect"
    )
    common.load_munit_discriminator(discriminator, ref, prefix="discriminator/")
    # The stored MsImageDis outputs are those of the translated image `output/image`.
    _assert_matches(discriminator(_nhwc(ref["output/image"])), ref)


def _image(size=32, channels=4):
    return np.random.default_rng(0).normal(size=(2, size, size, channels)).astype("float32")


def test_multiscale_discriminator_contract(tmp_path):
    init = dict(num_D=2, n_layers=3, ndf=8, norm="spectralinstance", max_filters=16)
    shapes = [
        [(2, 17, 17, 8), (2, 9, 9, 16), (2, 10, 10, 16), (2, 11, 11, 1)],
        [(2, 9, 9, 8), (2, 5, 5, 16), (2, 6, 6, 16), (2, 7, 7, 1)],
    ]
    discriminator, _ = run_layer_test(
        MultiscaleDiscriminator, init, _image(), expected_output_shape=shapes
    )
    assert [block.conv.use_bias for block in discriminator.scales[0]] == [True, False, False, True]
    run_model_saving_test(discriminator, _image(), tmp_path)


def test_ms_image_discriminator_contract():
    init = dict(num_scales=2, n_layer=2, dim=8, norm="instance")
    run_layer_test(
        MsImageDiscriminator,
        init,
        _image(channels=3),
        expected_output_shape=[(2, 8, 8, 1), (2, 4, 4, 1)],
    )


def test_loading_reports_every_mismatch(reference):
    ref = reference("pix2pixhd_small_local.npz")
    discriminator = MultiscaleDiscriminator(num_D=2, n_layers=3, ndf=16, norm="instance")
    with pytest.raises(ValueError) as error:
        common.load_pix2pixhd_discriminator(discriminator, ref, prefix="discriminator/")
    message = str(error.value)
    assert "unexpected keys (4):\n  scale0_layer4.0.bias" in message
    assert (
        "scale1_layer0.0.weight: found shape (8, 10, 4, 4), (4, 4, 10, 8) once converted; "
        "expected (4, 4, 10, 16)" in message
    )
    assert "missing keys" not in message


def test_loading_reports_missing_keys():
    discriminator = MsImageDiscriminator(num_scales=1, n_layer=1, dim=4)
    state = {"cnns.0.0.conv.weight": np.zeros((4, 3, 4, 4), "float32")}
    with pytest.raises(ValueError, match=r"missing keys \(3\):\n  cnns.0.0.conv.bias"):
        common.load_munit_discriminator(discriminator, state)
