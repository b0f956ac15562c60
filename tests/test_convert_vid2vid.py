"""NVIDIA/vid2vid state dicts -> vid2vid's Keras networks (`keras_i2i.convert.vid2vid`),
against the reference vector `vid2vid_small.npz`."""

import json
import re

import numpy as np
import pytest

from keras_i2i import cli
from keras_i2i.convert import common
from keras_i2i.convert import vid2vid as convert
from keras_i2i.layers import FlowWarp
from keras_i2i.models.vid2vid import (
    Vid2Vid,
    Vid2VidGenerator,
    multiscale_discriminator,
    temporal_input,
)
from keras_i2i.models.vid2vid.presets import SYNTHETIC

TOLERANCE = 1e-4
REFERENCE = "vid2vid_small.npz"
OUTPUTS = ("image", "image_raw", "flow", "weight")
DISCRIMINATORS = {
    "discriminator": "discriminator_input",
    "temporal_discriminator": "temporal_discriminator_input",
}
# The reference's file names of the vector's networks.
NETWORKS = {"G0": "generator", "D": "discriminator", "D_T0": "temporal_discriminator"}


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


def _checkpoint(ref, networks=tuple(NETWORKS)):
    """The vector's state dicts by the reference's network names: `{"G0": ..., ...}`."""
    return {name: common.load_state_dict(ref, f"{NETWORKS[name]}/") for name in networks}


def _write_checkpoint(ref, folder, torch, networks=tuple(NETWORKS)):
    """The vector as a reference checkpoint folder: `latest_net_G0.pth`, ..."""
    for name, state in _checkpoint(ref, networks).items():
        torch.save({key: torch.from_numpy(value) for key, value in state.items()},
                   folder / f"latest_net_{name}.pth")


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


def _assert_reproduces(model, ref, modes=("eval_mode", "train_mode")):
    """The generator's outputs are the vector's; eval mode first (training updates the running
    statistics)."""
    for mode in modes:
        outputs = model.generator(_generator_inputs(ref), training=mode == "train_mode")
        for key in OUTPUTS:
            _assert_close(outputs[key], ref[f"output/{mode}/{key}"], f"{mode}/{key}")


def _metadata(folder):
    return json.loads((folder / "metadata.json").read_text())


def test_convert_checkpoint_writes_the_reference_model_as_a_preset(reference, tmp_path):
    """The architecture from the state dicts, the rest from the preset; `fg_labels` (no
    weights tell them) as an override."""
    ref = reference(REFERENCE)
    convert.convert_checkpoint(_checkpoint(ref), tmp_path / "preset", "synthetic",
                               fg_labels=(4, 5))
    model = Vid2Vid.from_preset(tmp_path / "preset")
    config = json.loads(str(ref["config_json"]))
    read = ("label_nc", "use_instance", "output_nc", "n_frames_G", "ngf", "n_downsample_G",
            "n_blocks", "n_scales_spatial", "fg", "fg_labels", "norm", "ndf", "n_layers_D",
            "num_D", "n_frames_D")
    assert {key: getattr(model, key) for key in read} == {
        **{key: config[key] for key in read}, "fg_labels": (4, 5)}
    assert model.n_scales_temporal == 1  # the vector holds one temporal discriminator
    assert (model.lambda_vgg, model.n_frames_total) == (0.0, SYNTHETIC["n_frames_total"])
    _assert_reproduces(model, ref)
    maps = model.temporal_discriminators[0](_nhwc(ref["input/temporal_discriminator_input"]),
                                            training=True)
    _assert_close(maps[1][-1], ref["output/train_mode/temporal_discriminator/1/4"], "D_T0")
    assert {key: _metadata(tmp_path / "preset")[key] for key in (
        "converted_from", "preset", "epoch", "initialized")} == {
        "converted_from": None, "preset": "synthetic", "epoch": None, "initialized": []}


def test_a_generator_checkpoint_converts_with_the_presets_discriminators(reference, tmp_path):
    """What users download for generation: G0 alone."""
    ref = reference(REFERENCE)
    model = convert.convert_checkpoint(_checkpoint(ref, ["G0"]), tmp_path / "preset",
                                       "synthetic", fg_labels=(4, 5))
    _assert_reproduces(model, ref, ["train_mode"])
    discriminators = ("ndf", "n_layers_D", "num_D", "n_frames_D", "n_scales_temporal")
    assert {key: getattr(model, key) for key in discriminators} == {
        key: SYNTHETIC[key] for key in discriminators}
    assert _metadata(tmp_path / "preset")["initialized"] == [
        "D", *(f"D_T{s}" for s in range(SYNTHETIC["n_scales_temporal"]))]


def _reference_state_dicts(model, monkeypatch):
    """The reference state dicts `model`'s weights would be loaded from: its loaders run with a
    `WeightMapper` that records every variable under its key, in PyTorch's layout."""
    recorded = []

    class Recorder(common.WeightMapper):
        def __init__(self, state_dict):
            super().__init__(state_dict)
            recorded.append(state_dict)

        def assign(self, variable, key, convert=None):
            value = np.asarray(variable)
            self.state_dict[key] = np.transpose(value, (3, 2, 0, 1)) if value.ndim == 4 else value

        def finish(self):
            pass

    state_dicts = {}
    with monkeypatch.context() as patch:
        patch.setattr(convert, "WeightMapper", Recorder)
        patch.setattr(common, "WeightMapper", Recorder)
        for name, (load, network) in convert.reference_networks(model).items():
            load(network, {})
            state_dicts[name] = recorded[-1]
    return state_dicts


