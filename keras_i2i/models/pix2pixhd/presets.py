"""pix2pixHD presets: the reference's Cityscapes scripts, RGB input, the synthetic scenes.

The reference names a model by its image height: label2city_512p works at 1024x512 and
label2city_1024p at 2048x1024 (its full Cityscapes resolution), so there is no 2048p model.
Its Cityscapes data is `keras_i2i.data.paired_labels(root, "cityscapes",
preprocess="scale_width", load_size=1024)` (2048 for the 1024p models).
"""

from keras_i2i import presets as preset_lib

_CITYSCAPES = dict(label_nc=35, use_instance=True)

# scripts/train_512p.sh (every option at its default).
LABEL2CITY_512P = dict(
    **_CITYSCAPES,
    ngf=64,
    n_downsample_global=4,
    n_blocks_global=9,
    n_local_enhancers=0,
    num_D=2,
    n_layers_D=3,
    ndf=64,
    lambda_feat=10.0,
    lambda_vgg=10.0,
    lr=2e-4,
    beta1=0.5,
    niter=100,
    niter_decay=100,
)

# scripts/train_1024p_24G.sh: --netG local --ngf 32 --num_D 3 --niter 50 --niter_decay 50
# --niter_fix_global 10, starting from label2city_512p.
LABEL2CITY_1024P = dict(
    LABEL2CITY_512P,
    ngf=32,
    n_local_enhancers=1,
    n_blocks_local=3,
    num_D=3,
    niter=50,
    niter_decay=50,
    niter_fix_global=10,
)

# The synthetic scenes (`keras_i2i.data.synthetic.scenes`, 5 classes, 64x64): G1 at 32x32,
# then one enhancer at 64x64. No VGG loss: no ImageNet weights are needed.
SYNTHETIC_GLOBAL = dict(
    label_nc=5,
    use_instance=True,
    instance_feat=True,
    feat_num=3,
    nef=8,
    n_downsample_E=2,
    ngf=16,
    n_downsample_global=3,
    n_blocks_global=3,
    num_D=2,
    n_layers_D=3,
    ndf=16,
    lambda_vgg=0.0,
    niter=10,
    niter_decay=10,
)

PRESETS = {
    "label2city_512p": {
        "dataset": "cityscapes",
        "description": (
            "Cityscapes labels -> 1024x512 photos (scripts/train_512p.sh): global generator "
            "(ngf 64, 4 downsamplings, 9 residual blocks), 35 labels + instance boundaries, "
            "2-scale discriminator, LSGAN + feature matching 10 + VGG 10, Adam 2e-4 "
            "(beta1 0.5), 100 + 100 epochs (linear decay)."
        ),
        "config": LABEL2CITY_512P,
    },
    "label2city_512p_feat": {
        "dataset": "cityscapes",
        "description": (
            "label2city_512p with instance-level feature embedding (scripts/train_512p_feat.sh"
            ": --instance_feat; encoder nef 16, 4 downsamplings, 3 features, 10 clusters)."
        ),
        "config": dict(LABEL2CITY_512P, instance_feat=True),
    },
    "label2city_1024p": {
        "dataset": "cityscapes",
        "description": (
            "Cityscapes labels -> 2048x1024 photos (scripts/train_1024p_24G.sh): local "
            "enhancer (ngf 32) over the label2city_512p global generator (load it with "
            "load_coarse_model), 3-scale discriminator, 50 + 50 epochs, the coarse levels "
            "fixed for the first 10."
        ),
        "config": LABEL2CITY_1024P,
    },
    "label2city_1024p_feat": {
        "dataset": "cityscapes",
        "description": (
            "label2city_1024p with instance features (scripts/train_1024p_feat_24G.sh), from "
            "label2city_512p_feat. The reference precomputes the features with the 512p "
            "encoder (--load_features); here that encoder is loaded and keeps training."
        ),
        "config": dict(LABEL2CITY_1024P, instance_feat=True),
    },
    "rgb_512p": {
        "description": (
            "RGB image -> photo (label_nc 0, the reference's train_A/train_B folders, "
            "`keras_i2i.data.paired_images`), no instance maps; otherwise label2city_512p."
        ),
        "config": dict(LABEL2CITY_512P, label_nc=0, input_nc=3, use_instance=False),
    },
    "synthetic_global": {
        "dataset": "synthetic",
        "description": (
            "The synthetic scenes at 32x32, global generator only (ngf 16, 3 downsamplings, "
            "3 blocks), instance features (nef 8), no VGG loss; a few CPU minutes."
        ),
        "config": SYNTHETIC_GLOBAL,
    },
    "synthetic": {
        "dataset": "synthetic",
        "description": (
            "The synthetic scenes at 64x64: one local enhancer (ngf 8, 1 block) over the "
            "synthetic_global generator (load it with load_coarse_model), 3-scale "
            "discriminator, coarse levels fixed for the first 2 epochs, no VGG loss."
        ),
        "config": dict(
            SYNTHETIC_GLOBAL,
            ngf=8,
            n_local_enhancers=1,
            n_blocks_local=1,
            num_D=3,
            niter=5,
            niter_decay=5,
            niter_fix_global=2,
        ),
    },
}

preset_lib.register_presets("Pix2PixHD", PRESETS)
