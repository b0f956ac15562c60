"""MUNIT (Huang et al., ECCV 2018): multimodal unsupervised image-to-image translation."""

from keras_i2i.models.munit import presets  # noqa: F401  (registers the presets)
from keras_i2i.models.munit.generator import (
    MLP,
    AdaINGenerator,
    ContentEncoder,
    Decoder,
    StyleEncoder,
)
from keras_i2i.models.munit.model import MUNIT

__all__ = ["MLP", "MUNIT", "AdaINGenerator", "ContentEncoder", "Decoder", "StyleEncoder"]
