"""HsinYingLee/DRIT and HsinYingLee/MDMM state dicts -> the Keras networks of
`keras_i2i.models.drit`.

DRIT's `model.save` writes one file, `{"disA", "disA2", "disB", "disB2", "disContent",
"enc_c", "enc_a", "gen"` (state dicts), the optimizers' states, `"ep", "total_it"}`; MDMM's
`{"dis1", "dis2", "disContent", "enc_c", "enc_a", "gen", ...}`. `common.load_state_dict`
reads it (or an `.npz` / mapping with the same `<network>/<key>` names, as the reference
test vectors) flattened to `enc_c/convA.0.model.1.weight` and so on, so each loader takes
the network's prefix, e.g. `load_content_encoder(encoder, "latest.pth", "enc_c/")`, and
`load_networks({"enc_c": encoder, "gen": generator, ...}, source)` loads several at once, and
`convert_checkpoint` makes a whole `DRIT` (and its preset folder) of a DRIT checkpoint.

DRIT's checkpoints name the domains' branches `A` / `B` (`convA`, `conv_A`, `model_a`,
`decA1`, `mlpA`); MDMM's single branch has no letter (`conv`, `model`, `dec1`, `mlp`; its
MLP generator's output block keeps the name `decA5`).
"""

import os
import pathlib
import re

import numpy as np

from keras_i2i.convert.common import (
    StateDictMismatch,
    WeightMapper,
    conv_kernel,
    load_state_dict,
    spectral_v,
)
from keras_i2i.layers import ResidualBlock
from keras_i2i.models.discriminators import ContentDiscriminator, MsImageDiscriminator
from keras_i2i.models.drit.discriminators import MultiDomainDiscriminator
from keras_i2i.models.drit.encoders import AttributeEncoder, ContentEncoder
from keras_i2i.models.drit.generator import Generator
from keras_i2i.models.drit.model import DRIT
from keras_i2i.models.drit.multi_domain import MDMM


def spectral_vectors(weight_orig, weight_u, weight):
    """`Conv2D`'s `v` (flattened (kh, kw, in)) for DRIT's spectral norm state.

    DRIT stores `weight_orig` (out, in, kh, kw), `weight_u` (out,) and the buffer `weight`
    = `weight_orig / sigma` of its last training-mode call, which eval mode uses as it is;
    it keeps no `v`. `Conv2D` divides its kernel by `u . (W v)` (W = `weight_orig` as
    (out, in * kh * kw)), so `v` is taken along `W^T u` (the direction the next power
    iteration gives) and scaled so that this quotient is the buffer's `sigma` (fitted by
    least squares, exact when the buffer came from the current `weight_orig`, as in DRIT's
    checkpoints, whose last discriminator call follows the last discriminator update). Its
    norm is then not 1: only the eval-mode quotient reads it, and a training call
    recomputes it from `u`.
    """
    weight_orig = np.asarray(weight_orig, "float64")
    weight = np.asarray(weight, "float64")
    u = np.asarray(weight_u, "float64")
    sigma = np.sum(weight_orig * weight) / np.sum(weight * weight)
    matrix = weight_orig.reshape(len(u), -1)
    v = matrix.T @ u
    v *= sigma / (u @ (matrix @ v))
    out, in_channels, k, _ = weight_orig.shape
    return spectral_v(v, k, in_channels).astype("float32")


def _conv(mapper, conv, key):
    """A `Conv2D` / `Conv2DTranspose` from `key.weight` (`.bias`), or with DRIT's spectral
    norm from `key.weight_orig`, `key.weight_u` and `key.weight` (`spectral_vectors`)."""
    if not getattr(conv, "spectral_norm", False):
        mapper.conv(conv, key)
        return
    mapper.assign(conv.kernel, f"{key}.weight_orig", conv_kernel)
    mapper.assign(conv.u, f"{key}.weight_u")
    state = mapper.state_dict
    if f"{key}.weight_orig" in state and f"{key}.weight_u" in state:
        mapper.assign(conv.v, f"{key}.weight", lambda weight: spectral_vectors(
            state[f"{key}.weight_orig"], state[f"{key}.weight_u"], weight))
    if conv.use_bias:
        mapper.assign(conv.bias, f"{key}.bias")


