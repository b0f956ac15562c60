"""vid2vid presets: the reference's street (Cityscapes), face and pose scripts, and the
synthetic videos.

Each preset follows one script of NVIDIA/vid2vid's `scripts/`, its options and the defaults of
`options/` otherwise. `max_frames_per_step` is the script's frames per chunk at most: its
generator GPUs times `--max_frames_per_gpu` (with `--batchSize` > 1 one GPU per sample).
The street models are trained coarse to fine: cityscapes_1024 starts from a trained
cityscapes_512 (`Vid2Vid.load_coarse_model`, `keras-i2i train --coarse-model`), 2048 from
1024. Their data is `keras_i2i.data.video_clips(root, "cityscapes", load_size=...)` with the
reference flow added (`keras_i2i.data.with_flow`).
"""

from keras_i2i import presets as preset_lib

# scripts/street/train_512.sh: --label_nc 35 --loadSize 512 --use_instance --fg
# --n_gpus_gen 6 --n_frames_total 6 --max_frames_per_gpu 2.
CITYSCAPES_512 = dict(
    label_nc=35,
    use_instance=True,
    fg=True,
    fg_labels=(26,),
    ngf=128,
    n_downsample_G=3,
    n_blocks=9,
    n_scales_spatial=1,
    norm="batch",
    ndf=64,
    n_layers_D=3,
    num_D=2,
    n_frames_G=3,
    n_frames_D=3,
    n_scales_temporal=2,
    lr=2e-4,
    niter=10,
    niter_decay=10,
    niter_step=5,
    n_frames_total=6,
    max_frames_per_step=12,
)

# scripts/street/train_1024.sh: --n_scales_spatial 2 --num_D 3 --n_gpus_gen 4
# --n_frames_total 4 --niter_step 2 --niter_fix_global 10 --lr 0.0001, from label2city_512.
CITYSCAPES_1024 = dict(
    CITYSCAPES_512,
    n_scales_spatial=2,
    num_D=3,
    lr=1e-4,
    niter_step=2,
    niter_fix_global=10,
    n_frames_total=4,
    max_frames_per_step=4,
)

# scripts/street/train_2048.sh: --n_scales_spatial 3 --num_D 4 --n_frames_total 4
# --niter_step 1 --niter 5 --niter_decay 5 --niter_fix_global 5 --lr 0.00005, from
# label2city_1024.
CITYSCAPES_2048 = dict(
    CITYSCAPES_1024,
    n_scales_spatial=3,
    num_D=4,
    lr=5e-5,
    niter=5,
    niter_decay=5,
    niter_step=1,
    niter_fix_global=5,
)

# scripts/face/train_512.sh: --dataset_mode face --input_nc 15 --loadSize 512 --num_D 3
# --n_gpus_gen 6 --niter 20 --niter_decay 20 --n_frames_total 12.
FACE = dict(
    label_nc=0,
    input_nc=15,
    use_instance=False,
    num_D=3,
    niter=20,
    niter_decay=20,
    n_frames_total=12,
    max_frames_per_step=6,
)

# scripts/pose/train_256p.sh: --dataset_mode pose --input_nc 6 --num_D 2 --batchSize 8
# --max_frames_per_gpu 3 --niter 5 --niter_decay 5 --no_first_img --n_frames_total 12.
POSE = dict(
    label_nc=0,
    input_nc=6,
    use_instance=False,
    num_D=2,
    no_first_img=True,
    niter=5,
    niter_decay=5,
    n_frames_total=12,
    max_frames_per_step=3,
)

# The synthetic videos (`keras_i2i.data.synthetic.videos`: 5 classes, 64x64, 8-frame clips
# with exact flow), the street configuration made tiny: two temporal scales of frame pairs
# (1 and 2 frames apart), 3 frames per clip then 6 (an 8-frame clip: `clip_frames(6)`), no VGG
# loss (no ImageNet weights).
SYNTHETIC = dict(
    label_nc=5,
    use_instance=True,
    fg=True,
    fg_labels=(2, 3, 4),
    ngf=16,
    n_downsample_G=2,
    n_blocks=2,
    ndf=16,
    n_layers_D=2,
    num_D=2,
    n_frames_D=2,
    n_scales_temporal=2,
    lambda_vgg=0.0,
    niter=3,
    niter_decay=3,
    niter_step=3,
    n_frames_total=3,
    max_frames_per_step=6,
)

_STREET = ("Cityscapes labels + instance edges -> street videos, the foreground (cars, "
           "fg_labels 26) generated apart, ngf 128, 3 frames in, temporal discriminators at "
           "frames 1 and 3 apart")

PRESETS = {
    "cityscapes_512": {
        "dataset": "cityscapes",
        "description": (
            f"{_STREET}, 512x256 (scripts/street/train_512.sh): one spatial scale, 2-scale "
            "discriminators, 6 frames per clip doubled every 5 epochs, chunks of up to 12, "
            "Adam 2e-4, 10 + 10 epochs."
        ),
        "config": CITYSCAPES_512,
    },
    "cityscapes_1024": {
        "dataset": "cityscapes",
        "description": (
            f"{_STREET}, 1024x512 (scripts/street/train_1024.sh, load_size 1024): two spatial "
            "scales over cityscapes_512 (load it with load_coarse_model; its scale fixed for "
            "10 epochs), 3-scale discriminators, 4 frames doubled every 2 epochs, chunks of 4, "
            "Adam 1e-4."
        ),
        "config": CITYSCAPES_1024,
    },
    "cityscapes_2048": {
        "dataset": "cityscapes",
        "description": (
            f"{_STREET}, 2048x1024 (scripts/street/train_2048.sh, load_size 2048): three "
            "spatial scales over cityscapes_1024 (fixed for 5 epochs), 4-scale "
            "discriminators, 4 frames doubled every epoch, Adam 5e-5, 5 + 5 epochs."
        ),
        "config": CITYSCAPES_2048,
    },
    "face": {
        "description": (
            "Face edge maps (15 input channels: the reference's face_dataset.py edges and "
            "distance maps) -> faces at load size 512 (scripts/face/train_512.sh): 3-scale "
            "discriminators, 12 frames per clip in chunks of 6, 20 + 20 epochs."
        ),
        "config": FACE,
    },
    "pose": {
        "description": (
            "DensePose + OpenPose renderings (6 channels) -> 256p dancers "
            "(scripts/pose/train_256p.sh, batch size 8): the first frame generated too "
            "(no_first_img, with the weight loss), 12 frames per clip in chunks of 3, "
            "5 + 5 epochs. The reference's random frame spacing (--max_t_step 4) is the "
            "data's to do."
        ),
        "config": POSE,
    },
    "synthetic": {
        "dataset": "synthetic",
        "description": (
            "The synthetic videos at 64x64 (8-frame clips with exact flow): the street "
            "configuration made tiny (ngf 16, 2 downsamplings, 2 blocks, ndf 16, foreground "
            "classes 2-4), temporal discriminators on frame pairs 1 and 2 apart, no VGG loss, "
            "3 frames per clip for 3 epochs, then 6 for 3 with decaying rates. On a 2-core CPU "
            "a clip takes about 3 s once the step is traced (1-2 minutes per clip length): 64 "
            "clips an epoch (--synthetic-samples 64) train in about half an hour."
        ),
        "config": SYNTHETIC,
    },
}

preset_lib.register_presets("Vid2Vid", PRESETS)
