"""NVlabs/MUNIT checkpoints -> Keras weights.

The reference saves `gen_<iteration>.pt` = `{"a": AdaINGen.state_dict(), "b": ...}` and
`dis_<iteration>.pt` = `{"a": MsImageDis.state_dict(), "b": ...}`.

>>> model = convert_checkpoint("outputs/edges2shoes/checkpoints/gen_01000000.pt",
...                            "outputs/edges2shoes/checkpoints/dis_01000000.pt",
...                            output="presets/munit_edges2shoes")   # doctest: +SKIP
>>> MUNIT.from_preset("presets/munit_edges2shoes")                  # doctest: +SKIP
"""

import os
import pathlib
import re

from keras_i2i.convert.common import WeightMapper, load_munit_discriminator, load_state_dict
from keras_i2i.models.munit import MUNIT


def _blocks(mapper, blocks, prefix, start=0):
    """`Conv2dBlock`s `{prefix}.{start + i}` (`.conv`, `.norm`) for the Keras `ConvBlock`s."""
    for i, block in enumerate(blocks):
        _block(mapper, block, f"{prefix}.{start + i}")


def _block(mapper, block, key):
    mapper.conv(block.conv, f"{key}.conv")
    if block.norm != "none":
        mapper.norm(block.norm_layer, f"{key}.norm")
    if block.norm == "instance":
        # Checkpoints saved with PyTorch 0.3 (the released MUNIT models) carry running
        # statistics of the content encoder's InstanceNorm2d, which MUNIT never uses.
        mapper.skip(f"{key}.norm.running_mean", f"{key}.norm.running_var")


def _residual_blocks(mapper, blocks, prefix):
    """`ResBlocks` `{prefix}.model.{j}.model.{0, 1}` for the Keras `ResidualBlock`s."""
    for j, residual in enumerate(blocks):
        for i, block in enumerate((residual.conv_0, residual.conv_1)):
            _block(mapper, block, f"{prefix}.model.{j}.model.{i}")


def load_adain_generator(generator, source, prefix=""):
    """Loads MUNIT's `AdaINGen` weights into an `AdaINGenerator` (built on first use).

    Keys: `enc_style.model.{i}` (blocks, then the 1 x 1 conv after the pooling),
    `enc_content.model.{i}` (blocks, then `ResBlocks`), `dec.model.{i}` (`ResBlocks`, then
    upsampling / conv block pairs, then the output block), `mlp.model.{i}.fc`.

    Args:
        generator: an `AdaINGenerator` of the checkpoint's architecture.
        source, prefix: as `common.load_state_dict` (e.g. a `gen_*.pt` with prefix `"a/"`).
    """
    state_dict = load_state_dict(source, prefix)
    if not generator.built:
        generator.build()
    mapper = WeightMapper(state_dict)
    style = generator.style_encoder
    _blocks(mapper, style.blocks, "enc_style.model")
    mapper.conv(style.projection, f"enc_style.model.{len(style.blocks) + 1}")
    content = generator.content_encoder
    convs = content.blocks[: content.n_downsample + 1]
    _blocks(mapper, convs, "enc_content.model")
    _residual_blocks(mapper, content.blocks[len(convs) :], f"enc_content.model.{len(convs)}")
    decoder = generator.decoder
    _residual_blocks(mapper, decoder.residual_blocks, "dec.model.0")
    for i, block in enumerate(decoder.upsample_blocks):
        _block(mapper, block, f"dec.model.{2 + 2 * i}")
    _block(mapper, decoder.output_block, f"dec.model.{1 + 2 * decoder.n_upsample}")
    for i, dense in enumerate(generator.mlp.dense_layers):
        mapper.dense(dense, f"mlp.model.{i}.fc")
    mapper.finish()