def _block(mapper, block, key):
    """A `ConvBlock` (its conv; with `"layer_biased"` norm DRIT's `LayerNorm`, whose
    `weight` and `bias` are stored (C, 1, 1)) or a `ResidualBlock` (`INSResBlock`: convs
    `model.1` and `model.5`)."""
    if isinstance(block, ResidualBlock):
        _conv(mapper, block.conv_0.conv, f"{key}.model.1")
        _conv(mapper, block.conv_1.conv, f"{key}.model.5")
        return
    _conv(mapper, block.conv, key)
    if block.norm == "layer_biased":
        norm_key = key.rsplit(".", 1)[0] + ".1"
        mapper.assign(block.norm_layer.gamma, f"{norm_key}.weight", np.ravel)
        mapper.assign(block.norm_layer.beta, f"{norm_key}.bias", np.ravel)


def _mapper(network, source, prefix):
    if not network.built:
        network.build()
    return WeightMapper(load_state_dict(source, prefix))


def _letters(network):
    """The checkpoint's branch letters: `A`, `B` for DRIT's two branches, none for MDMM's."""
    if len(network.branches) == 1:
        return [""]
    if len(network.branches) == 2:
        return ["A", "B"]
    raise ValueError(f"the reference has 1 (MDMM) or 2 (DRIT) branches, not "
                     f"{len(network.branches)}")


def load_content_encoder(encoder, source, prefix=""):
    """`E_content` (`convA.{i}`, `convB.{i}`, `conv_share.0`) or `MD_E_content` (`conv.{i}`,
    its last residual block `conv.6`) into a `ContentEncoder`.

    Args:
        encoder: a `ContentEncoder` with 2 (DRIT) or 1 (MDMM) branches.
        source, prefix: as `common.load_state_dict` (e.g. a checkpoint and `"enc_c/"`).
    """
    mapper = _mapper(encoder, source, prefix)
    for branch, letter in zip(encoder.branches, _letters(encoder)):
        for i, block in enumerate(branch.layers):
            key = f"conv{letter}.{i}"
            _block(mapper, block, key if isinstance(block, ResidualBlock) else f"{key}.model.1")
    shared = "conv.6" if len(encoder.branches) == 1 else "conv_share.0"
    _block(mapper, encoder.shared, shared)
    mapper.finish()


def load_attribute_encoder(encoder, source, prefix=""):
    """`E_attr_concat` / `MD_E_attr_concat` (`conv_A.{1..4}`, `fc_A.0`, `fcVar_A.0`; MDMM
    `conv`, `fc`, `fcVar`) or `E_attr` / `MD_E_attr` (`model_a.{1, 4, 7, 10, 13}` and the
    1 x 1 `model_a.16`; MDMM `model`) into an `AttributeEncoder`."""
    mapper = _mapper(encoder, source, prefix)
    for i, (branch, letter) in enumerate(zip(encoder.branches, _letters(encoder))):
        if encoder.variational:
            name = f"conv_{letter}" if letter else "conv"
            first, *blocks = branch.layers
            _conv(mapper, first.conv, f"{name}.1")
            for j, block in enumerate(blocks):
                key = f"{name}.{j + 2}"
                _conv(mapper, block.conv_0.conv, f"{key}.conv.2")
                _conv(mapper, block.conv_1.conv, f"{key}.conv.4.1")
                _conv(mapper, block.shortcut, f"{key}.shortcut.1")
            suffix = f"_{letter}" if letter else ""
            mapper.dense(encoder.mean_layers[i], f"fc{suffix}.0")
            mapper.dense(encoder.log_variance_layers[i], f"fcVar{suffix}.0")
        else:
            name = f"model_{letter.lower()}" if letter else "model"
            for j, block in enumerate(branch.layers):
                _conv(mapper, block.conv, f"{name}.{3 * j + 1}")
            _conv(mapper, encoder.projections[i], f"{name}.16")
    mapper.finish()


