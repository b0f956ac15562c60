"""DRIT checkpoints -> `DRIT` models and preset folders (`keras_i2i.convert.drit`)."""

import json

import numpy as np
import pytest

from keras_i2i import cli
from keras_i2i.convert import drit as convert
from keras_i2i.models.drit import DRIT

TOLERANCE = 1e-4
DISCRIMINATORS = ["disA", "disA2", "disB", "disB2", "disContent"]


def _nhwc(array):
    return np.transpose(array, (0, 2, 3, 1))


def _assert_close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual), expected, atol=TOLERANCE, rtol=0, err_msg=what)


def _checkpoint(ref, networks=None):
    """DRIT's `model.save` dict from the reference vector: `{network: state dict}`, `ep`,
    `total_it` (the vector's `disA` / `disB` stand for `disA2` / `disB2` too); only
    `networks` when given."""
    checkpoint = {"ep": 3, "total_it": 120}
    for key, value in ref.items():
        network, _, name = key.partition("/")
        if network not in ("input", "output", "config_json"):
            checkpoint.setdefault(network, {})[name] = value
    checkpoint["disA2"], checkpoint["disB2"] = checkpoint["disA"], checkpoint["disB"]
    if networks is not None:
        checkpoint = {k: v for k, v in checkpoint.items() if k in networks}
    return checkpoint


def _assert_translations(model, ref):
    """`fake_b = gen.forward_b(content_a, attr_b)`, `fake_a = gen.forward_a(content_b, attr_a)`."""
    for source, target in ("ab", "ba"):
        translated = model.translate(_nhwc(ref[f"input/image_{source}"]), target,
                                     attributes=ref[f"output/attr_{target}"])
        _assert_close(translated, _nhwc(ref[f"output/fake_{target}"]), f"fake_{target}")


def test_a_checkpoint_becomes_the_reference_model_and_its_preset(reference, tmp_path):
    ref = reference("drit_small.npz")
    convert.convert_checkpoint(_checkpoint(ref), tmp_path / "preset", seed=0)
    model = DRIT.from_preset(tmp_path / "preset")
    config = json.loads(str(ref["config_json"]))
    assert {key: getattr(model, key) for key in (
        "channels_a", "channels_b", "width", "concat", "attribute_dim", "dis_scale",
        "dis_spectral_norm", "content_dis_kernel_size", "content_dis_layers")} == {
        "channels_a": config["input_dim_a"], "channels_b": config["input_dim_b"],
        "width": config["width"], "concat": True, "attribute_dim": config["nz"],
        "dis_scale": config["dis_scale"], "dis_spectral_norm": False,
        "content_dis_kernel_size": 7, "content_dis_layers": 3}
    _assert_translations(model, ref)
    images = _nhwc(ref["input/image_a"])
    _assert_close(model.encode(images, "a")[1], ref["output/mu_a"], "mu_a")
    for discriminator in (model.discriminator_a, model.discriminator_a2):
        for k, prediction in enumerate(discriminator(images)):
            _assert_close(prediction, _nhwc(ref[f"output/dis_a/{k}"]), f"{discriminator.name} {k}")
    _assert_close(model.content_discriminator(_nhwc(ref["output/content_b"])),
                  ref["output/dis_content_b"], "disContent")
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert {key: metadata[key] for key in ("ep", "total_it", "initialized", "preset")} == {
        "ep": 3, "total_it": 120, "initialized": [], "preset": None}


def test_an_inference_checkpoint_leaves_the_discriminators_initialized(reference, tmp_path):
    """The reference's `resume(train=False)` loads enc_c, enc_a and gen alone."""
    ref = reference("drit_small.npz")
    model = convert.convert_checkpoint(_checkpoint(ref, convert.INFERENCE_NETWORKS),
                                       tmp_path / "preset", "synthetic")
    _assert_translations(model, ref)
    assert (model.dis_scale, model.learning_rate) == (2, 1e-3)  # the preset's
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["initialized"] == DISCRIMINATORS and "ep" not in metadata


def test_architecture_of_the_mlp_generator_and_spectral_single_scale_discriminators():
    def zeros(*shape):
        return np.zeros(shape, "float32")

    state = {"enc_c/convA.0.model.1.weight": zeros(4, 3, 7, 7),
             "enc_c/convB.0.model.1.weight": zeros(4, 1, 7, 7),
             "enc_a/model_a.16.weight": zeros(5, 16, 1, 1), "gen/mlpA.0.weight": zeros(16, 5),
             "disB2/model.0.model.1.weight_orig": zeros(4, 1, 3, 3),
             "disContent/model.0.model.1.weight": zeros(16, 16, 3, 3),
             "disContent/model.1.model.1.weight": zeros(16, 16, 4, 4),
             "disContent/model.2.weight": zeros(1, 16, 1, 1)}
    assert convert.architecture(state) == {
        "channels_a": 3, "channels_b": 1, "width": 4, "concat": False, "attribute_dim": 5,
        "dis_scale": 1, "dis_spectral_norm": True, "content_dis_kernel_size": 3,
        "content_dis_layers": 1}


