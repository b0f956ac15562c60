"""vid2vid (NVIDIA/vid2vid): video-to-video synthesis, its networks."""

from keras_i2i.models.vid2vid.discriminators import multiscale_discriminator, temporal_input
from keras_i2i.models.vid2vid.generator import (
    CompositeGenerator,
    CompositeLocalGenerator,
    Vid2VidGenerator,
)

__all__ = [
    "CompositeGenerator",
    "CompositeLocalGenerator",
    "Vid2VidGenerator",
    "multiscale_discriminator",
    "temporal_input",
]