def load_generator(generator, source, prefix=""):
    """`G_concat` / `MD_G_multi_concat` (`dec_share.0`; per branch `decA1.{0,1,2}`,
    `decA2.0`, `decA3.0`, `decA4.0`; MDMM `dec1`..`dec4`) or `G` / `MD_G_multi` (per branch
    `decA1`..`decA4` (`MisINSResBlock`s), `decA5.{0,1,2}`, `mlpA.{0,2,4}`; MDMM `dec1`..`dec4`,
    `decA5`, `mlp`) into a `Generator`."""
    mapper = _mapper(generator, source, prefix)
    if generator.concat:
        _block(mapper, generator.shared, "dec_share.0")
    for branch, letter in zip(generator.branches, _letters(generator)):
        dec = f"dec{letter}"
        if generator.concat:
            for j, block in enumerate(branch.residual_blocks):
                _block(mapper, block, f"{dec}1.{j}")
            for j, block in enumerate(branch.upsample_blocks):
                _block(mapper, block, f"{dec}{j + 2}.0.model.0")
            _block(mapper, branch.output_block, f"{dec}4.0")
            continue
        for j, block in enumerate(branch.residual_blocks):
            key = f"{dec}{j + 1}"
            _conv(mapper, block.conv_0.conv, f"{key}.conv1.0.1")
            _conv(mapper, block.conv_1.conv, f"{key}.conv2.0.1")
            for n, fuse in enumerate((block.fuse_0, block.fuse_1)):
                _conv(mapper, fuse[0].conv, f"{key}.blk{n + 1}.0")
                _conv(mapper, fuse[1].conv, f"{key}.blk{n + 1}.2")
        last = f"dec{letter or 'A'}5"
        for j, block in enumerate(branch.upsample_blocks):
            _block(mapper, block, f"{last}.{j}.model.0")
        _block(mapper, branch.output_block, f"{last}.2")
        for j, dense in enumerate(branch.mlp):
            mapper.dense(dense, f"mlp{letter}.{2 * j}")
    mapper.finish()


def _built_on_first_conv(discriminator, state_dict, key):
    """Builds a discriminator whose input channels only its first conv's weight tells."""
    if discriminator.built:
        return
    weight = state_dict.get(f"{key}.weight", state_dict.get(f"{key}.weight_orig"))
    if weight is None:
        raise ValueError(f"missing keys: {key}.weight (the first convolution)")
    discriminator.build((None, None, None, weight.shape[1]))


def load_domain_discriminator(discriminator, source, prefix=""):
    """`MultiScaleDis` (`Diss.{k}.{i}.model.1`, `Diss.{k}.{n_layer}`) or, for one scale,
    `Dis` (`model.{i}.model.1`, `model.6`) into a `domain_discriminator`; with spectral norm
    their `weight_orig`, `weight_u` and `weight` buffers (`spectral_vectors`)."""
    if not isinstance(discriminator, MsImageDiscriminator):
        raise TypeError(f"expected an MsImageDiscriminator, got {type(discriminator).__name__}")
    state_dict = load_state_dict(source, prefix)
    single = discriminator.num_scales == 1
    _built_on_first_conv(discriminator, state_dict,
                         "model.0.model.1" if single else "Diss.0.0.model.1")
    mapper = WeightMapper(state_dict)
    for k, blocks in enumerate(discriminator.scales):
        scale = "model" if single else f"Diss.{k}"
        *strided, final = blocks
        for i, block in enumerate(strided):
            _block(mapper, block, f"{scale}.{i}.model.1")
        _block(mapper, final, f"{scale}.{len(strided)}")
    mapper.finish()


def load_content_discriminator(discriminator, source, prefix=""):
    """`Dis_content` / `MD_Dis_content` (`model.{i}.model.1`, the 1 x 1 `model.{n}`) into a
    `ContentDiscriminator`."""
    state_dict = load_state_dict(source, prefix)
    _built_on_first_conv(discriminator, state_dict, "model.0.model.1")
    mapper = WeightMapper(state_dict)
    *blocks, final = discriminator.blocks
    for i, block in enumerate(blocks):
        _block(mapper, block, f"model.{i}.model.1")
    _block(mapper, final, f"model.{len(blocks)}")
    mapper.finish()


