"""vid2vid's image discriminator D_I and temporal discriminators D_V (Wang et al. 2018,
section 3.2): pix2pixHD's multi-scale PatchGAN whose scales widen as they coarsen."""

from keras import ops

from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER, MultiscaleDiscriminator
from keras_i2i.models.vid2vid.generator import FLOW_SCALE, NORMS

# The reference's `MultiscaleDiscriminator` caps the first width of a scale at 64.
NDF_MAX = 64


def multiscale_discriminator(ndf=64, n_layers_D=3, num_D=2, norm="batch", **kwargs):
    """The reference's `define_D(input_nc, ndf, n_layers_D, norm, num_D, getIntermFeat=True)`.

    A `MultiscaleDiscriminator` (4 x 4 convs, zero padding 2, LeakyReLU 0.2, `n_layers_D + 2`
    layers per scale, every layer's output returned) whose scale k (the input downsampled k
    times) starts with `min(64, ndf * 2^k)` channels. Both discriminators are this network:
    D_I on `[current frame's labels and edges, image]`, D_V (one per temporal scale) on
    `temporal_input(frames, flows)`. The reference runs them in training mode (batch
    statistics): call them with `training=True`.

    Args:
        ndf, n_layers_D, num_D: the reference's options.
        norm: `"batch"` or `"instance"`, the reference's `--norm`.
        **kwargs: `MultiscaleDiscriminator`'s (`name`, `dtype`, ...).
    """
    return MultiscaleDiscriminator(
        num_D=num_D,
        n_layers=n_layers_D + 1,
        ndf=ndf,
        norm=NORMS[norm],
        ndf_max=NDF_MAX,
        kernel_initializer=GAUSSIAN_INITIALIZER,
        **kwargs,
    )


def temporal_input(frames, flows):
    """D_V's input: `frames` (B, H, W, n_frames_D * C), oldest first, then `flows` (B, H, W,
    2 (n_frames_D - 1)), the flow of each later frame to its predecessor in pixels, divided by
    20 as the reference does."""
    return ops.concatenate([frames, flows / FLOW_SCALE], axis=-1)
