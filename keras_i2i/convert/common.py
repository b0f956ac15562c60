"""Shared PyTorch -> Keras weight conversion: layouts, state-dict loading, key bookkeeping,
and the loaders of the multi-scale discriminators.

A model's converter reads a reference state dict with `load_state_dict`, assigns its
entries through a `WeightMapper` (which converts the layouts and records what was used),
and calls `WeightMapper.finish()`, which raises one error (`StateDictMismatch`) listing every
missing key, unexpected key and shape mismatch.
"""

import os
import pathlib
from collections.abc import Mapping

import numpy as np

from keras_i2i.layers import (
    AdaptiveInstanceNorm,
    BatchNorm,
    Conv2DTranspose,
    InstanceNormalization,
    LayerNorm,
)


def conv_kernel(weight):
    """`nn.Conv2d.weight` (out, in, kh, kw) -> `Conv2D.kernel` (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def conv_transpose_kernel(weight):
    """`nn.ConvTranspose2d.weight` (in, out, kh, kw) -> `Conv2DTranspose.kernel` (kh, kw, out,
    in)."""
    return np.transpose(weight, (2, 3, 1, 0))


def dense_kernel(weight):
    """`nn.Linear.weight` (out, in) -> `keras.layers.Dense.kernel` (in, out)."""
    return np.transpose(weight)


def spectral_v(weight_v, kernel_size, in_channels):
    """`weight_v`, flattened from PyTorch's (in, kh, kw) -> `Conv2D.v`, flattened from (kh, kw,
    in)."""
    v = np.reshape(weight_v, (in_channels, kernel_size, kernel_size))
    return np.reshape(np.transpose(v, (1, 2, 0)), (-1,))


def _to_numpy(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _flatten(mapping, parent=""):
    """Nested mappings (e.g. MUNIT's `{"a": state_dict, "b": ...}`) -> flat `parent/key` dict."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{parent}{key}/"))
        else:
            flat[f"{parent}{key}"] = value
    return flat


def _torch_load(path):
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading the PyTorch checkpoint {path} needs torch: pip install 'keras-i2i[torch]'"
        ) from error
    return torch.load(path, map_location="cpu", weights_only=True)


def load_state_dict(source, prefix=""):
    """Reads a reference state dict as numpy arrays.

    Args:
        source: a `.pth` / `.pt` checkpoint (read with `torch.load(weights_only=True)`; torch
            is the optional extra `keras-i2i[torch]`), an `.npz` file, or a mapping of arrays
            or tensors. Nested mappings are flattened with `/` (`{"a": {"x": ...}}` -> `a/x`).
        prefix: only the keys starting with it are kept, without it (e.g. `"discriminator/"`
            for the reference test vectors).

    Returns:
        dict of PyTorch key -> numpy array, in PyTorch layouts.
    """
    if isinstance(source, Mapping):
        entries = source
    else:
        path = os.fspath(source)
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as npz:
                entries = {key: npz[key] for key in npz.files}
        elif path.endswith((".pth", ".pt")):
            entries = _torch_load(path)
        else:
            raise ValueError(f"{path}: expected a .pth, .pt or .npz file")
    flat = _flatten(entries)
    return {
        key[len(prefix) :]: _to_numpy(value)
        for key, value in flat.items()
        if key.startswith(prefix)
    }


def reference_checkpoint_files(checkpoint, epoch="latest", networks=("G", "D", "E")):
    """The `<epoch>_net_<network>.pth` files of a pix2pixHD, SPADE or vid2vid checkpoint
    folder.

    Args:
        checkpoint: the folder, or the path of one of its `<epoch>_net_<network>.pth` (the
            epoch is then taken from the name).
        epoch: the epoch prefix (`"latest"` or a number) when `checkpoint` is a folder.
        networks: the network names to look for, the generator first (vid2vid: `G0`, ...).

    Returns:
        `(epoch, {network: path})` with the files that exist; a `FileNotFoundError` names
        the generator's file when it is absent.
    """
    path = pathlib.Path(checkpoint)
    if path.is_file():
        epoch, separator, _ = path.name.rpartition("_net_")
        if not separator:
            raise ValueError(
                f"{checkpoint}: expected a <epoch>_net_{networks[0]}.pth file or its folder"
            )
        path = path.parent
    files = {network: path / f"{epoch}_net_{network}.pth" for network in networks}
    generator = files[networks[0]]
    if not generator.is_file():
        raise FileNotFoundError(f"{generator}: no generator checkpoint in {path}")
    return epoch, {network: file for network, file in files.items() if file.is_file()}


