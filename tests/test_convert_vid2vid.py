"""NVIDIA/vid2vid state dicts -> vid2vid's Keras networks (`keras_i2i.convert.vid2vid`),
against the reference vector `vid2vid_small.npz`."""

import json

import numpy as np
import pytest

from keras_i2i.convert import vid2vid as convert
from keras_i2i.layers import FlowWarp
from keras_i2i.models.vid2vid import Vid2VidGenerator, multiscale_discriminator, temporal_input

TOLERANCE = 1e-4
REFERENCE = "vid2vid_small.npz"
OUTPUTS = ("image", "image_raw", "flow", "weight")
DISCRIMINATORS = {
    "discriminator": "discriminator_input",
    "temporal_discriminator": "temporal_discriminator_input",
}


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _assert_close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual), _nhwc(expected), atol=TOLERANCE, rtol=0,
                               err_msg=what)


def _generator(ref, **overrides):
    """The vector's generator (from its config_json), weights loaded."""
    config = json.loads(str(ref["config_json"]))
    generator = Vid2VidGenerator(**{
        **{key: config[key] for key in ("ngf", "n_downsample_G", "n_blocks", "n_blocks_local",
                                        "n_scales_spatial", "output_nc", "n_frames_G", "fg",
                                        "fg_labels", "norm")},
        **overrides,
    })
    convert.load_generator(generator, [ref], prefix="generator/")
    return generator


def _generator_inputs(ref):
    return {"label": _nhwc(ref["input/generator_label_input"]),
            "prev_images": _nhwc(ref["input/prev_images"])}


@pytest.mark.parametrize("mode", ["train_mode", "eval_mode"])
def test_generator_reproduces_the_reference(reference, mode):
    """`train_mode`: batch statistics (the reference never calls `eval()`); `eval_mode`: the
    stored running statistics."""
    ref = reference(REFERENCE)
    outputs = _generator(ref)(_generator_inputs(ref), training=mode == "train_mode")
    for key in OUTPUTS:
        _assert_close(outputs[key], ref[f"output/{mode}/{key}"], f"{mode}/{key}")


def test_foreground_mask_is_the_references(reference):
    ref = reference(REFERENCE)
    generator = _generator(ref)
    mask = generator.levels[0].foreground_mask(_generator_inputs(ref)["label"])
    np.testing.assert_array_equal(mask, _nhwc(ref["input/fg_mask"]))


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_discriminators_reproduce_every_map(reference, name):
    ref = reference(REFERENCE)
    config = json.loads(str(ref["config_json"]))
    discriminator = multiscale_discriminator(config["ndf"], config["n_layers_D"],
                                             config["num_D"], config["norm"])
    convert.load_discriminator(discriminator, ref, prefix=f"{name}/")
    outputs = discriminator(_nhwc(ref[f"input/{DISCRIMINATORS[name]}"]), training=True)
    prefix = f"output/train_mode/{name}/"
    compared = 0
    for k, scale in enumerate(outputs):
        for i, feature in enumerate(scale):
            _assert_close(feature, ref[f"{prefix}{k}/{i}"], f"{name} {k}/{i}")
            compared += 1
    assert compared == sum(key.startswith(prefix) for key in ref)


def test_temporal_input_is_frames_then_flows_over_20(reference):
    ref = reference(REFERENCE)
    combined = temporal_input(_nhwc(ref["input/temporal_frames"]),
                              _nhwc(ref["input/temporal_flows"]))
    np.testing.assert_array_equal(combined, _nhwc(ref["input/temporal_discriminator_input"]))


def test_flow_warp_reproduces_the_references(reference):
    ref = reference(REFERENCE)
    warped = FlowWarp()([_nhwc(ref["input/warp_image"]), _nhwc(ref["input/warp_flow"])])
    _assert_close(warped, ref["output/warp"], "warp")


def test_mismatches_are_listed(reference):
    ref = reference(REFERENCE)
    with pytest.raises(ValueError) as error:
        _generator(ref, fg=False)
    message = str(error.value)
    assert "unexpected keys (80):\n  indv_down.1.bias" in message
    assert "missing keys" not in message
    with pytest.raises(ValueError) as error:
        _generator(ref, n_blocks=6)
    message = str(error.value)
    assert "missing keys (72):\n  model_down_seg.12.conv_block.1.weight (for " in message
    assert "indv_res.4.conv_block.1.weight" in message
    with pytest.raises(ValueError) as error:
        _generator(ref, n_downsample_G=3)  # the foreground generator's width halves
    assert ("indv_down.1.weight: found shape (8, 21, 7, 7), (7, 7, 21, 8) once converted; "
            "expected (7, 7, 21, 4)") in str(error.value)
    with pytest.raises(ValueError, match="2 spatial scales, got 1 state dicts"):
        _generator(ref, n_scales_spatial=2)


def _write_checkpoint(ref, folder, torch):
    for network, name in (("generator", "G0"), ("discriminator", "D"),
                          ("temporal_discriminator", "D_T0")):
        state = {key.split("/", 1)[1]: torch.from_numpy(value) for key, value in ref.items()
                 if key.startswith(f"{network}/")}
        torch.save(state, folder / f"latest_net_{name}.pth")


def test_load_checkpoint_reads_the_reference_files(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference(REFERENCE)
    _write_checkpoint(ref, tmp_path, torch)
    generator = Vid2VidGenerator(ngf=8, n_downsample_G=2, n_blocks=4, fg=True, fg_labels=(4, 5))
    discriminator, temporal = (multiscale_discriminator(8, 3, 2) for _ in range(2))
    epoch = convert.load_checkpoint(tmp_path / "latest_net_G0.pth", generator, discriminator,
                                    [temporal])
    assert epoch == "latest"
    outputs = generator(_generator_inputs(ref), training=True)
    _assert_close(outputs["image"], ref["output/train_mode/image"], "image")
    maps = temporal(_nhwc(ref["input/temporal_discriminator_input"]), training=True)
    _assert_close(maps[1][-1], ref["output/train_mode/temporal_discriminator/1/4"], "D_T0")


def test_load_checkpoint_names_the_absent_files(tmp_path):
    (tmp_path / "latest_net_G0.pth").write_bytes(b"")
    generator = Vid2VidGenerator(ngf=8, n_downsample_G=2, n_blocks=4)
    temporal = [multiscale_discriminator(8, 3, 2) for _ in range(2)]
    with pytest.raises(FileNotFoundError, match="no latest_net_D_T0.pth, latest_net_D_T1.pth"):
        convert.load_checkpoint(tmp_path, generator, temporal_discriminators=temporal)
    with pytest.raises(FileNotFoundError, match="7_net_G0.pth: no generator checkpoint"):
        convert.load_checkpoint(tmp_path, generator, epoch=7)
