"""DRIT presets: the reference's training commands per dataset (HsinYingLee/DRIT's README
and `options.py`). No weights: convert a reference checkpoint with `keras_i2i.convert.drit`
or train.

Every reference preset has the `DRIT` defaults: width 64, 8-d attributes, multi-scale image
discriminators (3 scales) without norm or spectral norm, mode seeking, the content
discriminator updated alone on two of three iterations, reconstruction x 10, KL x 0.01,
latent regression x 10; Adam 1e-4 (content discriminator 4e-5, gradient norm clipped to 5),
betas (0.5, 0.999), weight decay 1e-4; 1200 epochs, the last 600 decaying linearly; batches
of 2 per iteration (6 per step); images resized to 256x256, random 216x216 crops, flips.
"""

from keras_i2i import presets as preset_lib

DRIT_PRESETS = {
    "cat2dog": {
        "dataset": "cat2dog",
        "description": "cat (a) <-> dog (b), 216x216: shapes change, so the MLP generator "
        "(--concat 0), as the reference's README advises for cat <-> dog.",
        "config": {"concat": False},
    },
    "portrait": {
        "dataset": "portrait",
        "description": "photograph (a) <-> painting (b) portraits, 216x216 "
        "(`train.py --concat 0`).",
        "config": {"concat": False},
    },
    "yosemite": {
        "dataset": "yosemite",
        "description": "Yosemite summer (a) <-> winter (b), 216x216 (`train.py`, --concat 1: "
        "the attribute concatenated).",
        "config": {},
    },
    "synthetic": {
        "description": "The synthetic unpaired domains (keras_i2i.data.synthetic.unpaired: day "
        "(a) <-> night (b) scenes, 64x64), small enough to train on a CPU in minutes: width "
        "16, two image-discriminator scales, a content discriminator of two 3x3 strided "
        "layers (16x16 content codes), learning rate 1e-3 (content discriminator 4e-4), no "
        "weight decay.",
        "config": {
            "width": 16,
            "dis_scale": 2,
            "content_dis_kernel_size": 3,
            "content_dis_layers": 2,
            "learning_rate": 1e-3,
            "content_learning_rate": 4e-4,
            "weight_decay": 0.0,
            "n_ep": 10,
            "n_ep_decay": 5,
        },
    },
}

preset_lib.register_presets("DRIT", DRIT_PRESETS)

MDMM_PRESETS = {
    "mdmm": {
        "dataset": "mdmm",
        "description": "MDMM's training command (`train.py --num_domains 3 --isDcontent`): 3 "
        "domains in `trainA/`, `trainB/`, `trainC/`, 216x216, the concatenating generator, "
        "the content discriminator on two of three iterations.",
        "config": {},
    },
    "synthetic": {
        "description": "The three synthetic domains (keras_i2i.data.synthetic.multi_domain: "
        "day, night and edge scenes, 64x64), small enough to train on a CPU in minutes: width "
        "16, a content discriminator of two 3x3 strided layers, learning rate 1e-3 (content "
        "discriminator 4e-4), no weight decay.",
        "config": {
            "crop_size": 64,
            "width": 16,
            "content_dis_kernel_size": 3,
            "content_dis_layers": 2,
            "learning_rate": 1e-3,
            "content_learning_rate": 4e-4,
            "weight_decay": 0.0,
            "n_ep": 10,
            "n_ep_decay": 5,
        },
    },
}

preset_lib.register_presets("MDMM", MDMM_PRESETS)
