"""DRIT / DRIT++ (HsinYingLee/DRIT) and its multi-domain form MDMM (HsinYingLee/MDMM)."""

from keras_i2i.models.discriminators import ContentDiscriminator
from keras_i2i.models.drit import presets
from keras_i2i.models.drit.discriminators import MultiDomainDiscriminator, domain_discriminator
from keras_i2i.models.drit.encoders import (
    AttributeEncoder,
    ContentEncoder,
    DownsamplingResidualBlock,
)
from keras_i2i.models.drit.generator import AttributeResidualBlock, Generator
from keras_i2i.models.drit.model import DRIT
from keras_i2i.models.drit.multi_domain import MDMM
from keras_i2i.models.registry import register_model

register_model(
    "drit",
    DRIT,
    data="unpaired",
    synthetic="unpaired",
    schedule="linear",  # the reference's: constant, then linear decay over the last epochs
    converter="keras_i2i.convert.drit:convert_checkpoint",
    description="DRIT / DRIT++: unpaired two-domain translation, content + random or "
    "example attributes",
    aliases={
        "lr": "learning_rate",
        "no_ms": ("mode_seeking", False),
        "nz": "attribute_dim",
        "input_dim_a": "channels_a",
        "input_dim_b": "channels_b",
    },
)

register_model(
    "mdmm",
    MDMM,
    data="multi_domain",
    synthetic="multi_domain",
    schedule="linear",
    converter="keras_i2i.convert.drit:convert_mdmm_checkpoint",
    description="MDMM (multi-domain DRIT++): N domains in one set of networks, random or "
    "example attributes",
    aliases={
        "lr": "learning_rate",
        "nz": "attribute_dim",
        "input_dim": "channels",
    },
)

__all__ = [
    "DRIT",
    "MDMM",
    "AttributeEncoder",
    "AttributeResidualBlock",
    "ContentDiscriminator",
    "ContentEncoder",
    "DownsamplingResidualBlock",
    "Generator",
    "MultiDomainDiscriminator",
    "domain_discriminator",
    "presets",
]
