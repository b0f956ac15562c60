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
    schedule="constant",  # its optimizers keep the preset's own step decay (lr_step_size)
    converter="keras_i2i.convert.munit:convert_reference_run",
    description="MUNIT: unpaired two-domain translation, content + random or example styles",
    aliases={
        "lr": "learning_rate",
        "beta1": "beta_1",
        "beta2": "beta_2",
        "ngf": "dim",
        "ndf": "dis_dim",
        "lambda_vgg": "vgg_weight",
        "no_vgg_loss": ("vgg_weight", 0.0),
    },
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
