"""SPADE (GauGAN): semantic image synthesis with spatially-adaptive normalization."""

from keras_i2i.models.spade import presets
from keras_i2i.models.spade.encoder import SPADEStyleEncoder
from keras_i2i.models.spade.generator import SPADEGenerator, SPADEResBlock, parse_spade_norm
from keras_i2i.models.spade.model import SPADE

__all__ = ["SPADE", "SPADEGenerator", "SPADEResBlock", "SPADEStyleEncoder", "parse_spade_norm", "presets"]