def load_multi_domain_discriminator(discriminator, source, prefix=""):
    """`MD_Dis` (`model.{i}.model.1`, `conv1`, `conv2`) into a `MultiDomainDiscriminator`."""
    state_dict = load_state_dict(source, prefix)
    _built_on_first_conv(discriminator, state_dict, "model.0.model.1")
    mapper = WeightMapper(state_dict)
    for i, block in enumerate(discriminator.blocks):
        _block(mapper, block, f"model.{i}.model.1")
    _conv(mapper, discriminator.adversarial, "conv1")
    _conv(mapper, discriminator.classifier, "conv2")
    mapper.finish()


LOADERS = (
    (ContentEncoder, load_content_encoder),
    (AttributeEncoder, load_attribute_encoder),
    (Generator, load_generator),
    (MsImageDiscriminator, load_domain_discriminator),
    (ContentDiscriminator, load_content_discriminator),
    (MultiDomainDiscriminator, load_multi_domain_discriminator),
)


def load_networks(networks, source):
    """Loads several networks from one checkpoint.

    Args:
        networks: `{checkpoint name: network}`, e.g. `{"enc_c": content_encoder, "enc_a":
            attribute_encoder, "gen": generator, "disA": discriminator_a, "disContent":
            content_discriminator}` (MDMM: `"dis1"`, ...); each network's loader follows its
            type.
        source: a DRIT / MDMM checkpoint, or an `.npz` / mapping with `<name>/<key>` keys.
    """
    state_dict = load_state_dict(source)
    for name, network in networks.items():
        loader = next((load for cls, load in LOADERS if isinstance(network, cls)), None)
        if loader is None:
            raise TypeError(f"{name}: no DRIT loader for {type(network).__name__}")
        loader(network, state_dict, f"{name}/")


DRIT_NETWORKS = {
    "enc_c": "content_encoder",
    "enc_a": "attribute_encoder",
    "gen": "generator",
    "disA": "discriminator_a",
    "disA2": "discriminator_a2",
    "disB": "discriminator_b",
    "disB2": "discriminator_b2",
    "disContent": "content_discriminator",
}
"""DRIT's checkpoint names -> the `DRIT` attributes of those networks."""

MDMM_NETWORKS = {
    "enc_c": "content_encoder",
    "enc_a": "attribute_encoder",
    "gen": "generator",
    "dis1": "discriminator",
    "dis2": "discriminator2",
    "disContent": "domain_classifier",
}
"""MDMM's checkpoint names -> the `MDMM` attributes of those networks."""

INFERENCE_NETWORKS = ("enc_c", "enc_a", "gen")
"""What the references' test-time `resume(train=False)` loads; a checkpoint needs them."""


def _shape(state_dict, key, what):
    if key not in state_dict:
        raise ValueError(f"{key} is not in the checkpoint ({what})")
    return state_dict[key].shape


def _count(state_dict, pattern):
    """How many distinct numbers the group of `pattern` matches in the checkpoint's keys."""
    return len({m.group(1) for m in map(re.compile(pattern).match, state_dict) if m})


