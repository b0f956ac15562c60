"""pix2pixHD (Wang et al., CVPR 2018): high-resolution semantic synthesis and manipulation.

    model = Pix2PixHD.from_preset("label2city_512p")
    model.compile()
    model.fit(data, epochs=model.niter + model.niter_decay, callbacks=model.training_callbacks())
    images = model({"label": labels, "instance": instances})
"""

from keras_i2i.models.pix2pixhd import presets  # noqa: F401  (registers the presets)
from keras_i2i.models.pix2pixhd.clustering import kmeans
from keras_i2i.models.pix2pixhd.encoder import FeatureEncoder
from keras_i2i.models.pix2pixhd.generator import (
    CoarseToFineGenerator,
    GlobalGenerator,
    LocalEnhancer,
)
from keras_i2i.models.pix2pixhd.model import Pix2PixHD
from keras_i2i.models.pix2pixhd.schedule import EpochLinearDecay, FixCoarseLevels
from keras_i2i.models.registry import register_model

register_model(
    "pix2pixhd",
    Pix2PixHD,
    data="paired_labels",
    synthetic="scenes",
    schedule="constant",  # training_callbacks() decays the rates by epoch
    converter="keras_i2i.convert.pix2pixhd:convert_checkpoint",
    description="pix2pixHD: label map -> high-resolution photo, coarse to fine, instance styles",
    aliases={
        "no_vgg_loss": ("lambda_vgg", 0.0),
        "no_ganfeat_loss": ("lambda_feat", 0.0),
    },
)

__all__ = [
    "CoarseToFineGenerator",
    "EpochLinearDecay",
    "FeatureEncoder",
    "FixCoarseLevels",
    "GlobalGenerator",
    "LocalEnhancer",
    "Pix2PixHD",
    "kmeans",
]
