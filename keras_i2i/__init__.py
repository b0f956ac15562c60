"""keras-i2i: image-to-image translation GANs for Keras 3 and TensorFlow."""

__version__ = "0.1.0"