def architecture(state_dict):
    """The `DRIT` arguments that a checkpoint's keys and shapes determine.

    Args:
        state_dict: the flattened checkpoint (`enc_c/...`, `gen/...`; `load_state_dict`).

    Returns:
        dict with `channels_a`, `channels_b`, `width` (the content encoder's first width),
        `concat` (`G_concat`'s `dec_share` or `G`'s `mlpA`) and `attribute_dim`; with an
        image discriminator `dis_scale` (`Diss.{k}`, or `Dis`: 1) and `dis_spectral_norm`
        (`weight_orig` keys); with `disContent` `content_dis_kernel_size` and
        `content_dis_layers`.
    """
    _check_networks(state_dict, "DRIT", DRIT_NETWORKS)
    first = _shape(state_dict, "enc_c/convA.0.model.1.weight", "E_content's first conv")
    if "gen/dec_share.0.model.1.weight" in state_dict:
        concat, attribute = True, ("enc_a/fc_A.0.weight", "E_attr_concat's mean layer")
    elif "gen/mlpA.0.weight" in state_dict:
        concat, attribute = False, ("enc_a/model_a.16.weight", "E_attr's last conv")
    else:
        raise ValueError("gen/dec_share.0.model.1.weight (G_concat) and gen/mlpA.0.weight (G) "
                         "are not in the checkpoint: not a DRIT generator")
    config = {
        "channels_a": int(first[1]),
        "channels_b": int(_shape(state_dict, "enc_c/convB.0.model.1.weight",
                                 "E_content's first conv of domain b")[1]),
        "width": int(first[0]),
        "concat": concat,
        "attribute_dim": int(_shape(state_dict, *attribute)[0]),
    }
    dis = next((name for name in ("disA", "disB", "disA2", "disB2")
                if any(key.startswith(f"{name}/") for key in state_dict)), None)
    if dis is not None:
        config["dis_scale"] = _count(state_dict, rf"{dis}/Diss\.(\d+)\.") or 1
        config["dis_spectral_norm"] = any(
            key.startswith(f"{dis}/") and key.endswith(".weight_orig") for key in state_dict)
    config.update(_content_discriminator(state_dict))
    return config


def _check_networks(state_dict, model_name, networks):
    """ValueError unless the checkpoint has every `INFERENCE_NETWORKS` state dict."""
    found = sorted({key.partition("/")[0] for key in state_dict if "/" in key})
    absent = [name for name in INFERENCE_NETWORKS if name not in found]
    if absent:
        raise ValueError(f"not a {model_name} checkpoint: no {', '.join(absent)} state dict (it "
                         f"has {', '.join(found) or 'no networks'}; {model_name}'s model.save "
                         f"writes {', '.join(networks)})")


def mdmm_architecture(state_dict):
    """The `MDMM` arguments that a checkpoint's keys and shapes determine: `channels`,
    `width`, `concat`, `num_domains` (the attribute encoder's input channels beyond the
    image's), `attribute_dim`; with `dis1` `dis_spectral_norm`; with `disContent` its
    `content_dis_kernel_size` and `content_dis_layers`. The crop size is the preset's (the
    classifier's kernel, `crop_size // 64`, is checked against it)."""
    _check_networks(state_dict, "MDMM", MDMM_NETWORKS)
    first = _shape(state_dict, "enc_c/conv.0.model.1.weight", "MD_E_content's first conv")
    if "gen/dec_share.0.model.1.weight" in state_dict:
        concat, encoder, attribute = True, "enc_a/conv.1.weight", "enc_a/fc.0.weight"
    elif "gen/mlp.0.weight" in state_dict:
        concat, encoder, attribute = False, "enc_a/model.1.weight", "enc_a/model.16.weight"
    else:
        raise ValueError("gen/dec_share.0.model.1.weight (MD_G_multi_concat) and "
                         "gen/mlp.0.weight (MD_G_multi) are not in the checkpoint: not an "
                         "MDMM generator")
    config = {
        "channels": int(first[1]),
        "width": int(first[0]),
        "concat": concat,
        "num_domains": int(_shape(state_dict, encoder, "the attribute encoder's first conv")[1]
                           - first[1]),
        "attribute_dim": int(_shape(state_dict, attribute, "the attribute encoder's output")[0]),
    }
    if any(key.startswith("dis1/") for key in state_dict):
        config["dis_spectral_norm"] = any(
            key.startswith("dis1/") and key.endswith(".weight_orig") for key in state_dict)
    config.update(_content_discriminator(state_dict))
    return config


def _content_discriminator(state_dict):
    """`content_dis_kernel_size` and `content_dis_layers` of a `disContent`, if there is one."""
    if not any(key.startswith("disContent/") for key in state_dict):
        return {}
    return {
        "content_dis_kernel_size": int(_shape(
            state_dict, "disContent/model.0.model.1.weight", "Dis_content's first conv")[2]),
        "content_dis_layers": _count(
            state_dict, r"disContent/model\.(\d+)\.model\.1\.weight") - 1,
    }


