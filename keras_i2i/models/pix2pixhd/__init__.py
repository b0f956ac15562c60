"""pix2pixHD (Wang et al., CVPR 2018): high-resolution semantic synthesis and manipulation.

    model = Pix2PixHD.from_preset("label2city_512p")
    model.compile()
    model.fit(data, epochs=model.niter + model.niter_decay, callbacks=model.training_callbacks())
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
from keras_i2i.models.pix2pixhd.schedule import FixCoarseLevels, LinearDecay

__all__ = [
    "CoarseToFineGenerator",
    "FeatureEncoder",
    "FixCoarseLevels",
    "GlobalGenerator",
    "LinearDecay",
    "LocalEnhancer",
    "Pix2PixHD",
    "kmeans",
]
