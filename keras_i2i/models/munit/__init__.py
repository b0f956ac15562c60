"""MUNIT (Huang et al., ECCV 2018): multimodal unsupervised image-to-image translation."""

from keras_i2i.models.munit import presets
from keras_i2i.models.munit.generator import (
    MLP,
    AdaINGenerator,
    ContentEncoder,
    Decoder,
    StyleEncoder,
)
from keras_i2i.models.munit.model import MUNIT
from keras_i2i.models.registry import register_model

register_model(
    "munit",
    MUNIT,
    data="unpaired",
    synthetic="unpaired",
    schedule="step",
    step_size=100_000,
    gamma=0.5,
    converter="keras_i2i.convert.munit:convert_reference_run",
    description="MUNIT: unpaired two-domain translation, content + random or example styles",
)

__all__ = [
    "MLP",
    "MUNIT",
    "AdaINGenerator",
    "ContentEncoder",
    "Decoder",
    "StyleEncoder",
    "presets",
]
