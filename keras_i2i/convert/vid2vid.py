"""NVIDIA/vid2vid checkpoints -> vid2vid's Keras networks.

The reference saves plain state dicts: `<epoch>_net_G{s}.pth` per spatial scale s (G0 the
coarsest, a `CompositeGenerator`; then `CompositeLocalGenerator`s), `<epoch>_net_D.pth` (the
image discriminator) and `<epoch>_net_D_T{s}.pth` per temporal scale. A generator's keys are
its `nn.Sequential` modules and their indices (`model_down_seg.1.weight`, ...), which follow
from the blocks: a `ReflectionPad2d` before a reflection-padded convolution, the convolution,
its norm and its activation take one index each, a `ResnetBlock` one (`conv_block.1`, `.2`,
`.5`, `.6` inside). The discriminators are pix2pixHD's layout.

`convert_checkpoint` makes a whole `Vid2Vid` (and its preset folder) of a checkpoint folder,
reading its architecture off the state dicts (`architecture`).
"""

import os
import re
from collections.abc import Mapping

from keras_i2i import presets as preset_lib
from keras_i2i.convert.common import (
    StateDictMismatch,
    WeightMapper,
    load_pix2pixhd_discriminator,
    load_state_dict,
    reference_checkpoint_files,
)
from keras_i2i.layers import ResidualBlock
from keras_i2i.models.vid2vid.model import Vid2Vid

DEFAULT_PRESET = "cityscapes_512"


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


def checkpoint_files(checkpoint, epoch="latest"):
    """Every network file of a reference checkpoint folder.

    Args:
        checkpoint, epoch: as `load_checkpoint`.

    Returns:
        `(epoch, {network: path})` with `G0`, `G1`, ... (as many as there are in a row), `D`
        and `D_T0`, `D_T1`, ... where present; a `FileNotFoundError` names `G0`'s file when
        it is absent.
    """
    epoch, files = reference_checkpoint_files(checkpoint, epoch, ("G0",))
    folder = files["G0"].parent

    def exists(network):
        return (folder / f"{epoch}_net_{network}.pth").is_file()

    networks = _in_a_row("G", exists) + ["D"] + _in_a_row("D_T", exists)
    return reference_checkpoint_files(folder, epoch, networks)


def _in_a_row(network, exists):
    """`[f"{network}0", f"{network}1", ...]` as long as `exists` says they exist."""
    names = []
    while exists(f"{network}{len(names)}"):
        names.append(f"{network}{len(names)}")
    return names


def _read(source, name):
    """`load_state_dict(source)`; a source that cannot be read raises one line naming it."""
    try:
        return load_state_dict(source)
    except ImportError:
        raise
    except Exception as error:  # torch.load's unpickling, zip and end-of-file errors alike
        reason = (str(error).splitlines() or [""])[0]
        raise ValueError(f"{name}: not a readable state dict ({type(error).__name__}: "
                         f"{reason})") from error


def _count(state_dict, pattern, ndim=None):
    """How many distinct strings the group of `pattern` matches in whole keys (of arrays of
    `ndim` dimensions)."""
    return len({match.group(1) for key, value in state_dict.items()
                if (match := re.fullmatch(pattern, key)) and ndim in (None, value.ndim)})