@pytest.mark.parametrize("preset, config", [
    ("synthetic", dict(label_nc=3, use_instance=True, fg=True, fg_labels=(1,), ngf=8,
                       n_downsample_G=3, n_blocks=3, n_blocks_local=2, n_scales_spatial=2,
                       ndf=4, n_layers_D=1, num_D=3, n_frames_D=3, n_scales_temporal=1)),
    ("face", dict(label_nc=0, input_nc=2, n_frames_G=2, ngf=8, n_downsample_G=1, n_blocks=1,
                  n_blocks_local=1, n_scales_spatial=3, norm="instance", ndf=4, n_layers_D=1,
                  num_D=1, n_frames_D=4, n_scales_temporal=3)),
])
def test_the_architecture_is_read_off_the_state_dicts(monkeypatch, preset, config):
    """Several spatial and temporal scales, instance norm, a float input (face), the
    foreground generator at half width (3 downsamplings): a model's own weights, written as
    the reference's state dicts, convert back to it."""
    original = Vid2Vid(**config, lambda_vgg=0.0)
    state_dicts = _reference_state_dicts(original, monkeypatch)
    overrides = {"fg_labels": config["fg_labels"]} if config.get("fg") else {}
    converted = convert.convert_checkpoint(state_dicts, None, preset, **overrides)
    assert {key: getattr(converted, key) for key in config} == config
    originals = convert.reference_networks(original)
    for name, (_, network) in convert.reference_networks(converted).items():
        for weight, expected in zip(network.weights, originals[name][1].weights, strict=True):
            np.testing.assert_array_equal(weight, expected, err_msg=f"{name} {weight.path}")


def test_the_command_converts_a_checkpoint_folder(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference(REFERENCE)
    _write_checkpoint(ref, tmp_path, torch)
    assert cli.main(["convert", "--model", "vid2vid", "--checkpoint", str(tmp_path),
                     "--out", str(tmp_path / "preset"), "--preset", "synthetic"]) == 0
    metadata = _metadata(tmp_path / "preset")
    assert (metadata["converted_from"], metadata["epoch"]) == (str(tmp_path), "latest")
    # The vector's --fg_labels; the synthetic preset's (2, 3, 4) were converted.
    _assert_reproduces(Vid2Vid.from_preset(tmp_path / "preset", fg_labels=(4, 5)), ref,
                       ["train_mode"])


def test_an_unreadable_file_is_named_and_g0_alone_converts(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference(REFERENCE)
    _write_checkpoint(ref, tmp_path, torch, ["G0"])
    (tmp_path / "latest_net_D.pth").write_bytes(b"")
    with pytest.raises(ValueError, match=r"latest_net_D.pth: not a readable state dict "
                                         r"\(EOFError") as error:
        convert.convert_checkpoint(tmp_path / "latest_net_G0.pth", None, "synthetic")
    assert "\n" not in str(error.value)
    (tmp_path / "latest_net_D.pth").unlink()
    model = convert.convert_checkpoint(tmp_path / "latest_net_G0.pth", None, "synthetic",
                                       fg_labels=(4, 5))
    _assert_reproduces(model, ref, ["train_mode"])


def test_bad_checkpoints_get_one_line(reference, tmp_path):
    ref = reference(REFERENCE)
    with pytest.raises(FileNotFoundError, match="latest_net_G0.pth: no generator checkpoint"):
        convert.convert_checkpoint(tmp_path, None, "synthetic")
    with pytest.raises(ValueError, match=r"^no G0 state dict \(the coarsest generator\): not a "
                                         r"vid2vid checkpoint \(it has D, D_T0\)$"):
        convert.convert_checkpoint(_checkpoint(ref, ["D", "D_T0"]), None, "synthetic")
    garbage = tmp_path / "G0.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError,
                       match=rf"^{re.escape(str(garbage))}: not a readable state dict \("):
        convert.convert_checkpoint({"G0": garbage}, None, "synthetic")
    with pytest.raises(ValueError, match=r"^G0: no model_down_seg.1.weight \(the label "
                                         r"encoder's first convolution\): not a vid2vid G0$"):
        convert.convert_checkpoint({"G0": {"model.1.weight": np.zeros((8, 7, 7, 7))}}, None,
                                   "synthetic")
    with pytest.raises(ValueError, match=r"^the checkpoint: the preset 'cityscapes_512' with "
                                         r"the Vid2Vid\(label_nc=6, .*\) read off the "
                                         r"checkpoint: fg_labels must be ids in 0..5, got "
                                         r"\(26,\)$"):
        convert.convert_checkpoint(_checkpoint(ref, ["G0"]), None, None)
    checkpoint = _checkpoint(ref)
    checkpoint["D"]["scale0_layer4.0.weight"] = np.zeros((1, 128, 3, 3), "float32")
    with pytest.raises(ValueError) as error:
        convert.convert_checkpoint(checkpoint, None, "synthetic", fg_labels=(4, 5))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("D does not fit the Vid2Vid(label_nc=6, output_nc=3, ")
    assert message.endswith("/discriminator/scale1_layer4/conv/kernel")
    assert ("read off the checkpoint: scale0_layer4.0.weight: found shape (1, 128, 3, 3), (3, 3, "
            "128, 1) once converted; expected (4, 4, 128, 1) for ") in message