class WeightMapper:
    """Assigns state-dict entries to Keras variables, converting layouts, and keeps account.

    Args:
        state_dict: PyTorch key -> numpy array (see `load_state_dict`).
        ignore_suffixes: keys ending with one of these are never reported as unexpected
            (by default `num_batches_tracked`, which has no Keras counterpart).
    """

    def __init__(self, state_dict, ignore_suffixes=("num_batches_tracked",)):
        self.state_dict = state_dict
        self.ignore_suffixes = tuple(ignore_suffixes)
        self.used = set()
        self.missing = []
        self.mismatched = []

    def assign(self, variable, key, convert=None):
        """`variable.assign(convert(state_dict[key]))`; records a missing key or shape mismatch."""
        if key not in self.state_dict:
            self.missing.append(f"{key} (for {variable.path}, shape {tuple(variable.shape)})")
            return
        self.used.add(key)
        found = self.state_dict[key]
        try:
            value = convert(found) if convert else found
        except ValueError:
            value = None
        if value is None or tuple(value.shape) != tuple(variable.shape):
            converted = "" if value is None else f", {tuple(value.shape)} once converted"
            self.mismatched.append(
                f"{key}: found shape {tuple(found.shape)}{converted}; "
                f"expected {tuple(variable.shape)} for {variable.path}"
            )
            return
        variable.assign(value.astype(variable.dtype))

    def skip(self, *keys):
        """Marks entries the Keras model has no variable for (e.g. unused buffers) as used."""
        self.used.update(key for key in keys if key in self.state_dict)

    def conv(self, layer, prefix):
        """`Conv2D` (plain: `weight`; spectral norm: `weight_orig`, `weight_u`, `weight_v`),
        `Conv2DTranspose` (`weight`), and `bias` if the layer has one."""
        if isinstance(layer, Conv2DTranspose):
            self.assign(layer.kernel, f"{prefix}.weight", conv_transpose_kernel)
        elif layer.spectral_norm:
            self.assign(layer.kernel, f"{prefix}.weight_orig", conv_kernel)
            self.assign(layer.u, f"{prefix}.weight_u")
            in_channels = layer.kernel.shape[2]
            self.assign(
                layer.v,
                f"{prefix}.weight_v",
                lambda v: spectral_v(v, layer.kernel_size, in_channels),
            )
        else:
            self.assign(layer.kernel, f"{prefix}.weight", conv_kernel)
        if layer.use_bias:
            self.assign(layer.bias, f"{prefix}.bias")

    def dense(self, layer, prefix):
        """`keras.layers.Dense` from `nn.Linear` (`weight`, `bias`)."""
        self.assign(layer.kernel, f"{prefix}.weight", dense_kernel)
        if layer.use_bias:
            self.assign(layer.bias, f"{prefix}.bias")

    def norm(self, layer, prefix):
        """A normalization layer: `InstanceNormalization` / `BatchNorm` (`weight`, `bias` if
        affine; `running_mean`, `running_var` if it tracks them), MUNIT's `LayerNorm`
        (`gamma`, `beta`); `AdaptiveInstanceNorm` has no stored parameters (MUNIT's unused
        running buffers are skipped)."""
        if isinstance(layer, LayerNorm):
            self.assign(layer.gamma, f"{prefix}.gamma")
            self.assign(layer.beta, f"{prefix}.beta")
            return
        if isinstance(layer, AdaptiveInstanceNorm):
            self.skip(f"{prefix}.running_mean", f"{prefix}.running_var")
            return
        if not isinstance(layer, (InstanceNormalization, BatchNorm)):
            raise TypeError(f"no PyTorch mapping for {type(layer).__name__}")
        if layer.affine:
            self.assign(layer.gamma, f"{prefix}.weight")
            self.assign(layer.beta, f"{prefix}.bias")
        if isinstance(layer, BatchNorm) or layer.track_running_stats:
            self.assign(layer.moving_mean, f"{prefix}.running_mean")
            self.assign(layer.moving_variance, f"{prefix}.running_var")

    def finish(self):
        """Raises a `StateDictMismatch` naming every missing key, unexpected key and shape
        mismatch."""
        unexpected = sorted(
            key
            for key in set(self.state_dict) - self.used
            if not key.endswith(self.ignore_suffixes)
        )
        if self.missing or unexpected or self.mismatched:
            raise StateDictMismatch(self.missing, unexpected, self.mismatched)