def architecture(state_dicts, use_instance=False, label_maps=True, names=None):
    """The `Vid2Vid` arguments that a checkpoint's state dicts determine.

    Args:
        state_dicts: `{network: state dict}` (`load_state_dict`'s): `G0`, `G1`, ..., and where
            present `D`, `D_T0`, `D_T1`, ...
        use_instance, label_maps: how a frame's label channels divide, which the weights do
            not tell: with `use_instance` one is the instance edge map; the others are
            `label_nc` one-hot labels with `label_maps`, else `input_nc` float channels.
        names: `{network: name}` for the errors (e.g. the files); the network names by default.

    Returns:
        dict with, from G0: `ngf` (its first convolution's width), `output_nc` (the image
        head's channels), `n_frames_G` (the previous frames' channels / `output_nc` + 1),
        `label_nc` or `input_nc` (the label channels / `n_frames_G`, less the edge map),
        `n_downsample_G` (the label encoder's stride-2 convolutions), `n_blocks` (the residual
        blocks of the encoder and the image head), `fg` (whether it has the foreground
        generator, `indv_*`), `norm` (batch norm has an affine `weight`, instance norm running
        statistics alone); `n_scales_spatial` (the G state dicts); from G1 `n_blocks_local`;
        from D (else D_T0) `num_D`, `n_layers_D` (its layers less 2) and `ndf` (the
        full-resolution scale's first width: the scales' widths are capped at 64, so any ndf
        >= 64 is the same network, read as 64); from the D_T `n_scales_temporal` (their
        number) and `n_frames_D` (their input: `n_frames_D` frames and `n_frames_D - 1` flows).
        The rest is not in the weights: `fg_labels`, `no_first_img`, the losses and the
        training schedule.
    """
    names = names or {network: network for network in state_dicts}
    if "G0" not in state_dicts:
        raise ValueError(f"no G0 state dict (the coarsest generator): not a vid2vid checkpoint "
                         f"(it has {', '.join(sorted(state_dicts)) or 'none'})")

    def shape(network, key, what):
        if key not in state_dicts[network]:
            raise ValueError(f"{names[network]}: no {key} ({what}): not a vid2vid {network}")
        return state_dicts[network][key].shape

    label = shape("G0", "model_down_seg.1.weight", "the label encoder's first convolution")
    previous = shape("G0", "model_down_img.1.weight", "the previous frames' first convolution")
    output_nc = shape("G0", "model_final_img.1.weight", "the image head's last convolution")[0]
    n_frames_G = previous[1] // output_nc + 1
    if label[1] % n_frames_G:
        raise ValueError(f"{names['G0']}: its {label[1]} label channels are not {n_frames_G} "
                         f"frames', which its {previous[1]} previous-frame channels say")
    g0 = state_dicts["G0"]
    config = {
        "label_nc" if label_maps else "input_nc": label[1] // n_frames_G - int(use_instance),
        "output_nc": output_nc,
        "n_frames_G": n_frames_G,
        "ngf": label[0],
        "n_downsample_G": _count(g0, r"model_down_seg\.(\d+)\.weight", ndim=4) - 1,
        "n_blocks": _count(g0, r"(model_(?:down_seg|res_img)\.\d+)\.conv_block\..+"),
        "fg": "indv_down.1.weight" in g0,
        "norm": "batch" if "model_down_seg.2.weight" in g0 else "instance",
        "n_scales_spatial": len(_in_a_row("G", state_dicts.__contains__)),
    }
    if "G1" in state_dicts:
        config["n_blocks_local"] = _count(state_dicts["G1"],
                                          r"(model_up_img\.\d+)\.conv_block\..+")
    discriminator = next((network for network in ("D", "D_T0") if network in state_dicts), None)
    if discriminator is not None:
        shape(discriminator, "scale0_layer0.0.weight", "the first convolution")
        num_D = _count(state_dicts[discriminator], r"scale(\d+)_layer0\.0\.weight")
        config.update(
            num_D=num_D,
            n_layers_D=_count(state_dicts[discriminator], r"scale0_layer(\d+)\.0\.weight") - 2,
            ndf=shape(discriminator, f"scale{num_D - 1}_layer0.0.weight",
                      "the full-resolution scale's first convolution")[0],
        )
    temporal = len(_in_a_row("D_T", state_dicts.__contains__))
    if temporal:
        channels = shape("D_T0", "scale0_layer0.0.weight", "the first convolution")[1]
        config.update(n_scales_temporal=temporal, n_frames_D=(channels + 2) // (output_nc + 2))
    return config


def reference_networks(model):
    """`{network: (loader, Keras network)}` of a `Vid2Vid`, by the reference's names: `G0`,
    `G1`, ... (`load_level`), `D`, `D_T0`, `D_T1`, ... (`load_discriminator`)."""
    networks = {f"G{s}": (load_level, level) for s, level in enumerate(model.generator.levels)}
    networks["D"] = (load_discriminator, model.discriminator)
    networks.update({f"D_T{s}": (load_discriminator, discriminator)
                     for s, discriminator in enumerate(model.temporal_discriminators)})
    return networks


def convert_checkpoint(checkpoint, output_dir, preset=None, epoch="latest", **overrides):
    """Converts a reference checkpoint into a `Vid2Vid` and its preset folder.

    The networks' arguments are read off the state dicts (`architecture`); the preset gives
    the rest.

    Args:
        checkpoint: the reference's `checkpoints/<name>` folder, or one of its
            `<epoch>_net_<network>.pth` files (the epoch is then taken from the name); or a
            mapping `{network: state dict}` with the same network names (a state dict as
            `load_state_dict` takes it). `G0`, `G1`, ... are needed; `D`, `D_T0`, `D_T1`, ...
            are loaded when present: a checkpoint for generation alone has none, and its
            discriminators keep their initialization (the metadata's `initialized` names
            them). The face discriminator `D_f` (`--add_face_disc`) is not converted.
        output_dir: the preset folder to write (`config.json`, `model.weights.h5`,
            `metadata.json`), or None to write none.
        preset: the `Vid2Vid` preset (name or folder) of the checkpoint's dataset, for what the
            weights do not tell: the losses, optimizers and schedule, `fg_labels`,
            `no_first_img`, whether a frame's channels are one-hot labels (`label_nc` > 0) or
            a float input and whether one is the instance edge map (`use_instance`), and the
            discriminators' arguments when the checkpoint has none. None for
            "cityscapes_512" (the reference's street models).
        epoch: the reference's `--which_epoch` when `checkpoint` is a folder.
        **overrides: `Vid2Vid` arguments replacing the preset's and the checkpoint's (e.g.
            `fg_labels`).

    Returns:
        The converted `Vid2Vid`. A file that cannot be read, or whose weights do not fit the
        architecture read off the checkpoint, raises a one-line ValueError naming it.
    """
    preset = preset or DEFAULT_PRESET
    if isinstance(checkpoint, Mapping):
        epoch, folder, sources = None, None, checkpoint
    else:
        epoch, sources = checkpoint_files(checkpoint, epoch)
        folder = os.fspath(sources["G0"].parent)
    names = {network: network if isinstance(source, Mapping) else os.fspath(source)
             for network, source in sources.items()}
    state_dicts = {network: _read(source, names[network]) for network, source in sources.items()}
    base = {**preset_lib.preset_arguments(Vid2Vid, preset), **overrides}
    config = {**architecture(state_dicts, base["use_instance"], base["label_nc"] > 0, names),
              **overrides}
    described = f"Vid2Vid({', '.join(f'{key}={value!r}' for key, value in config.items())})"
    try:
        model = Vid2Vid.from_preset(preset, load_weights=False, **config)
    except ValueError as error:
        raise ValueError(f"{folder or 'the checkpoint'}: the preset {os.fspath(preset)!r} with "
                         f"the {described} read off the checkpoint: {error}") from None
    networks = reference_networks(model)
    initialized = [network for network in networks if network not in state_dicts]
    for network, (load, target) in networks.items():
        if network in state_dicts:
            try:
                load(target, state_dicts[network])
            except StateDictMismatch as error:
                raise ValueError(f"{names[network]} does not fit the {described} read off the "
                                 f"checkpoint: {error.one_line()}") from None
    if output_dir is not None:
        model.save_to_preset(output_dir, metadata={
            "converted_from": folder, "preset": os.fspath(preset), "epoch": epoch,
            "initialized": initialized})
    return model