def checkpoint_file(checkpoint):
    """The checkpoint `checkpoint` names: a file, or in a run's folder (the reference's
    `<result_dir>/<name>`, where it saves `<epoch:05d>.pth` and `last.pth`) `last.pth`, else
    the highest epoch's."""
    path = pathlib.Path(checkpoint)
    if not path.is_dir():
        return path
    if (path / "last.pth").is_file():
        return path / "last.pth"
    epochs = sorted(path.glob("[0-9]*.pth"), key=lambda file: int(file.stem))
    if not epochs:
        raise ValueError(f"{path}: no <epoch>.pth or last.pth checkpoint in this folder")
    return epochs[-1]


def convert_checkpoint(checkpoint, output_dir=None, preset=None, **overrides):
    """Builds a `DRIT` with the weights of a reference checkpoint.

    Only the networks' weights are converted: the optimizers' states are not (training
    goes on with fresh Adam moments), `ep` and `total_it` go to the preset's metadata.

    Args:
        checkpoint: a DRIT `model.save` file (`.pth`, read with torch) or a run's folder
            (`checkpoint_file`), an `.npz`, or a mapping `{"enc_c": state dict, ...}` (or
            flat `enc_c/...` keys). It needs `enc_c`, `enc_a` and `gen`; the discriminators
            `disA`, `disA2`, `disB`, `disB2`, `disContent` are loaded when present, and keep
            their initialization when not (as the reference's test-time `resume(train=False)`
            leaves them; the metadata's `initialized` names them).
        output_dir: optional folder to write the model to (`save_to_preset`).
        preset: a built-in `DRIT` preset giving what the weights cannot tell (losses,
            optimizers, schedule); None for the `DRIT` defaults (the reference's). The
            checkpoint's `architecture` replaces its networks' arguments.
        **overrides: `DRIT` arguments replacing both (e.g. `seed`).

    Returns:
        The converted `DRIT`. A network that does not match (a wrong shape, a missing key)
        raises a one-line ValueError naming its first key and the shapes.
    """
    return _convert(DRIT, DRIT_NETWORKS, architecture, checkpoint, output_dir, preset, overrides)


def convert_mdmm_checkpoint(checkpoint, output_dir=None, preset=None, **overrides):
    """Builds an `MDMM` with the weights of a reference MDMM checkpoint (`dis1`, `dis2`,
    `disContent`, `enc_c`, `enc_a`, `gen`), as `convert_checkpoint` a DRIT; the image size
    (`crop_size`, 216 by default) comes from the preset or `overrides`."""
    return _convert(MDMM, MDMM_NETWORKS, mdmm_architecture, checkpoint, output_dir, preset,
                    overrides)


def _convert(model_class, networks, describe, checkpoint, output_dir, preset, overrides):
    """`convert_checkpoint` of `model_class`, whose networks the checkpoint names as
    `networks` says and whose arguments `describe(state_dict)` reads off it."""
    model_name = model_class.__name__
    source = checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        source = checkpoint_file(checkpoint)
    state = load_state_dict(source)
    config = {**describe(state), **overrides}
    model = (model_class(**config) if preset is None
             else model_class.from_preset(preset, **config))
    present = [name for name in networks if any(key.startswith(f"{name}/") for key in state)
               and getattr(model, networks[name]) is not None]
    for name in present:
        try:
            load_networks({name: getattr(model, networks[name])}, state)
        except StateDictMismatch as error:
            what = "the checkpoint" if source is checkpoint else os.fspath(source)
            arguments = ", ".join(f"{key}={value!r}" for key, value in config.items())
            raise ValueError(f"{what} does not fit the {model_name}({arguments}) it describes: "
                             f"{error.one_line(f'{name}/')}") from None
    if output_dir is not None:
        model.save_to_preset(output_dir, metadata={
            "converted_from": None if source is checkpoint else os.fspath(source),
            "preset": preset,
            **{key: int(state[key]) for key in ("ep", "total_it") if key in state},
            "initialized": [name for name, attribute in networks.items()
                            if name not in present and getattr(model, attribute) is not None],
        })
    return model
