r"""NVIDIA/pix2pixHD checkpoints -> `Pix2PixHD`.

The reference saves `<epoch>_net_G.pth` (`GlobalGenerator` or `LocalEnhancer`), `_net_D.pth`
(`MultiscaleDiscriminator`) and, with `--instance_feat`, `_net_E.pth` (`Encoder`): plain
state dicts of `nn.Sequential` modules, whose keys are the module indices.

    keras-i2i convert --model pix2pixhd --checkpoint checkpoints/label2city_1024p \
        --preset label2city_1024p --out presets/label2city_1024p

(or `convert_checkpoint`) writes a preset folder that `Pix2PixHD.from_preset` loads.

Sequential indices: G1 (and E) `model.{i}`, with the 7 x 7 input convolution at 1, the
stride-2 convolutions at 4, 7, ..., the residual blocks (`conv_block.1`, `.5`; norms `.2`,
`.6`) and the transposed convolutions after them, each (conv, norm, ReLU); the output
convolution after a reflection pad. In a `LocalEnhancer` the global part keeps its indices
without the output layers, and enhancer n is `model{n}_1` (front-end: convolutions 1, 4) and
`model{n}_2` (residual blocks 0.., transposed convolution, output convolution).
"""

import os

from keras_i2i.convert.common import (
    WeightMapper,
    load_pix2pixhd_discriminator,
    load_state_dict,
    reference_checkpoint_files,
)


def _block(mapper, block, key, norm_key):
    """A `ConvBlock` from its conv `key` and, if normalized, its norm `norm_key`."""
    mapper.conv(block.conv, key)
    if block.norm != "none":
        mapper.norm(block.norm_layer, norm_key)


def _sequence(mapper, blocks, prefix, start):
    """Blocks stored as (conv, norm, ReLU) triples from index `start`; the next free index."""
    for block in blocks:
        _block(mapper, block, f"{prefix}.{start}", f"{prefix}.{start + 1}")
        start += 3
    return start


def _residual_blocks(mapper, blocks, prefix, start):
    for i, block in enumerate(blocks):
        key = f"{prefix}.{start + i}.conv_block"
        _block(mapper, block.conv_0, f"{key}.1", f"{key}.2")
        _block(mapper, block.conv_1, f"{key}.5", f"{key}.6")
    return start + len(blocks)


def _body_and_output(mapper, blocks, output, prefix, start):
    """Transposed convolutions from `start`, then (if any) the output conv after its pad."""
    index = _sequence(mapper, blocks, prefix, start)
    if output is not None:
        mapper.conv(output.conv, f"{prefix}.{index + 1}")


def _split_output(blocks, include_output):
    return (blocks[:-1], blocks[-1]) if include_output else (blocks, None)


def _map_global_generator(mapper, generator, prefix="model"):
    index = _sequence(mapper, generator.front_end, prefix, 1)
    index = _residual_blocks(mapper, generator.residual_blocks, prefix, index)
    back_end, output = _split_output(generator.back_end, generator.include_output)
    _body_and_output(mapper, back_end, output, prefix, index)


def _map_local_enhancer(mapper, enhancer, n):
    _sequence(mapper, enhancer.front_end, f"model{n}_1", 1)
    index = _residual_blocks(mapper, enhancer.residual_blocks, f"model{n}_2", 0)
    back_end, output = _split_output(enhancer.back_end, enhancer.include_output)
    _body_and_output(mapper, back_end, output, f"model{n}_2", index)


def _input_channels(state_dict):
    """Input channels of the first convolution, `model.1` (G1, E)."""
    if "model.1.weight" not in state_dict:
        raise ValueError("missing keys: model.1.weight (the first convolution)")
    return state_dict["model.1.weight"].shape[1]


def load_generator(generator, source, prefix=""):
    """Loads a reference `GlobalGenerator` / `LocalEnhancer` state dict into a
    `CoarseToFineGenerator` (`n_local_enhancers` 0 / >= 1); raises a `ValueError` listing every
    missing or unexpected key and shape mismatch.

    Args:
        generator: a `CoarseToFineGenerator` (built from the state dict's input channels if it
            is not built yet).
        source, prefix: as `keras_i2i.convert.common.load_state_dict`.
    """
    state_dict = load_state_dict(source, prefix)
    if not generator.built:
        generator.build((None, None, None, _input_channels(state_dict)))
    mapper = WeightMapper(state_dict)
    _map_global_generator(mapper, generator.global_generator)
    for n, enhancer in enumerate(generator.local_enhancers, start=1):
        _map_local_enhancer(mapper, enhancer, n)
    mapper.finish()


def load_encoder(encoder, source, prefix=""):
    """Loads a reference `Encoder` state dict into a `FeatureEncoder` (G1's indices without
    residual blocks)."""
    state_dict = load_state_dict(source, prefix)
    if not encoder.built:
        encoder.build([(None, None, None, _input_channels(state_dict)), (None, None, None, 1)])
    mapper = WeightMapper(state_dict)
    _map_global_generator(mapper, encoder.network)
    mapper.finish()


def load_discriminator(discriminator, source, prefix=""):
    """Loads a reference `MultiscaleDiscriminator` (`getIntermFeat`) state dict."""
    load_pix2pixhd_discriminator(discriminator, source, prefix)


def convert_checkpoint(checkpoint, output_dir, preset, epoch="latest", **overrides):
    """Converts a reference checkpoint into a preset folder.

    Args:
        checkpoint: the reference's `checkpoints/<name>` folder with `<epoch>_net_G.pth` and,
            when present, `_net_D.pth` and `_net_E.pth` (required when the model uses instance
            features), or the path of its `<epoch>_net_G.pth`.
        output_dir: the preset folder to write (`config.json`, `model.weights.h5`,
            `metadata.json`), or None to write none.
        preset: the `Pix2PixHD` preset (name or folder) of the same architecture, e.g.
            "label2city_1024p".
        epoch: the reference's `--which_epoch` when `checkpoint` is a folder.
        **overrides: constructor arguments replacing the preset's (e.g. `label_nc`).

    Returns:
        The converted `Pix2PixHD`.
    """
    from keras_i2i.models.pix2pixhd import Pix2PixHD

    if preset is None:
        raise ValueError(
            "Converting a pix2pixHD checkpoint needs the preset of its architecture (one of "
            f"{', '.join(Pix2PixHD.presets())}, or a preset folder)."
        )
    epoch, files = reference_checkpoint_files(checkpoint, epoch)
    model = Pix2PixHD.from_preset(preset, **overrides)
    load_generator(model.generator, files["G"])
    if "D" in files:
        load_discriminator(model.discriminator, files["D"])
    if model.encoder is not None:
        if "E" not in files:
            raise FileNotFoundError(
                f"{files['G'].parent}: no {epoch}_net_E.pth, which a model with instance "
                "features needs"
            )
        load_encoder(model.encoder, files["E"])
    if output_dir is not None:
        model.save_to_preset(output_dir, metadata={
            "converted_from": os.fspath(files["G"].parent), "preset": str(preset),
            "epoch": epoch})
    return model
