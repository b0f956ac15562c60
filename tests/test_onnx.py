"""ONNX export: each generator endpoint, converted by tf2onnx, runs in ONNX Runtime with the
Keras model's outputs within 1e-4, at two batch sizes and (where the network allows) two
image sizes: the dynamic axes."""

import sys

import numpy as np
import pytest

onnxruntime = pytest.importorskip(
    "onnxruntime", reason="the ONNX tests run the models in onnxruntime (keras-i2i[onnx])")
pytest.importorskip("tf2onnx", reason="ONNX export converts with tf2onnx (keras-i2i[onnx])")

from keras_i2i import cli  # noqa: E402
from keras_i2i.models.drit import DRIT, MDMM  # noqa: E402
from keras_i2i.models.init import INIT, instances  # noqa: E402
from keras_i2i.models.munit import MUNIT  # noqa: E402
from keras_i2i.models.pix2pixhd import Pix2PixHD  # noqa: E402
from keras_i2i.models.spade import SPADE  # noqa: E402
from keras_i2i.models.vid2vid import Vid2Vid  # noqa: E402
from keras_i2i.onnx_export import export_onnx  # noqa: E402
from tests.models.test_drit import TINY as DRIT_TINY  # noqa: E402
from tests.models.test_init import BOXES  # noqa: E402
from tests.models.test_init import TINY as INIT_TINY  # noqa: E402
from tests.models.test_mdmm import TINY as MDMM_TINY  # noqa: E402
from tests.models.test_vid2vid import TINY as VID2VID_TINY  # noqa: E402
from tests.test_export import MUNIT_TINY, PIX2PIXHD_TINY, SPADE_TINY  # noqa: E402

TOLERANCE = 1e-4

rng = np.random.default_rng(7)


def _ids(*shape, high=3):
    return rng.integers(0, high, shape).astype("int32")


def _floats(*shape):
    return rng.uniform(-1, 1, shape).astype("float32")


@pytest.fixture(autouse=True)
def strict_tf2onnx(monkeypatch):
    """tf2onnx's graph optimizers work on the graph itself, not on a copy dropped when one
    fails: an optimizer that fails fails the test, and a conversion takes a third less time."""
    monkeypatch.setenv("TF2ONNX_CATCH_ERRORS", "FALSE")


def _export(model, folder, *endpoints):
    """`{endpoint: path}` of the endpoints exported to `folder`."""
    written = export_onnx(model, folder, list(endpoints))
    assert list(written) == list(endpoints)
    return {name: onnx_model.path for name, onnx_model in written.items()}


def _assert_runs_as_keras(model, endpoint, path, *feeds):
    """The ONNX model at `path`, fed each feed (`{input name: array}`), gives the outputs of
    the Keras model's endpoint function, run eagerly, within `TOLERANCE` (an output named like
    an input is `<name>_out`)."""
    function, inputs = model.serving_endpoints()[endpoint]
    names = [item.name for item in inputs]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == names
    for feed in feeds:
        expected = {f"{key}_out" if key in names else key: value
                    for key, value in function(*(feed[name] for name in names)).items()}
        outputs = [output.name for output in session.get_outputs()]
        assert sorted(outputs) == sorted(expected), endpoint
        for name, value in zip(outputs, session.run(None, feed)):
            _assert_close(value, np.asarray(expected[name]), f"{endpoint} {name}")


def _assert_close(value, expected, what):
    """`value` within `TOLERANCE` of `expected`, and within `TOLERANCE` times its spread where
    that is under 1 (an untrained tiny network's codes can be ~1e-6): a comparison that can
    fail. Values in tanh's flat tails (+-1) would hide differences: a tenth at most may be."""
    spread = float(np.std(expected))
    assert spread > 0, f"{what}: constant"
    assert np.mean(np.isclose(np.abs(expected), 1, rtol=0, atol=1e-3)) < 0.1, f"{what}: saturated"
    np.testing.assert_allclose(value, expected, rtol=0, atol=TOLERANCE * min(1.0, spread),
                               err_msg=what)


def _spade(**config):
    """A tiny SPADE whose spectral norms have made one power iteration (a training-mode pass):
    from their random start vectors, W / sigma is huge and the images all +-1."""
    model = SPADE(**SPADE_TINY, **config)
    inputs = {"label": _ids(2, 32, 32, 1), "instance": _ids(2, 32, 32, 1)}
    if model.use_vae:
        inputs["z"] = _floats(2, model.z_dim)
    model(inputs, training=True)
    return model


# ------------------------------------------------------------------ the command and SPADE


