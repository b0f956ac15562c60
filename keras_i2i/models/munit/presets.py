"""MUNIT presets: the reference hyper-parameters per dataset (NVlabs/MUNIT's
`configs/<name>_folder.yaml`). No weights: convert a reference checkpoint with
`keras_i2i.convert.munit` or train.

Every reference preset has the `MUNIT` defaults: generators of dim 64, 8-d styles, an MLP 256
wide, 2 downsamplings, 4 residual blocks, ReLU, reflect padding, Kaiming init; discriminators
of dim 64 with 4 layers at 3 scales, no norm, LeakyReLU 0.2, reflect padding, N(0, 0.02)
init, least-squares GAN; GAN x 1, image reconstruction x 10, style and content
reconstruction x 1; Adam 1e-4, betas (0.5, 0.999), weight decay 1e-4, learning rate x 0.5
every 100k steps; batch size 1. Train on `keras_i2i.data.unpaired(root, "edges2handbags")`
(`trainA/`, `trainB/`: the shorter side resized to 256, random 256 x 256 crops, flips; for
`synthia2cityscape` pass `load_size=512, crop_size=512`).
"""

from keras_i2i import presets as preset_lib

MUNIT_PRESETS = {
    "edges2shoes": {
        "dataset": "edges2shoes",
        "description": "edges2shoes (configs/edges2shoes_folder.yaml): edges (a) <-> shoes (b), "
        "256x256; no cycle or perceptual loss.",
        "config": {},
    },
    "edges2handbags": {
        "dataset": "edges2handbags",
        "description": "edges2handbags (configs/edges2handbags_folder.yaml): edges (a) <-> "
        "handbags (b), 256x256; no cycle or perceptual loss.",
        "config": {},
    },
    "summer2winter_yosemite256": {
        "description": "Yosemite summer (a) <-> winter (b) "
        "(configs/summer2winter_yosemite256_folder.yaml), 256x256; cycle reconstruction x 10.",
        "config": {"recon_x_cyc_weight": 10.0},
    },
    "synthia2cityscape": {
        "description": "SYNTHIA (a) <-> Cityscapes (b) (configs/synthia2cityscape_folder.yaml), "
        "512x512 crops; cycle reconstruction x 10, VGG16 perceptual loss x 1 (ImageNet "
        "weights, downloaded by compile).",
        "config": {"recon_x_cyc_weight": 10.0, "vgg_weight": 1.0, "vgg_weights": "imagenet"},
    },
    "synthetic": {
        "description": "The synthetic unpaired domains (keras_i2i.data.synthetic.unpaired: day "
        "(a) <-> night (b) scenes, 64x64), small enough to train on a CPU in minutes: dim 16, "
        "MLP 64 wide, 2 residual blocks, discriminators of dim 16 with 3 layers at 2 scales, "
        "learning rate 1e-3 without decay, no weight decay.",
        "config": {
            "dim": 16,
            "mlp_dim": 64,
            "n_res": 2,
            "dis_dim": 16,
            "dis_n_layer": 3,
            "dis_num_scales": 2,
            "learning_rate": 1e-3,
            "weight_decay": 0.0,
            "lr_step_size": 0,
        },
    },
}

preset_lib.register_presets("MUNIT", MUNIT_PRESETS)
