"""SPADE (GauGAN, Park et al., CVPR 2019): semantic image synthesis with spatially-adaptive
normalization.

    model = SPADE.from_preset("cityscapes")
    model.compile()
    model.fit(keras_i2i.data.paired_labels("datasets/cityscapes", "cityscapes", batch_size=16))
    images = model.translate(labels, instances)
"""

from keras_i2i.models.registry import register_model
from keras_i2i.models.spade import presets  # noqa: F401  (registers the presets)
from keras_i2i.models.spade.encoder import SPADEStyleEncoder
from keras_i2i.models.spade.generator import SPADEGenerator, SPADEResBlock, parse_spade_norm
from keras_i2i.models.spade.model import SPADE

register_model(
    "spade",
    SPADE,
    data="paired_labels",
    synthetic="scenes",
    schedule="linear",
    converter="keras_i2i.convert.spade:convert_checkpoint",
    description="SPADE / GauGAN: semantic label map -> photo, random or example-guided styles",
    aliases={
        "lr": "learning_rate",
        "beta1": "beta_1",
        "beta2": "beta_2",
        "no_vgg_loss": ("lambda_vgg", 0.0),
        "no_ganfeat_loss": ("lambda_feat", 0.0),
    },
)

__all__ = ["SPADE", "SPADEGenerator", "SPADEResBlock", "SPADEStyleEncoder", "parse_spade_norm"]
