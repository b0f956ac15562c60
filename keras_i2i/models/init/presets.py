"""INIT presets: the street-scene domains of the INIT dataset and the synthetic boxes.

No weights (INIT published none): train. The street presets use the `INIT` / MUNIT defaults
(generators of dim 64, 8-d styles, an MLP 256 wide, 2 downsamplings, 4 residual blocks;
discriminators of dim 64 with 4 layers at 3 scales; least-squares GAN x 1, image
reconstruction x 10, style and content reconstruction x 1; Adam 1e-4, betas (0.5, 0.999),
weight decay 1e-4, learning rate x 0.5 every 100k steps; batch size 1) plus the
cross-cycle reconstruction x 10 of MUNIT's own street-scene configuration
(synthia2cityscape), objects cropped to 64 x 64, at most 16 boxes per image, 3 object classes
(car, person, traffic sign). Train on `keras_i2i.data.unpaired_boxes(root, dataset="init")`
(`trainA/`, `trainB/`, each with its annotation file: the shorter side resized to 360, random
352 x 352 crops, flips; 352 being the multiple of 16 nearest the 360 x 360 of the paper's
experiments). See `docs/init.md` for every choice the paper leaves open.
"""

from keras_i2i import presets as preset_lib
from keras_i2i.data.synthetic.procedural import NUM_CLASSES

_STREET = {"object_size": 64, "max_boxes": 16, "num_classes": 3, "recon_x_cyc_weight": 10.0}

INIT_PRESETS = {
    **{
        name: {
            "dataset": "init",
            "description": f"INIT dataset street scenes, {a} (a) <-> {b} (b), 352x352 crops, "
            "objects at 64x64.",
            "config": dict(_STREET),
        }
        for name, a, b in (
            ("sunny2night", "sunny", "night"),
            ("sunny2rainy", "sunny", "rainy"),
            ("sunny2cloudy", "sunny", "cloudy"),
        )
    },
    "synthetic": {
        "description": "The synthetic scenes with boxes (keras_i2i.data.synthetic."
        "unpaired_boxes: day (a) <-> night (b), 64x64, up to 5 objects), small enough to train "
        "on a CPU in minutes: dim 16, MLP 64 wide, 2 residual blocks, discriminators of dim 16 "
        "with 3 layers at 2 scales, objects cropped to 32x32, learning rate 1e-3 without "
        "decay, no weight decay.",
        "config": {
            "dim": 16,
            "mlp_dim": 64,
            "n_res": 2,
            "dis_dim": 16,
            "dis_n_layer": 3,
            "dis_num_scales": 2,
            "object_size": 32,
            "max_boxes": 5,
            "num_classes": NUM_CLASSES,
            "learning_rate": 1e-3,
            "weight_decay": 0.0,
            "lr_step_size": 0,
        },
    },
}

preset_lib.register_presets("INIT", INIT_PRESETS)
