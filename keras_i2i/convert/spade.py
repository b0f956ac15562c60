"""NVlabs/SPADE checkpoints -> `keras_i2i.models.spade` weights.

The reference saves one state dict per network in its checkpoint folder:
`<epoch>_net_G.pth` (generator), `<epoch>_net_D.pth` (discriminator) and, with the VAE,
`<epoch>_net_E.pth` (image encoder). Spectral-normalized convolutions keep `weight_orig`,
`weight_u` and `weight_v`; sync-batch SPADE norms their `running_mean` / `running_var`.

    keras-i2i convert --model spade --checkpoint checkpoints/coco_pretrained --preset coco --out p/

(or `convert_checkpoint`) writes a preset folder that `SPADE.from_preset("p/")` loads.
"""

import os

import numpy as np

from keras_i2i.convert.common import (
    WeightMapper,
    dense_kernel,
    load_spade_discriminator,
    load_state_dict,
    reference_checkpoint_files,
)
from keras_i2i.layers import BatchNorm


def _load_spade_norm(mapper, norm, prefix):
    mapper.conv(norm.mlp_shared, f"{prefix}.mlp_shared.0")
    mapper.conv(norm.mlp_gamma, f"{prefix}.mlp_gamma")
    mapper.conv(norm.mlp_beta, f"{prefix}.mlp_beta")
    if isinstance(norm.normalization, BatchNorm):
        mapper.norm(norm.normalization, f"{prefix}.param_free_norm")


def _load_res_block(mapper, block, prefix):
    names = ["0", "1", "s"] if block.learned_shortcut else ["0", "1"]
    for name in names:
        _load_spade_norm(mapper, getattr(block, f"norm_{name}"), f"{prefix}.norm_{name}")
        mapper.conv(getattr(block, f"conv_{name}"), f"{prefix}.conv_{name}")


def _nchw_dense_kernel(channels, height, width):
    """`nn.Linear` weight whose *output* is a (C, H, W) map viewed from a vector ->
    `Dense.kernel` whose output is the (H, W, C) map."""

    def convert(weight):
        out = np.reshape(weight, (channels, height, width, -1)).transpose(1, 2, 0, 3)
        return dense_kernel(np.reshape(out, (height * width * channels, -1)))

    return convert


def _nchw_dense_bias(channels, height, width):
    def convert(bias):
        return np.reshape(np.reshape(bias, (channels, height, width)).transpose(1, 2, 0), (-1,))

    return convert


def _flattened_nchw_kernel(channels, height, width):
    """`nn.Linear` weight whose *input* is a flattened (C, H, W) map -> `Dense.kernel` whose
    input is the flattened (H, W, C) map."""

    def convert(weight):
        out = np.reshape(weight, (-1, channels, height, width)).transpose(2, 3, 1, 0)
        return np.reshape(out, (height * width * channels, -1))

    return convert


def load_spade_generator(generator, source, prefix=""):
    """Loads `SPADEGenerator` weights (keys `fc`, `head_0`, `G_middle_*`, `up_*`, `conv_img`).

    With the VAE, `fc` is an `nn.Linear` whose output the reference views as (16 * ngf, h, w);
    its rows are reordered for the NHWC reshape here.

    Args:
        generator: a built `SPADEGenerator` of the same configuration.
        source, prefix: as `load_state_dict` (a `.pth` / `.npz` file or a mapping).
    """
    mapper = WeightMapper(load_state_dict(source, prefix))
    if generator.use_vae:
        shape = (16 * generator.ngf, *generator.latent_size)
        mapper.assign(generator.fc.kernel, "fc.weight", _nchw_dense_kernel(*shape))
        mapper.assign(generator.fc.bias, "fc.bias", _nchw_dense_bias(*shape))
    else:
        mapper.conv(generator.fc, "fc")
    for block in [generator.head_0, generator.G_middle_0, generator.G_middle_1,
                  *generator.up_blocks]:
        _load_res_block(mapper, block, block.name)
    mapper.conv(generator.conv_img, "conv_img")
    mapper.finish()


def load_spade_encoder(encoder, source, prefix=""):
    """Loads `ConvEncoder` weights into a built `SPADEStyleEncoder`: `layer{i}` (conv, or
    `nn.Sequential(conv, norm)` as `layer{i}.0`, `layer{i}.1`), `fc_mu`, `fc_var` (whose
    inputs, the flattened (8 * ngf, 4, 4) map, are reordered for the NHWC flatten here)."""
    mapper = WeightMapper(load_state_dict(source, prefix))
    for i, block in enumerate(encoder.blocks):
        key = f"layer{i + 1}"
        if block.norm == "none":
            mapper.conv(block.conv, key)
        else:
            mapper.conv(block.conv, f"{key}.0")
            mapper.norm(block.norm_layer, f"{key}.1")
    flattened = (8 * encoder.ngf, 4, 4)
    for dense, key in ((encoder.fc_mu, "fc_mu"), (encoder.fc_var, "fc_var")):
        mapper.assign(dense.kernel, f"{key}.weight", _flattened_nchw_kernel(*flattened))
        mapper.assign(dense.bias, f"{key}.bias")
    mapper.finish()


def load_spade_weights(model, generator, discriminator=None, style_encoder=None):
    """Loads reference state dicts into a `SPADE` model.

    Args:
        model: a `SPADE` of the checkpoint's configuration.
        generator, discriminator, style_encoder: sources of `netG`, `netD`, `netE` (`.pth`
            / `.npz` files or mappings, see `load_state_dict`); the discriminator (not needed
            for inference) and the encoder may be None, keeping those networks' weights.
    """
    load_spade_generator(model.generator, generator)
    if discriminator is not None:
        load_spade_discriminator(model.discriminator, discriminator)
    if style_encoder is not None:
        if not model.use_vae:
            raise ValueError("A style encoder checkpoint was given for a model without the VAE.")
        load_spade_encoder(model.style_encoder, style_encoder)
    return model


def convert_checkpoint(checkpoint, output_dir, preset, epoch="latest", **overrides):
    """Converts a reference checkpoint into a preset folder.

    Args:
        checkpoint: folder with `<epoch>_net_G.pth` (and `_net_D.pth`, `_net_E.pth`), or
            the path of its `<epoch>_net_G.pth` (the epoch is then taken from the name).
        output_dir: the preset folder to write (`config.json`, `model.weights.h5`,
            `metadata.json`).
        preset: the `SPADE` preset of the checkpoint's dataset (e.g. `"coco"`).
        epoch: the checkpoint's epoch prefix (`"latest"` or a number).
        **overrides: `SPADE` arguments differing from the preset's (e.g. `ngf`, `use_vae`).

    Returns:
        The converted `SPADE` model.
    """
    from keras_i2i.models.spade import SPADE

    if preset is None:
        raise ValueError("Converting a SPADE checkpoint needs the preset it was trained with "
                         f"(one of {', '.join(SPADE.presets())}).")
    epoch, files = reference_checkpoint_files(checkpoint, epoch)
    generator = load_state_dict(files["G"])
    overrides.setdefault("use_vae", np.ndim(generator.get("fc.weight")) == 2)
    model = SPADE.from_preset(preset, **overrides)
    load_spade_weights(
        model, generator, files.get("D"), files.get("E") if model.use_vae else None
    )
    model.save_to_preset(
        output_dir,
        metadata={"converted_from": os.fspath(checkpoint), "preset": preset, "epoch": epoch},
    )
    return model
