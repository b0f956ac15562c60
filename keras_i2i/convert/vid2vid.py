"""NVIDIA/vid2vid checkpoints -> vid2vid's Keras networks.

The reference saves plain state dicts: `<epoch>_net_G{s}.pth` per spatial scale s (G0 the
coarsest, a `CompositeGenerator`; then `CompositeLocalGenerator`s), `<epoch>_net_D.pth` (the
image discriminator) and `<epoch>_net_D_T{s}.pth` per temporal scale. A generator's keys are
its `nn.Sequential` modules and their indices (`model_down_seg.1.weight`, ...), which follow
from the blocks: a `ReflectionPad2d` before a reflection-padded convolution, the convolution,
its norm and its activation take one index each, a `ResnetBlock` one (`conv_block.1`, `.2`,
`.5`, `.6` inside). The discriminators are pix2pixHD's layout.
"""

from keras_i2i.convert.common import (
    WeightMapper,
    load_pix2pixhd_discriminator,
    load_state_dict,
    reference_checkpoint_files,
)
from keras_i2i.layers import ResidualBlock


def _conv_block(mapper, block, conv_key, norm_key):
    mapper.conv(block.conv, conv_key)
    if block.norm != "none":
        mapper.norm(block.norm_layer, norm_key)


def _sequential(mapper, blocks, prefix):
    """Maps a list of `ConvBlock`s and `ResidualBlock`s from an `nn.Sequential` `prefix`."""
    index = 0
    for block in blocks:
        if isinstance(block, ResidualBlock):
            key = f"{prefix}.{index}.conv_block"
            _conv_block(mapper, block.conv_0, f"{key}.1", f"{key}.2")
            _conv_block(mapper, block.conv_1, f"{key}.5", f"{key}.6")
            index += 1
            continue
        index += int(block.pad_type == "reflect" and block.padding > 0)
        _conv_block(mapper, block, f"{prefix}.{index}", f"{prefix}.{index + 1}")
        index += 1 + (block.norm != "none") + (block.activation != "none")


def _input_shape(state_dict):
    """A generator's input shapes, from its first convolutions' input channels."""
    shape = {}
    for name, key in (("label", "model_down_seg.1.weight"),
                      ("prev_images", "model_down_img.1.weight")):
        if key not in state_dict:
            raise ValueError(f"missing keys: {key} (the first convolution)")
        shape[name] = (None, None, None, state_dict[key].shape[1])
    return shape


def load_level(level, source, prefix=""):
    """Loads a reference `CompositeGenerator` / `CompositeLocalGenerator` state dict into a
    `CompositeGenerator` / `CompositeLocalGenerator` (built for the state dict's input
    channels if it is not built); raises a `StateDictMismatch` listing every missing or
    unexpected key and shape mismatch.

    Args:
        level: the Keras generator of one spatial scale.
        source, prefix: as `keras_i2i.convert.common.load_state_dict`.
    """
    state_dict = load_state_dict(source, prefix)
    if not level.built:
        level.build(_input_shape(state_dict))
    mapper = WeightMapper(state_dict)
    for name, blocks in level.sequences.items():
        _sequential(mapper, blocks, name)
    mapper.finish()


def load_generator(generator, sources, prefix=""):
    """Loads the reference's G0, G1, ... into a `Vid2VidGenerator`.

    Args:
        generator: a `Vid2VidGenerator` (built on first use if needed).
        sources: one state dict source per spatial scale, coarse to fine (`latest_net_G0.pth`,
            `latest_net_G1.pth`, ...; see `load_state_dict`).
        prefix: as `load_state_dict`, for every source.
    """
    if len(sources) != len(generator.levels):
        raise ValueError(
            f"the generator has {len(generator.levels)} spatial scales, got {len(sources)} "
            "state dicts"
        )
    state_dicts = [load_state_dict(source, prefix) for source in sources]
    if not generator.built:
        generator.build(_input_shape(state_dicts[0]))
    for level, state_dict in zip(generator.levels, state_dicts):
        load_level(level, state_dict)


def load_discriminator(discriminator, source, prefix=""):
    """Loads a reference image or temporal discriminator (`latest_net_D.pth`,
    `latest_net_D_T{s}.pth`) into a `multiscale_discriminator`."""
    load_pix2pixhd_discriminator(discriminator, source, prefix)


def load_checkpoint(checkpoint, generator, discriminator=None, temporal_discriminators=(),
                    epoch="latest"):
    """Loads a reference checkpoint folder into the given networks.

    Args:
        checkpoint: the reference's `checkpoints/<name>` folder, or the path of one of its
            `<epoch>_net_<network>.pth` files (the epoch is then taken from the name).
        generator: a `Vid2VidGenerator`; its `n_scales_spatial` files `G0`, `G1`, ... are read.
        discriminator: the image discriminator (`D`), if it is to be loaded.
        temporal_discriminators: the temporal discriminators (`D_T0`, `D_T1`, ...) to load.
        epoch: the reference's `--which_epoch` when `checkpoint` is a folder.

    Returns:
        The epoch. A `FileNotFoundError` names the files of the given networks that are absent.
    """
    generators = [f"G{s}" for s in range(len(generator.levels))]
    temporal = [f"D_T{s}" for s in range(len(temporal_discriminators))]
    networks = generators + (["D"] if discriminator is not None else []) + temporal
    epoch, files = reference_checkpoint_files(checkpoint, epoch, networks)
    absent = [f"{epoch}_net_{network}.pth" for network in networks if network not in files]
    if absent:
        folder = files["G0"].parent
        raise FileNotFoundError(f"{folder}: no {', '.join(absent)}")
    load_generator(generator, [files[network] for network in generators])
    if discriminator is not None:
        load_discriminator(discriminator, files["D"])
    for network, temporal_discriminator in zip(temporal, temporal_discriminators):
        load_discriminator(temporal_discriminator, files[network])
    return epoch
