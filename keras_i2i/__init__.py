"""keras-i2i: image-to-image translation GANs for Keras 3 and TensorFlow.

    import keras_i2i
    model = keras_i2i.SPADE.from_preset("cityscapes")
    model.compile()
    model.fit(keras_i2i.data.paired_labels("datasets/cityscapes", "cityscapes", batch_size=1))
    model.export("serving/spade/1")

Submodules and models are imported when first used, so that `import keras_i2i` (and the
`keras-i2i` command's `--help`) does not start TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_MODELS = {
    "DRIT": "keras_i2i.models.drit",
    "INIT": "keras_i2i.models.init",
    "MDMM": "keras_i2i.models.drit",
    "MUNIT": "keras_i2i.models.munit",
    "Pix2PixHD": "keras_i2i.models.pix2pixhd",
    "SPADE": "keras_i2i.models.spade",
    "Vid2Vid": "keras_i2i.models.vid2vid",
}
_SUBMODULES = ("data", "layers", "losses", "metrics")

__all__ = [*_MODELS, *_SUBMODULES, "list_presets"]


def __getattr__(name):
    if name in _MODELS:
        return getattr(importlib.import_module(_MODELS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_i2i.{name}")
    if name == "list_presets":
        for module in _MODELS.values():  # the presets register when their model is imported
            importlib.import_module(module)
        return importlib.import_module("keras_i2i.presets").list_presets
    raise AttributeError(f"module 'keras_i2i' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