def architecture(gen_state_dict, dis_state_dict=None):
    """The `MUNIT` arguments that a checkpoint's shapes determine.

    Args:
        gen_state_dict: the flattened `gen_*.pt` (`a/...`, `b/...` keys).
        dis_state_dict: the flattened `dis_*.pt`, or None.

    Returns:
        dict with `channels_a`, `channels_b`, `dim`, `style_dim`, `mlp_dim`, `n_downsample`,
        `n_res` (and `dis_dim`, `dis_n_layer`, `dis_num_scales`).
    """
    keys = set(gen_state_dict)
    if "a/enc_content.model.0.conv.weight" not in keys:
        raise ValueError(
            "not a MUNIT generator checkpoint: expected {'a': AdaINGen state dict, 'b': ...} "
            f"with 'enc_content.model.0.conv.weight'; found keys like {sorted(keys)[:3]}"
        )
    first = gen_state_dict["a/enc_content.model.0.conv.weight"]
    n_downsample = sum(f"a/enc_content.model.{i}.conv.weight" in keys for i in range(1, 10))
    content = f"a/enc_content.model.{n_downsample + 1}.model"
    config = {
        "channels_a": int(first.shape[1]),
        "channels_b": int(gen_state_dict["b/enc_content.model.0.conv.weight"].shape[1]),
        "dim": int(first.shape[0]),
        "style_dim": int(gen_state_dict["a/enc_style.model.6.weight"].shape[0]),
        "mlp_dim": int(gen_state_dict["a/mlp.model.0.fc.weight"].shape[0]),
        "n_downsample": n_downsample,
        "n_res": len({re.match(rf"{content}\.(\d+)\.", k).group(1) for k in keys
                      if k.startswith(content + ".")}),
    }
    if dis_state_dict is not None:
        first = dis_state_dict["a/cnns.0.0.conv.weight"]
        config.update(
            dis_dim=int(first.shape[0]),
            dis_n_layer=sum(f"a/cnns.0.{i}.conv.weight" in dis_state_dict for i in range(20)),
            dis_num_scales=sum(f"a/cnns.{k}.0.conv.weight" in dis_state_dict for k in range(20)),
        )
    return config


def convert_checkpoint(gen_checkpoint, dis_checkpoint=None, preset="edges2shoes", output=None,
                       **overrides):
    """Builds a `MUNIT` with a reference checkpoint's weights.

    Args:
        gen_checkpoint: `gen_*.pt` (needs torch), or an `.npz` / mapping with `a/...` and
            `b/...` keys.
        dis_checkpoint: optional `dis_*.pt` likewise; without it the discriminators keep
            their initialization (enough for inference).
        preset: the built-in preset giving what the shapes cannot tell (padding,
            activations, norms, loss weights); the shapes (`architecture`) override it.
        output: optional folder to write the result as a preset (`save_to_preset`).
        **overrides: further `MUNIT` arguments.

    Returns:
        The converted `MUNIT`.
    """
    gen_state = load_state_dict(gen_checkpoint)
    dis_state = None if dis_checkpoint is None else load_state_dict(dis_checkpoint)
    model = MUNIT.from_preset(preset, **{**architecture(gen_state, dis_state), **overrides})
    for domain in ("a", "b"):
        load_adain_generator(getattr(model, f"generator_{domain}"), gen_state, f"{domain}/")
        if dis_state is not None:
            load_munit_discriminator(getattr(model, f"discriminator_{domain}"), dis_state,
                                     f"{domain}/")
    if output is not None:
        sources = [gen_checkpoint, dis_checkpoint]
        model.save_to_preset(output, metadata={
            "converted_from": [os.fspath(s) for s in sources if isinstance(s, (str, os.PathLike))],
            "preset": preset,
        })
    return model


def convert_reference_run(checkpoint, output, preset=None):
    """`keras-i2i convert --model munit`: writes the preset folder `output` from a generator
    checkpoint (e.g. `gen_01000000.pt`, or a released model such as `edges2shoes.pt`; the
    `dis_<iteration>.pt` beside a `gen_<iteration>.pt` is converted too) or from a reference
    run's checkpoints folder (its latest `gen_*.pt`). `preset` defaults to `"edges2shoes"`."""
    path = pathlib.Path(checkpoint)
    if path.is_dir():
        generators = sorted(path.glob("gen_*.pt"))
        if not generators:
            raise ValueError(f"{path}: no gen_*.pt checkpoint in this folder")
        path = generators[-1]
    discriminator = path.with_name("dis_" + path.name[len("gen_") :])
    if not (path.name.startswith("gen_") and discriminator.is_file()):
        discriminator = None
    return convert_checkpoint(path, discriminator, preset or "edges2shoes", output)