class StateDictMismatch(ValueError):
    """`WeightMapper.finish`'s error: `missing`, `unexpected` and `mismatched` list the
    problems, one line each; the message lists them all, under a title per kind."""

    def __init__(self, missing, unexpected, mismatched):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [
            f"{title} ({len(items)}):\n  " + "\n  ".join(items)
            for title, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", mismatched),
            )
            if items
        ]
        super().__init__("The state dict does not match the Keras model.\n" + "\n".join(lines))

    def one_line(self, prefix=""):
        """The first problem in one line, its key after `prefix` (e.g. a network's name),
        and how many more there are."""
        if self.mismatched:
            first = f"{prefix}{self.mismatched[0]}"
        elif self.missing:
            first = f"missing {prefix}{self.missing[0]}"
        else:
            first = f"unexpected {prefix}{self.unexpected[0]}"
        more = len(self.missing) + len(self.unexpected) + len(self.mismatched) - 1
        return first + (f" (and {more} more problems)" if more else "")


def _mapper_for(model, source, prefix, first_conv_key):
    """Reads the state dict and builds `model` for the input channels its first conv takes."""
    state_dict = load_state_dict(source, prefix)
    if not model.built:
        weight = state_dict.get(
            f"{first_conv_key}.weight", state_dict.get(f"{first_conv_key}.weight_orig")
        )
        if weight is None:
            raise ValueError(f"missing keys: {first_conv_key}.weight (the first convolution)")
        model.build((None, None, None, weight.shape[1]))
    return WeightMapper(state_dict)


def _block_norm(mapper, block, prefix):
    if block.norm != "none":
        mapper.norm(block.norm_layer, prefix)


def load_spade_discriminator(discriminator, source, prefix=""):
    """Loads NVlabs/SPADE's `MultiscaleDiscriminator` weights into a `MultiscaleDiscriminator`.

    Keys `discriminator_{k}.model{i}.0...` (k = scale, 0 the full resolution). A normalized
    middle layer is `nn.Sequential(conv, norm)`, so its conv is `model{i}.0.0` and its
    norm `model{i}.0.1`.

    Args:
        discriminator: a `MultiscaleDiscriminator` (built on first use if needed).
        source, prefix: as `load_state_dict`.
    """
    mapper = _mapper_for(discriminator, source, prefix, "discriminator_0.model0.0")
    for k, blocks in enumerate(discriminator.scales):
        for i, block in enumerate(blocks):
            key = f"discriminator_{k}.model{i}.0"
            if block.norm == "none":
                mapper.conv(block.conv, key)
            else:
                mapper.conv(block.conv, f"{key}.0")
                _block_norm(mapper, block, f"{key}.1")
    mapper.finish()


def load_pix2pixhd_discriminator(discriminator, source, prefix=""):
    """Loads NVIDIA/pix2pixHD's (and NVIDIA/vid2vid's) `MultiscaleDiscriminator`
    (`getIntermFeat=True`) weights.

    Keys `scale{s}_layer{i}.0` (conv) and `.1` (norm). pix2pixHD runs the full-resolution
    input through `scale{num_D - 1}`, so Keras scale k takes PyTorch scale `num_D - 1 - k`.

    Args:
        discriminator: a `MultiscaleDiscriminator` with `n_layers` = pix2pixHD's `n_layers_D + 1`
            (vid2vid's: also `ndf_max=64`).
        source, prefix: as `load_state_dict`.
    """
    last = discriminator.num_D - 1
    mapper = _mapper_for(discriminator, source, prefix, f"scale{last}_layer0.0")
    for k, blocks in enumerate(discriminator.scales):
        for i, block in enumerate(blocks):
            key = f"scale{last - k}_layer{i}"
            mapper.conv(block.conv, f"{key}.0")
            _block_norm(mapper, block, f"{key}.1")
    mapper.finish()


def load_munit_discriminator(discriminator, source, prefix=""):
    """Loads NVlabs/MUNIT's `MsImageDis` weights into an `MsImageDiscriminator`.

    Keys `cnns.{k}.{i}.conv` / `.norm` for the `Conv2dBlock`s and `cnns.{k}.{n_layer}` for
    the final 1 x 1 convolution.
    """
    mapper = _mapper_for(discriminator, source, prefix, "cnns.0.0.conv")
    for k, blocks in enumerate(discriminator.scales):
        *conv_blocks, final = blocks
        for i, block in enumerate(conv_blocks):
            mapper.conv(block.conv, f"cnns.{k}.{i}.conv")
            _block_norm(mapper, block, f"cnns.{k}.{i}.norm")
        mapper.conv(final.conv, f"cnns.{k}.{len(conv_blocks)}")
    mapper.finish()
