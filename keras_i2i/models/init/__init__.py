"""INIT (Shen et al., CVPR 2019): instance-level image-to-image translation, MUNIT with a
style per object and for the background."""

from keras_i2i.models.init import instances, presets
from keras_i2i.models.init.model import INIT
from keras_i2i.models.registry import register_model

register_model(
    "init",
    INIT,
    data="unpaired_boxes",
    synthetic="unpaired_boxes",
    schedule="constant",  # its optimizers keep MUNIT's step decay (lr_step_size)
    description="INIT: unpaired two-domain translation with a style per object box and for "
    "the background",
    aliases={
        "lr": "learning_rate",
        "beta1": "beta_1",
        "beta2": "beta_2",
        "ngf": "dim",
        "ndf": "dis_dim",
    },
)

__all__ = ["INIT", "instances", "presets"]
