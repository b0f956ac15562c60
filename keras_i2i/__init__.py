"""keras-i2i: image-to-image translation GANs for Keras 3 and TensorFlow.

    import keras_i2i
    model = keras_i2i.SPADE.from_preset("cityscapes")
    model.compile()
    model.fit(keras_i2i.data.paired_labels("datasets/cityscapes", "cityscapes", batch_size=1))
    model.export("serving/spade/1")
"""

__version__ = "0.1.0"

from keras_i2i import data, layers, losses, metrics
from keras_i2i.models.munit import MUNIT
from keras_i2i.models.pix2pixhd import Pix2PixHD
from keras_i2i.models.spade import SPADE
from keras_i2i.presets import list_presets

__all__ = ["MUNIT", "Pix2PixHD", "SPADE", "data", "layers", "list_presets", "losses", "metrics"]
