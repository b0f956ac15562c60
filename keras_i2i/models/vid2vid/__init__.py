"""vid2vid (NVIDIA/vid2vid): video-to-video synthesis.

    model = Vid2Vid.from_preset("cityscapes_512")
    model.compile()
    model.fit(clips_with_flow, epochs=model.niter + model.niter_decay,
              callbacks=model.training_callbacks())
    frames = model.generate(label_frames, first_frames=..., instance_video=instance_frames)
"""

from keras_i2i.models.registry import register_model
from keras_i2i.models.vid2vid import presets  # noqa: F401  (registers the presets)
from keras_i2i.models.vid2vid.discriminators import multiscale_discriminator, temporal_input
from keras_i2i.models.vid2vid.generator import (
    CompositeGenerator,
    CompositeLocalGenerator,
    Vid2VidGenerator,
)
from keras_i2i.models.vid2vid.model import Vid2Vid
from keras_i2i.models.vid2vid.schedule import FixCoarseScales, GrowingClips

register_model(
    "vid2vid",
    Vid2Vid,
    data="video_clips",
    synthetic="videos",
    schedule="constant",  # training_callbacks() decays the rates by epoch
    converter="keras_i2i.convert.vid2vid:convert_checkpoint",
    description="vid2vid: label video -> photo-realistic video, frame by frame with flow warping",
    aliases={
        "no_vgg": ("lambda_vgg", 0.0),
        "no_ganFeat": ("lambda_feat", 0.0),
    },
)

__all__ = [
    "CompositeGenerator",
    "CompositeLocalGenerator",
    "FixCoarseScales",
    "GrowingClips",
    "Vid2Vid",
    "Vid2VidGenerator",
    "multiscale_discriminator",
    "temporal_input",
]