def _cli_export(model, folder, capsys):
    """The lines `keras-i2i export --format onnx` prints for `model` (saved as a preset)."""
    model.save_to_preset(folder / "preset")
    status = cli.main(["export", "--model", type(model).__name__.lower(), "--preset",
                       str(folder / "preset"), "--format", "onnx", "--out", str(folder / "onnx")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.splitlines()[0] == f"ONNX models written to {folder / 'onnx'}:"
    return out.splitlines()[1:]


def test_cli_writes_spade_as_onnx_that_runs_as_keras_at_two_batches_and_sizes(tmp_path, capsys):
    """SPADE (spectral norms, nearest-neighbour upsampling of its SPADE norms' label maps)."""
    model = _spade()
    assert _cli_export(model, tmp_path, capsys) == [
        "  translate.onnx: label int32 (B, H, W, 1), instance int32 (B, H, W, 1) -> image"]
    path = tmp_path / "onnx" / "translate.onnx"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [item.shape for item in session.get_inputs()] == [["B", "H", "W", 1]] * 2
    _assert_runs_as_keras(model, "translate", path,
                          {"label": _ids(1, 32, 32, 1), "instance": _ids(1, 32, 32, 1)},
                          {"label": _ids(2, 64, 96, 1), "instance": _ids(2, 64, 96, 1)})


def test_cli_says_in_one_line_how_to_install_the_converter(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    status = cli.main(["export", "--model", "spade", "--preset", "synthetic",
                       "--format", "onnx", "--out", str(tmp_path)])
    assert status == 1
    assert capsys.readouterr().err == ("keras-i2i: error: ONNX export needs onnx and tf2onnx: "
                                       "pip install keras-i2i[onnx]\n")


def test_cli_takes_onnx_options_with_the_onnx_format_only(tmp_path, capsys):
    status = cli.main(["export", "--model", "spade", "--preset", "synthetic", "--opset", "17",
                       "--out", str(tmp_path)])
    assert status == 1
    assert capsys.readouterr().err == ("keras-i2i: error: --endpoint and --opset are options of "
                                       "--format onnx.\n")


@pytest.mark.slow
def test_cli_writes_spade_with_the_vae_as_its_style_endpoints_not_sampling(tmp_path, capsys):
    """The VAE fixes the image size (its dense layer): two batch sizes; the style encoder
    takes any size."""
    model = _spade(use_vae=True, z_dim=8)
    assert _cli_export(model, tmp_path, capsys) == [
        "  translate_with_style.onnx: label int32 (B, H, W, 1), instance int32 (B, H, W, 1), "
        "z float32 (B, 8) -> image",
        "  encode_style.onnx: image float32 (B, H, W, 3) -> logvar, mu",
        "Not exported (they draw random styles, which the other endpoints take as inputs): "
        "translate."]
    _assert_runs_as_keras(
        model, "translate_with_style", tmp_path / "onnx" / "translate_with_style.onnx",
        {"label": _ids(1, 32, 32, 1), "instance": _ids(1, 32, 32, 1), "z": _floats(1, 8)},
        {"label": _ids(3, 32, 32, 1), "instance": _ids(3, 32, 32, 1), "z": _floats(3, 8)})
    _assert_runs_as_keras(model, "encode_style", tmp_path / "onnx" / "encode_style.onnx",
                          {"image": _floats(1, 32, 32, 3)}, {"image": _floats(2, 40, 48, 3)})
    with pytest.raises(ValueError, match="draw random styles.*: translate "):
        export_onnx(model, tmp_path, ["translate"])


# ------------------------------------------------------------------ pix2pixHD


def test_pix2pixhd_with_instance_maps_and_features_runs_as_keras(tmp_path):
    model = Pix2PixHD(**PIX2PIXHD_TINY)
    paths = _export(model, tmp_path, "translate_features")

    def feed(batch, height, width):
        return {"label": _ids(batch, height, width, 1), "instance": _ids(batch, height, width, 1),
                "features": _floats(batch, height, width, 2)}

    _assert_runs_as_keras(model, "translate_features", paths["translate_features"],
                          feed(1, 16, 24), feed(2, 32, 16))


@pytest.mark.slow
def test_pix2pixhd_stored_clusters_and_encoded_features_run_as_keras(tmp_path):
    """Instance features from the stored clusters (picked by a hash of the instance ids) and
    from an image (the encoder, then instance-wise average pooling)."""
    model = Pix2PixHD(**PIX2PIXHD_TINY)
    model.cluster_centers.assign(rng.normal(size=model.cluster_centers.shape))
    model.cluster_counts.assign([10, 3, 1])
    paths = _export(model, tmp_path, "translate", "translate_encoded")
    maps = [{"label": _ids(b, h, w, 1), "instance": _ids(b, h, w, 1, high=5)}
            for b, h, w in ((1, 16, 24), (2, 32, 16))]
    _assert_runs_as_keras(model, "translate", paths["translate"], *maps)
    _assert_runs_as_keras(model, "translate_encoded", paths["translate_encoded"],
                          *({**m, "image": _floats(*m["label"].shape[:3], 3)} for m in maps))


# ------------------------------------------------------------------ MUNIT, DRIT, MDMM, INIT


def test_sampling_endpoints_and_unknown_ones_are_refused_before_converting(tmp_path):
    model = MUNIT(**MUNIT_TINY)
    with pytest.raises(ValueError, match="draw random styles.*: sample_a2b "):
        export_onnx(model, tmp_path, ["translate_a2b", "sample_a2b"])
    with pytest.raises(ValueError, match="MUNIT has no endpoint sample; it has sample_a2b, "):
        export_onnx(model, tmp_path, ["sample"])
    assert not list(tmp_path.iterdir())


def test_munit_translates_with_a_given_style_and_encodes_styles_as_keras(tmp_path):
    model = MUNIT(**MUNIT_TINY)
    paths = _export(model, tmp_path, "translate_a2b", "encode_style_b")
    _assert_runs_as_keras(model, "translate_a2b", paths["translate_a2b"],
                          {"image": _floats(1, 32, 32, 3), "style": _floats(1, 3)},
                          {"image": _floats(2, 48, 64, 3), "style": _floats(2, 3)})
    _assert_runs_as_keras(model, "encode_style_b", paths["encode_style_b"],
                          {"image": _floats(1, 32, 32, 3)}, {"image": _floats(2, 48, 64, 3)})


@pytest.mark.slow
def test_drit_translates_and_encodes_attributes_as_keras(tmp_path):
    model = DRIT(**DRIT_TINY)
    paths = _export(model, tmp_path, "translate_b2a", "encode_attribute_a")
    _assert_runs_as_keras(model, "translate_b2a", paths["translate_b2a"],
                          {"image": _floats(1, 32, 32, 3), "attribute": _floats(1, 8)},
                          {"image": _floats(2, 48, 64, 3), "attribute": _floats(2, 8)})
    _assert_runs_as_keras(model, "encode_attribute_a", paths["encode_attribute_a"],
                          {"image": _floats(1, 32, 32, 3)}, {"image": _floats(2, 48, 64, 3)})


@pytest.mark.slow
def test_mdmm_translates_to_each_images_domain_as_keras(tmp_path):
    model = MDMM(**MDMM_TINY)
    paths = _export(model, tmp_path, "translate", "encode_attribute")
    _assert_runs_as_keras(
        model, "translate", paths["translate"],
        {"image": _floats(1, 32, 32, 3), "attribute": _floats(1, 8), "domain": _ids(1)},
        {"image": _floats(3, 48, 64, 3), "attribute": _floats(3, 8),
         "domain": np.array([2, 0, 1], "int32")})
    _assert_runs_as_keras(model, "encode_attribute", paths["encode_attribute"],
                          {"image": _floats(1, 32, 32, 3), "domain": _ids(1)},
                          {"image": _floats(2, 48, 64, 3), "domain": np.array([1, 2], "int32")})


@pytest.mark.slow
def test_init_translates_and_encodes_boxes_as_keras(tmp_path):
    """Two boxes (the second image has one: num_boxes), then three, in a larger image."""
    model = INIT(**INIT_TINY, seed=4)
    paths = _export(model, tmp_path, "translate_a2b", "encode_styles_b")
    boxes, valid = instances.check_boxes(BOXES, 32, 32, 5, 3)
    small = {"image": _floats(2, 32, 32, 3), "boxes": boxes,
             "num_boxes": valid.sum(1).astype("int32")}
    large = {"image": _floats(1, 48, 64, 3),
             "boxes": np.array([[[2, 2, 20, 30], [30, 4, 60, 40], [10, 20, 40, 46]]], "float32"),
             "num_boxes": np.array([3], "int32")}
    _assert_runs_as_keras(model, "encode_styles_b", paths["encode_styles_b"], small, large)
    _assert_runs_as_keras(
        model, "translate_a2b", paths["translate_a2b"],
        *({**feed, "background_style": _floats(len(feed["image"]), 3),
           "object_styles": _floats(*feed["boxes"].shape[:2], 3)} for feed in (small, large)))


# ------------------------------------------------------------------ vid2vid


@pytest.mark.slow
def test_vid2vid_step_runs_as_keras(tmp_path):
    """One step (`next_frame`) of a generator with two spatial scales, its foreground branch
    and flow warping."""
    model = Vid2Vid(**VID2VID_TINY, n_scales_spatial=2)
    paths = _export(model, tmp_path, "next_frame")

    def feed(batch, height, width):
        return {"label": _ids(batch, 3, height, width, 1, high=5),
                "instance": _ids(batch, 3, height, width, 1, high=5),
                "prev_images": _floats(batch, 2, height, width, 3),
                "prev_images_1": _floats(batch, 2, height // 2, width // 2, 3)}

    _assert_runs_as_keras(model, "next_frame", paths["next_frame"],
                          feed(1, 16, 16), feed(2, 32, 48))
