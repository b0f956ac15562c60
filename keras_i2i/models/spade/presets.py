"""SPADE presets: the reference hyper-parameters per dataset (NVlabs/SPADE's dataset options,
`train_options.py` and the generator defaults). No weights: convert a reference checkpoint
with `keras_i2i.convert.spade` or train.

Every preset trains with hinge loss, feature matching x 10, VGG x 10 (VGG19 ImageNet weights),
TTUR (generator 1e-4, discriminator 4e-4, Adam betas (0, 0.9)), spectral norm everywhere,
sync-batch SPADE norms, a two-scale four-layer discriminator, and ngf = ndf = 64.
Feed them with `keras_i2i.data.paired_labels(root, <dataset>)`, the dataset named below.
"""

from keras_i2i import presets as preset_lib
from keras_i2i.data.synthetic import NUM_CLASSES as SYNTHETIC_CLASSES

SPADE_PRESETS = {
    "cityscapes": {
        "dataset": "cityscapes",
        "description": "Cityscapes (dataset 'cityscapes'): 35 labels + instance edges, "
        "512x256, num_upsampling_layers 'more'.",
        "config": {
            "label_nc": 35,
            "contain_dontcare_label": False,
            "use_instance": True,
            "image_size": (256, 512),
            "num_upsampling_layers": "more",
        },
    },
    "ade20k": {
        "dataset": "ade20k",
        "description": "ADE20K (dataset 'ade20k'): 150 labels + dontcare, no instances, 256x256.",
        "config": {
            "label_nc": 150,
            "contain_dontcare_label": True,
            "use_instance": False,
            "image_size": (256, 256),
        },
    },
    "coco": {
        "dataset": "coco_stuff",
        "description": "COCO-Stuff (dataset 'coco_stuff'): 182 labels + dontcare + instance "
        "edges, 256x256.",
        "config": {
            "label_nc": 182,
            "contain_dontcare_label": True,
            "use_instance": True,
            "image_size": (256, 256),
        },
    },
    "facades": {
        "dataset": "facades_labels",
        "description": "CMP Facades label maps (SPADE's 'facades' mode: paired_labels with "
        "label_nc=13, instance=False, load_size=286, crop_size=256): 13 labels, 256x256.",
        "config": {
            "label_nc": 13,
            "contain_dontcare_label": False,
            "use_instance": False,
            "image_size": (256, 256),
        },
    },
    "synthetic": {
        "dataset": "synthetic",
        "description": "The synthetic scenes (keras_i2i.data.synthetic.scenes, 5 labels + "
        "instance edges, 64x64), small enough to train on a CPU in minutes: ngf = ndf = 16, "
        "SPADE MLPs of 32 channels, instance-norm SPADE, no VGG loss (its ImageNet weights "
        "need a download), learning rate 1e-3.",
        "config": {
            "label_nc": SYNTHETIC_CLASSES,
            "contain_dontcare_label": False,
            "use_instance": True,
            "image_size": (64, 64),
            "ngf": 16,
            "ndf": 16,
            "spade_hidden": 32,
            "norm_G": "spectralspadeinstance3x3",
            "lambda_vgg": 0.0,
            "learning_rate": 1e-3,
        },
    },
}

preset_lib.register_presets("SPADE", SPADE_PRESETS)