def test_a_pth_checkpoint_of_a_run_through_the_command(reference, tmp_path):
    torch = pytest.importorskip("torch")
    ref = reference("drit_small.npz")
    checkpoint = {key: value if isinstance(value, int) else
                  {name: torch.from_numpy(array) for name, array in value.items()}
                  for key, value in _checkpoint(ref).items()}
    checkpoint["gen_opt"] = {"state": {0: {"step": torch.tensor(120.0)}}, "param_groups": [
        {"lr": 1e-4, "betas": (0.5, 0.999), "weight_decay": 1e-4, "params": [0]}]}
    run = tmp_path / "run"
    run.mkdir()
    torch.save({**checkpoint, "ep": 1}, run / "00001.pth")
    torch.save(checkpoint, run / "00003.pth")
    assert cli.main(["convert", "--model", "drit", "--checkpoint", str(run),
                     "--out", str(tmp_path / "preset")]) == 0
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["converted_from"] == str(run / "00003.pth") and metadata["ep"] == 3
    _assert_translations(DRIT.from_preset(tmp_path / "preset"), ref)


def test_bad_checkpoints_get_one_line(reference):
    ref = reference("drit_small.npz")
    checkpoint = _checkpoint(ref)
    with pytest.raises(ValueError, match=r"^not a DRIT checkpoint: no gen state dict \(it has "
                                         r"disA, disA2, disB, disB2, disContent, enc_a, enc_c;"):
        convert.convert_checkpoint({k: v for k, v in checkpoint.items() if k != "gen"})
    checkpoint["gen"] = {**checkpoint["gen"],
                         "dec_share.0.model.5.weight": np.zeros((32, 16, 3, 3), "float32")}
    with pytest.raises(ValueError) as error:
        convert.convert_checkpoint(checkpoint)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("the checkpoint does not fit the DRIT(channels_a=3, channels_b=3, "
                              "width=8, concat=True, attribute_dim=8, dis_scale=3, ")
    assert message.endswith(
        "gen/dec_share.0.model.5.weight: found shape (32, 16, 3, 3), (3, 3, 16, 32) once "
        "converted; expected (3, 3, 32, 32) for drit/generator/shared/conv_1/conv/kernel")
    with pytest.raises(ValueError, match=r"disContent/model.0.model.1.weight: found shape "
                                         r"\(32, 32, 7, 7\).*\(and 2 more problems\)$"):
        convert.convert_checkpoint(_checkpoint(ref), content_dis_kernel_size=3)


def test_an_mdmm_checkpoint_becomes_the_reference_model(reference, tmp_path):
    """MDMM's `model.save` (`dis1`, `dis2`, `disContent`, `enc_c`, `enc_a`, `gen`): the
    converted model's translations with given attributes and domains are the reference's
    (`fake_random = gen(content, z_random, target_domain_code)`), its discriminator's maps
    and logits too."""
    ref = reference("mdmm_small.npz")
    checkpoint = {"ep": 1, "total_it": 7}
    for key, value in ref.items():
        network, _, name = key.partition("/")
        if network not in ("input", "output", "config_json"):
            checkpoint.setdefault(network, {})[name] = value
    checkpoint["dis2"] = checkpoint["dis1"]
    convert.convert_mdmm_checkpoint(checkpoint, tmp_path / "preset", seed=0)
    from keras_i2i.models.drit import MDMM

    model = MDMM.from_preset(tmp_path / "preset")
    config = json.loads(str(ref["config_json"]))
    assert (model.num_domains, model.width, model.concat, model.crop_size) == (
        config["num_domains"], config["width"], True, config["crop_size"])
    images = _nhwc(ref["input/image"])
    targets = np.argmax(ref["input/target_domain_code"], axis=-1)
    _assert_close(model.translate(images, targets, attributes=ref["input/z_random"]),
                  _nhwc(ref["output/fake_random"]), "fake_random")
    adversarial, logits = model.discriminator2(images)
    _assert_close(adversarial, _nhwc(ref["output/dis"]), "dis2 map")
    _assert_close(logits, ref["output/dis_cls"], "dis2 logits")
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert (metadata["total_it"], metadata["initialized"]) == (7, [])
    with pytest.raises(ValueError, match=r"^not a MDMM checkpoint: no enc_c, enc_a state dict \(it has gen; MDMM.s "
                       r"model.save writes enc_c, enc_a, gen, dis1, dis2, disContent\)"):
        convert.convert_mdmm_checkpoint({"gen": checkpoint["gen"]})
